"""Tokenize canonical rows the way the trainers do, with the mask of tokens that carry loss.

- conversational: the chat template; loss on assistant tokens (the template's
  `{% generation %}` spans via `return_assistant_tokens_mask`, or, for templates
  without markers, the difference between rendering each assistant turn's prefix
  with and without the turn).
- prompt/completion (and KTO, preference sides): loss on completion tokens, i.e.
  everything after the tokenized prompt (TRL's completion-only loss).
- language modelling: every token.
- prompt-only: no token is trained (RL trainers generate the completions).

Imports transformers lazily: callers run this off any UI thread.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left, insort
from dataclasses import dataclass, field
from typing import Callable, Iterable


@dataclass
class Encoded:
    ids: list[int]
    mask: list[int]          # 1 = the token carries loss

    @property
    def trained(self) -> int:
        return sum(self.mask)


def load_tokenizer(model: str, tokenizer: str | None = None, chat_template: str | None = None):
    """The run's tokenizer (optionally a separate one) with an optional template file replacing its own."""
    from pathlib import Path

    from transformers import AutoTokenizer

    from workbench.errors import DataError

    try:
        tok = AutoTokenizer.from_pretrained(tokenizer or model)
    except Exception as exc:  # noqa: BLE001 - missing folder, offline hub id...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise DataError(f"cannot load the tokenizer: {first}", where=tokenizer or model) from None
    if chat_template:
        tok.chat_template = Path(chat_template).read_text(encoding="utf-8")
    return tok


def _has_markers(tok) -> bool:
    template = tok.chat_template if isinstance(tok.chat_template, str) else ""
    return "{% generation %}" in template or "{%- generation %}" in template


def _chat(tok, messages: list[dict], **kw) -> list[int]:
    out = tok.apply_chat_template(messages, tokenize=True, return_dict=True, **kw)
    return list(out["input_ids"])


def encode_conversation(tok, messages: list[dict]) -> Encoded:
    if getattr(tok, "chat_template", None) is None:
        from workbench.errors import DataError

        raise DataError("the tokenizer has no chat template (set model.chat_template)")
    if _has_markers(tok):
        out = tok.apply_chat_template(messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True)
        masks = out["assistant_masks"]
        return Encoded(list(out["input_ids"]), masks if isinstance(masks, list) else [int(x) for x in masks])
    ids = _chat(tok, messages)
    mask = [0] * len(ids)
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        start = len(_chat(tok, messages[:i], add_generation_prompt=True)) if i else 0
        end = len(_chat(tok, messages[: i + 1]))
        for j in range(start, min(end, len(ids))):
            mask[j] = 1
    return Encoded(ids, mask)


def encode_prompt_completion(tok, prompt, completion) -> Encoded:
    if isinstance(prompt, list):
        prompt_ids = _chat(tok, prompt, add_generation_prompt=True)
        ids = _chat(tok, prompt + completion)
    else:
        prompt_ids = tok(prompt, add_special_tokens=True)["input_ids"]
        ids = tok(prompt + completion, add_special_tokens=True)["input_ids"]
        if tok.eos_token_id is not None and (not ids or ids[-1] != tok.eos_token_id):
            ids = [*ids, tok.eos_token_id]
    # Like TRL: the first len(prompt_ids) tokens are the prompt, even where a token merges across the seam.
    n = min(len(prompt_ids), len(ids))
    return Encoded(list(ids), [0] * n + [1] * (len(ids) - n))


def _implicit_prompt(chosen: list[dict], rejected: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    n = 0
    while n < min(len(chosen), len(rejected)) - 1 and chosen[n] == rejected[n]:
        n += 1
    return chosen[:n], chosen[n:], rejected[n:]


def encode_row(tok, row: dict, kind: str) -> list[Encoded]:
    """The sequences a trainer builds from one canonical row (two for preference pairs)."""
    if kind == "conversational":
        return [encode_conversation(tok, row["messages"])]
    if kind == "language_modeling":
        ids = tok(row["text"], add_special_tokens=True)["input_ids"]
        if tok.eos_token_id is not None and (not ids or ids[-1] != tok.eos_token_id):
            ids = [*ids, tok.eos_token_id]
        return [Encoded(list(ids), [1] * len(ids))]
    if kind in ("prompt_completion", "unpaired_preference"):
        return [encode_prompt_completion(tok, row["prompt"], row["completion"])]
    if kind == "prompt_only":
        prompt = row["prompt"]
        ids = _chat(tok, prompt, add_generation_prompt=True) if isinstance(prompt, list) else \
            tok(prompt, add_special_tokens=True)["input_ids"]
        return [Encoded(list(ids), [0] * len(ids))]
    if kind == "preference":
        prompt = row.get("prompt")
        chosen, rejected = row["chosen"], row["rejected"]
        if prompt is None:
            if isinstance(chosen, list):
                prompt, chosen, rejected = _implicit_prompt(chosen, rejected)
            else:
                n = len(_common_prefix_str(chosen, rejected))
                prompt, chosen, rejected = chosen[:n], chosen[n:], rejected[n:]
        return [encode_prompt_completion(tok, prompt, chosen), encode_prompt_completion(tok, prompt, rejected)]
    raise ValueError(f"unknown data kind {kind!r}")


def _common_prefix_str(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]


def token_pieces(tok, ids: list[int]) -> list[tuple[int, int, str]]:
    """Readable text for runs of tokens: (first index, count, text).

    Byte-level tokens that split a UTF-8 character are grouped until they decode cleanly.
    """
    out, i = [], 0
    while i < len(ids):
        j = i + 1
        text = tok.decode(ids[i:j])
        while "\ufffd" in text and j < len(ids) and j - i < 8:
            j += 1
            text = tok.decode(ids[i:j])
        out.append((i, j - i, text))
        i = j
    return out


# ---------------------------------------------------------------- statistics


_TRAINED_RUN = re.compile(rb"[^\x00]+")


def mask_runs(mask: list[int]) -> list[int]:
    """The trained spans of a mask as flat [start, end, start, end, ...] (end exclusive)."""
    return [x for m in _TRAINED_RUN.finditer(bytes(mask)) for x in m.span()]


def trained_within(runs: list[int], limit: int | None) -> int:
    """Trained tokens among the first `limit` tokens (all of them without a limit)."""
    total = 0
    for k in range(0, len(runs), 2):
        start, end = runs[k], runs[k + 1]
        if limit is not None:
            if start >= limit:
                break
            end = min(end, limit)
        total += end - start
    return total


def pack_bfd(lengths: Iterable[int], capacity: int) -> int:
    """Bins used by best-fit-decreasing packing of `lengths` (each truncated to `capacity`).

    Memory is bounded by `capacity`: open bins are counted per remaining room, not kept one by one.
    """
    import numpy as np

    source = lengths if isinstance(lengths, array) else array("I", lengths)
    arr = np.frombuffer(source, dtype=np.uint32) if source.typecode == "I" and len(source) else \
        np.asarray(source, dtype=np.uint32)
    arr = np.minimum(arr, capacity).astype(np.uint32)
    arr[::-1].sort()
    rooms: list[int] = []          # sorted distinct remaining capacities of open bins
    count: dict[int, int] = {}     # room -> open bins with that room
    bins = 0
    for n in _chunked(arr):
        k = bisect_left(rooms, n)
        if k < len(rooms):
            room = rooms[k]
            count[room] -= 1
            if not count[room]:
                del count[room], rooms[k]
            room -= n
        else:
            bins += 1
            room = capacity - n
        if room > 0:
            if room not in count:
                insort(rooms, room)
                count[room] = 0
            count[room] += 1
    return bins


def _chunked(arr, size: int = 1 << 16):
    """The values of a numpy array as Python ints, a chunk at a time (never one list of them all)."""
    for start in range(0, len(arr), size):
        yield from arr[start:start + size].tolist()


@dataclass
class TokenStats:
    """Token statistics of a dataset under one tokenizer and max_length.

    Per sequence only its length is kept (4 bytes, in an array), so memory stays small
    however many rows are measured.
    """

    rows: int = 0
    sequences: int = 0
    lengths: array = field(default_factory=lambda: array("I"))
    total_tokens: int = 0
    trained_tokens: int = 0
    over_max: int = 0
    truncated_tokens: int = 0
    max_length: int | None = None
    packed_bins: int = 0
    errors: int = 0

    def add(self, length: int, runs: list[int]) -> None:
        """One sequence of `length` tokens whose trained spans are `runs` (see mask_runs)."""
        self.sequences += 1
        self.lengths.append(length)
        limit = self.max_length
        if limit and length > limit:
            self.over_max += 1
            self.truncated_tokens += length - limit
            self.total_tokens += limit
        else:
            self.total_tokens += length
        self.trained_tokens += trained_within(runs, limit)

    def finish(self) -> "TokenStats":
        """Pack (once all sequences are in)."""
        if self.max_length:
            self.packed_bins = pack_bfd(self.lengths, self.max_length)
        return self

    def _array(self):
        import numpy as np

        return np.frombuffer(self.lengths, dtype=np.uint32) if len(self.lengths) else np.zeros(0, dtype=np.uint32)

    @property
    def trained_fraction(self) -> float:
        return self.trained_tokens / self.total_tokens if self.total_tokens else 0.0

    @property
    def packing_efficiency(self) -> float | None:
        """Share of the packed sequences' token budget that holds real tokens (BFD, like TRL's packing)."""
        if not self.max_length or not self.packed_bins:
            return None
        import numpy as np

        kept = int(np.minimum(self._array(), self.max_length).sum())
        return kept / (self.packed_bins * self.max_length)

    @property
    def padding_efficiency(self) -> float | None:
        """Share of real tokens without packing, every sequence padded to the longest (kept) one."""
        if not len(self.lengths):
            return None
        import numpy as np

        arr = self._array()
        longest = min(int(arr.max()), self.max_length or int(arr.max()))
        kept = int(np.minimum(arr, longest).sum())
        return kept / (len(arr) * longest)

    def histogram(self, bins: int = 10) -> list[tuple[int, int, int]]:
        """(low, high, count) buckets of sequence length, high exclusive."""
        if not len(self.lengths):
            return []
        import numpy as np

        arr = self._array()
        low, top = int(arr.min()), int(arr.max())
        width = max(1, -(-(top - low + 1) // bins))
        bins = -(-(top - low + 1) // width)
        counts = np.bincount((arr - np.uint32(low)) // np.uint32(width), minlength=bins)
        return [(low + i * width, low + (i + 1) * width, int(c)) for i, c in enumerate(counts)]

    def percentile(self, q: float) -> int:
        if not len(self.lengths):
            return 0
        import numpy as np

        ordered = np.sort(self._array())
        return int(ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))])

    def to_json(self) -> dict:
        n = len(self.lengths)
        arr = self._array()
        return {"rows": self.rows, "sequences": self.sequences, "total_tokens": self.total_tokens,
                "trained_tokens": self.trained_tokens, "trained_fraction": round(self.trained_fraction, 4),
                "max_length": self.max_length, "over_max_length": self.over_max,
                "truncated_tokens": self.truncated_tokens,
                "length": {"min": int(arr.min()) if n else 0, "p50": self.percentile(0.5),
                           "p90": self.percentile(0.9), "p99": self.percentile(0.99),
                           "max": int(arr.max()) if n else 0,
                           "mean": round(float(arr.mean()), 2) if n else 0},
                "histogram": [{"low": lo, "high": hi, "count": c} for lo, hi, c in self.histogram()],
                "packing_efficiency": None if self.packing_efficiency is None else round(self.packing_efficiency, 4),
                "packed_sequences": self.packed_bins, "invalid_rows_skipped": self.errors}


def token_stats(tok, rows: Iterable[dict], kind: str, max_length: int | None = None,
                progress: Callable[[int], None] | None = None) -> TokenStats:
    """Statistics over canonical rows (invalid rows are the checker's business: pass good rows)."""
    stats = TokenStats(max_length=max_length)
    for i, row in enumerate(rows, start=1):
        stats.rows += 1
        for enc in encode_row(tok, row, kind):
            stats.add(len(enc.ids), mask_runs(enc.mask))
        if progress and i % 64 == 0:
            progress(i)
    return stats.finish()

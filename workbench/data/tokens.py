"""Tokenize canonical rows the way the trainers do, with the mask of tokens that carry loss.

- conversational: the chat template; loss on assistant tokens (the template's
  `{% generation %}` spans via `return_assistant_tokens_mask`, or, for templates
  without markers, the difference between rendering each assistant turn's prefix
  with and without the turn).
- prompt/completion (and KTO, preference sides): loss on completion tokens, i.e.
  everything after the tokens the tokenized prompt and prompt+completion share (TRL's
  completion-only loss and its `common_prefix_length`).
- language modelling: every token.
- prompt-only: no token is trained (RL trainers generate the completions).

A `LossMask` says which of these the trainer's config applies: with SFT's
`assistant_only_loss = false` (TRL's default) a conversation trains on every token, with
`completion_only_loss = false` a prompt/completion row does; `truncation` says which end
`max_length` keeps.

Imports transformers lazily: callers run this off any UI thread.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left, insort
from dataclasses import dataclass, field
from typing import Callable, Iterable


@dataclass(frozen=True)
class LossMask:
    """Which tokens of a sequence carry loss, as the trainer's config decides."""

    assistant_only: bool = True     # conversations: assistant turns only (False: every token)
    completion_only: bool = True    # prompt/completion rows: the completion only (False: every token)
    truncation: str = "keep_start"  # the end of an over-long sequence that max_length keeps: keep_start | keep_end

    def describe(self) -> str:
        conv = "assistant turns" if self.assistant_only else "every token of conversations"
        comp = "completions" if self.completion_only else "every token of prompt/completion rows"
        return f"loss on {conv} and {comp}" + (", keep_end truncation" if self.truncation == "keep_end" else "")

    def key(self) -> list:
        """What the per-sequence masks depend on (truncation is applied to lengths afterwards)."""
        return [self.assistant_only, self.completion_only]


DEFAULT_LOSS = LossMask()


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


def _prompt_and_full(tok, prompt, completion) -> tuple[list[int], list[int]]:
    """(prompt ids, prompt+completion ids) the way TRL tokenizes them (EOS after a string completion)."""
    if isinstance(prompt, list):
        return _chat(tok, prompt, add_generation_prompt=True), _chat(tok, prompt + completion)
    prompt_ids = tok(prompt, add_special_tokens=True)["input_ids"]
    ids = tok(prompt + completion, add_special_tokens=True)["input_ids"]
    if tok.eos_token_id is not None and (not ids or ids[-1] != tok.eos_token_id):
        ids = [*ids, tok.eos_token_id]
    return list(prompt_ids), list(ids)


def common_prefix_length(a: list[int], b: list[int]) -> int:
    """Leading tokens `a` and `b` share: where TRL starts the completion (a token may merge across the
    seam of prompt and completion, or a template render the prompt alone differently)."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def _masked_after(ids: list[int], prompt_len: int) -> Encoded:
    n = min(prompt_len, len(ids))
    return Encoded(ids, [0] * n + [1] * (len(ids) - n))


def encode_prompt_completion(tok, prompt, completion) -> Encoded:
    prompt_ids, ids = _prompt_and_full(tok, prompt, completion)
    return _masked_after(ids, common_prefix_length(prompt_ids, ids))


def _implicit_prompt(chosen, rejected):
    """TRL's `extract_prompt`: (prompt, chosen, rejected) of a pair whose prompt is its shared start.

    Message lists split at the first differing turn; strings at the first differing character, less
    a space just before it (which goes with the answers)."""
    idx = 0
    for idx in range(min(len(chosen), len(rejected))):
        if chosen[idx] != rejected[idx]:
            if chosen[idx - 1] == " ":
                idx -= 1
            break
    return chosen[:idx], chosen[idx:], rejected[idx:]


def _every_token(enc: Encoded) -> Encoded:
    return Encoded(enc.ids, [1] * len(enc.ids))


def encode_row(tok, row: dict, kind: str, loss: LossMask = DEFAULT_LOSS) -> list[Encoded]:
    """The sequences a trainer builds from one canonical row (two for preference pairs), each
    with the mask of tokens that carry loss under `loss` (before truncation)."""
    if kind == "conversational":
        enc = encode_conversation(tok, row["messages"])
        return [enc if loss.assistant_only else _every_token(enc)]
    if kind == "language_modeling":
        ids = tok(row["text"], add_special_tokens=True)["input_ids"]
        if tok.eos_token_id is not None and (not ids or ids[-1] != tok.eos_token_id):
            ids = [*ids, tok.eos_token_id]
        return [Encoded(list(ids), [1] * len(ids))]
    if kind == "prompt_completion":
        enc = encode_prompt_completion(tok, row["prompt"], row["completion"])
        return [enc if loss.completion_only else _every_token(enc)]
    if kind == "unpaired_preference":
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
            prompt, chosen, rejected = _implicit_prompt(chosen, rejected)
        prompt_ids, chosen_ids = _prompt_and_full(tok, prompt, chosen)
        _, rejected_ids = _prompt_and_full(tok, prompt, rejected)
        # Like TRL's DPO: one prompt length for both sides, the shorter of the two shared prefixes.
        n = min(common_prefix_length(prompt_ids, chosen_ids), common_prefix_length(prompt_ids, rejected_ids))
        return [_masked_after(chosen_ids, n), _masked_after(rejected_ids, n)]
    raise ValueError(f"unknown data kind {kind!r}")


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


def kept_window(length: int, limit: int | None, truncation: str = "keep_start") -> tuple[int, int]:
    """[start, end) of the tokens of a `length`-token sequence that truncation to `limit` keeps."""
    if not limit or length <= limit:
        return 0, length
    return (length - limit, length) if truncation == "keep_end" else (0, limit)


def trained_within(runs: list[int], limit: int | None, length: int = 0, truncation: str = "keep_start") -> int:
    """Trained tokens among those that truncation of a `length`-token sequence to `limit` keeps
    (all of them without a limit; `length` only matters for keep_end)."""
    lo, hi = kept_window(max(length, runs[-1] if runs else 0), limit, truncation)
    return sum(max(0, min(runs[k + 1], hi) - max(runs[k], lo)) for k in range(0, len(runs), 2))


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
    truncation: str = "keep_start"

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
        self.trained_tokens += trained_within(runs, limit, length, self.truncation)

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
                progress: Callable[[int], None] | None = None, loss: LossMask = DEFAULT_LOSS) -> TokenStats:
    """Statistics over canonical rows (invalid rows are the checker's business: pass good rows)."""
    stats = TokenStats(max_length=max_length, truncation=loss.truncation)
    for i, row in enumerate(rows, start=1):
        stats.rows += 1
        for enc in encode_row(tok, row, kind, loss):
            stats.add(len(enc.ids), mask_runs(enc.mask))
        if progress and i % 64 == 0:
            progress(i)
    return stats.finish()

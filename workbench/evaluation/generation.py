"""Batched generation for evaluators: left-padded batches, greedy unless asked, settings recorded.

Public for evaluator plugins: `settings_from(options, where)` checks options into
`GenerationSettings`, `generate(model, tokenizer, prompts, settings)` completes them.

Left padding is set on the tokenizer for the duration of a generation call only (training
pads on the right); every setting that changes the output is in `GenerationSettings`, and
each evaluator records it in eval.json.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

from workbench.errors import ConfigError

GENERATION_KEYS = ("max_new_tokens", "temperature", "top_p", "seed", "stop", "batch_size")
# Keys of [eval] generation: the settings, and how many evaluation rows the generating evaluators take.
SHARED_KEYS = (*GENERATION_KEYS, "max_rows")


@dataclass(frozen=True)
class GenerationSettings:
    """How completions are produced. temperature 0 is greedy decoding (top_p and seed then play no part)."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int = 0
    stop: tuple[str, ...] = field(default_factory=tuple)
    batch_size: int = 8

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def record(self) -> dict[str, Any]:
        """The settings as recorded in eval.json."""
        out = asdict(self)
        out["stop"] = list(self.stop)
        out["greedy"] = self.greedy
        return out


def settings_from(options: dict[str, Any], where: str, seed: int = 0) -> GenerationSettings:
    """GenerationSettings from evaluator options (keys of GENERATION_KEYS), checked; default seed: the run's."""
    def number(name: str, kind: type, low: float, default: Any, low_ok: bool = True) -> Any:
        value = options.get(name, default)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and (kind is float or isinstance(value, int))
        if not ok or value < low or (not low_ok and value == low):
            bound = f"> {low}" if not low_ok else f">= {low}"
            raise ConfigError(f"must be {'an integer' if kind is int else 'a number'} {bound}, got {value!r}",
                              where=f"{where}.{name}")
        return kind(value)

    stop = options.get("stop", [])
    if isinstance(stop, str):
        stop = [stop]
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise ConfigError(f"must be a list of non-empty strings, got {stop!r}", where=f"{where}.stop")
    top_p = number("top_p", float, 0.0, 1.0, low_ok=False)
    if top_p > 1:
        raise ConfigError(f"must be in (0, 1], got {top_p!r}", where=f"{where}.top_p")
    return GenerationSettings(
        max_new_tokens=number("max_new_tokens", int, 1, 64), temperature=number("temperature", float, 0.0, 0.0),
        top_p=top_p, seed=number("seed", int, 0, seed), stop=tuple(stop), batch_size=number("batch_size", int, 1, 8))


@contextmanager
def left_padding(tokenizer) -> Iterator[None]:
    """The tokenizer pads on the left inside the block (decoder-only generation), as before after it."""
    before = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        yield
    finally:
        tokenizer.padding_side = before


def prompt_text(tokenizer, prompt: Any) -> tuple[str, bool]:
    """(text, has_special_tokens): a chat prompt through the chat template, ready for the assistant turn."""
    if isinstance(prompt, list):
        return tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True), True
    return str(prompt), False


def cut_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """`text` up to (not including) the first stop string; whether one was found."""
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    return (text[:cut], True) if cut >= 0 else (text, False)


def generate(model, tokenizer, prompts: list[Any], settings: GenerationSettings) -> list[dict[str, Any]]:
    """One completion per prompt: [{generation, new_tokens, stopped}] in prompt order.

    stopped: the completion ended by itself (EOS or a stop string) before max_new_tokens.
    """
    import torch
    from transformers import set_seed

    device = next(model.parameters()).device
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    set_seed(settings.seed)
    sampling = {"do_sample": False} if settings.greedy else {
        "do_sample": True, "temperature": settings.temperature, "top_p": settings.top_p}
    if settings.greedy:  # a model's own generation_config may ask for sampling: greedy means greedy
        sampling.update(temperature=None, top_p=None, top_k=None)
    extra = {"stop_strings": list(settings.stop), "tokenizer": tokenizer} if settings.stop else {}
    out: list[dict[str, Any]] = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), left_padding(tokenizer):
            for start in range(0, len(prompts), settings.batch_size):
                texts, special = zip(*(prompt_text(tokenizer, p) for p in prompts[start:start + settings.batch_size]))
                # A chat template writes its own BOS; plain text gets the tokenizer's special tokens.
                enc = tokenizer(list(texts), return_tensors="pt", padding=True, add_special_tokens=not any(special))
                ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
                gen = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=settings.max_new_tokens,
                                     pad_token_id=pad, eos_token_id=eos, use_cache=True, **sampling, **extra)
                for row in gen[:, ids.shape[1]:].tolist():
                    ended = eos in row
                    tokens = row[:row.index(eos)] if ended else row
                    text, hit = cut_at_stop(tokenizer.decode(tokens, skip_special_tokens=True), settings.stop)
                    out.append({"generation": text, "new_tokens": len(tokens), "stopped": ended or hit})
    finally:
        model.train(was_training)
    return out

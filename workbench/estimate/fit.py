"""Verdict against free GPU memory, and the cheapest change that makes a job fit.

Changes are tried in order of how little they cost the user: a smaller
per-device batch with more accumulation (same effective batch), then gradient
checkpointing, then an 8-bit optimizer, then 4-bit quantization with LoRA; each
step keeps the previous ones and again tries the batch split.
"""

from __future__ import annotations

from typing import Any, Callable

from workbench.estimate.memory import is_8bit_optimizer
from workbench.estimate.report import GiB, Suggestion
from workbench.estimate.settings import JobSettings, LoraSettings, QuantSettings

TIGHT = 0.90

QLORA_LORA = LoraSettings(r=16, alpha=32, targets="all-linear")
QLORA_QUANT = QuantSettings(bits=4, quant_type="nf4", double_quant=True, compute_dtype="bfloat16")


def verdict(total: int, free: int | None) -> str:
    """"fits" (<= 90% of free), "tight" (<= 100%), "exceeds", or "unknown" without GPUs."""
    if free is None:
        return "unknown"
    if total > free:
        return "exceeds"
    return "tight" if total > TIGHT * free else "fits"


def free_memory(gpus: list[dict[str, int]] | None, num_processes: int) -> tuple[list[dict[str, int]], int | None]:
    """The GPUs the job would use (the first num_processes) and the smallest free memory among them."""
    if not gpus:
        return [], None
    used = [
        {"index": int(g.get("index", i)), "total_bytes": int(g["mem_total_bytes"]),
         "free_bytes": int(g["mem_total_bytes"]) - int(g.get("mem_used_bytes", 0))}
        for i, g in enumerate(gpus[:num_processes])
    ]
    return used, min(g["free_bytes"] for g in used)


def _levels(s: JobSettings) -> list[tuple[JobSettings, dict[str, Any], list[str]]]:
    levels = [(s, {}, [])]
    cur, changes, words = s, {}, []
    if not s.gradient_checkpointing:
        cur = cur.with_changes(gradient_checkpointing=True)
        changes = {**changes, "trainer.args.gradient_checkpointing": True}
        words = [*words, "gradient_checkpointing = true"]
        levels.append((cur, changes, words))
    if not is_8bit_optimizer(s.optim):
        name = "paged_adamw_8bit" if s.optim.startswith("paged_") else "adamw_bnb_8bit"
        cur = cur.with_changes(optim=name)
        changes = {**changes, "trainer.args.optim": name}
        words = [*words, f"optim = \"{name}\""]
        levels.append((cur, changes, words))
    if not (s.quant and s.quant.bits == 4 and s.lora):
        extra: dict[str, Any] = {}
        new_words = list(words)
        lora = s.lora
        if lora is None:
            lora = QLORA_LORA
            extra.update({"peft.method": "lora", "peft.r": lora.r, "peft.lora_alpha": lora.alpha,
                          "peft.target_modules": lora.targets})
        quant = QLORA_QUANT
        extra.update({"quantization.bits": 4, "quantization.quant_type": "nf4",
                      "quantization.double_quant": True, "quantization.compute_dtype": "bfloat16"})
        new_words.append("4-bit NF4 quantization" + (" + LoRA r=16 on all linear layers" if s.lora is None else ""))
        cur = cur.with_changes(lora=lora, quant=quant)
        levels.append((cur, {**changes, **extra}, new_words))
    return levels


def _batch_splits(s: JobSettings) -> list[tuple[int, int]]:
    """(batch, accumulation) pairs with the same effective batch, largest batch first."""
    b = s.batch_size
    return [(d, s.grad_accum * (b // d)) for d in range(b, 0, -1) if b % d == 0]


def suggest(settings: JobSettings, total_of: Callable[[JobSettings], int], free: int) -> Suggestion | None:
    """The first change, in cost order, whose estimate fits (then, failing that, is merely tight)."""
    candidates: list[tuple[JobSettings, dict[str, Any], list[str]]] = []
    for level, changes, words in _levels(settings):
        for batch, accum in _batch_splits(level):
            if level is settings and batch == settings.batch_size:
                continue  # the job as written
            trial = level.with_changes(batch_size=batch, grad_accum=accum)
            c = dict(changes)
            w = list(words)
            if batch != settings.batch_size:
                c["trainer.args.per_device_train_batch_size"] = batch
                c["trainer.args.gradient_accumulation_steps"] = accum
                w.insert(0, f"per_device_train_batch_size = {batch}, gradient_accumulation_steps = {accum}")
            candidates.append((trial, c, w))
    totals: dict[int, int] = {}
    for limit in (TIGHT, 1.0):
        for i, (trial, changes, words) in enumerate(candidates):
            if i not in totals:
                totals[i] = total_of(trial)
            if totals[i] <= limit * free:
                trial, changes, words, total = _prune(settings, trial, changes, words, totals[i],
                                                      total_of, limit * free)
                return Suggestion(changes=changes, description="; ".join(words), total_bytes=total,
                                  usage=total / free)
    return None


# change key -> (settings field, how to undo it from the original settings)
_UNDO = {
    "trainer.args.gradient_checkpointing": ("gradient_checkpointing", "gradient_checkpointing = true"),
    "trainer.args.optim": ("optim", "optim = "),
}


def _prune(original: JobSettings, trial: JobSettings, changes: dict[str, Any], words: list[str], total: int,
           total_of: Callable[[JobSettings], int], limit: float):
    """Drop earlier-level changes a later one made unnecessary (an 8-bit optimizer under QLoRA, say)."""
    for key, (attr, word) in _UNDO.items():
        if key not in changes or "quantization.bits" not in changes:
            continue
        undone = trial.with_changes(**{attr: getattr(original, attr)})
        undone_total = total_of(undone)
        if undone_total <= limit:
            trial, total = undone, undone_total
            changes = {k: v for k, v in changes.items() if k != key}
            words = [w for w in words if not w.startswith(word)]
    return trial, changes, words, total


def gib(n: float) -> int:
    """GiB -> bytes."""
    return int(n * GiB)

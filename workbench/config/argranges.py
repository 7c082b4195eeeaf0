"""Ranges of [trainer.args] values that no trainer can train with, checked before launch.

The trainers' own config classes accept most of these (TrainingArguments takes a NaN
learning rate, a batch size of 0, `max_steps = -5`), and the job then trains on garbage
or fails minutes later. A field is checked only when the trainer's config class has it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterator

INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Range:
    """Allowed numbers: low < value (or low <= value with `closed_low`), value <= high; plus `also`."""

    low: float | None = None
    closed_low: bool = True
    high: float | None = None
    also: tuple = ()
    note: str = ""

    def accepts(self, value: float) -> bool:
        if value in self.also:
            return True
        if self.low is not None and (value < self.low if self.closed_low else value <= self.low):
            return False
        return self.high is None or value <= self.high

    def describe(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>=' if self.closed_low else '>'} {_num(self.low)}")
        if self.high is not None:
            parts.append(f"<= {_num(self.high)}")
        text = " and ".join(parts)
        if self.also:
            text += " or " + " or ".join(_num(v) for v in self.also)
        return text + (f" ({self.note})" if self.note else "")


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


POSITIVE = Range(0, closed_low=False)
AT_LEAST_1 = Range(1)
NON_NEGATIVE = Range(0)
FRACTION = Range(0, high=1)

RANGES: dict[str, Range] = {
    "learning_rate": Range(0, note="0 trains nothing: a baseline or a plateau on purpose"),
    "per_device_train_batch_size": AT_LEAST_1,
    "per_device_eval_batch_size": AT_LEAST_1,
    "gradient_accumulation_steps": AT_LEAST_1,
    "eval_accumulation_steps": AT_LEAST_1,
    "max_steps": Range(1, also=(-1,), note="-1 trains for num_train_epochs"),
    "num_train_epochs": POSITIVE,
    "max_length": AT_LEAST_1,
    "max_prompt_length": AT_LEAST_1,
    "max_completion_length": AT_LEAST_1,
    "logging_steps": POSITIVE,
    "save_steps": POSITIVE,
    "eval_steps": POSITIVE,
    "warmup_steps": NON_NEGATIVE,
    "warmup_ratio": FRACTION,
    "weight_decay": NON_NEGATIVE,
    "max_grad_norm": NON_NEGATIVE,
    "adam_beta1": Range(0, high=1),
    "adam_beta2": Range(0, high=1),
    "adam_epsilon": POSITIVE,
    "save_total_limit": AT_LEAST_1,
    "dataloader_num_workers": NON_NEGATIVE,
    "dataset_num_proc": AT_LEAST_1,
    "seed": Range(0, high=2**32 - 1),
    "data_seed": Range(0, high=2**32 - 1),
    "num_generations": Range(2, note="GRPO compares at least 2 completions per prompt"),
    "temperature": POSITIVE,
    "top_p": Range(0, closed_low=False, high=1),
    "beta": NON_NEGATIVE,
}


def _numbers(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every number inside `value` (lists and tables included), with its key path."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _numbers(item, f"{path}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _numbers(item, f"{path}.{key}")


def number_problem(value: Any) -> str | None:
    """Why a number cannot be a config value at all (NaN, infinite, beyond int64), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{value!r} is not a finite number"
    if isinstance(value, int) and not -INT64_MAX - 1 <= value <= INT64_MAX:
        return f"{value} does not fit a 64-bit integer"
    return None


def first_bad_number(value: Any, path: str) -> tuple[str, str] | None:
    """(key path, problem) of the first NaN / infinite / beyond-int64 number inside `value`."""
    for where, number in _numbers(value, path):
        problem = number_problem(number)
        if problem:
            return where, problem
    return None


def range_problem(name: str, value: Any, fields: dict | None = None) -> str | None:
    """Why trainer.args.<name> = value cannot train, or None (only for fields the class has)."""
    rule = RANGES.get(name)
    if rule is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if fields is not None and name not in fields:
        return None
    if not rule.accepts(value):
        return f"{value!r} out of range (must be {rule.describe()})"
    return None

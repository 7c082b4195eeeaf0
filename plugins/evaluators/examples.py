"""The evaluation rows as examples: index, prompt, reference, for evaluators that generate or score."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.errors import ConfigError, DataError
from workbench.training import TrainContext
from workbench_plugins.evaluators.model import prompt_of, rows_for_eval

COMMON_OPTIONS = ("max_rows",)


@dataclass(frozen=True)
class Example:
    """One evaluation row: its position among the rows, the prompt to complete and the expected answer."""

    index: int
    prompt: Any
    reference: Any
    row: dict[str, Any]


def check_options(evaluator: str, options: dict[str, Any], known: tuple[str, ...]) -> None:
    """Unknown option names are a one-line error naming the known ones."""
    import difflib

    for name in options:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            mean = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(f"unknown option; {mean}known: {', '.join(sorted(known))}",
                              where=f"eval.options.{evaluator}.{name}")


def positive_int(evaluator: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"must be a positive integer, got {value!r}", where=f"eval.options.{evaluator}.{name}")
    return value


def examples_for(ctx: TrainContext, evaluator: str, max_rows: int, need_reference: bool) -> tuple[list[Example], bool]:
    """(examples, held_out) of the evaluation rows; a row without a reference is an error when one is needed."""
    rows, held_out = rows_for_eval(ctx, max_rows)
    out = []
    for i, row in enumerate(rows):
        row = dict(row)
        prompt, reference = prompt_of(row)
        if need_reference and reference is None:
            raise DataError(f"evaluator '{evaluator}' compares generations with a reference answer, but evaluation "
                            f"row {i + 1} has none (give conversations ending with the assistant's answer, "
                            "prompt/completion rows, or prompts with an 'answer' column)", where="eval.evaluators")
        out.append(Example(i, prompt, reference, row))
    return out, held_out

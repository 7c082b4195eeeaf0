"""What an evaluator returns: named metrics, plus one record per scored example."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass
class EvalResult:
    """The scores of one evaluator on one model.

    metrics: named numbers (accuracy, rouge_l, perplexity, rows, ...), logged as
        `eval/<evaluator>/<metric>`.
    records: one dict per example, keyed by `index` (the row's position among the evaluation
        rows, so records of several evaluators on the same rows merge into one sample) with
        any of `prompt`, `reference`, `generation`, `score` (a number), `passed` (bool, for
        pass/fail scores) and `detail` (a short text or dict: why it failed, log-probs, ...).
    settings: what produced the numbers (generation settings, schema, pattern), recorded in eval.json.
    """

    metrics: dict[str, float]
    records: list[dict[str, Any]] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


def as_result(value: Any, evaluator: str) -> EvalResult:
    """An evaluator's return value as an EvalResult (a plain metrics dict is accepted too)."""
    from workbench.errors import PluginError

    if isinstance(value, EvalResult):
        result = value
    elif isinstance(value, Mapping):
        result = EvalResult(dict(value))
    else:
        raise PluginError(f"evaluator '{evaluator}' returned {type(value).__name__}, not metrics "
                          "(a dict of numbers or an EvalResult)", where=f"evaluator {evaluator}")
    for name, number in result.metrics.items():
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise PluginError(f"evaluator '{evaluator}' metric {name!r} is {type(number).__name__} "
                              f"{number!r}, not a number", where=f"evaluator {evaluator}")
    return result

"""rouge_l: ROUGE-L (longest common subsequence) F-measure of generations against references."""

from __future__ import annotations

from workbench.errors import ConfigError
from workbench.evaluation import EvalResult
from workbench.training import TrainContext
from workbench_plugins.evaluators.generative import run_scored
from workbench_plugins.evaluators.scoring import RougeL


def _scorer(own: dict) -> RougeL:
    stem, threshold = own.get("stem", False), own.get("pass_threshold", 0.5)
    if not isinstance(stem, bool):
        raise ConfigError(f"must be true or false, got {stem!r}", where="eval.options.rouge_l.stem")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise ConfigError(f"must be a number in [0, 1], got {threshold!r}", where="eval.options.rouge_l.pass_threshold")
    return RougeL(stem=stem, pass_threshold=float(threshold))


def evaluate(ctx: TrainContext, **options) -> EvalResult:
    """Mean ROUGE-L F1 (rouge-score, words split Unicode-aware); also mean precision and recall.
    An example passes at F1 >= pass_threshold (default 0.5)."""
    result = run_scored(ctx, "rouge_l", options, "rouge_l", _scorer, own=("stem", "pass_threshold"))
    n = len(result.records) or 1
    for part in ("precision", "recall"):
        result.metrics[f"rouge_l_{part}"] = sum(r["detail"][part] for r in result.records) / n
    return result

"""Evaluators that generate a completion for each evaluation row and score it against the reference.

The generations of one pass are shared: evaluators with the same generation settings and
rows (exact_match, contains, rouge_l, ... listed together) generate once.
Options of every such evaluator (`[eval.options.<name>]`, over `[eval] generation`):
max_rows, max_new_tokens, temperature, top_p, seed, stop, batch_size, plus its own.
"""

from __future__ import annotations

from typing import Any, Callable

from workbench.evaluation import EvalResult
from workbench.training import TrainContext
from workbench_plugins.evaluators.examples import COMMON_OPTIONS, Example, check_options, examples_for, positive_int
from workbench.evaluation.generation import GENERATION_KEYS, SHARED_KEYS, GenerationSettings, generate, settings_from
from workbench_plugins.evaluators.model import load_trained
from workbench_plugins.evaluators.scoring import Score

Scorer = Callable[[str, Any], Score]


def generation_options(ctx: TrainContext, evaluator: str, options: dict[str, Any],
                       own: tuple[str, ...] = ()) -> tuple[GenerationSettings, int, dict[str, Any]]:
    """(settings, max_rows, the evaluator's own options) from its options over `[eval] generation`."""
    check_options(evaluator, options, COMMON_OPTIONS + GENERATION_KEYS + own)
    shared = (ctx.config.get("eval") or {}).get("generation") or {}
    merged = {**{k: v for k, v in shared.items() if k in SHARED_KEYS}, **options}
    settings = settings_from({k: v for k, v in merged.items() if k in GENERATION_KEYS}, f"eval.options.{evaluator}",
                             seed=int((ctx.config.get("run") or {}).get("seed", 0)))
    max_rows = positive_int(evaluator, "max_rows", merged.get("max_rows", 64))
    return settings, max_rows, {k: v for k, v in options.items() if k in own}


def generations_for(ctx: TrainContext, evaluator: str, settings: GenerationSettings, max_rows: int,
                    need_reference: bool) -> tuple[list[Example], list[dict[str, Any]], bool]:
    """(examples, generations, held_out); generated once per pass for the same settings and rows."""
    examples, held_out = examples_for(ctx, evaluator, max_rows, need_reference)
    key = ("generations", settings, max_rows)
    if key not in ctx.cache:
        model, tokenizer = load_trained(ctx, evaluator)
        ctx.cache[key] = generate(model, tokenizer, [e.prompt for e in examples], settings)
    return examples, ctx.cache[key], held_out


def score_generations(examples: list[Example], generations: list[dict[str, Any]], scorer: Scorer,
                      metric: str) -> EvalResult:
    """Mean score as `metric`, share of passes, rows; one record per example."""
    records, total, passed, judged, binary = [], 0.0, 0, 0, True
    for example, gen in zip(examples, generations):
        score = scorer(gen["generation"], example.reference)
        total += score.value
        binary = binary and score.value in (0.0, 1.0)
        if score.passed is not None:
            judged += 1
            passed += int(score.passed)
        records.append({"index": example.index, "prompt": example.prompt, "reference": example.reference,
                        "generation": gen["generation"], "score": score.value, "passed": score.passed,
                        "detail": score.detail})
    n = len(records)
    metrics = {metric: total / n if n else 0.0, "rows": float(n)}
    if judged and not binary:  # for 0/1 scores the mean is the pass rate already
        metrics["pass_rate"] = passed / judged
    if generations:
        metrics["mean_new_tokens"] = sum(g["new_tokens"] for g in generations) / len(generations)
    return EvalResult(metrics, records)


def run_scored(ctx: TrainContext, evaluator: str, options: dict[str, Any], metric: str,
               make_scorer: Callable[[dict[str, Any]], Scorer], own: tuple[str, ...] = (),
               need_reference: bool = True) -> EvalResult:
    """Check options, build the scorer (its errors come before any generation), generate, score."""
    settings, max_rows, own_options = generation_options(ctx, evaluator, options, own)
    scorer = make_scorer(own_options)
    examples, generations, held_out = generations_for(ctx, evaluator, settings, max_rows, need_reference)
    result = score_generations(examples, generations, scorer, metric)
    result.metrics["held_out"] = 1.0 if held_out else 0.0
    result.settings = {"generation": settings.record(), "max_rows": max_rows, **own_options}
    return result

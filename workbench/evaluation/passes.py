"""One evaluation pass: every `[eval].evaluators` entry scores one model, results land in the run.

Called on rank 0 inside the job: after training (the final model), at each saved checkpoint
(`[eval] at = "checkpoints"`, with the live model), and by evaluation runs (each model they
were given). Each pass writes

- one metrics.jsonl row per evaluator (`eval/<evaluator>/<metric>`): kind "evaluation" at
  step -1 for the final model, kind "eval" at the checkpoint's step otherwise, so checkpoint
  scores are curves beside the loss;
- the same scores to the trainer's `report_to` trackers, in a training job (`ctx.trackers`): at
  the checkpoint's step, the final model's at the last step;
- one `evaluated` event per evaluator;
- the pass's entry in eval.json and its merged per-example samples in samples.jsonl.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from workbench.evaluation.files import append_samples, merge_records, record_checkpoint
from workbench.evaluation.result import EvalResult, as_result

FINAL = "final"


def run_pass(ctx, registry, checkpoint: str = FINAL, step: int | None = None, model: Any = None,
             tokenizer: Any = None, description: dict[str, Any] | None = None,
             on_curve: bool | None = None) -> dict[str, EvalResult]:
    """Run the configured evaluators on one model; returns {evaluator: EvalResult}.

    checkpoint: the label of the model in eval.json and samples.jsonl ("final", "checkpoint-20", ...).
    step: the training step it was saved at (None: unknown, e.g. a model from elsewhere).
    model/tokenizer: a model already in memory (the one being trained); else evaluators load it.
    description: what was scored (model path, adapter), recorded in eval.json.
    on_curve: log the scores as kind "eval" rows at `step` (default: for checkpoints, not for "final").
    """
    from workbench.plugin_runtime import call_evaluator

    eval_cfg = ctx.config.get("eval") or {}
    cache: dict[str, Any] = {"checkpoint": checkpoint, "step": step}
    if model is not None:
        cache["model"] = (model, tokenizer if tokenizer is not None else ctx.load_tokenizer())
    pass_ctx = dataclasses.replace(ctx, cache=cache)
    reporter = ctx.reporter
    if on_curve is None:
        on_curve = checkpoint != FINAL
    curve = on_curve and step is not None and step >= 0
    results: dict[str, EvalResult] = {}
    training = getattr(model, "training", None)  # the live model goes back to training after the pass
    try:
        for name in eval_cfg.get("evaluators", []):
            options = (eval_cfg.get("options") or {}).get(name, {})
            result = as_result(call_evaluator(registry, name, pass_ctx, options), name)  # a failure names it
            results[name] = result
            scores = {f"eval/{name}/{k}": v for k, v in result.metrics.items()}
            if curve:
                reporter.log(scores, step=step, kind="eval")
            else:
                reporter.log(scores, step=-1, kind="evaluation")
            if ctx.trackers is not None:  # a training job's report_to integrations (TensorBoard, W&B, ...)
                ctx.trackers.log(scores, step if curve else None)
            # A run's own final pass keeps the plain event; a pass over a named checkpoint says which.
            where = {"checkpoint": checkpoint, "step": step} if checkpoint != FINAL or step is not None else {}
            reporter.event("evaluated", evaluator=name, **where, **result.metrics)
    finally:
        if training is not None:
            model.train(training)
    if reporter.is_main and results:
        record_checkpoint(ctx.run_dir, {
            "checkpoint": checkpoint, "step": step, "time": round(time.time(), 3), **(description or {}),
            "metrics": {n: r.metrics for n, r in results.items()},
            "settings": {n: r.settings for n, r in results.items() if r.settings},
        })
        samples = merge_records({n: r.records for n, r in results.items()})
        append_samples(ctx.run_dir, [{"checkpoint": checkpoint, "step": step, **s} for s in samples])
    return results

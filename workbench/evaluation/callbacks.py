"""Trainer callbacks for evaluation during training: score each saved checkpoint, stop early on a plateau.

Imported inside the job only (transformers). `evaluation_callbacks(ctx, registry)` returns
what the worker adds to `ctx.callbacks` for `[eval] at = "checkpoints"` and `[run] early_stopping`.
"""

from __future__ import annotations

import math
from typing import Any

from transformers import TrainerCallback

from workbench.evaluation.passes import run_pass
from workbench.evaluation.settings import EarlyStopping, early_stopping_of


def _all_ranks_agree(flag: bool) -> bool:
    """True on every rank when it is true on any (rank 0 alone judges checkpoint scores)."""
    from workbench.training.callbacks import _any_rank

    return _any_rank(flag)


class EarlyStopper(TrainerCallback):
    """Counts evaluations without improvement of one metric; after `patience` of them, training stops.

    Trainer metrics (eval_loss, ...) arrive through on_evaluate, identical on every rank;
    evaluator metrics (eval/<evaluator>/<metric>) through `CheckpointEvaluation` on rank 0.
    """

    def __init__(self, config: EarlyStopping, reporter):
        self.config = config
        self.reporter = reporter
        self.best: float | None = None
        self.best_step: int | None = None
        self.waited = 0
        self.triggered = False
        self._missing_reported = False

    def observe(self, step: int, metrics: dict[str, Any]) -> bool:
        """Take one evaluation; True when training should stop now."""
        value = metrics.get(self.config.metric)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            if not self._missing_reported:
                self._missing_reported = True
                self.reporter.event("warning", step=step, message=f"early stopping: no finite "
                                    f"'{self.config.metric}' in this evaluation (has: {', '.join(sorted(metrics))})")
            return False
        if self.config.improved(float(value), self.best):
            self.best, self.best_step, self.waited = float(value), step, 0
            return False
        self.waited += 1
        if self.waited < self.config.patience or self.triggered:
            return False
        self.triggered = True
        self.reporter.event("early_stopping", step=step, metric=self.config.metric, value=value, best=self.best,
                            best_step=self.best_step, patience=self.config.patience,
                            threshold=self.config.threshold, mode=self.config.mode)
        return True

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if not self.config.task_metric and self.observe(state.global_step, dict(metrics or {})):
            control.should_training_stop = True


class CheckpointEvaluation(TrainerCallback):
    """`[eval] at = "checkpoints"`: rank 0 scores the model being trained each time a checkpoint is saved."""

    def __init__(self, ctx, registry, stopper: EarlyStopper | None = None):
        self.ctx = ctx
        self.registry = registry
        self.stopper = stopper
        self._tokenizer = None

    def on_save(self, args, state, control, model=None, **kwargs):
        step = state.global_step
        scores: dict[str, Any] | None = None
        # A save forced by a stop request is not scored: the job is asked to exit soon.
        if state.is_world_process_zero and model is not None and not self.ctx.reporter.stop_requested():
            if self._tokenizer is None:
                self._tokenizer = self.ctx.load_tokenizer()
            results = run_pass(self.ctx, self.registry, f"checkpoint-{step}", step, model=model,
                               tokenizer=self._tokenizer)
            scores = {f"eval/{n}/{k}": v for n, r in results.items() for k, v in r.metrics.items()}
        if self.stopper is not None and self.stopper.config.task_metric:
            stop = scores is not None and self.stopper.observe(step, scores)
            if _all_ranks_agree(stop):
                control.should_training_stop = True
        return control


def evaluation_callbacks(ctx, registry) -> list[TrainerCallback]:
    """The callbacks a job config asks for: early stopping, checkpoint evaluation."""
    out: list[TrainerCallback] = []
    stopping = early_stopping_of(ctx.config)
    stopper = EarlyStopper(stopping, ctx.reporter) if stopping else None
    if stopper is not None:
        out.append(stopper)
    eval_cfg = ctx.config.get("eval") or {}
    if eval_cfg.get("at") == "checkpoints" and eval_cfg.get("evaluators"):
        out.append(CheckpointEvaluation(ctx, registry, stopper))
    return out


def unused_callbacks(runner: Any, callbacks: list[Any]) -> list[str]:
    """What a runner that is no HF Trainer (PPO, evaluation runs) leaves undone of the evaluation callbacks."""
    handler = getattr(runner, "callback_handler", None)
    if handler is None:
        names = {EarlyStopper: "run.early_stopping", CheckpointEvaluation: 'eval.at = "checkpoints"'}
        return [label for cls, label in names.items() if any(isinstance(c, cls) for c in callbacks)]
    return []

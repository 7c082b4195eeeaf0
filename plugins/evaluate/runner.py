"""The job side of an evaluation run: checks the evaluators, trains nothing, saves nothing.

The worker then runs `[eval].evaluators` on rank 0 as after any training, on `[model]`
(with `model.adapter` applied), so scores land in metrics.jsonl and events.jsonl the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.errors import ConfigError
from workbench.training import TrainContext


@dataclass
class EvaluateArgs:
    """[trainer.args] of an evaluation run: none (the evaluators take `[eval.options.<name>]`)."""


def check_evaluators(eval_cfg: dict[str, Any] | None, registry) -> list[str]:
    """The evaluator names of `[eval]`, each one registered; options only for listed evaluators.

    Raises a one-line ConfigError naming the unknown evaluator and the known ones.
    """
    import difflib

    names = list((eval_cfg or {}).get("evaluators") or [])
    known = sorted(registry.evaluators)
    if not names:
        raise ConfigError(f"nothing to evaluate: list evaluators (known: {', '.join(known) or 'none'})",
                          where="eval.evaluators")
    for name in names:
        if not isinstance(name, str) or name not in registry.evaluators:
            close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.6)
            mean = f"did you mean '{close[0]}'? " if close else ""
            raise ConfigError(f"unknown evaluator {name!r}; {mean}known: {', '.join(known) or 'none'}",
                              where="eval.evaluators")
    for name, options in ((eval_cfg or {}).get("options") or {}).items():
        if name not in names:
            raise ConfigError(f"options for {name!r}, which is not in eval.evaluators ({', '.join(names)})",
                              where=f"eval.options.{name}")
        if not isinstance(options, dict):
            raise ConfigError("must be a table of keyword options", where=f"eval.options.{name}")
    return names


def check_checkpoints(value: Any) -> list[dict[str, Any]]:
    """[trainer] checkpoints: a list of {name, step, model = {path, adapter?, ...}} tables."""
    where = "trainer.checkpoints"
    if not isinstance(value, list) or not value:
        raise ConfigError("must be a non-empty list of {name, step, model} tables", where=where)
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) \
                or not isinstance(item.get("model"), dict) or not item["model"].get("path"):
            raise ConfigError(f"entry {i + 1} must be a table with name, step and model.path", where=where)
        step = item.get("step")
        if step is not None and (isinstance(step, bool) or not isinstance(step, int)):
            raise ConfigError(f"entry {i + 1}: step must be an integer, got {step!r}", where=where)
    return value


class EvaluationRunner:
    """A Runner that trains nothing and produces no model: the worker skips the final save.

    With `[trainer] checkpoints`, it scores each listed model (a run's checkpoints) itself, as
    curves over their steps; otherwise the worker scores `[model]` after `train()`.
    """

    produces_model = False

    def __init__(self, ctx: TrainContext):
        self.ctx = ctx
        self.checkpoints = check_checkpoints(ctx.options["checkpoints"]) if "checkpoints" in ctx.options else None
        self.evaluated = self.checkpoints is not None
        self.stopped = False

    def train(self, resume_from_checkpoint: str | None = None) -> None:
        model = self.ctx.config["model"]
        self.ctx.reporter.event("evaluation_begin", model=model["path"], adapter=model.get("adapter"),
                                evaluators=list(self.ctx.config["eval"]["evaluators"]),
                                checkpoints=[c["name"] for c in self.checkpoints or []] or None)
        if self.checkpoints and self.ctx.reporter.is_main:
            self._score_checkpoints()

    def _score_checkpoints(self) -> None:
        import dataclasses
        import gc

        from workbench.evaluation.passes import run_pass
        from workbench.plugin_manager import get_registry

        registry = get_registry()
        steps: set[int] = set()
        for item in self.checkpoints:
            if self.ctx.reporter.stop_requested():
                self.stopped = True
                return
            config = {**self.ctx.config, "model": dict(item["model"])}
            target = dataclasses.replace(self.ctx, config=config)
            step = item.get("step")
            on_curve = step is not None and step not in steps  # final is often the last checkpoint again
            steps.add(step)
            run_pass(target, registry, item["name"], step, on_curve=on_curve,
                     description={"model": item["model"]["path"], "adapter": item["model"].get("adapter")})
            gc.collect()  # one checkpoint's model at a time

    def save_model(self, output_dir: str | None = None) -> None:
        """Nothing to save: the evaluated model is not copied into the run."""


def build(ctx: TrainContext) -> EvaluationRunner:
    """Check the evaluators before any model is loaded, so a bad name fails the job at once."""
    from workbench.plugin_manager import get_registry

    check_evaluators(ctx.config.get("eval"), get_registry())
    return EvaluationRunner(ctx)

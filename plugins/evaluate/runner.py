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


class EvaluationRunner:
    """A Runner that trains nothing and produces no model: the worker skips the final save."""

    produces_model = False

    def __init__(self, ctx: TrainContext):
        self.ctx = ctx

    def train(self, resume_from_checkpoint: str | None = None) -> None:
        model = self.ctx.config["model"]
        self.ctx.reporter.event("evaluation_begin", model=model["path"], adapter=model.get("adapter"),
                                evaluators=list(self.ctx.config["eval"]["evaluators"]))

    def save_model(self, output_dir: str | None = None) -> None:
        """Nothing to save: the evaluated model is not copied into the run."""


def build(ctx: TrainContext) -> EvaluationRunner:
    """Check the evaluators before any model is loaded, so a bad name fails the job at once."""
    from workbench.plugin_manager import get_registry

    check_evaluators(ctx.config.get("eval"), get_registry())
    return EvaluationRunner(ctx)

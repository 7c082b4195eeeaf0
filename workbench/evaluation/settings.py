"""Checks of the evaluation keys of a job config before launch: [eval] generation / at, [run] early_stopping.

Imports no torch: called by config validation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from workbench.errors import ConfigError
from workbench.evaluation.generation import GENERATION_KEYS, SHARED_KEYS, settings_from

EARLY_STOPPING_KEYS = ("metric", "patience", "threshold", "mode")
LOWER_IS_BETTER = ("loss", "perplexity", "nll", "rejected_logp", "logp_rejected", "reward_std", "error")
"""Words of metric names whose lower values are better; any other metric is better higher (as
transformers' greater_is_better assumes for a metric that is not a loss)."""


def lower_is_better(metric: str) -> bool:
    """Which way a metric improves: early stopping's default mode, the results table's and run table's best."""
    return any(word in metric.lower() for word in LOWER_IS_BETTER)


@dataclass(frozen=True)
class EarlyStopping:
    """Stop training when `metric` has not improved by more than `threshold` for `patience` evaluations."""

    metric: str
    patience: int = 3
    threshold: float = 0.0
    mode: str = "min"

    @property
    def task_metric(self) -> bool:
        """An evaluator's metric (eval/<evaluator>/<metric>), scored at each checkpoint; else a Trainer eval_* metric."""
        return self.metric.startswith("eval/")

    def improved(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value < best - self.threshold if self.mode == "min" else value > best + self.threshold


def metric_key(name: str) -> str:
    """The metrics.jsonl key of a metric: "exact_match/exact_match" -> "eval/exact_match/exact_match"."""
    if name.startswith("eval/") or name.startswith("eval_") or name.count("/") != 1:
        return name
    return f"eval/{name}"


def early_stopping_of(config: dict[str, Any]) -> EarlyStopping | None:
    """The resolved [run] early_stopping of a validated config, or None."""
    given = (config.get("run") or {}).get("early_stopping")
    if not given:
        return None
    metric = metric_key(given["metric"])
    mode = given.get("mode") or ("min" if lower_is_better(metric) else "max")
    return EarlyStopping(metric, int(given.get("patience", 3)), float(given.get("threshold", 0.0)), mode)


def check_early_stopping(data: dict[str, Any], where: Callable[[str], str]) -> None:
    """[run] early_stopping = {metric, patience, threshold, mode}: keys, types, and a metric that will be measured."""
    given = data["run"].get("early_stopping")
    if given is None:
        return
    key = "run.early_stopping"
    for name in given:
        if name not in EARLY_STOPPING_KEYS:
            raise ConfigError(f"{key}.{name}: unknown key (known: {', '.join(EARLY_STOPPING_KEYS)})",
                              where=where(f"{key}.{name}"))
    metric = given.get("metric")
    if not isinstance(metric, str) or not metric:
        raise ConfigError(f"{key}.metric: required, e.g. \"eval_loss\" or \"exact_match/exact_match\"",
                          where=where(key))
    patience = given.get("patience", 3)
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
        raise ConfigError(f"{key}.patience: must be an integer >= 1, got {patience!r}", where=where(f"{key}.patience"))
    threshold = given.get("threshold", 0.0)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or threshold < 0:
        raise ConfigError(f"{key}.threshold: must be a number >= 0, got {threshold!r}", where=where(f"{key}.threshold"))
    if given.get("mode", "min") not in ("min", "max"):
        raise ConfigError(f"{key}.mode: must be 'min' or 'max', got {given['mode']!r}", where=where(f"{key}.mode"))
    full = metric_key(metric)
    if full.startswith("eval/"):
        evaluator = full.split("/")[1]
        eval_cfg = data.get("eval") or {}
        if evaluator not in eval_cfg.get("evaluators", []):
            raise ConfigError(f"{key}.metric: '{metric}' is a metric of evaluator '{evaluator}', which is not in "
                              "eval.evaluators", where=where(f"{key}.metric"))
        if eval_cfg.get("at") != "checkpoints":
            raise ConfigError(f"{key}.metric: '{metric}' is measured only at checkpoints: set eval.at = \"checkpoints\"",
                              where=where(f"{key}.metric"))
    elif full.startswith("eval_"):
        if not data["data"].get("eval") and not data["data"].get("eval_fraction"):
            raise ConfigError(f"{key}.metric: '{metric}' needs evaluation rows: set data.eval or data.eval_fraction",
                              where=where(f"{key}.metric"))
    else:
        raise ConfigError(f"{key}.metric: '{metric}' is no evaluation metric: use a Trainer eval_* metric "
                          "(eval_loss) or an evaluator's <evaluator>/<metric>", where=where(f"{key}.metric"))


def check_evaluator_settings(evaluator: str, options: dict[str, Any], where: Callable[[str], str]) -> None:
    """An evaluator's own generation settings (batch_size too) and max_rows (`eval.options.<name>`), as its job checks them."""
    key = f"eval.options.{evaluator}"
    try:
        settings_from({k: v for k, v in options.items() if k in GENERATION_KEYS}, key)
    except ConfigError as exc:
        raise ConfigError(f"{exc.where}: {exc.message}", where=where(exc.where or key)) from None
    rows = options.get("max_rows", 1)
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ConfigError(f"{key}.max_rows: must be a positive integer, got {rows!r}", where=where(f"{key}.max_rows"))


def check_eval_settings(data: dict[str, Any], where: Callable[[str], str]) -> None:
    """[eval] generation keys and values; [eval] at = "checkpoints" needs evaluators and a rank-0-loadable model."""
    eval_cfg = data.get("eval")
    if eval_cfg:
        generation = eval_cfg.get("generation") or {}
        for name in generation:
            if name not in SHARED_KEYS:
                raise ConfigError(f"eval.generation.{name}: unknown key (known: {', '.join(SHARED_KEYS)})",
                                  where=where(f"eval.generation.{name}"))
        try:
            settings_from({k: v for k, v in generation.items() if k != "max_rows"}, "eval.generation")
        except ConfigError as exc:
            raise ConfigError(f"{exc.where}: {exc.message}", where=where(exc.where or "eval.generation")) from None
        rows = generation.get("max_rows", 1)
        if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
            raise ConfigError(f"eval.generation.max_rows: must be a positive integer, got {rows!r}",
                              where=where("eval.generation.max_rows"))
        for name, options in (eval_cfg.get("options") or {}).items():
            if isinstance(options, dict):
                check_evaluator_settings(name, options, where)
        if eval_cfg.get("at") == "checkpoints":
            if not eval_cfg.get("evaluators"):
                raise ConfigError("eval.at: \"checkpoints\" scores each checkpoint with eval.evaluators, but none "
                                  "are listed", where=where("eval.at"))
            distributed = (data.get("launch") or {}).get("distributed", "ddp")
            if distributed in ("fsdp", "deepspeed") and (data.get("launch") or {}).get("num_processes", 1) > 1:
                raise ConfigError(f"eval.at: \"checkpoints\" scores the model on rank 0, which {distributed} shards "
                                  "across ranks; evaluate afterwards with `workbench eval RUN --checkpoints all`",
                                  where=where("eval.at"))
    check_early_stopping(data, where)

"""Experiment trackers (`trainer.args.report_to`): transformers' own integrations, kept inside the run.

The workbench passes `report_to` through unchanged and only points each integration's local
output into the run directory, unless the user's environment already says where:

    tensorboard   TENSORBOARD_LOGGING_DIR = <run>/tensorboard   (event files)
    trackio       TRACKIO_DIR = <run>/trackio                   (<project>.db, SQLite)
    wandb         WANDB_DIR = <run>                             (<run>/wandb/; WANDB_MODE=offline works)
    mlflow        MLFLOW_TRACKING_URI = file:<run>/mlruns

`run_name` defaults to the run id and trackio's `project` to "workbench". Credentials
(WANDB_API_KEY, HF_TOKEN, ...) come from the environment only; nothing here writes them.

`TrackerRelay` sends the `[eval].evaluators` scores of a training job to those integrations too.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, MutableMapping

TENSORBOARD_DIR = "tensorboard"
TRACKIO_DIR = "trackio"
TRACKIO_PROJECT = "workbench"


def integrations(report_to: Any) -> list[str]:
    """The integration names of a report_to value ("none" and empty mean none)."""
    if report_to is None:
        return []
    names = [report_to] if isinstance(report_to, str) else list(report_to)
    return [n for n in names if n and n != "none"]


def tracker_env(run_dir: Path, names: list[str]) -> dict[str, str]:
    """Environment defaults that keep each named integration's local files in the run directory."""
    run_dir = Path(run_dir)
    every = "all" in names
    env: dict[str, str] = {}
    if every or "tensorboard" in names:
        env["TENSORBOARD_LOGGING_DIR"] = str(run_dir / TENSORBOARD_DIR)
    if every or "trackio" in names:
        env["TRACKIO_DIR"] = str(run_dir / TRACKIO_DIR)
    if every or "wandb" in names:
        env["WANDB_DIR"] = str(run_dir)
    if every or "mlflow" in names:
        env["MLFLOW_TRACKING_URI"] = f"file:{run_dir / 'mlruns'}"
    return env


def prepare_trackers(run_dir: Path, run_id: str, args: dict[str, Any], fields: set[str],
                     environ: MutableMapping[str, str] = os.environ) -> dict[str, Any]:
    """Set the trackers' environment defaults (the user's own settings win); returns training-args defaults."""
    names = integrations(args.get("report_to"))
    if not names:
        return {}
    for key, value in tracker_env(run_dir, names).items():
        environ.setdefault(key, value)
    out: dict[str, Any] = {}
    if "run_name" in fields and not args.get("run_name"):
        out["run_name"] = run_id
    if "project" in fields and args.get("project") in (None, "huggingface"):
        out["project"] = TRACKIO_PROJECT
    return out


class TrackerRelay:
    """Evaluator scores to a Hugging Face Trainer's `report_to` integrations (TensorBoard, trackio, W&B, ...).

    The Trainer feeds its integrations its own logs only; the workbench's evaluation passes score
    outside its loop. `log()` calls each integration's `on_log` directly (the workbench's own
    metrics callback never sees these, so metrics.jsonl holds each score once) with
    `eval_<evaluator>/<metric>` keys, which transformers' integrations name
    `eval/<evaluator>/<metric>`, the run's own metric name.

    The final evaluation runs after `train()` returned, when the integrations have closed
    (TensorBoard its writer, trackio and MLflow their run): `hold_train_end()` keeps their
    `on_train_end` until `end_training()`, which the job calls after the final pass.
    """

    def __init__(self, trainer: Any):
        self.trainer = trainer
        handler = getattr(trainer, "callback_handler", None)
        self.integrations: list[Any] = []
        if handler is not None:
            from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

            kinds = tuple(INTEGRATION_TO_CALLBACK.values())
            self.integrations = [cb for cb in handler.callbacks if isinstance(cb, kinds)]
        self._held: list[tuple[Any, tuple, dict]] = []
        self._steps: set[int] = set()

    def hold_train_end(self) -> None:
        """Defer each integration's on_train_end (closing its writer or run) until end_training()."""
        for callback in self.integrations:
            def hold(*args, _callback=callback, **kwargs):
                self._held.append((_callback, args, kwargs))
            callback.on_train_end = hold  # the handler calls getattr(callback, "on_train_end")

    def end_training(self) -> None:
        """Run the integrations' held on_train_end (once), as the Trainer would have at its end."""
        for callback in self.integrations:
            callback.__dict__.pop("on_train_end", None)
        held, self._held = self._held, []
        for callback, args, kwargs in held:
            callback.on_train_end(*args, **kwargs)

    def log(self, scores: dict[str, float], step: int | None = None) -> None:
        """Send one evaluator's scores ({"eval/<evaluator>/<metric>": value}) at `step`; None: the final
        model, at the trainer's last step, unless scores at that step were sent already (a checkpoint
        saved at the last step holds the same weights: one point per step in the trackers)."""
        if not self.integrations:
            return
        state = self.trainer.state
        at = state.global_step if step is None else int(step)
        if step is None and at in self._steps:
            return
        if step is not None:
            self._steps.add(at)
        logs = {"eval_" + k.removeprefix("eval/"): v for k, v in scores.items()}
        if at != state.global_step:
            state = copy.copy(state)
            state.global_step = at
        handler = self.trainer.callback_handler
        for callback in self.integrations:
            callback.on_log(self.trainer.args, state, self.trainer.control, logs=logs, model=handler.model,
                            processing_class=handler.processing_class)

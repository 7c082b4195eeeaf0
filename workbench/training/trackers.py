"""Experiment trackers (`trainer.args.report_to`): transformers' own integrations, kept inside the run.

The workbench passes `report_to` through unchanged and only points each integration's local
output into the run directory, unless the user's environment already says where:

    tensorboard   TENSORBOARD_LOGGING_DIR = <run>/tensorboard   (event files)
    trackio       TRACKIO_DIR = <run>/trackio                   (<project>.db, SQLite)
    wandb         WANDB_DIR = <run>                             (<run>/wandb/; WANDB_MODE=offline works)
    mlflow        MLFLOW_TRACKING_URI = file:<run>/mlruns

`run_name` defaults to the run id and trackio's `project` to "workbench". Credentials
(WANDB_API_KEY, HF_TOKEN, ...) come from the environment only; nothing here writes them.
"""

from __future__ import annotations

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

"""Experiment trackers: report_to passes through; their local files land in the run directory."""

from __future__ import annotations

from pathlib import Path

from workbench.training.trackers import integrations, prepare_trackers

FIELDS = {"report_to", "run_name", "project"}


def test_report_to_names():
    assert integrations("none") == [] and integrations(None) == [] and integrations([]) == []
    assert integrations("wandb") == ["wandb"] and integrations(["tensorboard", "trackio"]) == ["tensorboard", "trackio"]


def test_trackers_write_into_the_run_unless_the_environment_says_otherwise(tmp_path):
    env = {"TRACKIO_DIR": "/shared/trackio"}  # the user's own choice wins
    out = prepare_trackers(tmp_path, "run-1", {"report_to": ["tensorboard", "trackio", "wandb", "mlflow"]}, FIELDS, env)
    assert out == {"run_name": "run-1", "project": "workbench"}
    assert env == {"TRACKIO_DIR": "/shared/trackio", "TENSORBOARD_LOGGING_DIR": str(tmp_path / "tensorboard"),
                   "WANDB_DIR": str(tmp_path), "MLFLOW_TRACKING_URI": f"file:{tmp_path / 'mlruns'}"}
    env = {}
    assert prepare_trackers(tmp_path, "run-1", {"report_to": "none"}, FIELDS, env) == {} and env == {}
    named = prepare_trackers(Path("/r"), "run-1", {"report_to": "trackio", "run_name": "mine", "project": "p"},
                             FIELDS, env)
    assert named == {} and env == {"TRACKIO_DIR": "/r/trackio"}

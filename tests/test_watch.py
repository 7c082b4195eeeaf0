"""`workbench watch`: a Hugging Face Trainer output dir as a run source."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from workbench.errors import RunError
from workbench.sources import source_for
from workbench.sources.rundir import RunDirSource
from workbench.sources.hf_trainer import TrainerDirSource, newest_state, rows_from_log_history


def write_state(out, step: int, history: list[dict], name: str | None = None, **extra) -> None:
    folder = out / (name if name is not None else f"checkpoint-{step}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trainer_state.json").write_text(json.dumps(
        {"global_step": step, "max_steps": 30, "epoch": step / 10, "log_history": history, **extra}))


def hist(a: int, b: int) -> list[dict]:
    return [{"step": s, "epoch": s / 10, "loss": 3.0 - s / 20, "learning_rate": 1e-4, "grad_norm": 0.5}
            for s in range(a, b + 1)]


def test_log_history_becomes_metric_rows():
    rows, summaries = rows_from_log_history([
        {"step": 1, "loss": 2.0, "epoch": 0.1},
        {"step": 1, "eval_loss": 1.9, "eval_runtime": 0.3, "epoch": 0.1},
        {"step": 2, "train_runtime": 10.0, "train_loss": 1.5, "total_flos": 1.0},
        "junk", {"no_step": 1},
    ])
    assert rows == [{"step": 1, "kind": "train", "loss": 2.0, "epoch": 0.1},
                    {"step": 1, "kind": "eval", "eval_loss": 1.9, "eval_runtime": 0.3, "epoch": 0.1}]
    assert summaries[0]["train_runtime"] == 10.0


def test_source_yields_only_new_rows_as_checkpoints_land(tmp_path):
    out = tmp_path / "out"
    write_state(out, 10, hist(1, 10))
    src = TrainerDirSource(out)
    up = src.poll()
    assert [r["step"] for r in up.metrics] == list(range(1, 11)) and not up.metrics_reset
    assert [e["step"] for e in up.events if e["event"] == "checkpoint"] == [10]
    assert up.status["status"] == "running" and up.status["step"] == 10 and up.status["max_steps"] == 30
    assert src.poll().metrics == []  # nothing changed
    write_state(out, 20, hist(1, 20))
    up = src.poll()
    assert [r["step"] for r in up.metrics] == list(range(11, 21))
    assert [e["path"] for e in up.events] == ["checkpoint-20"]
    # the final state in the dir itself, with the train summary
    write_state(out, 30, hist(1, 30) + [{"step": 30, "train_runtime": 12.0, "train_loss": 2.1}], name="")
    up = src.poll()
    assert [r["step"] for r in up.metrics] == list(range(21, 31))
    assert [e["event"] for e in up.events] == ["train_end"] and up.status["status"] == "completed"


def test_a_restarted_run_resets_the_rows(tmp_path):
    out = tmp_path / "out"
    write_state(out, 10, hist(1, 10))
    src = TrainerDirSource(out)
    src.poll()
    # a new run in the same dir: different history under a higher step count
    new = [{"step": s, "loss": 9.0, "epoch": s / 10} for s in range(5, 25, 5)]
    write_state(out, 20, new)
    up = src.poll()
    assert up.metrics_reset and [r["step"] for r in up.metrics] == [5, 10, 15, 20]


def test_broken_state_files_are_skipped_and_dirs_validated(tmp_path):
    out = tmp_path / "out"
    write_state(out, 10, hist(1, 10))
    (out / "checkpoint-20").mkdir()
    (out / "checkpoint-20" / "trainer_state.json").write_text("{ half written")
    path, data = newest_state(out)
    assert path.parent.name == "checkpoint-10"
    with pytest.raises(RunError, match="not a directory"):
        TrainerDirSource(tmp_path / "missing")
    empty = TrainerDirSource(tmp_path)
    up = empty.poll()
    assert up.status["status"] == "waiting" and "trainer_state.json" in up.status["reason"]


def test_source_for_picks_the_run_dir_reader_for_workbench_runs(tmp_path):
    from tests.test_tui_support import make_run

    run_dir = make_run(tmp_path, "r1")
    assert isinstance(source_for(run_dir), RunDirSource)
    assert isinstance(source_for(tmp_path), TrainerDirSource)


def test_watch_once_cli_prints_rows(tmp_path):
    out = tmp_path / "out"
    write_state(out, 10, hist(1, 10))
    res = subprocess.run([sys.executable, "-m", "workbench", "watch", str(out), "--once"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.strip().splitlines()
    assert [json.loads(x)["step"] for x in lines[:-1]] == list(range(1, 11))
    assert lines[-1].startswith("running: step 10/30")
    bad = subprocess.run([sys.executable, "-m", "workbench", "watch", str(tmp_path / "nope")], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "no such directory" in bad.stderr

"""`workbench run` on data with bad rows: fails before training naming them, or skips and records them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from workbench.data.samples import BAD_LINES
from workbench.paths import sample_data_dir

ROOT = Path(__file__).resolve().parents[1]
BAD = "sft-messages-bad.jsonl"


def _run(tmp_path: Path, *overrides: str) -> subprocess.CompletedProcess:
    samples = sample_data_dir()
    config = tmp_path / "bad.toml"
    config.write_text(f"""
[run]
name = "bad-data"
[model]
path = "{samples / 'models' / 'tiny-llama'}"
[data]
train = "{samples / 'data' / BAD}"
[trainer]
name = "sft"
[trainer.args]
max_steps = 2
per_device_train_batch_size = 2
max_length = 64
logging_steps = 1
save_strategy = "no"
""")
    sets = [x for o in overrides for x in ("--set", o)]
    env = {**os.environ, "WORKBENCH_WORKSPACE": str(tmp_path)}
    return subprocess.run([str(ROOT / ".venv" / "bin" / "workbench"), "run", str(config), *sets],
                          capture_output=True, text=True, env=env, timeout=300)


def _run_dir(tmp_path: Path) -> Path:
    (run_dir,) = [p for p in (tmp_path / "runs").iterdir() if p.is_dir()]
    return run_dir


@pytest.mark.slow
def test_bad_rows_fail_the_run_before_training(tmp_path):
    """`run` checks every row as validate does: refused before any run directory is made."""
    out = _run(tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    first = min(BAD_LINES[BAD])
    assert f"8 of 17 rows are invalid; first: {sample_data_dir() / 'data' / BAD}:{first}" in out.stderr
    assert not (tmp_path / "runs").exists() or not list((tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_skip_trains_and_records_every_skipped_row(tmp_path):
    out = _run(tmp_path, "data.on_invalid=skip")
    run_dir = _run_dir(tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr + (run_dir / "console.log").read_text()
    skipped = [json.loads(line) for line in (run_dir / "invalid_rows.train.jsonl").read_text().splitlines()]
    assert {r["row"]: r["field"] for r in skipped} == BAD_LINES[BAD]
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    invalid = next(e for e in events if e.get("event", e.get("kind")) == "invalid_rows" or "invalid_rows" in
                   json.dumps(e))
    assert invalid["count"] == len(BAD_LINES[BAD]) and invalid["total"] == 17
    ready = next(e for e in events if "data_ready" in json.dumps(e))
    assert ready["rows"] == 17 - len(BAD_LINES[BAD])

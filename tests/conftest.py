"""Shared fixtures: an isolated workspace, the bundled sample files, CLI helpers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data"
MODEL = SAMPLE / "models" / "tiny-llama"
CONFIGS = SAMPLE / "configs"
DATA = SAMPLE / "data"
WORKBENCH = [sys.executable, "-m", "workbench"]


@pytest.fixture
def workspace(tmp_path, monkeypatch) -> Path:
    """A fresh workspace folder, also exported for subprocesses and the registry."""
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("WORKBENCH_CONFIG_DIR", str(tmp_path / ".user-config"))  # no user settings leak in
    monkeypatch.chdir(tmp_path)
    import workbench.plugin_manager as pm

    monkeypatch.setattr(pm, "_REGISTRY", None)
    return tmp_path


def cli(*args: str, env: dict | None = None, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python -m workbench ARGS` and capture its output."""
    full_env = dict(os.environ, **(env or {}))
    return subprocess.run([*WORKBENCH, *args], capture_output=True, text=True, timeout=timeout, env=full_env, cwd=cwd)


def wait_for(predicate, timeout: float = 120.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def metric_rows(run_dir: Path, kind: str = "train") -> list[dict]:
    path = run_dir / "metrics.jsonl"
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if r.get("kind", "train") == kind]


def status_of(run_dir: Path) -> dict:
    from workbench.runs.store import Run

    return Run(run_dir).status()


def write_config(path: Path, text: str) -> Path:
    path.write_text(text.replace("@MODEL@", str(MODEL)).replace("@DATA@", str(DATA)))
    return path


def leaky_trainer(workspace: Path, build: str, hooks: str = "") -> tuple[Path, Path]:
    """A workspace-local plugin whose trainer 'leaky' runs `build` (Python lines, indented 4) as its
    factory, plus extra hook lines; returns (its config, the plugin folder for PYTHONPATH)."""
    plugin_dir = workspace / ".workbench" / "plugins"  # the workspace's local plugin folder
    plugin_dir.mkdir(parents=True, exist_ok=True)
    (plugin_dir / "leaky.py").write_text(
        "import os, sys\n"
        "from workbench.hookspecs import hookimpl\n"
        "from workbench.specs import TrainerSpec\n"
        "@hookimpl\n"
        "def register_trainers():\n"
        "    return [TrainerSpec('leaky', ('conversational',), 'leaky:build')]\n"
        f"{hooks}"
        "def build(ctx):\n"
        f"{build}")
    config = workspace / "leaky.toml"
    config.write_text((CONFIGS / "sft.toml").read_text().replace('name = "sft"', 'name = "leaky"')
                      .replace("../", str(CONFIGS.parent) + "/").split("[trainer.args]")[0])
    return config, plugin_dir

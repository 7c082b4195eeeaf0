"""Run actions the TUI offers beyond workbench.runs.control (stop/resume live there)."""

from __future__ import annotations

import re
from pathlib import Path

from workbench.errors import RunError
from workbench.runs.store import Run

CONFIGS_FOLDER = "configs"


def duplicate_config(run: Run, workspace: Path) -> Path:
    """Copy the run's resolved job.toml to <workspace>/configs/<name>-copy[-N].toml; returns the new path."""
    src = run.path("job.toml")
    try:
        text = src.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RunError("run has no job.toml to duplicate", where=str(src)) from None
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", str(run.raw_status.get("name") or run.id)).strip("-") or "run"
    folder = workspace / CONFIGS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{name}-copy.toml"
    n = 2
    while target.exists():
        target = folder / f"{name}-copy-{n}.toml"
        n += 1
    lines = text.splitlines(keepends=True)
    if lines and lines[0].startswith("# Resolved by workbench"):
        lines = lines[1:]
    header = f"# Copied from run {run.id} (its resolved job.toml); edit and `workbench run {CONFIGS_FOLDER}/{target.name}`.\n"
    # x mode: never overwrite a file that appeared meanwhile.
    with open(target, "x", encoding="utf-8") as f:
        f.write(header + "".join(lines))
    return target

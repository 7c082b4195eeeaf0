"""Checkpoints proven complete: a checkpoint counts only once it is sealed.

A trainer writes `checkpoint-N/` file by file; a job killed, or a disk that fills up,
half-way leaves a folder that looks like a checkpoint but cannot resume. When every
rank has finished writing, the job seals the folder: it writes `workbench_checkpoint.json`
(the list of its files and their sizes) to a temporary name and renames it into place.
A checkpoint is complete when its seal is there and every file it lists is present with
its size. Resume takes the newest complete one and names what was wrong with any newer.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

SEAL = "workbench_checkpoint.json"
PREFIX = "checkpoint-"


@dataclass(frozen=True)
class CheckpointCheck:
    """One checkpoint folder and, when it cannot be resumed from, why."""

    path: Path
    step: int
    problem: str | None = None

    @property
    def complete(self) -> bool:
        return self.problem is None


def checkpoint_step(path: Path) -> int | None:
    tail = path.name[len(PREFIX):] if path.name.startswith(PREFIX) else ""
    return int(tail) if tail.isdigit() else None


def seal(folder: Path, step: int | None = None) -> Path:
    """Record every file of a finished checkpoint folder; returns the seal's path."""
    folder = Path(folder)
    files = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != SEAL and not p.name.startswith(f".{SEAL}"):
            files[str(p.relative_to(folder))] = p.stat().st_size
    data = {"format": 1, "step": step if step is not None else checkpoint_step(folder), "files": files}
    tmp = folder / f".{SEAL}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, folder / SEAL)
    return folder / SEAL


def verify(folder: Path) -> str | None:
    """None when `folder` is a complete checkpoint, else what is wrong, in a few words."""
    folder = Path(folder)
    try:
        data = json.loads((folder / SEAL).read_text(encoding="utf-8"))
        files = data["files"]
        if not isinstance(files, dict):
            raise TypeError
    except FileNotFoundError:
        return "never sealed (the job ended while writing it)"
    except (OSError, ValueError, KeyError, TypeError):
        return f"its seal {SEAL} is damaged"
    missing, short = [], []
    for name, size in files.items():
        try:
            actual = (folder / name).stat().st_size
        except OSError:
            missing.append(name)
            continue
        if actual != size:
            short.append(f"{name} ({actual} of {size} bytes)")
    if missing:
        return "missing " + ", ".join(missing[:4]) + (f" and {len(missing) - 4} more" if len(missing) > 4 else "")
    if short:
        return "wrong size: " + ", ".join(short[:4])
    return None


def scan(checkpoints_dir: Path) -> list[CheckpointCheck]:
    """Every checkpoint-N folder under `checkpoints_dir`, oldest first, each verified."""
    out = []
    try:
        entries = list(Path(checkpoints_dir).iterdir())
    except OSError:
        return []
    for p in entries:
        step = checkpoint_step(p)
        if step is not None and p.is_dir():
            out.append(CheckpointCheck(p, step, verify(p)))
    return sorted(out, key=lambda c: c.step)


def folder_bytes(folder: Path) -> int:
    """Total size of the files under `folder`."""
    total = 0
    for p in Path(folder).rglob("*"):
        try:
            if p.is_file():
                total += p.stat().st_size
        except OSError:
            continue
    return total

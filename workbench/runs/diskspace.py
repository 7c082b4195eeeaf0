"""A full disk, named as such: which device, how much is free, how much a checkpoint needs.

PyTorch's zip writer reports a full disk as `unexpected pos N vs M` or `file write
failed`; safetensors and plain writes raise OSError(ENOSPC). Whatever the form, the
user gets one line with the numbers, and the half-written checkpoint is removed.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from workbench.runs.checkpoints import folder_bytes, scan

_DISK_FULL_WORDS = ("no space left", "unexpected pos", "file write failed", "disk quota exceeded")


def is_disk_full(exc: BaseException) -> bool:
    """True when `exc` (or what caused it) is a full disk."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(w in str(exc).lower() for w in _DISK_FULL_WORDS):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def device_of(path: Path) -> str:
    """The device (or mount point) holding `path`, as /proc/mounts names it."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        dev = os.stat(path).st_dev
        best = ("", "")
        with open("/proc/mounts", encoding="utf-8") as f:
            for line in f:
                source, target = line.split()[:2]
                try:
                    if os.stat(target).st_dev == dev and len(target) >= len(best[1]):
                        best = (source, target)
                except OSError:
                    continue
        if best[1]:
            return f"{best[0]} ({best[1]})" if best[0] not in ("", "none") else best[1]
    except OSError:
        pass
    return str(path)


def remove_partial_checkpoints(checkpoints_dir: Path) -> list[str]:
    """Delete checkpoint folders that were never sealed; returns their names."""
    removed = []
    for check in scan(checkpoints_dir):
        if check.problem and check.problem.startswith("never sealed"):
            shutil.rmtree(check.path, ignore_errors=True)
            removed.append(check.path.name)
    return removed


def disk_full_message(exc: BaseException, run_dir: Path) -> str | None:
    """The one-line account of a full disk (removing the partial checkpoint), or None."""
    if not is_disk_full(exc):
        return None
    ckpts = Path(run_dir) / "checkpoints"
    sealed = [c for c in scan(ckpts) if c.complete]
    partial = [c for c in scan(ckpts) if not c.complete]
    need, about = (folder_bytes(sealed[-1].path), "about") if sealed else (0, "more than")
    if not need and partial:
        need = folder_bytes(partial[-1].path)  # what it had managed to write before the disk filled
    removed = remove_partial_checkpoints(ckpts)
    free = shutil.disk_usage(ckpts if ckpts.exists() else run_dir).free
    mb = 1024 * 1024
    needs = f", checkpoint needs {about} {max(need / mb, 1):,.0f} MB" if need else ""
    gone = f"; removed the partial {', '.join(removed)}" if removed else ""
    return f"no space left on {device_of(ckpts)}: {free / mb:,.0f} MB free{needs}{gone}"

"""Small file helpers: atomic JSON writes and safe JSON reads (line files: workbench.runs.jsonl)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

STOP_REQUEST = "stop.request"
"""The file a viewer writes to ask a run to stop (read by the job and its supervisor)."""


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON so that readers see the old or the new file, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_json_file(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically; when the folder refuses new files (disk full, made read-only or
    immutable after the run started), rewrite the existing file in place instead, padded
    with blanks so its blocks are reused. Raises the first error when neither works."""
    try:
        write_json_atomic(path, data)
        return
    except OSError as first:
        text = json.dumps(data, indent=1).encode() + b"\n"
        try:
            fd = os.open(path, os.O_WRONLY)
        except OSError:
            raise first from None
        try:
            old = os.fstat(fd).st_size
            os.pwrite(fd, text + b" " * max(0, old - len(text)), 0)  # JSON allows trailing blanks
            os.fsync(fd)
        except OSError:
            raise first from None
        finally:
            os.close(fd)


def json_safe(value: Any) -> Any:
    """`value` with NaN/inf floats as None, so json.dumps writes standard JSON (jq, browsers)."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from `path`; None when the file is missing, unreadable or not an object."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None

"""Small file helpers: atomic JSON writes and cheap reads of JSONL tails."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator


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


def iter_jsonl(path: Path, start: int = 0) -> Iterator[dict[str, Any]]:
    """Complete JSON lines of `path` from byte offset `start` (a partial last line is skipped)."""
    try:
        with open(path, "rb") as f:
            f.seek(start)
            for raw in f:
                if not raw.endswith(b"\n"):
                    return
                try:
                    yield json.loads(raw)
                except json.JSONDecodeError:
                    continue
    except FileNotFoundError:
        return


def tail_jsonl(path: Path, max_bytes: int = 16384) -> list[dict[str, Any]]:
    """The last complete lines of a JSONL file, reading at most `max_bytes` from its end."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return []
    start = max(0, size - max_bytes)
    rows = []
    with open(path, "rb") as f:
        f.seek(start)
        chunk = f.read()
    lines = chunk.split(b"\n")
    if start > 0:
        lines = lines[1:]  # first piece may be a partial line
    for raw in lines:
        if raw.strip():
            try:
                rows.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
    return rows


def tail_text(path: Path, lines: int = 40, max_bytes: int = 65536) -> list[str]:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return []
    with open(path, "rb") as f:
        f.seek(max(0, size - max_bytes))
        text = f.read().decode("utf-8", errors="replace")
    return text.splitlines()[-lines:]

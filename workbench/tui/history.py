"""Long metric histories open fast: the tail first, a decimated skeleton, the rest behind.

A run with a million metric lines (about 190 MB of JSONL) takes many seconds to parse
in full. Run detail therefore shows, within a fraction of that:

1. the exact last `TAIL_BYTES` of metrics.jsonl (what a live run's chart needs most),
   read by the run source's own follower, started near the end;
2. a skeleton of the whole run: every k-th line of the rest, so the full-range chart
   has its shape at once;

and then parses everything before the tail in chunks in a worker thread and swaps the
exact history in. Chunks are parsed as one JSON array each (one `json.loads` per
chunk, not per line) and fed to `MetricTable.add_bulk` (vectorised columns).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BIG = 8 << 20
"""metrics.jsonl bigger than this opens through the history loader."""
TAIL_BYTES = 2 << 20
SKELETON_LINES = 20000
CHUNK = 4 << 20


def _rows(lines: list[bytes]) -> list[dict[str, Any]]:
    """Parse many JSONL lines with one json.loads; bad lines (and non-objects) dropped."""
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        return []
    try:
        rows = json.loads(b"[" + b",".join(lines) + b"]")
    except ValueError:  # a damaged line somewhere in the chunk: line by line then
        rows = []
        for ln in lines:
            try:
                rows.append(json.loads(ln))
            except ValueError:
                continue
    return [r for r in rows if isinstance(r, dict)]


def skeleton(path: Path, end: int, lines: int | None = None) -> list[dict[str, Any]]:
    """About `lines` rows spread evenly over bytes [0, end): the shape of the whole history."""
    lines = SKELETON_LINES if lines is None else lines
    if end <= 0:
        return []
    stride = max(1, end // max(lines, 1))
    picked: list[bytes] = []
    with open(path, "rb") as f:
        pos = 0
        while pos < end:
            f.seek(pos)
            if pos:
                f.readline()  # finish the line we landed in
            line = f.readline()
            if not line or f.tell() > end:
                break
            picked.append(line.rstrip(b"\n"))
            pos += stride
    return _rows(picked)


def chunks(path: Path, start: int, end: int, size: int | None = None) -> Iterator[list[dict[str, Any]]]:
    """The rows of bytes [start, end) (whole lines), `size` bytes at a time."""
    size = CHUNK if size is None else size
    with open(path, "rb") as f:
        f.seek(start)
        pos, rest = start, b""
        while pos < end:
            data = rest + f.read(min(size, end - pos))
            pos = f.tell()
            cut = data.rfind(b"\n") + 1 if pos < end else len(data)
            rest = data[cut:]
            yield _rows(data[:cut].split(b"\n"))
        if rest.strip():
            yield _rows([rest])


def follow_from_tail(source: Any, window: int | None = None) -> int | None:
    """Start a run source's metrics follower near the end; returns the byte offset it starts at.

    The source then reads the last `window` bytes itself on its first poll (exact rows,
    and everything after); the history loader covers the bytes before. None when the
    source's follower cannot be moved (the source then reads everything itself).
    """
    window = TAIL_BYTES if window is None else window
    start = getattr(source, "start_metrics_near_end", None)  # RunDirSource's; other sources read everything
    if start is None:
        return None
    return start(window) or None

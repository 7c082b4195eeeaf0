"""The one reader of a run's line files: metrics/events/gpu JSONL and console.log.

Every viewer (`ls`, `show`, `logs`, the terminal follower, the TUI, plugins) reads run
files through this module. Two promises:

- It never raises on what it reads. A line that is not valid UTF-8, not JSON, nested
  too deep or not a JSON object is reported as a `DamagedLine` with its 1-based line
  number and skipped; one damaged run can never break a listing of the workspace.
- A follower never repeats or skips a line. It keeps a byte offset, the file's inode
  and the bytes just before the offset; a file that was replaced (new inode), truncated
  (smaller than the offset) or rewritten in place (those bytes changed) is read again
  from the start, and the caller is told so with `reset`.

A partial last line (a writer mid-line) is never returned: it waits for its newline.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_READ = 8 * 1024 * 1024
"""Most bytes one read takes; a huge backlog is consumed over several reads."""
GUARD_BYTES = 64
"""Bytes before the offset compared at each read to notice a file rewritten in place."""
MAX_DAMAGED_KEPT = 100
"""Damaged lines remembered per file (all are counted)."""


@dataclass(frozen=True)
class DamagedLine:
    """A line that could not be read as a JSON object."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class JsonlBatch:
    """What one read found: new rows, whether earlier ones were invalidated, damaged lines."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    reset: bool = False
    damaged: list[DamagedLine] = field(default_factory=list)


def parse_line(raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(row, None) for a JSON object line, (None, reason) for anything else."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, f"invalid UTF-8 at byte {exc.start}"
    try:
        value = json.loads(text)
    except RecursionError:
        return None, "JSON nested too deep"
    except ValueError as exc:
        return None, f"invalid JSON ({getattr(exc, 'msg', exc)} at column {getattr(exc, 'colno', '?')})"
    if not isinstance(value, dict):
        return None, f"not a JSON object (a {type(value).__name__})"
    return value, None


class LineFollower:
    """The complete lines appended to one file since the previous read."""

    def __init__(self, path: str | os.PathLike[str], max_read: int = MAX_READ):
        self.path = Path(path)
        self.max_read = max_read
        self.offset = 0
        self.lines_read = 0
        """Complete lines consumed so far (the next line's number is lines_read + 1)."""
        self._ino: int | None = None
        self._guard = b""

    def seek_near_end(self, window: int) -> None:
        """Start at the first complete line within the last `window` bytes (for log tails)."""
        try:
            with open(self.path, "rb") as f:
                st = os.fstat(f.fileno())
                if st.st_size <= window:
                    return
                f.seek(st.st_size - window)
                f.readline()  # the partial first line
                self.offset, self._ino, self.lines_read = f.tell(), st.st_ino, -1
                self._guard = self._read_guard(f)
        except OSError:
            return

    def _read_guard(self, f) -> bytes:
        start = max(0, self.offset - GUARD_BYTES)
        f.seek(start)
        return f.read(self.offset - start)

    def _restart(self) -> None:
        self.offset, self.lines_read, self._ino, self._guard = 0, 0, None, b""

    def read(self) -> tuple[list[bytes], bool, int]:
        """(new complete lines, reset, number of the first of them). Never raises on I/O."""
        reset = False
        try:
            f = open(self.path, "rb")
        except OSError:  # gone (deleted, or its folder): whatever we had no longer exists
            if self.offset:
                self._restart()
                return [], True, 1
            return [], False, 1
        with f:
            try:
                st = os.fstat(f.fileno())
                if self.offset and (st.st_ino != self._ino or st.st_size < self.offset
                                    or self._read_guard(f) != self._guard):
                    self._restart()
                    reset = True
                self._ino = st.st_ino
                if st.st_size == self.offset:
                    return [], reset, self.lines_read + 1
                f.seek(self.offset)
                data = f.read(self.max_read)
            except OSError:
                return [], reset, self.lines_read + 1
        end = data.rfind(b"\n")
        first = self.lines_read + 1
        if end < 0:
            if len(data) >= self.max_read:  # one absurd line: step over it rather than stall forever
                self._advance(data, len(data), 1)
                return [b""], reset, first
            return [], reset, first
        lines = data[:end].split(b"\n")
        self._advance(data, end + 1, len(lines))
        return lines, reset, first

    def _advance(self, data: bytes, consumed: int, lines: int) -> None:
        self.offset += consumed
        self.lines_read = self.lines_read + lines if self.lines_read >= 0 else -1
        kept = data[max(0, consumed - GUARD_BYTES):consumed]
        self._guard = (self._guard + kept)[-GUARD_BYTES:] if len(kept) < GUARD_BYTES else kept


class JsonlFollower:
    """New JSON objects of a JSONL file; damaged lines are counted and reported, never raised."""

    def __init__(self, path: str | os.PathLike[str], max_read: int = MAX_READ):
        self._lines = LineFollower(path, max_read)
        self.damaged: deque[DamagedLine] = deque(maxlen=MAX_DAMAGED_KEPT)
        self.damaged_count = 0

    @property
    def path(self) -> Path:
        return self._lines.path

    @property
    def lines_read(self) -> int:
        return self._lines.lines_read

    @property
    def offset(self) -> int:
        """Bytes consumed so far."""
        return self._lines.offset

    def start_near_end(self, window: int) -> int:
        """Before the first read: skip to the first complete line within the last `window`
        bytes (a viewer that loads the older part of a huge file separately); returns the
        offset it starts at (0: the whole file is read). Line numbers are then unknown (0)."""
        if self._lines.offset == 0:
            self._lines.seek_near_end(window)
        return self._lines.offset

    def read(self) -> JsonlBatch:
        lines, reset, first = self._lines.read()
        if reset:
            self.damaged.clear()
            self.damaged_count = 0
        batch = JsonlBatch(reset=reset)
        for number, raw in enumerate(lines, start=first):
            if not raw.strip():
                continue
            row, reason = parse_line(raw)
            if row is not None:
                batch.rows.append(row)
                continue
            bad = DamagedLine(number if first > 0 else 0, reason or "unreadable")
            batch.damaged.append(bad)
            self.damaged.append(bad)
            self.damaged_count += 1
        return batch

    def read_all(self) -> JsonlBatch:
        """Everything up to the current end of the file (several reads for a big backlog)."""
        total = self.read()
        while True:
            more = self.read()
            if more.reset:
                total = more
            elif not more.rows and not more.damaged:
                return total
            else:
                total.rows.extend(more.rows)
                total.damaged.extend(more.damaged)


def read_jsonl(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], list[DamagedLine]]:
    """Every complete row of a JSONL file, and its damaged lines. A missing file is empty."""
    batch = JsonlFollower(path).read_all()
    return batch.rows, batch.damaged


def tail_jsonl(path: str | os.PathLike[str], max_bytes: int = 16384) -> list[dict[str, Any]]:
    """The rows among the last `max_bytes` of a JSONL file (cheap; damaged lines skipped)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            start = max(0, size - max_bytes)
            f.seek(start)
            chunk = f.read(size - start)
    except OSError:
        return []
    end = chunk.rfind(b"\n")
    lines = chunk[:end + 1].split(b"\n") if end >= 0 else []
    if start > 0 and lines:
        lines = lines[1:]  # the first piece may be the end of a longer line
    rows = []
    for raw in lines:
        if raw.strip():
            row, _ = parse_line(raw)
            if row is not None:
                rows.append(row)
    return rows


class TextFollower:
    """The last `keep` lines of a log such as console.log, followed incrementally.

    Progress bars (tqdm) redraw one line with carriage returns and write no newline for
    minutes; what a terminal would show of that line is `partial`, kept up to date, so a
    follower never looks stalled while a bar moves.
    """

    def __init__(self, path: str | os.PathLike[str], keep: int = 500, max_read: int = MAX_READ):
        self._lines = LineFollower(path, max_read)
        self.lines: deque[str] = deque(maxlen=keep)
        self.total = 0
        self.partial = ""
        self._started = False

    @property
    def path(self) -> Path:
        return self._lines.path

    def read(self) -> tuple[list[str], bool]:
        """(new complete lines, reset)."""
        if not self._started:
            self._started = True
            self._lines.seek_near_end(256 * (self.lines.maxlen or 500))
        new: list[str] = []
        reset = False
        while True:
            raw, was_reset, _ = self._lines.read()
            if was_reset:
                reset = True
                new.clear()
                self.lines.clear()
                self.total = 0
            new.extend(clean_line(r.decode("utf-8", errors="replace")) for r in raw)
            if not raw:
                break
        self.lines.extend(new)
        self.total += len(new)
        self.partial = self._peek_partial()
        return new, reset

    def _peek_partial(self) -> str:
        """The unfinished last line as a terminal shows it (after its last carriage return)."""
        follower = self._lines
        try:
            with open(follower.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size <= follower.offset:
                    return ""
                f.seek(max(follower.offset, size - 4096))
                data = f.read(4096)
        except OSError:
            return ""
        return clean_line(data.decode("utf-8", errors="replace"))


def clean_line(text: str) -> str:
    """What a terminal would show for a line: the last carriage-return segment, no ESC codes."""
    text = text.rstrip("\r")
    if "\r" in text:
        text = text.rsplit("\r", 1)[-1]
    if "\x1b" in text:
        import re

        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    return text

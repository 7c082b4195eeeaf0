"""Incremental readers of growing files: only the bytes added since the last read.

A viewer polls a run's metrics.jsonl, events.jsonl and console.log every second; these
readers keep a byte offset per file and hand back only new *complete* lines, so a poll
costs O(new bytes). A file that shrank or was replaced (a resumed run rewrites
metrics.jsonl without the rows after its checkpoint) is read again from the start and
the caller is told to drop what it had.
"""

from __future__ import annotations

import json
import os
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAX_READ = 8 * 1024 * 1024
"""Most bytes one poll reads; a huge backlog is consumed over several polls."""


@dataclass
class Chunk:
    """What one poll found: new complete lines, and whether earlier ones were invalidated."""

    lines: list[bytes] = field(default_factory=list)
    reset: bool = False


class LineTail:
    """Byte-offset reader of the complete lines appended to one file."""

    def __init__(self, path: str | os.PathLike[str], max_read: int = MAX_READ):
        self.path = Path(path)
        self.offset = 0
        self.max_read = max_read
        self._ino: int | None = None

    def read(self) -> Chunk:
        """New complete lines since the previous call (a partial last line waits)."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self.offset:
                self.offset, self._ino = 0, None
                return Chunk(reset=True)
            return Chunk()
        reset = False
        if (self._ino is not None and st.st_ino != self._ino) or st.st_size < self.offset:
            self.offset, reset = 0, True
        self._ino = st.st_ino
        if st.st_size == self.offset:
            return Chunk(reset=reset)
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(self.max_read)
        end = data.rfind(b"\n")
        if end < 0:
            if len(data) >= self.max_read:  # one absurd line: skip it rather than stall forever
                self.offset += len(data)
            return Chunk(reset=reset)
        self.offset += end + 1
        return Chunk(data[:end].split(b"\n"), reset)


class JsonlTail:
    """New JSON objects of a JSONL file (undecodable lines are counted, not raised)."""

    def __init__(self, path: str | os.PathLike[str]):
        self._tail = LineTail(path)
        self.bad_lines = 0

    @property
    def path(self) -> Path:
        return self._tail.path

    def read(self) -> tuple[list[dict[str, Any]], bool]:
        """(new rows, reset): with reset the caller must drop the rows it had before."""
        chunk = self._tail.read()
        rows = []
        for raw in chunk.lines:
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except ValueError:
                self.bad_lines += 1
                continue
            if isinstance(row, dict):
                rows.append(row)
        return rows, chunk.reset


class TextTail:
    """The last `keep` lines of a log, updated incrementally.

    Progress bars rewrite their line with carriage returns; only the text after the
    last CR of a line is kept, as a terminal would show it.
    """

    def __init__(self, path: str | os.PathLike[str], keep: int = 500):
        self._tail = LineTail(path)
        self.lines: deque[str] = deque(maxlen=keep)
        self.total = 0

    def read(self) -> tuple[list[str], bool]:
        """(new lines, reset)."""
        if self._tail.offset == 0 and not self.lines:
            self._skip_to_recent()
        chunk = self._tail.read()
        if chunk.reset:
            self.lines.clear()
            self.total = 0
        new = [clean_line(raw.decode("utf-8", errors="replace")) for raw in chunk.lines]
        self.lines.extend(new)
        self.total += len(new)
        return new, chunk.reset

    def _skip_to_recent(self) -> None:
        """On first read of a big log, start near its end: the viewer only shows the tail."""
        try:
            size = os.path.getsize(self._tail.path)
        except OSError:
            return
        window = 256 * (self.lines.maxlen or 500)
        if size > window:
            with open(self._tail.path, "rb") as f:
                f.seek(size - window)
                f.readline()  # drop the partial first line
                self._tail.offset = f.tell()


def clean_line(text: str) -> str:
    """What a terminal would show for a line: the last carriage-return segment, no ESC codes."""
    text = text.rstrip("\r")
    if "\r" in text:
        text = text.rsplit("\r", 1)[-1]
    if "\x1b" in text:
        import re

        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    return text

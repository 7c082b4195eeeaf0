"""Random access to the lines of a large text file without reading all of it first.

`LineIndex` keeps the byte offset of every `stride`-th line (a sparse index: 1 GB of
short lines costs a few hundred KB) and is built incrementally, a block at a time,
so a viewer can show the first page from the file's first bytes at once and let a
background worker extend the index. Line numbers are 1-based and count every
physical line, blank ones included, so they match editors and error messages.
"""

from __future__ import annotations

import os
import threading
from array import array
from pathlib import Path

BLOCK = 8 << 20


class LineIndex:
    """Sparse line-offset index of one file (thread-safe: one builder, many readers)."""

    def __init__(self, path: str | os.PathLike, stride: int = 256):
        self.path = Path(path)
        self.stride = stride
        self.size = self.path.stat().st_size
        self._offsets = array("q", [0])   # byte offset of line 1 + k*stride
        self._scanned = 0                 # bytes scanned so far
        self._lines = 0                   # complete lines (newlines) seen in the scanned bytes
        self._blank = 0                   # of those, lines of nothing but whitespace
        self._line_start = 0              # byte offset where the line being scanned began
        self._lock = threading.Lock()

    @property
    def complete(self) -> bool:
        return self._scanned >= self.size

    @property
    def progress(self) -> float:
        return 1.0 if self.size == 0 else self._scanned / self.size

    @property
    def known_lines(self) -> int:
        """Lines known to exist so far (all lines once complete)."""
        trailing = 1 if self.complete and self.size and not self._ends_with_newline() else 0
        return self._lines + trailing

    @property
    def blank_lines(self) -> int:
        """Complete lines seen so far holding nothing but whitespace (not rows of a JSONL file)."""
        return self._blank

    @property
    def known_rows(self) -> int:
        """Non-blank lines known so far: the rows of a JSONL file, as `workbench data check` counts them."""
        return self.known_lines - self._blank

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) == b"\n"

    def build_step(self, budget: int = BLOCK) -> bool:
        """Scan up to `budget` more bytes; True once the whole file is indexed."""
        import numpy as np

        if self.complete:
            return True
        with open(self.path, "rb") as f:
            f.seek(self._scanned)
            block = f.read(min(budget, self.size - self._scanned))
        newlines = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
        # The i-th newline of this block ends line lines+i+1, so the next line, lines+i+2, starts
        # right after it; checkpoints are the lines 1 + k*stride.
        lines_started = self._lines + 2 + np.arange(len(newlines))
        picks = newlines[(lines_started - 1) % self.stride == 0]
        starts = np.concatenate(([self._line_start - self._scanned], newlines[:-1] + 1)) if len(newlines) else newlines
        short = np.flatnonzero(newlines - starts <= 16)  # only short lines can be blank
        blank = sum(1 for i in short.tolist() if not self._line_bytes(block, int(starts[i]), int(newlines[i])).strip())
        with self._lock:
            self._offsets.extend(int(p) + 1 + self._scanned for p in picks)
            self._lines += len(newlines)
            self._blank += blank
            if len(newlines):
                self._line_start = self._scanned + int(newlines[-1]) + 1
            self._scanned += len(block)
        return self.complete

    def _line_bytes(self, block: bytes, start: int, end: int) -> bytes:
        """block[start:end], reading the part before the block from the file (a line begun in the last one)."""
        if start >= 0:
            return block[start:end]
        with open(self.path, "rb") as f:
            f.seek(self._scanned + start)
            return f.read(-start) + block[:end]

    def build(self) -> None:
        while not self.build_step():
            pass

    def seek_point(self, line: int) -> tuple[int, int]:
        """(byte offset, line number) of the nearest indexed line at or before `line`."""
        k = (line - 1) // self.stride
        with self._lock:
            k = min(k, len(self._offsets) - 1)
            return self._offsets[k], 1 + k * self.stride

    def read(self, start: int, count: int) -> list[tuple[int, bytes]]:
        """Up to `count` lines from line `start` as (line number, raw bytes without the newline).

        Works before the index is complete: it reads on from the nearest known point.
        """
        offset, line = self.seek_point(max(1, start))
        out: list[tuple[int, bytes]] = []
        with open(self.path, "rb") as f:
            f.seek(offset)
            for raw in f:
                if line >= start:
                    out.append((line, raw.rstrip(b"\r\n")))
                    if len(out) >= count:
                        break
                line += 1
        return out


def first_lines(path: str | os.PathLike, count: int, max_bytes: int = 1 << 20) -> list[tuple[int, bytes]]:
    """The first `count` lines from at most `max_bytes` of the file: no scan, no index."""
    with open(path, "rb") as f:
        head = f.read(max_bytes)
    lines = head.split(b"\n")
    if len(head) == max_bytes and len(lines) > 1:
        lines = lines[:-1]  # the last piece may be cut off
    return [(i, raw.rstrip(b"\r")) for i, raw in enumerate(lines[:count], start=1)
            if not (i == len(lines) and raw == b"")]

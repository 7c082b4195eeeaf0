"""The workspace's GPU history, `.workbench/gpu.jsonl`: read back when the GPU view opens, appended by one TUI.

Every open TUI samples the GPUs for its own view, but only one of them appends to the
file: the one holding `gpu.jsonl.lock` (an `flock`, so it is released when that TUI
exits or dies). The others keep their samples in memory and take the lock over when it
comes free, so two TUIs on one workspace never write each sample twice.
"""

from __future__ import annotations

import os
from collections import deque
from pathlib import Path
from typing import Any

from workbench.runs.locks import RunLock

HISTORY_FILE = Path(".workbench") / "gpu.jsonl"
HISTORY_MAX_BYTES = 4 << 20
"""The history file is cut to its newer half when it grows past this."""
READ_BACK_BYTES = 1 << 20


def read_history(path: Path, keep: int, gpus: dict[int, str | None] | None = None) -> dict[int, list[Any]]:
    """The last `keep` samples per GPU from a gpu.jsonl (its tail only).

    With `gpus` ({index: uuid} of this machine's GPUs now) only their samples come back: the
    file of a workspace on shared storage also holds other machines' GPUs, and a demo's fake
    ones (WORKBENCH_FAKE_GPUS), under the same indices.
    """
    from workbench.runs.jsonl import tail_jsonl
    from workbench.telemetry.samples import GpuSample

    out: dict[int, deque] = {}
    for row in tail_jsonl(path, READ_BACK_BYTES):
        try:
            s = GpuSample.from_json(row)
        except (ValueError, KeyError, TypeError):
            continue
        if gpus is not None and (s.index not in gpus or (gpus[s.index] and s.uuid != gpus[s.index])):
            continue
        out.setdefault(s.index, deque(maxlen=keep)).append(s)
    return {i: list(d) for i, d in out.items()}


def append_history(path: Path, samples: list[Any]) -> None:
    """Append samples (without processes) to the history file; keep it bounded."""
    from workbench.telemetry.jsonl import write_gpu_jsonl
    from workbench.telemetry.samples import GpuSample

    if not samples:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_gpu_jsonl(path, [GpuSample(**{**s.__dict__, "processes": None}) for s in samples])
        if path.stat().st_size > HISTORY_MAX_BYTES:
            with open(path, "rb") as f:
                f.seek(HISTORY_MAX_BYTES // 2)
                f.readline()
                rest = f.read()
            tmp = path.with_suffix(".tmp")
            tmp.write_bytes(rest)
            os.replace(tmp, path)
    except OSError:
        pass  # a read-only workspace: history stays in memory


class HistoryWriter:
    """Appends to a gpu.jsonl while holding its lock; a TUI that cannot get the lock writes nothing."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._lock = RunLock(self.path.with_name(self.path.name + ".lock"))
        self.closed = False
        self.written = 0
        """Samples this writer appended."""

    @property
    def holds(self) -> bool:
        return self._lock.fd is not None

    def acquire(self) -> bool:
        """Take the lock if it is free (never waits); True while this writer holds it."""
        if self.holds:
            return True
        if self.closed:
            return False  # a sample still in flight after its view closed: not ours to write
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return self._lock.acquire()
        except OSError:
            return False  # a read-only workspace: nobody writes

    def append(self, samples: list[Any]) -> bool:
        """Append `samples` if this TUI is (or now becomes) the writer; True when it wrote."""
        if not samples or not self.acquire():
            return False
        append_history(self.path, samples)
        self.written += len(samples)
        return True

    def close(self) -> None:
        """Give the lock up for good (another TUI takes over at its next sample)."""
        self.closed = True
        self._lock.release()  # closing the descriptor releases the flock

"""Who owns a run directory: one supervisor and one job at a time, enforced by the kernel.

Two advisory `flock` locks per run directory:

- `supervisor.lock`, held by the supervisor process for its whole life. A second
  supervisor for the same run (two `resume` at the same moment) cannot take it.
- `job.lock`, taken by the supervisor before it starts the job and handed to the job
  (the open descriptor is inherited), so it is held for exactly as long as the job runs,
  even when its supervisor has died. A supervisor that finds it held knows a job is still
  alive in this directory and adopts it instead of starting a second one.

The kernel drops a flock with the last descriptor of its holder, so a kill -9 never
leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import Any

SUPERVISOR_LOCK = "supervisor.lock"
JOB_LOCK = "job.lock"


class RunLock:
    """A non-blocking exclusive flock on one file; its content names the holder."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd: int | None = None

    def acquire(self, holder: dict[str, Any] | None = None) -> bool:
        """Take the lock now or return False (someone holds it). Records `holder` in the file."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self.fd = fd
        if holder is not None:
            self.write_holder(holder)
        return True

    def write_holder(self, holder: dict[str, Any]) -> None:
        assert self.fd is not None
        data = (json.dumps(holder) + "\n").encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    def holder(self) -> dict[str, Any]:
        """What the holder wrote into the lock file (empty when unknown)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def inheritable_fd(self) -> int:
        """The descriptor, made inheritable so a child process keeps the lock alive."""
        assert self.fd is not None
        os.set_inheritable(self.fd, True)
        return self.fd

    def release(self) -> None:
        """Close our descriptor (the lock stays held while a child still has it open)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


"""`python -m workbench.console_writer FILE`: the job's output, redacted, appended to FILE.

The supervisor starts one per job, in a session of its own, reading the job's
stdout/stderr pipe. It belongs neither to the supervisor (a supervisor crash must not
cut the job's output: the job would die of a broken pipe) nor to the job's process group
(a stop signal to the job must not kill it before the job's last words are written).
It ignores SIGTERM/SIGINT/SIGHUP and exits when the last job process closes the pipe.
Only the standard library and workbench.secrets are imported: it starts in milliseconds.
"""

from __future__ import annotations

import os
import signal
import sys
import time

from workbench.secrets import RedactingLineWriter

REOPEN_CHECK_S = 1.0


def pump(src_fd: int, path: str) -> None:
    """Copy `src_fd` to `path` until EOF; reopen `path` when it is deleted or replaced."""
    out = open(path, "ab")
    writer = RedactingLineWriter(out)
    checked = time.monotonic()
    while True:
        try:
            data = os.read(src_fd, 65536)
        except InterruptedError:  # pragma: no cover - PEP 475 retries, kept for safety
            continue
        if not data:
            break
        now = time.monotonic()
        if now - checked > REOPEN_CHECK_S:
            checked = now
            writer = _reopened_if_gone(writer, path)
        try:
            writer.write(data)
        except OSError:  # disk full or folder gone: keep draining, so the job never blocks on us
            continue
    try:
        writer.close()
    except OSError:
        pass


def _reopened_if_gone(writer: RedactingLineWriter, path: str) -> RedactingLineWriter:
    try:
        if os.fstat(writer.out.fileno()).st_nlink > 0:
            return writer
        fresh = open(path, "ab")  # deleted under us: start a new file rather than write into the void
    except OSError:
        return writer
    writer.out.close()
    writer.out = fresh
    return writer


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    pump(0, args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())

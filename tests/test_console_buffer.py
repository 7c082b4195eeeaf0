"""The job's stdout reaches the console writer in a few batches, not one pipe write per line."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = """
import sys, time
from workbench.worker import buffer_console, exit_now
buffer_console(interval=0.2)
for i in range(200):
    print(f"step {i}")          # the Trainer's PrinterCallback: one line per logged step
sys.stdout.write("late line\\n")
time.sleep(1.0)                 # not flushed by an exit: the flusher thread must send it
sys.stdout.write("MARK\\n")
sys.stderr.write("error line\\n")
exit_now(0)
"""


def test_printed_steps_arrive_in_batches_and_nothing_is_held_back():
    env = dict(os.environ, PYTHONUNBUFFERED="1")  # as the supervisor starts every job
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    chunks: list[bytes] = []
    while True:
        chunk = os.read(proc.stdout.fileno(), 65536)
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=30)
    out = b"".join(chunks).decode()
    lines = out.splitlines()
    assert lines[:200] == [f"step {i}" for i in range(200)] and lines[200:] == ["late line", "MARK"], lines[-3:]
    assert proc.stderr.read().decode() == "error line\n"
    # unbuffered (PYTHONUNBUFFERED alone) this is 202 writes: one per line
    assert len(chunks) <= 10, len(chunks)
    # the periodic flush sent "late line" while the script slept, before MARK was printed
    assert not any(b"late line" in c and b"MARK" in c for c in chunks), chunks[-2:]

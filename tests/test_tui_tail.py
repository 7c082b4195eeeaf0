"""Live tails never stall: a writer process outruns the old 1,000-line stall point while the
real TUI watches in tmux (the console tail stayed at line 1086 while the run was at step 1517)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import wait_for
from tests.test_tui_support import make_run

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

WRITER = r"""
import json, sys, time
run_dir, n = sys.argv[1], int(sys.argv[2])
with open(run_dir + "/console.log", "a", buffering=1) as con, open(run_dir + "/metrics.jsonl", "a", buffering=1) as met:
    for step in range(1, n + 1):
        con.write(f"step {step} loss {2 + 1 / step:.4f} tail-line-{step}\n")
        met.write(json.dumps({"step": step, "time": time.time(), "kind": "train", "loss": 2 + 1 / step}) + "\n")
        if step % 50 == 0:
            time.sleep(0.05)
"""


def test_console_tail_and_chart_follow_past_the_old_stall_point(workspace, tmp_path):
    run_dir = make_run(workspace, "20250101-000001-long", status="running", steps=3000, logged=0)
    (run_dir / "console.log").write_text("")
    (run_dir / "metrics.jsonl").write_text("")
    sock = f"wbtail-{os.getpid()}"
    tmux = ["tmux", "-L", sock]
    cmd = f"env WORKBENCH_WORKSPACE={workspace} {sys.executable} -m workbench tui {run_dir.name}"
    subprocess.run([*tmux, "new-session", "-d", "-s", "t", "-x", "80", "-y", "24", cmd], check=True)

    def screen() -> str:
        return subprocess.run([*tmux, "capture-pane", "-p", "-t", "t"], capture_output=True, text=True).stdout

    writer = None
    try:
        wait_for(lambda: "step 0" in screen() or "loss" in screen(), timeout=60, what="the detail screen")
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(run_dir), "2500"])
        wait_for(lambda: writer.poll() is not None, timeout=240, what="the writer to finish")
        # Every line of the run is written: the tail must show the last one, the summary the last step.
        wait_for(lambda: "tail-line-2500" in screen(), timeout=30, what=f"the last console line on screen:\n{screen()}")
        wait_for(lambda: "step 2500/3000" in screen(), timeout=30, what=f"step 2500 in the status line:\n{screen()}")
    finally:
        if writer is not None and writer.poll() is None:
            writer.kill()
        subprocess.run([*tmux, "kill-server"], capture_output=True)

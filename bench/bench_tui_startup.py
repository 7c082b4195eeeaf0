"""Start-up of the workbench TUI to its first painted screen, against a bare Textual app.

Each sample is a fresh Python process (interpreter start, imports, app construction,
first frame) that prints the wall-clock time of its `Ready` event (Textual posts it
once the first screen has been rendered) and exits. The two apps are measured
alternately in the same run, so machine load hits both alike. Goal: ratio <= 1.5.

    python bench/bench_tui_startup.py [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = r"""
import sys, time
kind = sys.argv[1]
if kind == "hello":
    from textual.app import App
    from textual.widgets import Static

    class Base(App):
        def compose(self):
            yield Static("Hello, world")
else:
    from workbench.tui.app import WorkbenchApp as Base

class Bench(Base):
    def on_ready(self) -> None:
        print(repr(time.time()), flush=True)
        self.exit()

Bench().run(headless=True, size=(80, 24))
"""


def sample(kind: str, env: dict[str, str]) -> float:
    t0 = time.time()
    out = subprocess.run([sys.executable, "-c", CHILD, kind], capture_output=True, text=True, env=env, timeout=60)
    if out.returncode != 0 or not out.stdout.strip():
        raise SystemExit(f"{kind} app failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1]) - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as ws:
        env = dict(os.environ, WORKBENCH_WORKSPACE=ws)
        env.pop("WORKBENCH_FAKE_GPUS", None)
        sample("hello", env), sample("workbench", env)  # warm the OS file cache
        hello, wb = [], []
        for _ in range(args.runs):
            hello.append(sample("hello", env))
            wb.append(sample("workbench", env))
    h, w = statistics.median(hello), statistics.median(wb)
    print(f"bare Textual app, first paint:   median {h * 1000:6.0f} ms  (min {min(hello) * 1000:.0f})")
    print(f"workbench app, first paint:      median {w * 1000:6.0f} ms  (min {min(wb) * 1000:.0f})")
    print(f"ratio workbench / bare:          {w / h:.2f}x  (goal <= 1.5x; min/min {min(wb) / min(hello):.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Start-up of the workbench TUI to its first painted screen, against a bare Textual app.

Each sample is a fresh Python process (interpreter start, imports, app construction,
first frame) that prints the wall-clock time of its `Ready` event (Textual posts it
once the first screen has been rendered) and exits. The two apps are measured
alternately in the same run (harness: A B A B, min / median / max, load average), so
machine load hits both alike. Goal: ratio <= 1.5.

    python bench/bench_tui_startup.py [--rounds 9] [--quick]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Bench, add_arguments  # noqa: E402

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
    add_arguments(parser, rounds=9)
    args = parser.parse_args()
    bench = Bench("bench_tui_startup", args)
    with tempfile.TemporaryDirectory() as ws:
        env = dict(os.environ, WORKBENCH_WORKSPACE=ws)
        env.pop("WORKBENCH_FAKE_GPUS", None)
        result = bench.compare("first paint (ms)", ("bare Textual app", lambda i: {"ms": sample("hello", env) * 1000}),
                               ("workbench app", lambda i: {"ms": sample("workbench", env) * 1000}),
                               warmup=True)  # the warm-up fills the OS file cache
    result.check("ms", ratio_at_most=1.5)
    bench.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())

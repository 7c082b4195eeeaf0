"""Opening the run detail of a run with a long history (default 1M metric lines).

Measures, headless at 120x40, the time from pushing the detail screen until
(a) the chart spans the whole run (tail + decimated skeleton: the "full chart") and
(b) every row is loaded exactly (the history filled in behind), against the time
`json.loads` alone takes over the file's lines, measured in the same process and
interleaved (A B A B). Goal (issue 10): the full chart in under 2 s.

    python bench/bench_tui_history.py [--lines 1000000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def write_history(run_dir: Path, lines: int) -> None:
    with open(run_dir / "metrics.jsonl", "w") as f:
        t0 = 1.7e9
        buf = []
        for s in range(1, lines + 1):
            row = {"step": s, "time": t0 + s * 0.5, "kind": "train", "epoch": round(s / 50000, 5),
                   "loss": 2.0 + 1.0 / s ** 0.3, "learning_rate": 2e-5, "grad_norm": 1.0 + (s % 97) / 97,
                   "num_tokens": 4096.0 * s, "tokens_per_second": 12000.0 + s % 1000}
            buf.append(json.dumps(row))
            if s % 1000 == 0:
                buf.append(json.dumps({"step": s, "time": t0 + s * 0.5 + 0.1, "kind": "eval", "eval_loss": 2.1}))
            if len(buf) >= 10000:
                f.write("\n".join(buf) + "\n")
                buf = []
        if buf:
            f.write("\n".join(buf) + "\n")


def json_baseline(path: Path) -> float:
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        for line in f:
            json.loads(line)
    return time.perf_counter() - t0


def open_detail(ws: Path, run_id: str, lines: int) -> tuple[float, float]:
    from workbench.tui.app import WorkbenchApp

    out: dict[str, float] = {}

    async def main() -> None:
        app = WorkbenchApp(workspace=ws)
        async with app.run_test(size=(120, 40)) as pilot:
            from workbench.tui.screens.detail import RunDetailScreen

            await pilot.pause(0.5)
            t0 = time.perf_counter()
            app.open_run(run_id)
            while True:
                screen = app.screen
                if isinstance(screen, RunDetailScreen) and screen.query("#run-chart"):
                    s = screen.chart.series("loss")
                    if s is not None and len(s) and "full_chart" not in out and s.x[0] <= 100 and s.x[-1] >= lines:
                        out["full_chart"] = time.perf_counter() - t0
                    if screen.table.rows >= lines + lines // 1000 and screen.history_state in ("full", "none"):
                        out["all_rows"] = time.perf_counter() - t0
                        break
                if time.perf_counter() - t0 > 300:
                    raise TimeoutError("history never loaded")
                await pilot.pause(0.02)

    asyncio.run(main())
    return out["full_chart"], out["all_rows"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    from tests.test_tui_support import make_run

    ws = Path(tempfile.mkdtemp(prefix="wb-history-"))
    os.environ["WORKBENCH_WORKSPACE"] = str(ws)
    run_dir = make_run(ws, "20250101-000000-long", steps=args.lines, logged=0)
    write_history(run_dir, args.lines)
    size = (run_dir / "metrics.jsonl").stat().st_size
    base, chart, rows = [], [], []
    for _ in range(args.rounds):
        base.append(json_baseline(run_dir / "metrics.jsonl"))
        c, r = open_detail(ws, run_dir.name, args.lines)
        chart.append(c)
        rows.append(r)
    med = statistics.median
    print(f"{args.lines:,} metric lines ({size / 1e6:.0f} MB), {args.rounds} rounds, interleaved")
    print(f"json.loads of every line : min {min(base):6.2f}  median {med(base):6.2f}  max {max(base):6.2f} s")
    print(f"detail: full chart       : min {min(chart):6.2f}  median {med(chart):6.2f}  max {max(chart):6.2f} s"
          f"   ({med(chart) / med(base):.2f}x json.loads)")
    print(f"detail: every row loaded : min {min(rows):6.2f}  median {med(rows):6.2f}  max {max(rows):6.2f} s"
          f"   ({med(rows) / med(base):.2f}x json.loads)")
    import shutil

    shutil.rmtree(ws, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

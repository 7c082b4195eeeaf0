"""Chart redraw cost: LineChart (incremental min/max pyramid) vs plotext drawing all points.

Goal: one LineChart redraw at 1M points in at most 20 ms, and flat in the number of
points. Both charts draw the same loss-like series at the same size; LineChart draws
its default view (EMA-smoothed line over the faint raw line: two layers).

    .venv/bin/python bench/bench_chart.py [--rounds 5] [--quick] [--size 60x12] [--repeats 15]

Each size is measured in interleaved rounds (harness: plotext, LineChart, plotext, ...; min /
median / max; load average). One LineChart value is the median of --repeats redraws; one
plotext value is one draw (five at 1k points). --quick: one round, and plotext skips 1M
points (it is linear in points: ~10 s a draw at 1M).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from textual.app import App, ComposeResult

from workbench.tui.widgets import LineChart

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Bench, add_arguments  # noqa: E402

SIZES = (1_000, 100_000, 1_000_000)


def loss_curve(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = np.arange(1, n + 1, dtype=float)
    y = 2.5 * np.exp(-x / (n / 5)) + 0.3 + 0.05 * rng.standard_normal(n)
    y[rng.integers(0, n, size=max(1, n // 10_000))] += 3.0  # rare spikes must survive
    return x, y


def time_ms(fn, repeats: int) -> tuple[float, float]:
    """(median, best) wall time of `fn` in ms; the best is the cost without noise from
    other processes on a shared machine."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times)


async def bench_linechart(bench: Bench, width: int, height: int, repeats: int, plotext_max: int) -> dict:
    class BenchApp(App):
        CSS = f"LineChart {{ width: {width}; height: {height}; }}"

        def compose(self) -> ComposeResult:
            yield LineChart()

    out: dict[int, dict[str, float]] = {}
    app = BenchApp()
    async with app.run_test(size=(max(80, width + 2), max(24, height + 2))) as pilot:
        chart = app.query_one(LineChart)
        for n in SIZES:
            x, y = loss_curve(n)
            chart.clear()
            tail = min(10_000, n // 2)
            t0 = time.perf_counter()
            chart.extend("loss", x[:-tail], y[:-tail])
            bulk_s = time.perf_counter() - t0
            series = chart.series("loss")
            t0 = time.perf_counter()
            for xi, yi in zip(x[-tail:].tolist(), y[-tail:].tolist()):
                series.append(xi, yi)  # the live path: one point per logged step
            append_us = (time.perf_counter() - t0) / tail * 1e6
            chart.refresh()
            await pilot.pause()
            assert chart.size == (width, height), chart.size

            def ours(i: int) -> dict[str, float]:
                median, best = time_ms(chart.rebuild, repeats)
                chart.smoothing = 0.0
                raw, _ = time_ms(chart.rebuild, repeats)
                chart.smoothing = 0.6
                return {"redraw_ms": median, "best_ms": best, "no_ema_ms": raw}

            name = f"one redraw, {n:,} points, {width}x{height}"
            if n <= plotext_max:
                plot = plotext_drawer(n, width, height)
                reps = 1 if n >= 100_000 else 5
                result = bench.compare(name, ("plotext", lambda i: {"redraw_ms": time_ms(plot, reps)[0]}),
                                       ("LineChart", ours), metrics=["redraw_ms"])
                values = result.values["LineChart"]
            else:
                values = bench.series(f"{name} (LineChart only; plotext skipped)", ours)
            out[n] = {"redraw_ms": statistics.median(values["redraw_ms"]), "best_ms": min(values["best_ms"]),
                      "append_us": append_us, "bulk_ms_per_100k": bulk_s * 1000 / max(n - tail, 1) * 1e5}
    return out


def plotext_drawer(n: int, width: int, height: int):
    """plotext 6 (figure API): a function building the full chart matrix from all points."""
    import plotext as plt

    x, y = loss_curve(n)
    xs, ys = x.tolist(), y.tolist()
    fig = plt.figure
    fig.plot_size(width, height)

    def draw() -> None:
        fig.clear.data()
        fig.draw(fig.signal(xs, ys, marker="braille"))
        fig.build()

    return draw


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(ap)
    ap.add_argument("--size", default="60x12", help="chart size in cells, WxH")
    ap.add_argument("--repeats", type=int, default=15, help="LineChart redraws per round (their median is the value)")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    bench = Bench("bench_chart", args)
    ours = asyncio.run(bench_linechart(bench, width, height, args.repeats, 100_000 if args.quick else SIZES[-1]))
    flat = ours[SIZES[-1]]["best_ms"] / ours[SIZES[0]]["best_ms"]
    worst = max(r["redraw_ms"] for r in ours.values())
    bench.print(f"LineChart redraw 1M / 1k points (best): {flat:.2f}x; cost grows as log(points)")
    bench.print(f"goal <= 20 ms per redraw at 1M points: {'met' if worst <= 20 else 'NOT met'} ({worst:.2f} ms, "
                "worst median)")
    bench.print("append: " + ", ".join(f"{n:,} points {r['append_us']:.2f} us/pt" for n, r in ours.items())
                + f"; bulk load {ours[SIZES[-1]]['bulk_ms_per_100k']:.1f} ms per 100k points")
    bench.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

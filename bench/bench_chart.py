"""Chart redraw cost: LineChart (incremental min/max pyramid) vs plotext drawing all points.

Goal: one LineChart redraw at 1M points in at most 20 ms, and flat in the number of
points. Both charts draw the same loss-like series at the same size; LineChart draws
its default view (EMA-smoothed line over the faint raw line: two layers).

    .venv/bin/python bench/bench_chart.py [--quick] [--size 60x12] [--repeats 15]

--quick caps plotext at 100k points (it is linear in points: ~10 s at 1M).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import numpy as np
from textual.app import App, ComposeResult

from workbench.tui.widgets import LineChart

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


async def bench_linechart(width: int, height: int, repeats: int) -> dict[int, dict[str, float]]:
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
            redraw, best = time_ms(chart.rebuild, repeats)
            chart.smoothing = 0.0
            redraw_raw, _ = time_ms(chart.rebuild, repeats)
            chart.smoothing = 0.6
            out[n] = {"redraw_ms": redraw, "best_ms": best, "redraw_raw_ms": redraw_raw,
                      "append_us": append_us, "bulk_ms_per_100k": bulk_s * 1000 / max(n - tail, 1) * 1e5}
    return out


def bench_plotext(n: int, width: int, height: int, repeats: int) -> float:
    """plotext 6 (figure API): build the full chart matrix from all points."""
    import plotext as plt

    x, y = loss_curve(n)
    xs, ys = x.tolist(), y.tolist()
    fig = plt.figure
    fig.plot_size(width, height)

    def draw() -> None:
        fig.clear.data()
        fig.draw(fig.signal(xs, ys, marker="braille"))
        fig.build()

    return time_ms(draw, repeats)[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="cap plotext at 100k points")
    ap.add_argument("--size", default="60x12", help="chart size in cells, WxH")
    ap.add_argument("--repeats", type=int, default=15)
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    ours = asyncio.run(bench_linechart(width, height, args.repeats))
    print(f"LineChart vs plotext, one redraw of a {width}x{height} chart (ms; median of "
          f"{args.repeats}, best in brackets)\n")
    print(f"{'points':>10} {'LineChart':>16} {'no EMA':>7} {'plotext':>9} {'plotext/ours':>13} {'append us/pt':>13}")
    for n in SIZES:
        r = ours[n]
        if args.quick and n > 100_000:
            px = None
        else:
            px = bench_plotext(n, width, height, repeats=1 if n >= 100_000 else 5)
        px_s = f"{px:9.1f}" if px is not None else f"{'skipped':>9}"
        ratio = f"{px / r['redraw_ms']:12.0f}x" if px is not None else f"{'-':>13}"
        ours_s = f"{r['redraw_ms']:.2f} ({r['best_ms']:.2f})"
        print(f"{n:>10,} {ours_s:>16} {r['redraw_raw_ms']:7.2f} {px_s} {ratio} {r['append_us']:13.2f}")
    flat = ours[SIZES[-1]]["best_ms"] / ours[SIZES[0]]["best_ms"]
    worst = max(r["redraw_ms"] for r in ours.values())
    print(f"\nLineChart redraw 1M / 1k points (best): {flat:.2f}x; cost grows as log(points)")
    print(f"goal <= 20 ms per redraw at 1M points: {'met' if worst <= 20 else 'NOT met'} ({worst:.2f} ms median)")
    print(f"bulk load: {ours[SIZES[-1]]['bulk_ms_per_100k']:.1f} ms per 100k points")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

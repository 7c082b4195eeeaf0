"""Chart data structures (decimation, EMA), layout, and the LineChart widget headless."""

from __future__ import annotations

import random
from array import array
from bisect import bisect_right

import numpy as np
import pytest
from textual.app import App, ComposeResult

from workbench.tui.plot import PlotLine, PlotOptions, raw_class, render_chart, series_class
from workbench.tui.series import FANOUT, MetricSeries, MinMaxPyramid, column_edges, ema_debiased
from workbench.tui.ticks import duration, format_x
from workbench.tui.widgets import LineChart

BRAILLE = {chr(c) for c in range(0x2801, 0x2900)}


def brute_columns(xs, ys, x0, x1, ncols):
    """Reference: put every point in its column and take min/max/first/last."""
    edges = column_edges(x0, x1, ncols)
    cols = [[] for _ in range(ncols)]
    for x, y in zip(xs, ys):
        if x0 <= x <= x1:
            c = min(bisect_right(edges, x) - 1, ncols - 1)
            cols[c].append(y)
    return [(min(v), max(v), v[0], v[-1]) if v else None for v in cols]


@pytest.mark.parametrize("n", [1, 7, 100, 5_000, 60_000])
def test_decimation_matches_brute_force(n):
    rng = np.random.default_rng(n)
    xs = np.cumsum(rng.integers(0, 4, size=n)).astype(float)  # repeats and gaps
    ys = rng.standard_cauchy(size=n)  # heavy tails: spikes must survive
    s = MetricSeries("m")
    half = n // 2
    s.extend(xs[:half], ys[:half])
    for x, y in zip(xs[half:].tolist(), ys[half:].tolist()):
        s.append(x, y)
    for ncols in (1, 3, 120):
        for x0, x1 in [(xs[0], xs[-1]), (xs[n // 3], xs[-1] + 5), (xs[0] - 3, xs[(2 * n) // 3])]:
            if x1 <= x0:
                continue
            assert s.columns(x0, x1, ncols) == brute_columns(xs.tolist(), ys.tolist(), x0, x1, ncols)


def test_pyramid_range_queries_after_appends_extends_and_truncation():
    rng = random.Random(7)
    ref: list[float] = []
    p = MinMaxPyramid()
    for _ in range(40):
        op = rng.random()
        if op < 0.4:
            chunk = [rng.gauss(0, 1) for _ in range(rng.randint(1, 700))]
            p.extend(chunk)
            ref += chunk
        elif op < 0.8:
            for _ in range(rng.randint(1, 200)):
                v = rng.gauss(0, 1)
                p.append(v)
                ref.append(v)
        else:
            k = rng.randint(0, len(ref))
            p.truncate(k)
            del ref[k:]
        for _ in range(30):
            if not ref:
                break
            i = rng.randrange(len(ref))
            j = rng.randint(i + 1, len(ref))
            assert p.minmax(i, j) == (min(ref[i:j]), max(ref[i:j]))


class CountingArray(array):
    """An array that counts how many elements reads touch."""

    touched = 0

    def __getitem__(self, key):
        got = super().__getitem__(key)
        CountingArray.touched += len(got) if isinstance(key, slice) else 1
        return got


def test_redraw_cost_does_not_grow_with_points():
    touched = {}
    for n in (10_000, 1_000_000):
        s = MetricSeries("loss")
        s.extend(np.arange(n, dtype=float), np.sin(np.arange(n) / 500.0))
        pyr = s.raw
        pyr.values = CountingArray("d", pyr.values)
        pyr._mins = [CountingArray("d", a) for a in pyr._mins]
        pyr._maxs = [CountingArray("d", a) for a in pyr._maxs]
        CountingArray.touched = 0
        cols = s.columns(0, n - 1, 120)
        assert all(c is not None for c in cols)
        touched[n] = CountingArray.touched
    # Bounded by columns x levels x FANOUT, far below the point count.
    assert touched[1_000_000] < 120 * 4 * FANOUT * 8
    assert touched[1_000_000] < 3 * touched[10_000]


def test_ema_debias_matches_hand_computation():
    # w = 0.5: ema = 0.5, 1.25, 2.125; debias = 0.5, 0.75, 0.875.
    assert ema_debiased([1.0, 2.0, 3.0], 0.5) == pytest.approx([1.0, 1.25 / 0.75, 2.125 / 0.875])
    # A constant series stays constant (no pull toward 0 at the start).
    assert ema_debiased([4.0] * 5, 0.9) == pytest.approx([4.0] * 5)
    assert ema_debiased([1.0, 9.0], 0.0) == [1.0, 9.0]
    with pytest.raises(ValueError):
        ema_debiased([1.0], 1.0)


def test_series_smoothing_incremental_equals_batch_and_survives_rewind():
    rng = np.random.default_rng(3)
    ys = rng.normal(size=300)
    s = MetricSeries("loss", smoothing=0.9)
    s.extend(np.arange(150), ys[:150])
    for i in range(150, 300):
        s.append(i, ys[i])
    assert list(s.smoothed.values) == pytest.approx(ema_debiased(ys, 0.9))
    s.set_smoothing(0.6)
    assert list(s.smoothed.values) == pytest.approx(ema_debiased(ys, 0.6))
    # A resumed run logs step 100 again: steps >= 100 are dropped, then it goes on.
    s.append(100, 5.0)
    assert len(s) == 101 and s.x[-1] == 100
    assert list(s.smoothed.values) == pytest.approx(ema_debiased([*ys[:100], 5.0], 0.6))
    s.append(101, float("nan"))
    s.extend([102, 103], [float("inf"), 1.0])
    assert s.nonfinite == 2 and len(s) == 102
    s.set_smoothing(0.0)
    assert s.smoothed is None and s.last(smoothed=True) == 1.0


def _rows_text(rows):
    return ["".join(t for t, _ in r) for r in rows]


def _dot_rows(rows, text_rows):
    """Row indices (within the chart) that contain any drawn braille dot."""
    return [i for i, line in enumerate(text_rows) if any(ch in BRAILLE for ch in line)]


def test_a_narrow_panel_legend_drops_words_not_the_number():
    # four panels at 80 columns: 39 cells each; the full legend of learning_rate needs 45
    s = MetricSeries("learning_rate", smoothing=0.6)
    s.extend(np.arange(1, 701), np.linspace(1e-2, 1.429e-5, 700))
    text = _rows_text(render_chart([PlotLine(s, "learning_rate", 0)], PlotOptions(39, 8)))
    assert text[0] == "━━ learning_rate 1.429e-5 ema 3.572e-5 ", text[0]
    wide = _rows_text(render_chart([PlotLine(s, "learning_rate", 0)], PlotOptions(60, 8)))
    assert wide[0].startswith("━━ learning_rate raw 1.429e-5 ema "), wide[0]


def test_layout_width_height_and_line_position():
    s = MetricSeries("ramp")
    s.extend(np.arange(100), np.linspace(0.0, 1.0, 100))
    rows = render_chart([PlotLine(s, "ramp", 0)], PlotOptions(60, 12))
    text = _rows_text(rows)
    assert len(rows) == 12 and all(len(t) == 60 for t in text)
    assert text[0].startswith("━━ ramp 1")
    assert "└" in text[-2] and text[-1].split() == ["0", "50"]  # axis line, x tick labels at nice steps
    plot = text[1:-2]
    # A rising line: dots in the bottom row at the left, in the top row at the right.
    left_col = next(i for i, ch in enumerate(plot[-1]) if ch in BRAILLE)
    right_col = max(i for i, ch in enumerate(plot[0]) if ch in BRAILLE)
    assert left_col < 15 and right_col == 59
    assert not any(ch in BRAILLE for ch in plot[0][:40])


def test_log_y_spaces_decades_evenly():
    s = MetricSeries("loss")
    x = np.arange(1000)
    s.extend(x, 10.0 ** (3 - 5 * x / 999))  # 1000 down to 0.01
    lin = _rows_text(render_chart([PlotLine(s, "loss", 0)], PlotOptions(60, 14)))
    log = _rows_text(render_chart([PlotLine(s, "loss", 0)], PlotOptions(60, 14, log_y=True)))
    labels = [line.split("┤")[0].strip() for line in log if "┤" in line]
    assert {"0.01", "1", "100"} <= set(labels)
    # Halfway along x the value is 10**0.5: mid-height on a log axis, at the bottom
    # of a linear one.
    def rows_at_middle(text):
        plot = text[1:-2]
        col = plot[0].index("│" if "│" in plot[0] else "┤") + 1 + (60 - 5) // 2
        return [r for r, line in enumerate(plot) if line[col] in BRAILLE]

    assert all(4 <= r <= 7 for r in rows_at_middle(log)) and rows_at_middle(log)
    assert rows_at_middle(lin) and min(rows_at_middle(lin)) >= 10
    # Nothing positive: a log axis falls back to linear instead of failing.
    neg = MetricSeries("reward")
    neg.extend([0, 1, 2], [-3.0, -1.0, 0.0])
    out = _rows_text(render_chart([PlotLine(neg, "reward", 0)], PlotOptions(40, 8, log_y=True)))
    assert any(ch in BRAILLE for ch in "".join(out))


def test_smoothing_draws_faint_raw_under_smoothed():
    s = MetricSeries("loss", smoothing=0.9)
    rng = np.random.default_rng(0)
    s.extend(np.arange(2000), 1 + rng.normal(scale=0.3, size=2000))
    rows = render_chart([PlotLine(s, "loss", 2)], PlotOptions(60, 12))
    classes = {c for r in rows for _, c in r}
    assert {series_class(2), raw_class(2)} <= classes
    s.set_smoothing(0.0)
    rows = render_chart([PlotLine(s, "loss", 2)], PlotOptions(60, 12))
    classes = {c for r in rows for _, c in r}
    assert series_class(2) in classes and raw_class(2) not in classes


def test_axis_formats():
    assert format_x(150_000, "tokens", 50_000) == "150k"
    assert format_x(2_500_000_000, "tokens", 5e8) == "2.5B"
    assert format_x(3725, "time", 600) == "1h02m"
    assert duration(150) == "2m30s"
    assert format_x(1.25, "epoch", 0.25) == "1.25"
    assert format_x(12000, "step", 2000) == "12000"  # steps exact up to six digits
    assert format_x(250_000, "step", 50_000) == "250k"
    assert render_chart([], PlotOptions(40, 6))[3][1][0].strip() == "no data"


class ChartApp(App):
    CSS = "LineChart { width: 60; height: 12; }"

    def compose(self) -> ComposeResult:
        yield LineChart(id="chart")


def _widget_lines(chart: LineChart) -> list[str]:
    return [chart.render_line(y).text for y in range(chart.size.height)]


async def test_headless_chart_renders_braille_legend_and_switches_series():
    app = ChartApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one(LineChart)
        x = np.arange(1, 2001)
        chart.extend("loss", x, 2.0 * np.exp(-x / 400) + 0.2)
        chart.extend("eval_loss", x[::250], 2.0 * np.exp(-x[::250] / 400) + 0.4)
        await pilot.pause()
        assert chart.size == (60, 12)
        lines = _widget_lines(chart)
        legend = lines[0] + lines[1]  # two rows: each line's raw and smoothed last values, labelled
        assert "loss raw" in legend and "eval_loss raw" in legend and "ema" in legend
        assert sum(ch in BRAILLE for ch in "".join(lines)) > 40
        colors = {seg.style.color for y in (0, 1) for seg in chart.render_line(y) if seg.text in ("━━", "╺╸")}
        assert len(colors) == 2  # two series, two theme colours

        chart.show_only(["eval_loss"])
        await pilot.pause()
        after = _widget_lines(chart)
        assert "eval_loss" in after[0] and "━━ loss" not in after[0]
        assert after[1:] != lines[1:]

        chart.focus()
        await pilot.press("l")
        assert chart.log_y
        await pilot.press("s")
        assert chart.smoothing == 0.9 and chart.series("loss").smoothing == 0.9
        before = chart.series("eval_loss").last(smoothed=True)
        chart.append("eval_loss", 2100, 0.1)
        await pilot.pause()
        now = chart.series("eval_loss").last(smoothed=True)
        from workbench.numbers import num

        assert now < before and f"ema {num(now)}" in _widget_lines(chart)[0]


async def test_headless_chart_with_no_color(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = ChartApp()
    async with app.run_test(size=(80, 24)) as pilot:
        chart = app.query_one(LineChart)
        chart.extend("loss", np.arange(500), np.linspace(3, 1, 500))
        await pilot.pause()
        assert app.no_color
        lines = _widget_lines(chart)
        assert "loss" in lines[0] and any(ch in BRAILLE for ch in "".join(lines))
        chart.clear()
        await pilot.pause()
        assert any("no data" in line for line in _widget_lines(chart))


def test_every_layout_fills_exactly_width_by_height():
    from rich.cells import cell_len

    rng = random.Random(0)
    for t in range(120):
        lines = []
        for k in range(rng.randint(0, 3)):
            n = rng.choice([0, 1, 2, 5, 100, 3000])
            s = MetricSeries(f"s{k}", rng.choice([0.0, 0.6, 0.99]))
            scale = 10 ** rng.uniform(-6, 12)
            g = np.random.default_rng(t * 7 + k)
            s.extend(np.sort(g.uniform(0, 10 ** rng.uniform(0, 10), n)),
                     g.normal(size=n) * scale + rng.choice([0.0, 3 * scale, -3 * scale]))
            lines.append(PlotLine(s, f"label{k}" * rng.randint(1, 4), k))
        w, h = rng.randint(1, 200), rng.randint(1, 50)
        opts = PlotOptions(w, h, log_y=rng.random() < 0.5, x_mode=rng.choice(["step", "epoch", "time", "tokens"]))
        rows = render_chart(lines, opts)
        assert len(rows) == h
        assert all(sum(cell_len(text) for text, _ in row) == w for row in rows), (t, opts)


# -- readable, steerable charts (issue 10 item 4) -----------------------------------------------

def _loss_like(n=400, spike=None):
    s = MetricSeries("loss")
    x = np.arange(1, n + 1, dtype=float)
    y = 2.1 + 0.5 * np.exp(-x / 80)
    if spike is not None:
        y[0] = spike
    s.extend(x, y)
    return s


def test_y_ticks_carry_real_values_not_a_few_integers():
    from workbench.tui.plot import PlotInfo

    info = PlotInfo()
    rows = render_chart([PlotLine(_loss_like(), "loss", 0)], PlotOptions(70, 14), info)
    labels = [t for t in info.ticks]
    assert len(labels) >= 4, labels
    assert all("." in t for t in labels), labels  # 2.1 2.2 ... not 2 3
    shown = [r for r in _rows_text(rows) if "┤" in r]
    assert len(shown) >= 4


def test_outlier_robust_y_range_clips_the_first_spike():
    from workbench.tui.plot import PlotInfo

    s = _loss_like(spike=40.0)
    robust, full = PlotInfo(), PlotInfo()
    render_chart([PlotLine(s, "loss", 0)], PlotOptions(70, 14, robust_y=True), robust)
    render_chart([PlotLine(s, "loss", 0)], PlotOptions(70, 14, robust_y=False), full)
    assert full.y_range[1] >= 40 and robust.y_range[1] < 3.0
    assert robust.clipped >= 1


def test_lines_differ_without_colour_and_raw_is_sparse():
    a, b = _loss_like(), _loss_like()
    rows = render_chart([PlotLine(a, "run-a", 0), PlotLine(b, "run-b", 1)], PlotOptions(70, 14))
    legend = "".join(t for t, _ in rows[0])
    assert "━━ run-a" in legend and "╺╸ run-b" in legend
    only_a = _rows_text(render_chart([PlotLine(a, "a", 0)], PlotOptions(70, 14)))
    only_b = _rows_text(render_chart([PlotLine(b, "b", 1)], PlotOptions(70, 14)))
    dots = lambda text: sum(ch in BRAILLE for line in text[1:-2] for ch in line)  # noqa: E731
    assert dots(only_b) < 0.8 * dots(only_a), "a dashed line leaves gaps"


def test_ascii_and_block_fallbacks_draw_without_braille():
    s = _loss_like()
    for mode in ("ascii", "block"):
        text = _rows_text(render_chart([PlotLine(s, "loss", 0)], PlotOptions(60, 12, glyphs=mode)))
        assert not any(ch in BRAILLE for line in text for ch in line)
        assert len(text) == 12 and all(len(t) == 60 for t in text)
    ascii_text = "".join(_rows_text(render_chart([PlotLine(s, "loss", 0)], PlotOptions(60, 12, glyphs="ascii"))))
    assert all(ord(ch) < 128 for ch in ascii_text)
    assert any(ch in "'-.|" for ch in ascii_text)


def test_eval_and_checkpoint_markers_and_cursor_readout():
    from workbench.tui.plot import readout_at

    s = _loss_like()
    s.set_smoothing(0.6)
    opts = PlotOptions(70, 14, markers=((100.0, "checkpoint"), (200.0, "eval")), cursor=150.0)
    text = _rows_text(render_chart([PlotLine(s, "loss", 0)], opts))
    axis = text[-2]
    assert "◆" in axis and "•" in axis and axis.index("◆") < axis.index("•")
    assert any("│" in line[10:] for line in text[2:-2])  # the cursor column
    (label, x, raw, smooth), = readout_at([PlotLine(s, "loss", 0)], 150.4)
    assert label == "loss" and x == 150.0 and raw == pytest.approx(2.1 + 0.5 * np.exp(-150 / 80))
    assert smooth is not None and smooth != raw

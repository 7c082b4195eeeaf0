"""Lay out a braille line chart as rows of (text, style class) runs.

Pure Python, no Textual: the `LineChart` widget turns the runs into Strips with the
Rich styles of its component classes, and tests/benchmarks can call this directly.
Each cell holds 2x4 braille dots; each dot column gets the exact min..max of its
points (from `MetricSeries.columns`) joined to its neighbours, so spikes survive
decimation. A cell shows one colour: that of the highest layer drawing in it
(smoothed lines above all faint raw lines).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len

from workbench.tui.series import MetricSeries
from workbench.tui.ticks import X_MODES, compact, linear_ticks, log_ticks, x_ticks

Run = tuple[str, str | None]
"""A piece of text and the component class that styles it (None: widget base style)."""

PALETTE_SIZE = 8
AXIS, TICK, LEGEND, MESSAGE = "chart--axis", "chart--tick-label", "chart--legend", "chart--message"
BRAILLE = [chr(0x2800 + b) for b in range(256)]
# Dot bits of a braille cell: _DOT[side][row] (side 0 = left column, rows top to bottom).
_DOT = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
_SPAN = [[[0] * 4 for _ in range(4)] for _ in range(2)]
for _side in range(2):
    for _a in range(4):
        for _b in range(_a, 4):
            _SPAN[_side][_a][_b] = sum(_DOT[_side][r] for r in range(_a, _b + 1))


def series_class(i: int) -> str:
    return f"chart--series-{i % PALETTE_SIZE}"


def raw_class(i: int) -> str:
    return f"chart--raw-{i % PALETTE_SIZE}"


COMPONENT_CLASSES = frozenset(
    {AXIS, TICK, LEGEND, MESSAGE}
    | {series_class(i) for i in range(PALETTE_SIZE)}
    | {raw_class(i) for i in range(PALETTE_SIZE)}
)


@dataclass(frozen=True)
class PlotLine:
    """A series to draw, with its palette slot and legend label."""

    series: MetricSeries
    label: str
    color: int


@dataclass(frozen=True)
class PlotOptions:
    width: int
    height: int
    log_y: bool = False
    x_mode: str = "step"
    x_range: tuple[float, float] | None = None
    legend: bool = True
    show_raw: bool = True


class _Canvas:
    """Braille dots plus, per cell, the layer that drew in it last."""

    def __init__(self, cols: int, rows: int):
        self.cols, self.rows = cols, rows
        self.bits = [bytearray(cols) for _ in range(rows)]
        self.owner = [bytearray(cols) for _ in range(rows)]

    def span(self, dc: int, r0: int, r1: int, layer: int) -> None:
        """Set dot column `dc`, dot rows r0..r1 (inclusive, r0 <= r1)."""
        cc, side = dc >> 1, dc & 1
        span = _SPAN[side]
        for cr in range(r0 >> 2, (r1 >> 2) + 1):
            a = r0 - 4 * cr if r0 > 4 * cr else 0
            b = r1 - 4 * cr if r1 < 4 * cr + 3 else 3
            self.bits[cr][cc] |= span[a][b]
            self.owner[cr][cc] = layer

    def draw(self, stats: Sequence[tuple[float, float, float, float] | None], to_row, layer: int) -> None:
        """Draw one layer from per-dot-column stats, joining columns into a line."""
        prev_c = -1
        prev_r = 0.0
        span = self.span
        for c, st in enumerate(stats):
            if st is None:
                continue
            lo, hi, first, last = st
            top, bottom = to_row(hi), to_row(lo)
            rf = to_row(first)
            if prev_c >= 0:
                gap = c - prev_c
                if gap > 1:  # interpolate across empty columns
                    r_prev = prev_r
                    for k in range(1, gap):
                        r_k = prev_r + (rf - prev_r) * k / gap
                        a, b = (r_prev, r_k) if r_prev <= r_k else (r_k, r_prev)
                        span(prev_c + k, round(a), round(b), layer)
                        r_prev = r_k
                    prev_r = r_prev
                top, bottom = min(top, prev_r), max(bottom, prev_r)
            span(c, round(top), round(bottom), layer)
            prev_c, prev_r = c, to_row(last)


def _y_transform(log_y: bool):
    if not log_y:
        return lambda v: v
    return lambda v: math.log10(v) if v > 0 else -math.inf


def _legend(lines: Sequence[PlotLine], width: int) -> list[Run]:
    runs: list[Run] = []
    used = 0
    for pl in lines:
        last = pl.series.last(smoothed=True)
        text = f" {pl.label}" + (f" {compact(last)}" if last is not None else "") + "  "
        need = 1 + cell_len(text)
        if used + need > width:
            if used + 2 <= width:
                runs.append(("…", LEGEND))
                used += 1
            break
        runs.append(("━", series_class(pl.color)))
        runs.append((text, LEGEND))
        used += need
    if used < width:
        runs.append((" " * (width - used), None))
    return runs


def _message_row(text: str, width: int) -> list[Run]:
    text = text[:width]
    pad = width - len(text)
    return [(" " * (pad // 2), None), (text, MESSAGE), (" " * (pad - pad // 2), None)]


def render_chart(lines: Sequence[PlotLine], opts: PlotOptions) -> list[list[Run]]:
    """Rows (exactly opts.height, each opts.width cells) of styled runs."""
    width, height = opts.width, opts.height
    if width <= 0 or height <= 0:
        return [[] for _ in range(max(height, 0))]
    if opts.x_mode not in X_MODES:
        raise ValueError(f"x_mode must be one of {', '.join(X_MODES)}")
    rows: list[list[Run]] = []
    legend = opts.legend and height >= 4 and bool(lines)
    if legend:
        rows.append(_legend(lines, width))
    plot_rows = height - len(rows) - 1
    extents = [e for e in (pl.series.x_extent() for pl in lines) if e is not None]
    if plot_rows < 1 or width < 12 or not extents:
        msg = "no data" if not extents else "chart too small"
        body = height - len(rows)
        rows += [_message_row(msg if r == body // 2 else "", width) for r in range(body)]
        return rows

    x0, x1 = opts.x_range or (min(e[0] for e in extents), max(e[1] for e in extents))
    if x1 <= x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    log_axis = opts.log_y
    tf = _y_transform(log_axis)

    layer_specs: list[tuple[PlotLine, bool]] = []
    for pl in lines:
        smooth = pl.series.smoothed is not None
        if smooth and opts.show_raw:
            layer_specs.append((pl, False))
        layer_specs.append((pl, smooth))

    def gather(cols: int) -> list[tuple[PlotLine, bool, list]]:
        return [(pl, sm, pl.series.columns(x0, x1, 2 * cols, smoothed=sm)) for pl, sm in layer_specs]

    def stats_range(layers) -> tuple[float, float] | None:
        lo, hi = math.inf, -math.inf
        for _, _, stats in layers:
            for st in stats:
                if st is not None:
                    a, b = tf(st[0]), tf(st[1])
                    if a > -math.inf and a < lo:
                        lo = a
                    if b > -math.inf and b > hi:
                        hi = b
        return (lo, hi) if lo <= hi else None

    def labels_for(yr: tuple[float, float]) -> list[tuple[float, str]]:
        target = max(2, round(plot_rows / 2.5))
        if log_axis:
            vals = log_ticks(yr[0], yr[1], target)
            return [(math.log10(v), compact(v)) for v in vals]
        vals, step = linear_ticks(yr[0], yr[1], target)
        return [(v, compact(v, step)) for v in vals]

    def padded(yr: tuple[float, float]) -> tuple[float, float]:
        lo, hi = yr
        if hi - lo < 1e-12 * max(1.0, abs(hi)):
            d = 0.5 if log_axis else max(abs(hi) * 0.1, 1e-9)
            return lo - d, hi + d
        pad = (hi - lo) * 0.04
        return lo - pad, hi + pad

    # The exact y range costs O(log N) per layer, so the y labels (and with them the
    # plot width) are known before the per-column pass, which then runs once.
    lo, hi = math.inf, -math.inf
    for pl, sm in layer_specs:
        r = pl.series.y_range(x0, x1, smoothed=sm)
        if r is not None:
            lo, hi = min(lo, r[0]), max(hi, r[1])
    layers = None
    if lo > hi:
        yr = None
    elif not opts.log_y:
        yr = (lo, hi)
    elif lo > 0:
        yr = (math.log10(lo), math.log10(hi))
    else:  # the smallest positive value is not indexed: find it per column
        layers = gather(max(1, width - 8))
        yr = stats_range(layers)
        if yr is None:  # nothing positive: fall back to a linear axis
            log_axis = False
            tf = _y_transform(False)
            yr = (lo, hi)
    if yr is None:
        yr = (0.0, 1.0)
    ylo, yhi = padded(yr)
    ticks = labels_for((ylo, yhi))
    label_w = max(1, min(max((cell_len(t) for _, t in ticks), default=1), width // 3))
    plot_cols = width - label_w - 1
    if layers is None or len(layers[0][2]) != 2 * plot_cols:
        layers = gather(plot_cols)

    dot_rows = plot_rows * 4
    scale = (dot_rows - 1) / (yhi - ylo)
    last_row = dot_rows - 1

    def to_row(v: float) -> float:
        t = tf(v)
        if t == -math.inf:
            return float(last_row)
        r = (yhi - t) * scale
        return 0.0 if r < 0 else (last_row if r > last_row else r)

    canvas = _Canvas(plot_cols, plot_rows)
    styles: list[str | None] = [None]
    # Raw layers first (faint, underneath), then the main lines in series order.
    ordered = [lay for lay in layers if not lay[1] and lay[0].series.smoothed is not None] + [
        lay for lay in layers if lay[1] or lay[0].series.smoothed is None
    ]
    for pl, smooth, stats in ordered:
        faint = pl.series.smoothed is not None and not smooth
        styles.append(raw_class(pl.color) if faint else series_class(pl.color))
        canvas.draw(stats, to_row, len(styles) - 1)

    tick_rows: dict[int, str] = {}
    for v, text in ticks:
        r = int(round((yhi - v) * scale)) // 4
        if 0 <= r < plot_rows and r not in tick_rows:
            tick_rows[r] = text[:label_w]
    for r in range(plot_rows):
        label = tick_rows.get(r)
        row: list[Run] = []
        if label is not None:
            row.append((label.rjust(label_w), TICK))
            row.append(("┤", AXIS))
        else:
            row.append((" " * label_w, None))
            row.append(("│", AXIS))
        bits, owner = canvas.bits[r], canvas.owner[r]
        start = 0
        cur = owner[0]
        for c in range(1, plot_cols + 1):
            o = owner[c] if c < plot_cols else -1
            if o != cur:
                text = "".join([BRAILLE[b] for b in bits[start:c]])
                row.append((text, styles[cur] if cur else None))
                start, cur = c, o
        rows.append(row)
    rows.append(_x_axis(x0, x1, opts.x_mode, label_w, plot_cols))
    return rows


def _x_axis(x0: float, x1: float, mode: str, label_w: int, plot_cols: int) -> list[Run]:
    line = [" "] * plot_cols
    ticks = x_ticks(x0, x1, mode, max(2, plot_cols // 12))
    free_from = 0
    for v, text in ticks:
        c = round((v - x0) / (x1 - x0) * (plot_cols - 1))
        start = min(max(c - len(text) // 2, 0), plot_cols - len(text))
        if start < free_from or start < 0:
            continue
        line[start : start + len(text)] = list(text)
        free_from = start + len(text) + 1
    return [(" " * label_w, None), ("└", AXIS), ("".join(line), TICK)]

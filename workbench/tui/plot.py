"""Lay out a line chart as rows of (text, style class) runs: braille, half-block or ASCII.

Pure Python, no Textual: the `LineChart` widget turns the runs into Strips with the
Rich styles of its component classes, and tests/benchmarks call this directly.

- Cells hold 2x4 braille dots (or 1x2 half blocks, or 1x3 ASCII levels for fonts
  without braille). Each dot column gets the exact min..max of its points (from
  `MetricSeries.columns`) joined to its neighbours, so spikes survive decimation.
- Lines differ without colour: each has a dash pattern (solid, dashed, dotted, ...),
  and a smoothed line's raw points are drawn sparse underneath; the legend shows each
  pattern with the label and the last raw and smoothed values.
- The y range is outlier-robust by default: a few spikes (the 1st step's loss) sit
  clipped at the edge instead of squashing the curve; ticks carry real values.
- Eval and checkpoint markers sit on the axis line; a cursor column shows where the
  readout (`readout_at`) reads the values.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.cells import cell_len

from workbench import numbers
from workbench.tui.series import MetricSeries
from workbench.tui.ticks import X_MODES, linear_ticks, log_ticks, nice_step, x_ticks

Run = tuple[str, str | None]
"""A piece of text and the component class that styles it (None: widget base style)."""

PALETTE_SIZE = 8
AXIS, TICK, LEGEND, MESSAGE = "chart--axis", "chart--tick-label", "chart--legend", "chart--message"
CURSOR, MARKER = "chart--cursor", "chart--marker"
GLYPH_MODES = ("braille", "block", "ascii")

# Dot bits of a braille cell: _BRAILLE_DOT[side][row] (side 0 = left column, rows top to bottom).
_BRAILLE_DOT = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))


@dataclass(frozen=True)
class Glyphs:
    """A cell resolution (xres x yres dots) and the character for each dot mask."""

    name: str
    xres: int
    yres: int
    chars: tuple[str, ...]
    """chars[mask], mask bit (side * yres + row)."""
    cursor: str
    axis: str
    corner: str
    tick: str
    markers: dict[str, str]
    dashes: tuple[str, ...]
    """Legend sample of each dash pattern."""


def _braille_chars() -> tuple[str, ...]:
    out = []
    for mask in range(256):
        bits = 0
        for side in range(2):
            for row in range(4):
                if mask & (1 << (side * 4 + row)):
                    bits |= _BRAILLE_DOT[side][row]
        out.append(chr(0x2800 + bits))
    return tuple(out)


def _ascii_chars() -> tuple[str, ...]:
    table = {0: " ", 1: "'", 2: "-", 4: "."}
    return tuple(table.get(m, "|") for m in range(8))


GLYPHS = {
    "braille": Glyphs("braille", 2, 4, _braille_chars(), "│", "─", "└", "┬",
                      {"checkpoint": "◆", "eval": "•"}, ("━━", "╺╸", "┈┈", "━╍")),
    "block": Glyphs("block", 1, 2, (" ", "▀", "▄", "█"), "│", "─", "└", "┬",
                    {"checkpoint": "◆", "eval": "•"}, ("━━", "╺╸", "┈┈", "━╍")),
    "ascii": Glyphs("ascii", 1, 3, _ascii_chars(), "|", "-", "+", "+",
                    {"checkpoint": "C", "eval": "e"}, ("--", "- ", "..", "-."), ),
}
BRAILLE = list(GLYPHS["braille"].chars)
DASHES = 4


def dash_on(pattern: int, dc: int, xres: int) -> bool:
    """Whether dot column `dc` is drawn in dash pattern `pattern` (0 solid, 1 dashed, 2 dotted, 3 dash-dot)."""
    if pattern == 0:
        return True
    cell = dc // xres
    if pattern == 1:
        return cell % 3 != 2
    if pattern == 2:
        return cell % 2 == 0
    return cell % 4 != 3 and (cell % 4 != 1 or dc % xres == 0)


def series_class(i: int) -> str:
    return f"chart--series-{i % PALETTE_SIZE}"


def raw_class(i: int) -> str:
    return f"chart--raw-{i % PALETTE_SIZE}"


COMPONENT_CLASSES = frozenset(
    {AXIS, TICK, LEGEND, MESSAGE, CURSOR, MARKER}
    | {series_class(i) for i in range(PALETTE_SIZE)}
    | {raw_class(i) for i in range(PALETTE_SIZE)}
)


@dataclass(frozen=True)
class PlotLine:
    """A series to draw, with its palette slot, legend label and dash pattern (default: by slot)."""

    series: MetricSeries
    label: str
    color: int
    dash: int | None = None

    @property
    def pattern(self) -> int:
        return (self.color if self.dash is None else self.dash) % DASHES


@dataclass(frozen=True)
class PlotOptions:
    width: int
    height: int
    log_y: bool = False
    x_mode: str = "step"
    x_range: tuple[float, float] | None = None
    legend: bool = True
    show_raw: bool = True
    robust_y: bool = False
    """Fit y to the bulk of the values (2nd-98th percentile of the columns), clipping spikes."""
    cursor: float | None = None
    markers: tuple[tuple[float, str], ...] = ()
    """(x, kind) with kind "checkpoint" or "eval", drawn on the axis line."""
    glyphs: str = "braille"
    stable: bool = False
    """Snap the axes to tick boundaries so a live chart's scales move only now and then (a
    new step then repaints a few cells, not the whole chart)."""


@dataclass
class PlotInfo:
    """What a layout decided (for the state line and tests)."""

    x_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None
    clipped: int = 0
    """Screen columns with values outside the y range (robust mode)."""
    ticks: list[str] = field(default_factory=list)


class _Canvas:
    """Dots plus, per cell, the layer that drew in it last."""

    def __init__(self, cols: int, rows: int, glyphs: Glyphs):
        self.cols, self.rows, self.g = cols, rows, glyphs
        self.bits = [bytearray(cols) for _ in range(rows)]
        self.owner = [bytearray(cols) for _ in range(rows)]
        yres = glyphs.yres
        self._span = [[[sum(1 << (side * yres + r) for r in range(a, b + 1)) if b >= a else 0
                        for b in range(yres)] for a in range(yres)] for side in range(glyphs.xres)]

    def span(self, dc: int, r0: int, r1: int, layer: int) -> None:
        """Set dot column `dc`, dot rows r0..r1 (inclusive, r0 <= r1)."""
        xres, yres = self.g.xres, self.g.yres
        cc, side = divmod(dc, xres)
        if not 0 <= cc < self.cols:
            return
        span = self._span[side]
        for cr in range(r0 // yres, r1 // yres + 1):
            a = r0 - yres * cr if r0 > yres * cr else 0
            b = r1 - yres * cr if r1 < yres * cr + yres - 1 else yres - 1
            self.bits[cr][cc] |= span[a][b]
            self.owner[cr][cc] = layer

    def draw(self, stats: Sequence[tuple[float, float, float, float] | None], to_row, layer: int,
             pattern: int = 0, sparse: bool = False) -> None:
        """Draw one layer from per-dot-column stats, joining columns into a line (unless sparse)."""
        prev_c = -1
        prev_r = 0.0
        span = self.span
        xres = self.g.xres
        for c, st in enumerate(stats):
            if st is None:
                continue
            lo, hi, first, last = st
            top, bottom = to_row(hi), to_row(lo)
            rf = to_row(first)
            if sparse:
                if pattern == 0 or dash_on(pattern, c, xres):
                    span(c, round(top), round(bottom), layer)
                continue
            if prev_c >= 0:
                gap = c - prev_c
                if gap > 1:  # interpolate across empty columns
                    r_prev = prev_r
                    for k in range(1, gap):
                        r_k = prev_r + (rf - prev_r) * k / gap
                        a, b = (r_prev, r_k) if r_prev <= r_k else (r_k, r_prev)
                        if dash_on(pattern, prev_c + k, xres):
                            span(prev_c + k, round(a), round(b), layer)
                        r_prev = r_k
                    prev_r = r_prev
                top, bottom = min(top, prev_r), max(bottom, prev_r)
            if dash_on(pattern, c, xres):
                span(c, round(top), round(bottom), layer)
            prev_c, prev_r = c, to_row(last)


def _y_transform(log_y: bool):
    if not log_y:
        return lambda v: v
    return lambda v: math.log10(v) if v > 0 else -math.inf


def legend_items(lines: Sequence[PlotLine], glyphs: Glyphs) -> list[tuple[str, list[str], int]]:
    """(pattern sample, texts from the fullest to the shortest, colour) per line: 'loss raw 2.513 ema
    2.498', 'loss 2.513 ema 2.498', 'loss 2.513', 'loss' when smoothed; 'loss 2.513', 'loss' when not."""
    out = []
    for pl in lines:
        raw = pl.series.last(smoothed=False)
        texts = []
        if raw is not None:
            if pl.series.smoothed is not None:
                ema = numbers.num(pl.series.last(smoothed=True))
                texts += [f" {pl.label} raw {numbers.num(raw)} ema {ema}", f" {pl.label} {numbers.num(raw)} ema {ema}"]
            texts.append(f" {pl.label} {numbers.num(raw)}")
        texts.append(f" {pl.label}")
        out.append((glyphs.dashes[pl.pattern], [t + "  " for t in texts], pl.color))
    return out


def legend_rows(lines: Sequence[PlotLine], width: int, glyphs: Glyphs, max_rows: int) -> list[list[Run]]:
    """The legend on up to `max_rows` rows (an item never breaks; '…' when some do not fit).

    An item that starts a row but is too wide in full (a narrow panel) drops words before it
    drops out: 'learning_rate 1.429e-5' rather than a lone '…'.
    """
    rows: list[list[Run]] = [[]]
    used = 0
    items = legend_items(lines, glyphs)
    for sample, texts, color in items:
        text = texts[0]
        need = cell_len(sample) + cell_len(text)
        if used + need > width and used > 0 and len(rows) < max_rows:
            rows[-1].append((" " * (width - used), None))
            rows.append([])
            used = 0
        if used == 0:  # first on its row: the fullest text that fits (its trailing gap may go)
            fits = [t for t in texts if cell_len(sample) + cell_len(t.rstrip()) <= width]
            if fits:
                text = fits[0]
                need = min(width, cell_len(sample) + cell_len(text))
                text = text[: need - cell_len(sample)]
        if used + need > width:  # an item never breaks (no number cut in half): say more exist
            if used < width:
                rows[-1].append(("…", LEGEND))
                used += 1
            break
        rows[-1] += [(sample, series_class(color)), (text, LEGEND)]
        used += need
    if used < width:
        rows[-1].append((" " * (width - used), None))
    return rows


def _message_row(text: str, width: int) -> list[Run]:
    text = text[:width]
    pad = width - len(text)
    return [(" " * (pad // 2), None), (text, MESSAGE), (" " * (pad - pad // 2), None)]


def _percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * q
    i = int(k)
    return s[i] if i + 1 >= len(s) else s[i] + (s[i + 1] - s[i]) * (k - i)


def robust_range(layers: list, tf) -> tuple[float, float] | None:
    """The y range holding the bulk of the columns: 2nd..98th percentile of column minima/maxima,
    widened to the full range when that is at most 1.5x as tall (nothing to clip)."""
    los, his = [], []
    for _, _, stats in layers:
        for st in stats:
            if st is not None:
                a, b = tf(st[0]), tf(st[1])
                if a > -math.inf:
                    los.append(a)
                if b > -math.inf:
                    his.append(b)
    if not los or not his:
        return None
    full = (min(los), max(his))
    if len(los) < 20:
        return full
    lo, hi = _percentile(los, 0.02), _percentile(his, 0.98)
    if hi <= lo:
        return full
    if (full[1] - full[0]) <= 1.5 * (hi - lo):
        return full
    pad = (hi - lo) * 0.1
    return max(full[0], lo - pad), min(full[1], hi + pad)


def render_chart(lines: Sequence[PlotLine], opts: PlotOptions, info: PlotInfo | None = None) -> list[list[Run]]:
    """Rows (exactly opts.height, each opts.width cells) of styled runs."""
    width, height = opts.width, opts.height
    info = info if info is not None else PlotInfo()
    if width <= 0 or height <= 0:
        return [[] for _ in range(max(height, 0))]
    if opts.x_mode not in X_MODES:
        raise ValueError(f"x_mode must be one of {', '.join(X_MODES)}")
    glyphs = GLYPHS.get(opts.glyphs, GLYPHS["braille"])
    rows: list[list[Run]] = []
    legend = opts.legend and height >= 4 and bool(lines)
    if legend:
        rows += legend_rows(lines, width, glyphs, 2 if height >= 10 else 1)
    axis_line = height >= 8
    plot_rows = height - len(rows) - 1 - int(axis_line)
    extents = [e for e in (pl.series.x_extent() for pl in lines) if e is not None]
    if plot_rows < 1 or width < 12 or not extents:
        msg = "no data" if not extents else "chart too small"
        body = height - len(rows)
        rows += [_message_row(msg if r == body // 2 else "", width) for r in range(body)]
        return rows

    x0, x1 = opts.x_range or (min(e[0] for e in extents), max(e[1] for e in extents))
    if x1 <= x0:
        x0, x1 = x0 - 0.5, x1 + 0.5
    elif opts.stable and opts.x_range is None:
        xstep = nice_step(x1 - x0, 8)
        x1 = x0 + math.ceil((x1 - x0) / xstep - 1e-9) * xstep
    info.x_range = (x0, x1)
    log_axis = opts.log_y
    tf = _y_transform(log_axis)

    layer_specs: list[tuple[PlotLine, bool]] = []
    for pl in lines:
        smooth = pl.series.smoothed is not None
        if smooth and opts.show_raw:
            layer_specs.append((pl, False))
        layer_specs.append((pl, smooth))

    xres = glyphs.xres

    def gather(cols: int) -> list[tuple[PlotLine, bool, list]]:
        return [(pl, sm, pl.series.columns(x0, x1, xres * cols, smoothed=sm)) for pl, sm in layer_specs]

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
        target = max(3, (plot_rows * 2) // 3)
        if log_axis:
            vals = log_ticks(yr[0], yr[1], target)
            return [(math.log10(v), numbers.num(v, 3)) for v in vals]
        vals, step = linear_ticks(yr[0], yr[1], target)
        if len(vals) < target - 1:  # a coarse nice step: take the next finer one if the rows allow
            finer, fstep = linear_ticks(yr[0], yr[1], 2 * target)
            if len(finer) <= max(plot_rows // 2 + 1, target):
                vals, step = finer, fstep
        return [(v, numbers.tick(v, step)) for v in vals]

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
    elif opts.robust_y:
        layers = gather(max(1, width - 8))
        yr = robust_range(layers, tf)
        if yr is None and log_axis:
            log_axis, tf = False, _y_transform(False)
            yr = robust_range(layers, tf)
    elif not log_axis:
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
    if opts.stable:
        if log_axis:
            ylo, yhi = math.floor(ylo * 4) / 4, math.ceil(yhi * 4) / 4
        else:
            _, ystep = linear_ticks(ylo, yhi, max(3, (plot_rows * 2) // 3))
            ylo, yhi = math.floor(ylo / ystep) * ystep, math.ceil(yhi / ystep) * ystep
    info.y_range = (10**ylo, 10**yhi) if log_axis else (ylo, yhi)
    ticks = labels_for((ylo, yhi))
    info.ticks = [t for _, t in ticks]
    label_w = max(1, min(max((cell_len(t) for _, t in ticks), default=1), width // 3))
    plot_cols = width - label_w - 1
    if layers is None or len(layers[0][2]) != xres * plot_cols:
        layers = gather(plot_cols)

    dot_rows = plot_rows * glyphs.yres
    scale = (dot_rows - 1) / (yhi - ylo)
    last_row = dot_rows - 1

    def to_row(v: float) -> float:
        t = tf(v)
        if t == -math.inf:
            return float(last_row)
        r = (yhi - t) * scale
        return 0.0 if r < 0 else (last_row if r > last_row else r)

    if opts.robust_y:
        clipped = set()
        for _, _, stats in layers:
            for c, st in enumerate(stats):
                if st is not None and (tf(st[1]) > yhi or (tf(st[0]) < ylo and tf(st[0]) > -math.inf)):
                    clipped.add(c // xres)
        info.clipped = len(clipped)

    canvas = _Canvas(plot_cols, plot_rows, glyphs)
    styles: list[str | None] = [None]
    # Raw layers first (faint and sparse, underneath), then the main lines in series order.
    ordered = [lay for lay in layers if not lay[1] and lay[0].series.smoothed is not None] + [
        lay for lay in layers if lay[1] or lay[0].series.smoothed is None
    ]
    for pl, smooth, stats in ordered:
        faint = pl.series.smoothed is not None and not smooth
        styles.append(raw_class(pl.color) if faint else series_class(pl.color))
        canvas.draw(stats, to_row, len(styles) - 1, pattern=2 if faint else pl.pattern, sparse=faint)

    cursor_col = None
    if opts.cursor is not None and x0 <= opts.cursor <= x1:
        cursor_col = round((opts.cursor - x0) / (x1 - x0) * (plot_cols - 1))
        styles.append(CURSOR)
        cursor_layer = len(styles) - 1
        for r in range(plot_rows):
            if canvas.bits[r][cursor_col] == 0:
                canvas.owner[r][cursor_col] = cursor_layer
    chars = glyphs.chars

    tick_rows: dict[int, str] = {}
    for v, text in ticks:
        r = int(round((yhi - v) * scale)) // glyphs.yres
        if 0 <= r < plot_rows and r not in tick_rows:
            tick_rows[r] = text[:label_w]
    for r in range(plot_rows):
        label = tick_rows.get(r)
        row: list[Run] = []
        if label is not None:
            row.append((label.rjust(label_w), TICK))
            row.append(("┤" if glyphs.name != "ascii" else "+", AXIS))
        else:
            row.append((" " * label_w, None))
            row.append(("│" if glyphs.name != "ascii" else "|", AXIS))
        bits, owner = canvas.bits[r], canvas.owner[r]
        start = 0
        cur = owner[0]
        for c in range(1, plot_cols + 1):
            o = owner[c] if c < plot_cols else -1
            if o != cur:
                if styles[cur] == CURSOR:
                    text = glyphs.cursor * (c - start)
                else:
                    text = "".join([chars[b] for b in bits[start:c]])
                row.append((text, styles[cur] if cur else None))
                start, cur = c, o
        rows.append(row)
    if axis_line:
        rows.append(_axis_line(x0, x1, opts, glyphs, label_w, plot_cols, cursor_col))
    rows.append(_x_labels(x0, x1, opts.x_mode, label_w, plot_cols))
    return rows


def marker_columns(x0: float, x1: float, markers: Sequence[tuple[float, str]], plot_cols: int) -> dict[int, str]:
    """Screen column -> marker kind (a checkpoint wins over an eval in the same column)."""
    out: dict[int, str] = {}
    for x, kind in markers:
        if x0 <= x <= x1:
            c = round((x - x0) / (x1 - x0) * (plot_cols - 1))
            if out.get(c) != "checkpoint":
                out[c] = kind
    return out


def _axis_line(x0: float, x1: float, opts: PlotOptions, glyphs: Glyphs, label_w: int, plot_cols: int,
               cursor_col: int | None) -> list[Run]:
    line = [glyphs.axis] * plot_cols
    for v, _ in x_ticks(x0, x1, opts.x_mode, max(2, plot_cols // 12)):
        c = round((v - x0) / (x1 - x0) * (plot_cols - 1))
        if 0 <= c < plot_cols:
            line[c] = glyphs.tick
    marks = marker_columns(x0, x1, opts.markers, plot_cols)
    if cursor_col is not None:
        line[cursor_col] = "┴" if glyphs.name != "ascii" else "^"
    runs: list[Run] = [(" " * label_w, None), (glyphs.corner, AXIS)]
    start = 0
    for c in range(plot_cols + 1):
        if c == plot_cols or c in marks:
            if c > start:
                runs.append(("".join(line[start:c]), AXIS))
            if c < plot_cols:
                runs.append((glyphs.markers[marks[c]], MARKER))
            start = c + 1
    return runs


def _x_labels(x0: float, x1: float, mode: str, label_w: int, plot_cols: int) -> list[Run]:
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
    return [(" " * (label_w + 1), None), ("".join(line), TICK)]


def readout_at(lines: Sequence[PlotLine], x: float) -> list[tuple[str, float, float, float | None]]:
    """(label, x of the point, raw y, smoothed y) of each line's last point at or before `x`."""
    out = []
    for pl in lines:
        s = pl.series
        i = bisect_right(s.x, x) - 1
        if i < 0:
            continue
        smooth = s.smoothed.values[i] if s.smoothed is not None and i < len(s.smoothed) else None
        out.append((pl.label, s.x[i], s.raw.values[i], smooth))
    return out

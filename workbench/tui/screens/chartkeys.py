"""Chart keys shared by the run detail and compare screens.

Metric (next/previous, or by name), x axis, smoothing, log y, robust y range, zoom,
last-N / x-range window, pan, a readout cursor and the glyph set (braille, half
blocks, ASCII). The x window is kept as an intent — everything, the last N units of
x (it follows a live run), or a fixed range — and turned into each chart's x_range
whenever data arrives.
"""

from __future__ import annotations

from typing import Any

from textual.binding import Binding

from workbench import numbers
from workbench.tui.metrics import X_MODES
from workbench.tui.plot import GLYPH_MODES

SMOOTHING_STEPS = (0.3, 0.6, 0.8, 0.9, 0.95, 0.99)
DEFAULT_SMOOTHING = 0.6

Window = tuple[str, float, float] | None
"""None (all), ("last", span, 0) or ("range", x0, x1)."""


def _number(text: str) -> float:
    """'200', '1.5k', '50%' (= 0.5: a fraction of the run)."""
    text = text.strip()
    if text.endswith("%"):
        return float(text[:-1]) / 100
    return float(text.replace("k", "e3"))


def parse_window(text: str) -> Window:
    """'all', 'last 200' / '200' (the last 200), '100:500', '100:' (from 100), ':500' (up to 500); '0:50%' too."""
    t = text.strip().lower().replace("..", ":")
    if t in ("", "all", "0"):
        return None
    if t.startswith("last"):
        t = t[4:].strip()
    if ":" not in t:
        span = _number(t)
        if span <= 0:
            raise ValueError("the last N must be positive")
        return ("last", span, 0.0)
    a, b = (p.strip() for p in t.split(":", 1))
    x0 = _number(a) if a else float("-inf")
    x1 = _number(b) if b else float("inf")
    if x1 <= x0:
        raise ValueError("the range must end after it starts")
    return ("range", x0, x1)


class ChartKeys:
    """Mixin for a Screen with `charts()` (LineCharts), `metric_choices()` and `reload_chart()`.

    The keys that open a picker or prompt (`/`, `z`) are priority bindings whose actions
    wait for the new screen to mount: a non-priority binding runs only after the key has
    bubbled through the screen, by which time the keys typed after it are already queued
    for the screen behind (this screen takes no focus, so nothing here types text).
    """

    CHART_BINDINGS = [
        Binding("m", "metric(1)", "Metric", tooltip="next metric"),
        Binding("M", "metric(-1)", "Prev metric", show=False, tooltip="previous metric"),
        Binding("slash", "pick_metric", "Find metric", show=False, priority=True,
                tooltip="pick a metric by name (type to filter)"),
        Binding("a", "x_axis", "X axis", show=False, tooltip="x axis: step, epoch, time, tokens"),
        Binding("s", "smooth", "Smooth", show=False, tooltip="EMA smoothing on / off (raw and smoothed both drawn)"),
        Binding("left_square_bracket", "strength(-1)", "Less smooth", show=False, tooltip="less smoothing"),
        Binding("right_square_bracket", "strength(1)", "More smooth", show=False, tooltip="more smoothing"),
        Binding("l", "log_y", "Log y", show=False, tooltip="logarithmic y axis on / off"),
        Binding("y", "robust_y", "Y range", show=False, tooltip="y range: robust (spikes clipped) / full"),
        Binding("plus,equals_sign", "zoom(0.5)", "Zoom", tooltip="zoom in (x window halves; follows the newest step)"),
        Binding("minus", "zoom(2)", "Zoom out", show=False, tooltip="zoom out"),
        Binding("less_than_sign,comma", "pan(-1)", "Pan left", show=False, tooltip="pan the window left"),
        Binding("greater_than_sign,full_stop", "pan(1)", "Pan right", show=False, tooltip="pan the window right"),
        Binding("0", "whole", "All", show=False, tooltip="the whole run (reset zoom, hide the cursor)"),
        Binding("z", "window_prompt", "Range", show=False, priority=True,
                tooltip="x range: 'last 200', '100:500', '100:', ':500', 'all'"),
        Binding("left", "cursor(-1)", "Cursor", show=False, tooltip="cursor: read the values at a step (←)"),
        Binding("right", "cursor(1)", "Cursor", show=False, tooltip="cursor: read the values at a step (→)"),
        Binding("b", "glyphs", "Glyphs", show=False, tooltip="dots: braille / half blocks / ASCII (fonts without braille)"),
    ]
    x_modes: tuple[str, ...] = X_MODES
    metric: str | None = None
    x_mode: str = "step"
    smooth_on: bool = True
    smooth_weight: float = DEFAULT_SMOOTHING
    window: Window = None
    cursor_x: float | None = None

    @property
    def chart(self) -> Any:
        raise NotImplementedError

    def charts(self) -> list[Any]:
        """Every chart the keys act on (the first is the main one)."""
        return [self.chart]

    def metric_choices(self) -> list[str]:
        raise NotImplementedError

    def reload_chart(self) -> None:
        raise NotImplementedError

    def show_chart_state(self) -> None:
        """Update the line describing what the chart shows."""

    def on_line_chart_info_changed(self, event: Any) -> None:
        """A chart's layout changed what the state line says (columns clipped): say it now, not at the next poll."""
        self.show_chart_state()

    # -- metric -----------------------------------------------------------------------------
    def action_metric(self, delta: int) -> None:
        choices = self.metric_choices()
        if not choices:
            self.app.notify("no metrics logged yet", severity="warning")
            return
        i = choices.index(self.metric) if self.metric in choices else -delta
        self.set_metric(choices[(i + delta) % len(choices)])

    def set_metric(self, name: str) -> None:
        self.metric = name
        self.reload_chart()

    async def action_pick_metric(self) -> None:
        from workbench.tui.screens.pickers import ListPicker
        from workbench.tui.screens.prompt import push_and_focus

        choices = self.metric_choices()
        if not choices:
            self.app.notify("no metrics logged yet", severity="warning")
            return

        def picked(name: str | None) -> None:
            if name:
                self.set_metric(name)

        await push_and_focus(self.app, ListPicker("Metric:", [(c, c) for c in choices], current=self.metric), picked)

    # -- axes and smoothing -----------------------------------------------------------------
    def action_x_axis(self) -> None:
        i = self.x_modes.index(self.x_mode) if self.x_mode in self.x_modes else -1
        self.x_mode = self.x_modes[(i + 1) % len(self.x_modes)]
        self.window, self.cursor_x = None, None  # x values mean something else now
        self.reload_chart()

    def _set_smoothing(self, weight: float) -> None:
        for chart in self.charts():
            chart.smoothing = weight
        self.show_chart_state()

    def action_smooth(self) -> None:
        self.smooth_on = not self.smooth_on
        self._set_smoothing(self.smooth_weight if self.smooth_on else 0.0)

    def action_strength(self, delta: int) -> None:
        steps = SMOOTHING_STEPS
        if delta > 0:
            nxt = next((s for s in steps if s > self.smooth_weight + 1e-9), steps[-1])
        else:
            nxt = next((s for s in reversed(steps) if s < self.smooth_weight - 1e-9), steps[0])
        self.smooth_weight, self.smooth_on = nxt, True
        self._set_smoothing(nxt)

    def action_log_y(self) -> None:
        value = not self.chart.log_y
        for chart in self.charts():
            chart.log_y = value
        self.show_chart_state()

    def action_robust_y(self) -> None:
        value = not self.chart.robust_y
        for chart in self.charts():
            chart.robust_y = value
        self.show_chart_state()

    def action_glyphs(self) -> None:
        value = GLYPH_MODES[(GLYPH_MODES.index(self.chart.glyphs) + 1) % len(GLYPH_MODES)]
        for chart in self.charts():
            chart.glyphs = value
        self.show_chart_state()

    # -- x window ---------------------------------------------------------------------------
    def extent(self) -> tuple[float, float] | None:
        return self.chart.x_extent()

    def x_range_now(self) -> tuple[float, float] | None:
        """The window as an x range for the data there is now (None: everything)."""
        ext = self.extent()
        if self.window is None or ext is None:
            return None
        kind, a, b = self.window
        if kind == "last":
            return (max(ext[0], ext[1] - a), ext[1]) if ext[1] - a > ext[0] else None
        x0 = ext[0] if a == float("-inf") else a
        x1 = ext[1] if b == float("inf") else b
        return (x0, x1) if x1 > x0 else None

    def apply_window(self) -> None:
        """Set every chart's x range from the window (called as data arrives)."""
        rng = self.x_range_now()
        for chart in self.charts():
            if chart.x_range != rng:
                chart.x_range = rng
            if chart.cursor != self.cursor_x:
                chart.cursor = self.cursor_x

    def action_zoom(self, factor: float) -> None:
        ext = self.extent()
        if ext is None:
            return
        x0, x1 = self.x_range_now() or ext
        span = (x1 - x0) * factor
        if span >= ext[1] - ext[0]:
            self.window = None
        elif self.cursor_x is not None:
            a = min(max(self.cursor_x - span / 2, ext[0]), ext[1] - span)
            self.window = ("range", a, a + span)
        elif self.window is None or self.window[0] == "last" or x1 >= ext[1]:
            self.window = ("last", max(span, 1e-12), 0.0)
        else:
            mid = (x0 + x1) / 2
            self.window = ("range", mid - span / 2, mid + span / 2)
        self.apply_window()
        self.show_chart_state()

    def action_pan(self, direction: int) -> None:
        ext = self.extent()
        rng = self.x_range_now()
        if ext is None or rng is None:
            return
        span = rng[1] - rng[0]
        a = min(max(rng[0] + direction * span / 4, ext[0]), ext[1] - span)
        self.window = ("last", span, 0.0) if a + span >= ext[1] else ("range", a, a + span)
        self.apply_window()
        self.show_chart_state()

    def action_whole(self) -> None:
        self.window, self.cursor_x = None, None
        self.apply_window()
        self.show_chart_state()

    async def action_window_prompt(self) -> None:
        from workbench.tui.screens.prompt import TextPrompt, push_and_focus

        def answered(text: str | None) -> None:
            if text is None:
                return
            try:
                self.window = parse_window(text)
            except ValueError as exc:
                self.app.notify(f"not an x range: {text!r} ({exc})", severity="error")
                return
            self.apply_window()
            self.show_chart_state()

        question = (f"x range in {self.x_mode}s: last 200 · 100:500 · 100: · :500 · all" if self.x_mode != "fraction"
                    else "x range as a fraction of each run: 0:50% · 0.5:1 · last 25% · all")
        await push_and_focus(self.app, TextPrompt(question, self.window_text()), answered)

    def x_text(self, x: float) -> str:
        """An x value as the axis reads it (fraction: percent of the run)."""
        if self.x_mode == "fraction":
            from workbench.tui.ticks import percent

            return percent(x)
        return numbers.num(x)

    def window_text(self) -> str:
        if self.window is None:
            return "all"
        kind, a, b = self.window
        if kind == "last":
            return f"last {self.x_text(a)}"
        left = "" if a == float("-inf") else self.x_text(a)
        right = "" if b == float("inf") else self.x_text(b)
        return f"{left}:{right}"

    # -- cursor -----------------------------------------------------------------------------
    def action_cursor(self, direction: int) -> None:
        ext = self.extent()
        if ext is None:
            return
        x0, x1 = self.x_range_now() or ext
        cols = max(10, self.chart.size.width - 8)
        dx = (x1 - x0) / cols
        if self.cursor_x is None or not (x0 <= self.cursor_x <= x1):
            self.cursor_x = x1 if direction < 0 else x0
        else:
            # a column at a time until the readout reaches another logged point: where points are
            # sparser than columns (logging_steps 10, zoomed in) a key press never shows the same step
            was = self._cursor_point()
            for _ in range(cols + 1):
                self.cursor_x = min(max(self.cursor_x + direction * dx, x0), x1)
                now = self._cursor_point()
                if now != was or self.cursor_x in (x0, x1):
                    break
            if now is not None and x0 <= now <= x1:
                self.cursor_x = now  # on the point itself, so the next press starts from it
        self.apply_window()
        self.show_chart_state()

    def _cursor_point(self) -> float | None:
        """The x of the logged point the cursor reads (the newest of the lines' points at or before it)."""
        xs = [x for _, x, _, _ in self.chart.readout(self.cursor_x)] if self.cursor_x is not None else []
        return max(xs) if xs else None

    def readout_text(self) -> str | None:
        """'step 150: loss 2.513 (ema 2.498) · eval_loss 2.61' at the cursor (None: no cursor)."""
        if self.cursor_x is None:
            return None
        parts = []
        at = None
        for label, x, raw, smooth in self.chart.readout(self.cursor_x):
            at = x if at is None else max(at, x)
            value = numbers.num(raw) + (f" (ema {numbers.num(smooth)})" if smooth is not None else "")
            parts.append(f"{label} {value}")
        where = f"{self.x_mode} {self.x_text(at if at is not None else self.cursor_x)}"
        return f"{where}: " + (" · ".join(parts) if parts else "no point yet")

    def chart_state_text(self, what: str) -> str:
        readout = self.readout_text()
        if readout is not None:
            return readout
        chart = self.chart
        smooth = f"ema {self.smooth_weight:g}" if self.smooth_on else "raw"
        extra = [] if self.window is None else [f"x {self.window_text()}"]
        if chart.log_y:
            extra.append("log y")
        if not chart.robust_y:
            extra.append("full y")
        elif chart.info.clipped:
            n = chart.info.clipped
            extra.append(f"{n} {'column' if n == 1 else 'columns'} clipped (y: full)")
        if chart.glyphs != "braille":
            extra.append(chart.glyphs)
        return " · ".join([what, f"x {self.x_mode}", smooth, *extra])

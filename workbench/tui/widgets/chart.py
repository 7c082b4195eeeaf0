"""`LineChart`: a braille line chart for live training metrics (Textual Line API).

Decimation, smoothing and layout live in `workbench.tui.series` and
`workbench.tui.plot`; this widget holds the series, maps the layout's component
classes to the theme's styles and caches one Strip per row until something changes.
The look comes from CSS: the component classes below (palette slots 0-7).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Region
from textual.message import Message
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

import os

from workbench.tui.plot import (COMPONENT_CLASSES, GLYPH_MODES, PALETTE_SIZE, PlotInfo, PlotLine, PlotOptions,
                                readout_at, render_chart)
from workbench.tui.series import MetricSeries
from workbench.tui.ticks import X_MODES


@dataclass
class _Entry:
    series: MetricSeries
    label: str
    color: int
    visible: bool = True


class LineChart(Widget, can_focus=True):
    """Line chart of one or more metric series (e.g. loss + eval_loss, or runs compared).

    Callers feed points with `append`/`extend`/`set_data` and pick the x axis meaning
    with `x_mode` (step, epoch, time in seconds, tokens); they pass matching x values.
    """

    class InfoChanged(Message):
        """What the last layout decided for the state line changed (e.g. how many columns it clipped)."""

        def __init__(self, chart: LineChart):
            super().__init__()
            self.chart = chart

    COMPONENT_CLASSES = set(COMPONENT_CLASSES)
    # Fallback look from the active theme's variables; app .tcss files override it.
    DEFAULT_CSS = """
    LineChart { height: 1fr; min-height: 6; }
    LineChart > .chart--axis { color: $foreground-muted; }
    LineChart > .chart--tick-label { color: $foreground-muted; }
    LineChart > .chart--legend { color: $foreground; }
    LineChart > .chart--message { color: $foreground-muted; text-style: italic; }
    LineChart > .chart--cursor { color: $foreground-muted; }
    LineChart > .chart--marker { color: $warning; text-style: bold; }
    LineChart > .chart--series-0 { color: $primary; }
    LineChart > .chart--series-1 { color: $accent; }
    LineChart > .chart--series-2 { color: $success; }
    LineChart > .chart--series-3 { color: $warning; }
    LineChart > .chart--series-4 { color: $error; }
    LineChart > .chart--series-5 { color: $secondary; }
    LineChart > .chart--series-6 { color: $foreground; }
    LineChart > .chart--series-7 { color: $primary-lighten-3; }
    LineChart > .chart--raw-0 { color: $primary 45%; }
    LineChart > .chart--raw-1 { color: $accent 45%; }
    LineChart > .chart--raw-2 { color: $success 45%; }
    LineChart > .chart--raw-3 { color: $warning 45%; }
    LineChart > .chart--raw-4 { color: $error 45%; }
    LineChart > .chart--raw-5 { color: $secondary 45%; }
    LineChart > .chart--raw-6 { color: $foreground 45%; }
    LineChart > .chart--raw-7 { color: $primary-lighten-3 45%; }
    """

    BINDINGS = [
        Binding("l", "toggle_log_y", "Log y"),
        Binding("s", "cycle_smoothing", "Smoothing"),
    ]
    SMOOTHING_STEPS = (0.0, 0.6, 0.9, 0.99)

    log_y: reactive[bool] = reactive(False)
    """Logarithmic y axis (non-positive values sit on the bottom edge)."""
    smoothing: reactive[float] = reactive(0.6)
    """TensorBoard-style EMA weight in [0, 0.999]; 0 draws the raw points only."""
    x_mode: reactive[str] = reactive("step")
    """How x values are labelled: step, epoch, time (seconds) or tokens."""
    x_range: reactive[tuple[float, float] | None] = reactive(None)
    """Visible x window, or None to fit all points."""
    show_legend: reactive[bool] = reactive(True)
    robust_y: reactive[bool] = reactive(True)
    """Fit y to the bulk of the values (spikes clipped at the edge) instead of min..max."""
    cursor: reactive[float | None] = reactive(None)
    """x of the readout cursor (None: no cursor)."""
    markers: reactive[tuple[tuple[float, str], ...]] = reactive(())
    """(x, "checkpoint" | "eval") marks on the axis line."""
    glyphs: reactive[str] = reactive("braille")
    """braille, block (half blocks) or ascii (for fonts without braille); $WORKBENCH_CHART_GLYPHS."""

    def __init__(
        self,
        *,
        smoothing: float = 0.6,
        log_y: bool = False,
        x_mode: str = "step",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        disabled: bool = False,
    ):
        super().__init__(name=name, id=id, classes=classes, disabled=disabled)
        self._entries: dict[str, _Entry] = {}
        self._version = 0
        self._cache_key: tuple[int, int, int] | None = None
        self._strips: list[Strip] = []
        self.set_reactive(LineChart.smoothing, self.validate_smoothing(smoothing))
        self.set_reactive(LineChart.log_y, log_y)
        self.set_reactive(LineChart.x_mode, self.validate_x_mode(x_mode))
        env = os.environ.get("WORKBENCH_CHART_GLYPHS", "")
        if env in GLYPH_MODES:
            self.set_reactive(LineChart.glyphs, env)
        self.info = PlotInfo()
        self._repaint_pending = False

    # -- data -----------------------------------------------------------------
    def add_series(self, key: str, label: str | None = None, color: int | None = None) -> MetricSeries:
        """Create (or return) the series `key`; colours default to the first free slot."""
        entry = self._entries.get(key)
        if entry is None:
            if color is None:
                used = {e.color for e in self._entries.values()}
                color = next((c for c in range(PALETTE_SIZE) if c not in used), len(self._entries))
            entry = _Entry(MetricSeries(key, self.smoothing), label or key, color % PALETTE_SIZE)
            self._entries[key] = entry
            self._changed()
        return entry.series

    def append(self, key: str, x: float, y: float) -> None:
        """Add one point to series `key` (created on first use)."""
        self.add_series(key).append(x, y)
        self._changed()

    def extend(self, key: str, xs: Sequence[float] | np.ndarray, ys: Sequence[float] | np.ndarray) -> None:
        """Add many points to series `key`."""
        self.add_series(key).extend(xs, ys)
        self._changed()

    def set_data(self, key: str, xs: Sequence[float] | np.ndarray, ys: Sequence[float] | np.ndarray) -> None:
        """Replace the points of series `key` (e.g. after switching the x axis)."""
        series = self.add_series(key)
        series.truncate(0)
        series.extend(xs, ys)
        self._changed()

    def remove_series(self, key: str) -> None:
        if self._entries.pop(key, None) is not None:
            self._changed()

    def clear(self) -> None:
        """Remove every series."""
        self._entries.clear()
        self._changed()

    def series(self, key: str) -> MetricSeries | None:
        entry = self._entries.get(key)
        return entry.series if entry else None

    @property
    def keys(self) -> list[str]:
        return list(self._entries)

    @property
    def visible_keys(self) -> list[str]:
        return [k for k, e in self._entries.items() if e.visible]

    def set_visible(self, key: str, visible: bool = True) -> None:
        self._entries[key].visible = visible
        self._changed()

    def show_only(self, keys: Iterable[str]) -> None:
        """Show exactly these series (others stay loaded, hidden)."""
        wanted = set(keys)
        unknown = wanted - self._entries.keys()
        if unknown:
            raise KeyError(f"no series {', '.join(sorted(unknown))}")
        for key, entry in self._entries.items():
            entry.visible = key in wanted
        self._changed()

    def set_label(self, key: str, label: str) -> None:
        self._entries[key].label = label
        self._changed()

    # -- reactives --------------------------------------------------------------
    def validate_smoothing(self, value: float) -> float:
        return min(max(float(value), 0.0), 0.999)

    def validate_x_mode(self, value: str) -> str:
        if value not in X_MODES:
            raise ValueError(f"x_mode must be one of {', '.join(X_MODES)}, not {value!r}")
        return value

    def watch_smoothing(self, value: float) -> None:
        for entry in self._entries.values():
            entry.series.set_smoothing(value)
        self._changed()

    def watch_log_y(self) -> None:
        self._changed()

    def watch_x_mode(self) -> None:
        self._changed()

    def watch_x_range(self) -> None:
        self._changed()

    def watch_show_legend(self) -> None:
        self._changed()

    def watch_robust_y(self) -> None:
        self._changed()

    def watch_cursor(self) -> None:
        self._changed()

    def watch_markers(self) -> None:
        self._changed()

    def watch_glyphs(self) -> None:
        self._changed()

    def plot_lines(self) -> list[PlotLine]:
        return [PlotLine(e.series, e.label, e.color) for e in self._entries.values() if e.visible]

    def readout(self, x: float) -> list[tuple[str, float, float, float | None]]:
        """(label, x, raw, smoothed) of each visible line's last point at or before `x`."""
        return readout_at(self.plot_lines(), x)

    def x_extent(self) -> tuple[float, float] | None:
        """Smallest and largest x of the visible lines."""
        ext = [e for e in (pl.series.x_extent() for pl in self.plot_lines()) if e is not None]
        return (min(e[0] for e in ext), max(e[1] for e in ext)) if ext else None

    def action_toggle_log_y(self) -> None:
        self.log_y = not self.log_y

    def action_cycle_smoothing(self) -> None:
        steps = self.SMOOTHING_STEPS
        nxt = next((s for s in steps if s > self.smoothing + 1e-9), steps[0])
        self.smoothing = nxt

    # -- rendering ------------------------------------------------------------------
    def _changed(self) -> None:
        self._version += 1
        if not self._repaint_pending:
            self._repaint_pending = True
            self.call_later(self._repaint)

    def _repaint(self) -> None:
        """Lay out again and repaint only the rows that differ (a logged step touches a few)."""
        self._repaint_pending = False
        if not self.is_mounted:
            return
        width, height = self.size
        old, old_key = self._strips, self._cache_key
        if old_key is None or old_key[1:] != (width, height) or not old:
            self.refresh()
            return
        new = self.rebuild()
        for y, (a, b) in enumerate(zip(old, new)):
            if list(a) != list(b):
                self.refresh(Region(0, y, width, 1))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache_key = None  # theme or CSS changed: restyle the cached rows

    def render_rows(self, width: int, height: int) -> list[list[tuple[str, str | None]]]:
        """The chart as rows of (text, component class) runs for a given size."""
        opts = PlotOptions(
            width=width,
            height=height,
            log_y=self.log_y,
            x_mode=self.x_mode,
            x_range=self.x_range,
            legend=self.show_legend,
            robust_y=self.robust_y,
            cursor=self.cursor,
            markers=self.markers,
            glyphs=self.glyphs,
            stable=True,
        )
        before = self.info.clipped
        self.info = PlotInfo()
        rows = render_chart(self.plot_lines(), opts, self.info)
        if self.info.clipped != before:
            self.post_message(self.InfoChanged(self))
        return rows

    def rebuild(self) -> list[Strip]:
        """Lay the chart out again at the current size and cache the rows as Strips."""
        width, height = self.size
        base = self.rich_style
        styles: dict[str | None, Style] = {None: base}
        for cls in self.COMPONENT_CLASSES:
            styles[cls] = self.get_component_rich_style(cls)
        self._strips = [
            Strip([Segment(text, styles[cls]) for text, cls in row if text], width)
            for row in self.render_rows(width, height)
        ]
        self._cache_key = (self._version, width, height)
        return self._strips

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        if self._cache_key != (self._version, width, height):
            self.rebuild()
        if 0 <= y < len(self._strips):
            return self._strips[y]
        return Strip.blank(width, self.rich_style)

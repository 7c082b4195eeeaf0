"""`TailLog`: Textual's Log that keeps painting once it holds `max_lines` lines.

Textual's `Log.write_lines` refreshes only the rows past its old end; once the log is
full it drops lines from the top, its length stays the same, the scroll position does
not move, and so nothing asks for a repaint: the console tail in run detail stopped
following after 1,000 lines (about two minutes of a training log) while the job wrote
on. Here a write that pruned lines repaints the visible rows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from rich.segment import Segment
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Log


class TailLog(Log):
    """A Log for live tails: stays current at any length."""

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> TailLog:
        lines = list(lines)
        if not lines:
            return self
        full = self.max_lines is not None and len(self._lines) + len(lines) > self.max_lines
        super().write_lines(lines, scroll_end)
        if full:
            self.refresh()
        return self

    mark: int | None = None
    """Index of a line shown highlighted (a search match), or None."""

    def set_mark(self, index: int | None) -> None:
        if index != self.mark:
            self.mark = index
            self._render_line_cache.clear()
            self.refresh()

    def _render_line(self, y: int, scroll_x: int, width: int):
        strip = super()._render_line(y, scroll_x, width)
        if self.mark is not None and y == self.mark:
            from rich.style import Style

            strip = strip.apply_style(Style(reverse=True))
        return strip


class TailView(Widget):
    """The newest lines that fit, bottom-aligned, for live tails that need no scrollback.

    New lines repaint this widget's own rows and nothing else: its size never changes,
    so (unlike a scrolling Log, whose growing virtual size asks for a layout) a logged
    step does not make the terminal redraw the screen around it.
    """

    DEFAULT_CSS = "TailView { height: 1fr; }"

    def __init__(self, keep: int = 500, **kwargs):
        super().__init__(**kwargs)
        self._lines: deque[str] = deque(maxlen=keep)

    @property
    def lines(self) -> list[str]:
        return list(self._lines)

    @property
    def line_count(self) -> int:
        return len(self._lines)

    def write_lines(self, lines: Iterable[str]) -> TailView:
        added = False
        for line in lines:
            self._lines.extend(Log._process_line(part) for part in (line.splitlines() or [""]))
            added = True
        if added:
            self.refresh()
        return self

    def clear(self) -> TailView:
        self._lines.clear()
        self.refresh()
        return self

    def render_line(self, y: int) -> Strip:
        width, height = self.size
        start = max(0, len(self._lines) - height)
        i = start + y
        style = self.rich_style
        if i >= len(self._lines):
            return Strip.blank(width, style)
        return Strip([Segment(self._lines[i], style)]).crop_extend(0, width, style)

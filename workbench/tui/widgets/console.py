"""`TailLog`: Textual's Log that keeps painting once it holds `max_lines` lines.

Textual's `Log.write_lines` refreshes only the rows past its old end; once the log is
full it drops lines from the top, its length stays the same, the scroll position does
not move, and so nothing asks for a repaint: the console tail in run detail stopped
following after 1,000 lines (about two minutes of a training log) while the job wrote
on. Here a write that pruned lines repaints the visible rows.
"""

from __future__ import annotations

from collections.abc import Iterable

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

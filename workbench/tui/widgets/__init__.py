"""Reusable Textual widgets of the workbench."""

from workbench.tui.widgets.chart import LineChart

__all__ = ["LineChart"]

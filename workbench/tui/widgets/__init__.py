"""Reusable Textual widgets of the workbench.

`LineChart` is exported lazily: it pulls in numpy, which the app's first screen
does not need (start-up time).
"""

from __future__ import annotations

from typing import Any

__all__ = ["LineChart"]


def __getattr__(name: str) -> Any:
    if name == "LineChart":
        from workbench.tui.widgets.chart import LineChart

        return LineChart
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

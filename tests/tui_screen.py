"""What a terminal would show: the app's composited screen as plain text lines (for layout tests)."""

from __future__ import annotations

import io

from rich.console import Console


def screen_lines(app) -> list[str]:
    """Every row of the current screen (background screens composited in), as text."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True,
                      color_system="truecolor", record=True, legacy_windows=False, safe_box=False)
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    console.print(update)
    text = console.export_text(styles=False)
    lines = text.split("\n")[:height]
    return [ln.ljust(width) for ln in lines]


def screen_text(app) -> str:
    return "\n".join(screen_lines(app))

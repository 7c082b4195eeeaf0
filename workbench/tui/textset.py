"""Update a Static only when its text changed, and without a layout pass when its height stays.

`Static.update` asks for a layout by default, and a layout repaints the whole screen:
a status line whose clock ticked twice a second made an idle-looking run detail
rewrite every row of the terminal (about 25 KB per second over SSH).
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static


def _key(content: Any) -> str:
    return content.plain if isinstance(content, Text) else str(content)


def set_text(widget: Static, content: Any) -> bool:
    """Show `content` in `widget`; True when something changed."""
    key = _key(content)
    old = getattr(widget, "_wb_text", None)
    if old == key:
        return False
    widget._wb_text = key  # type: ignore[attr-defined]
    same_height = old is not None and old.count("\n") == key.count("\n")
    widget.update(content, layout=not same_height)
    return True

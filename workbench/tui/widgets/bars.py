"""Light title and tab bars.

Textual's Header and TabbedContent cost about a tenth of a second of CSS and layout
work at start-up; these one-line Statics do what the workbench needs from them.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static


class TitleBar(Static):
    """'Workbench — <screen sub-title or the workspace>'."""

    def on_mount(self) -> None:
        self.watch(self.screen, "sub_title", self._show, init=True)

    def _show(self, _: Any = None) -> None:
        app = self.app
        self.update(f"{app.title} — {self.screen.sub_title or app.sub_title}")


class TabBar(Static):
    """Numbered tab labels; the active one styled by the `tab-bar--active` component class."""

    COMPONENT_CLASSES = {"tab-bar--active", "tab-bar--inactive"}

    class Clicked(Message):
        def __init__(self, tab: str):
            self.tab = tab
            super().__init__()

    def __init__(self, tabs: dict[str, str], active: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.tabs = tabs
        self.active = active
        self._spans: list[tuple[int, int, str]] = []

    def on_mount(self) -> None:
        self.set_active(self.active)

    def set_active(self, tab: str) -> None:
        self.active = tab
        on = self.get_component_rich_style("tab-bar--active")
        off = self.get_component_rich_style("tab-bar--inactive")
        text = Text()
        self._spans = []
        for i, (key, title) in enumerate(self.tabs.items(), start=1):
            label = f" {i} {title} "
            start = len(text)
            text.append(label, style=on if key == tab else off)
            self._spans.append((start, len(text), key))
            text.append(" ")
        self.update(text)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.is_mounted:
            self.set_active(self.active)

    def on_click(self, event: events.Click) -> None:
        for start, end, key in self._spans:
            if start <= event.x < end:
                self.post_message(self.Clicked(key))

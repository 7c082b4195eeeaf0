"""The app's entries in Textual's command palette (ctrl+p)."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from textual.command import DiscoveryHit, Hit, Hits, Provider

Command = tuple[str, str, Callable[[], Any]]


class WorkbenchCommands(Provider):
    """Tabs, runs (open, stop, compare), help, and the commands plugins register."""

    def commands(self) -> list[Command]:
        app: Any = self.app
        return app.palette_commands() if hasattr(app, "palette_commands") else []

    async def discover(self) -> Hits:
        for title, help_text, callback in self.commands():
            yield DiscoveryHit(title, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, help_text, callback in self.commands():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), callback, help=help_text)


def plugin_command(app: Any, fn: Callable[[Any], Any], title: str) -> Callable[[], None]:
    """Wrap a plugin's callable(app) so that a raising plugin only shows a notification."""

    def run() -> None:
        try:
            fn(app)
        except Exception as exc:  # noqa: BLE001 - a plugin must never take the app down
            app.notify(f"plugin command '{title}' failed: {type(exc).__name__}: {exc}", severity="error")

    return run


def tab_command(app: Any, tab: str) -> Callable[[], None]:
    return partial(app.show_tab, tab)

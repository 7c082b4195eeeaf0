"""A run's whole console log, following new output."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Log, Static

from workbench.tui.widgets.bars import TitleBar
from workbench.tui.polling import ThreadPoll
from workbench.runs.jsonl import TextFollower

MAX_LINES = 20000


class LogScreen(Screen):
    """console.log (its last MAX_LINES lines), appended to as the job writes."""

    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back"),
        Binding("f", "follow", "Follow"),
        Binding("home", "top", "Top", show=False),
        Binding("end", "bottom", "Bottom", show=False),
    ]

    def __init__(self, path: Path, title: str, interval: float = 0.5):
        super().__init__()
        self.path = Path(path)
        self.title_text = title
        self.tail = TextFollower(self.path, keep=MAX_LINES)
        self.interval = interval
        self.follow = True
        self.poll: ThreadPoll | None = None

    def compose(self) -> ComposeResult:
        yield TitleBar()
        yield Static(str(self.path), id="log-path")
        yield Log(id="log-body", max_lines=MAX_LINES, auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"log · {self.title_text}"
        self.query_one(Log).focus()
        self.poll = ThreadPoll(self, self.tail.read, self._apply, self.interval, "log-tail").start()

    def on_unmount(self) -> None:
        if self.poll:
            self.poll.stop()

    def _apply(self, result: tuple[list[str], bool]) -> None:
        lines, reset = result
        log = self.query_one(Log)
        if reset:
            log.clear()
        if lines:
            log.write_lines(lines, scroll_end=self.follow)
        self._show_state()

    def _show_state(self) -> None:
        follow = "following" if self.follow else "paused (f follows)"
        self.query_one("#log-path", Static).update(f"{self.path}  ·  {self.tail.total} lines  ·  {follow}")

    def action_follow(self) -> None:
        self.follow = not self.follow
        log = self.query_one(Log)
        log.auto_scroll = self.follow
        if self.follow:
            log.scroll_end(animate=False)
        self._show_state()

    def action_top(self) -> None:
        self.follow = False
        self.query_one(Log).scroll_home(animate=False)
        self._show_state()

    def action_bottom(self) -> None:
        self.query_one(Log).scroll_end(animate=False)

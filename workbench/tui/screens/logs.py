"""A run's whole console log, following new output, with search (`/`, `n`, `N`).

The state line leads with what matters at 80 columns — following or paused, the line
count, the current match — and ends with the path (cut first when space is short).
"""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Input, Static

from workbench.runs.jsonl import TextFollower
from workbench.tui.polling import ThreadPoll
from workbench.tui.widgets.bars import TitleBar
from workbench.tui.widgets.console import TailLog
from workbench.tui.widgets.footer import KeyFooter

MAX_LINES = 20000


class LogScreen(Screen):
    """console.log (its last MAX_LINES lines), appended to as the job writes."""

    HELP_TITLE = "Log"
    BINDINGS = [
        Binding("escape", "back", "Back", tooltip="back (or leave the search box)"),
        # priority: acted on before the keys typed after it are dispatched (a burst, a paste)
        Binding("slash", "search", "Search", priority=True, tooltip="search (case-insensitive); enter finds"),
        Binding("n", "next_match(1)", "Next", tooltip="next match (below)"),
        Binding("N", "next_match(-1)", "Prev", show=False, tooltip="previous match (above)"),
        Binding("f", "follow", "Follow", tooltip="follow the end on / off"),
        Binding("home", "top", "Top", show=False, tooltip="top (stops following)"),
        Binding("end", "bottom", "Bottom", show=False, tooltip="bottom"),
    ]
    HELP_EXTRA = [("↑ / ↓ / pgup / pgdn", "scroll (scrolling up stops following)")]

    def __init__(self, path: Path, title: str, interval: float = 0.5):
        super().__init__()
        self.path = Path(path)
        self.title_text = title
        self.tail = TextFollower(self.path, keep=MAX_LINES)
        self.interval = interval
        self.follow = True
        self.query_text = ""
        self.match_line: int | None = None
        """Index (in the log's lines) of the current match."""
        self.poll: ThreadPoll | None = None
        self._state = ""

    def compose(self) -> ComposeResult:
        yield TitleBar()
        yield Static("", id="log-path")
        yield TailLog(id="log-body", max_lines=MAX_LINES, auto_scroll=True)
        search = Input(placeholder="search the log (enter finds, escape closes)", id="log-search", compact=True)
        search.display = False
        yield search
        yield KeyFooter()

    @property
    def body(self) -> TailLog:
        return self.query_one("#log-body", TailLog)

    def on_mount(self) -> None:
        self.sub_title = f"log · {self.title_text}"
        self.body.focus()
        self._show_state()
        self.watch(self.body, "scroll_y", self._scrolled, init=False)
        self.poll = ThreadPoll(self, self.tail.read, self._apply, self.interval, "log-tail").start()

    def _scrolled(self, old: float, new: float) -> None:
        """Scrolling up (keys the log itself handles, `home`, the mouse wheel) stops following,
        so new lines no longer pull the view back to the end while you read."""
        if self.follow and new < old and new < self.body.max_scroll_y:
            self.follow = False
            self.body.auto_scroll = False
            self._show_state()

    def on_unmount(self) -> None:
        if self.poll:
            self.poll.stop()

    def _apply(self, result: tuple[list[str], bool]) -> None:
        lines, reset = result
        log = self.body
        if reset:
            log.clear()
            self.match_line = None
        if lines:
            before = len(log.lines)
            log.write_lines(lines, scroll_end=self.follow)
            dropped = before + len(lines) - len(log.lines)
            if self.match_line is not None and dropped > 0:
                self.match_line = self.match_line - dropped if self.match_line >= dropped else None
                log.set_mark(self.match_line)
        if lines or reset:
            self._show_state()

    def on_resize(self) -> None:
        self._show_state()

    def first_line_number(self) -> int:
        """File line number of the log's first kept line."""
        return max(1, self.tail.total - len(self.body.lines) + 1)

    def _show_state(self) -> None:
        follow = "● following" if self.follow else "‖ paused (f follows)"
        parts = [follow, f"{self.tail.total:,} lines"]
        if self.query_text:
            matches = self.matches()
            if self.match_line is not None and self.match_line in matches:
                parts.append(f"/{self.query_text} {matches.index(self.match_line) + 1} of {len(matches)}"
                             f" at line {self.first_line_number() + self.match_line:,}")
            else:
                parts.append(f"/{self.query_text}: {len(matches)} matches" if matches else f"/{self.query_text}: no match")
        from workbench.tui.textset import set_text

        set_text(self.query_one("#log-path", Static), "  ·  ".join(parts + [str(self.path)]))

    # -- follow and scroll -------------------------------------------------------------------
    def action_follow(self) -> None:
        self.follow = not self.follow
        log = self.body
        log.auto_scroll = self.follow
        if self.follow:
            log.scroll_end(animate=False)
        self._show_state()

    def action_top(self) -> None:
        self.follow = False
        self.body.auto_scroll = False
        self.body.scroll_home(animate=False)
        self._show_state()

    def action_bottom(self) -> None:
        self.body.scroll_end(animate=False)

    def action_back(self) -> None:
        search = self.query_one("#log-search", Input)
        if search.has_focus:
            search.display = False
            self.body.focus()
            return
        self.app.pop_screen()

    # -- search ---------------------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "search" and self.query_one("#log-search", Input).has_focus:
            return False  # a "/" typed into the search box
        return True

    def action_search(self) -> None:
        search = self.query_one("#log-search", Input)
        search.display = True
        search.value = self.query_text
        self.set_focus(search)  # now, not after the keys already queued (a fast typist or a paste)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_text = event.value.strip()
        event.input.display = False
        self.body.focus()
        self.match_line = None
        self.body.set_mark(None)
        if self.query_text:
            self.action_next_match(1)
        self._show_state()

    def matches(self) -> list[int]:
        q = self.query_text.lower()
        return [i for i, line in enumerate(self.body.lines) if q in line.lower()] if q else []

    def action_next_match(self, direction: int) -> None:
        if not self.query_text:
            self.action_search()
            return
        matches = self.matches()
        if not matches:
            self.notify(f"no line contains {self.query_text!r}", severity="warning")
            self._show_state()
            return
        log = self.body
        if self.match_line is None:
            start = int(log.scroll_y)  # from the top of what is on screen
            pick = next((m for m in matches if m >= start), matches[0]) if direction > 0 else \
                next((m for m in reversed(matches) if m <= start + log.size.height), matches[-1])
        else:
            if direction > 0:
                pick = next((m for m in matches if m > self.match_line), matches[0])
            else:
                pick = next((m for m in reversed(matches) if m < self.match_line), matches[-1])
        self.match_line = pick
        log.set_mark(pick)
        self.follow = False
        log.auto_scroll = False
        log.scroll_to(y=max(0, pick - log.size.height // 3), animate=False)
        self._show_state()

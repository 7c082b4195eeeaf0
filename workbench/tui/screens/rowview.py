"""One data row in full: pretty JSON, long strings wrapped, scrollable."""

from __future__ import annotations

import json
from typing import Any, Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from workbench.tui.widgets.footer import KeyFooter


def pretty_row(data: dict[str, Any]) -> str:
    """The row as indented JSON (non-ASCII kept); a row that failed to parse shows its error."""
    if "__error__" in data:
        return f"this line is not a valid row: {data['__error__']}"
    return json.dumps(data, ensure_ascii=False, indent=2)


class RowScreen(ModalScreen[None]):
    """Row `number` of a data file; n / p step to the next / previous row."""

    HELP_TITLE = "Data row"
    BINDINGS = [
        Binding("escape", "close", "Back", tooltip="back to the rows"),
        Binding("n", "step(1)", "Next row", tooltip="next row"),
        Binding("p", "step(-1)", "Prev row", tooltip="previous row"),
    ]
    HELP_EXTRA = [("↑ / ↓ / pgup / pgdn", "scroll")]

    def __init__(self, file: str, number: int, data: dict[str, Any],
                 step: Callable[[int, int], tuple[int, dict] | None] | None = None):
        super().__init__()
        self.file, self.number, self.data, self.stepper = file, number, data, step

    def compose(self) -> ComposeResult:
        yield Static("", id="row-title")
        with VerticalScroll(id="row-scroll"):
            yield Static("", id="row-body")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._show()
        self.query_one("#row-scroll").focus()

    def _show(self) -> None:
        self.query_one("#row-title", Static).update(f"{self.file} row {self.number}  (n/p next/previous, escape back)")
        self.query_one("#row-body", Static).update(Text(pretty_row(self.data)))
        self.query_one("#row-scroll", VerticalScroll).scroll_home(animate=False)

    def action_step(self, delta: int) -> None:
        got = self.stepper(self.number, delta) if self.stepper else None
        if got is None:
            self.notify("no more rows" if delta > 0 else "this is the first row", severity="warning")
            return
        self.number, self.data = got
        self._show()

    def action_close(self) -> None:
        self.dismiss(None)

"""Small modal screens: a yes/no confirmation and the key help."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from rich.table import Table
from rich.text import Text



def help_table(sections: list[tuple[str, list[tuple[str, str]]]]) -> Table:
    """Key | what it does, wrapped with a hanging indent, one titled block per section."""
    table = Table(box=None, show_header=False, padding=(0, 1), expand=True)
    table.add_column("key", no_wrap=True, style="bold")
    table.add_column("what", ratio=1)
    for i, (title, lines) in enumerate(sections):
        if i:
            table.add_row("", "")
        table.add_row(Text(title, style="bold underline"), "")
        for key, what in lines:
            table.add_row(key, what)
    return table


class ConfirmScreen(ModalScreen[bool]):
    """Ask a yes/no question; dismisses with True on y/enter, False on n/escape."""

    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, detail: str = "", yes: str = "Yes"):
        super().__init__()
        self.question = question
        self.detail = detail
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(self.question, id="dialog-question")
            if self.detail:
                yield Static(self.detail, id="dialog-detail")
            with Horizontal(id="dialog-buttons"):
                yield Button(f"{self.yes} (y)", id="yes", variant="error")
                yield Button("Cancel (n)", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


class HelpScreen(ModalScreen[None]):
    """The keys of the screen below it (see workbench.tui.keys); opaque, so nothing shows through."""

    BINDINGS = [Binding("escape,question_mark", "close", "Close")]

    def __init__(self, sections: list[tuple[str, list[tuple[str, str]]]]):
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Static("Keys of this screen  (escape closes, ↑ ↓ scroll)", id="help-title")
            yield Static(help_table(self.sections), id="help-body")

    def on_mount(self) -> None:
        self.query_one("#help", VerticalScroll).focus()

    def action_close(self) -> None:
        self.dismiss(None)

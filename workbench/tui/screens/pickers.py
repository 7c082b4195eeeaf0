"""Small modal pickers: choose one item of a list, with a type-to-filter line."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option


class ListPicker(ModalScreen[str | None]):
    """Pick one of `items` ((label, value) pairs): type to filter, ↑ ↓ enter picks, escape cancels."""

    HELP_TITLE = "Picker"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", tooltip="close without picking"),
        Binding("down", "down", "Down", show=False, tooltip="next item"),
        Binding("up", "up", "Up", show=False, tooltip="previous item"),
    ]

    def __init__(self, title: str, items: list[tuple[str, str]], current: str | None = None):
        super().__init__()
        self.title_text = title
        self.items = items
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="picker"):
            yield Static(self.title_text, id="picker-title")
            yield Input(placeholder="type to filter, enter picks", id="picker-filter", compact=True)
            yield OptionList(id="picker-options")

    def on_mount(self) -> None:
        self._fill("")
        self.set_focus(self.query_one("#picker-filter", Input))

    def _fill(self, text: str) -> None:
        words = text.lower().split()
        ol = self.query_one("#picker-options", OptionList)
        ol.clear_options()
        shown = [(label, value) for label, value in self.items if all(w in label.lower() for w in words)]
        ol.add_options([Option(label, id=value) for label, value in shown])
        if shown:
            values = [v for _, v in shown]
            ol.highlighted = values.index(self.current) if self.current in values else 0

    @on(Input.Changed, "#picker-filter")
    def _changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted, "#picker-filter")
    def _submitted(self, event: Input.Submitted) -> None:
        ol = self.query_one("#picker-options", OptionList)
        if ol.highlighted is not None and ol.option_count:
            self.dismiss(ol.get_option_at_index(ol.highlighted).id)

    @on(OptionList.OptionSelected, "#picker-options")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_down(self) -> None:
        self.query_one("#picker-options", OptionList).action_cursor_down()

    def action_up(self) -> None:
        self.query_one("#picker-options", OptionList).action_cursor_up()

    def action_cancel(self) -> None:
        self.dismiss(None)

"""A one-line text prompt: enter answers, escape cancels; `push_and_focus` opens such screens."""

from __future__ import annotations

from typing import Any, Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class TextPrompt(ModalScreen[str | None]):
    """Ask for one line of text."""

    HELP_TITLE = "Prompt"
    BINDINGS = [Binding("escape", "cancel", "Cancel", tooltip="close without an answer")]

    def __init__(self, question: str, value: str = ""):
        super().__init__()
        self.question, self.value = question, value

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Static(self.question, id="prompt-question")
            yield Input(self.value, id="prompt-answer", compact=True)

    def on_mount(self) -> None:
        self.set_focus(self.query_one(Input))

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


async def push_and_focus(app: Any, screen: Any, callback: Callable[[Any], Any] | None = None) -> None:
    """Push a screen that takes typing (a prompt, a picker) and return once it is mounted.

    Its on_mount moves focus to its input; awaited from the action that opens it, the
    app handles the next queued key only after that, so a burst typed right after the
    opening key (`z 1 0 : 2 0`) lands in the new screen's input, never on the one behind.
    """
    await app.push_screen(screen, callback)

"""Chat with a checkpoint: a few greedy turns with the model, which runs in its own process."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Input, Static

from workbench.tui.widgets.bars import TitleBar
from workbench.tui.widgets.footer import KeyFooter

MAX_TURNS = 6
"""User turns kept in the conversation sent to the model (older ones drop out)."""


class ChatScreen(Screen):
    """Type a message, read the reply; the model loads in a child process (the TUI never imports torch)."""

    HELP_TITLE = "Chat"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="back (ends the chat process)"),
        Binding("ctrl+l", "clear", "Clear", tooltip="start the conversation over"),
    ]
    DEFAULT_CSS = """
    ChatScreen #chat-status { height: auto; padding: 0 1; }
    ChatScreen #chat-log { height: 1fr; padding: 0 1; }
    ChatScreen .chat-user { color: $accent; margin-top: 1; }
    ChatScreen .chat-model { margin-bottom: 0; }
    ChatScreen .chat-error { color: $error; }
    """

    def __init__(self, run_dir: Path, checkpoint: str, max_new_tokens: int = 128):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.checkpoint = checkpoint
        self.max_new_tokens = max_new_tokens
        self.messages: list[dict[str, str]] = []
        self.process = None
        self.ready = False
        self.busy = False

    def compose(self) -> ComposeResult:
        yield TitleBar()
        yield Static("starting the model…", id="chat-status")
        yield VerticalScroll(id="chat-log")
        yield Input(placeholder="message (enter sends)", id="chat-input")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = f"chat · {self.run_dir.name} {self.checkpoint}"
        self.query_one(Input).focus()
        self.run_worker(self._start(), group="chat", exclusive=True, exit_on_error=False)

    async def _start(self) -> None:
        from workbench.errors import WorkbenchError
        from workbench.evaluation.chat_client import ChatError, ChatProcess, chat_config

        status = self.query_one("#chat-status", Static)
        try:
            self.process = ChatProcess(chat_config(self.run_dir, self.checkpoint, self.max_new_tokens))
            name = await self.process.start()
        except (ChatError, WorkbenchError, OSError, ValueError) as exc:
            status.update(f"cannot chat: {exc}")
            status.add_class("chat-error")
            return
        self.ready = True
        status.update(f"ready: {name} · greedy, {self.max_new_tokens} new tokens at most, the last {MAX_TURNS} "
                      "turns are kept · ctrl+l starts over")

    def _say(self, text: str, classes: str) -> None:
        log = self.query_one("#chat-log", VerticalScroll)
        log.mount(Static(text, classes=classes, markup=False))
        log.scroll_end(animate=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        if not self.ready or self.busy:
            self.notify("the model is still loading" if not self.ready else "waiting for the reply",
                        severity="warning")
            return
        event.input.value = ""
        self.messages.append({"role": "user", "content": text})
        self._say(f"you: {text}", "chat-user")
        self.busy = True
        self.run_worker(self._reply(), group="chat", exclusive=True, exit_on_error=False)

    def context(self) -> list[dict[str, str]]:
        """The last MAX_TURNS user turns and the replies between them."""
        starts = [i for i, m in enumerate(self.messages) if m["role"] == "user"]
        first = starts[-MAX_TURNS] if len(starts) > MAX_TURNS else 0
        return self.messages[first:]

    async def _reply(self) -> None:
        from workbench.evaluation.chat_client import ChatError

        try:
            reply = await self.process.ask(self.context())
        except ChatError as exc:
            self._say(f"error: {exc}", "chat-error")
            self.messages.pop()
        else:
            self.messages.append({"role": "assistant", "content": reply})
            self._say(f"model: {reply or '(empty reply)'}", "chat-model")
        finally:
            self.busy = False

    def action_clear(self) -> None:
        self.messages.clear()
        self.query_one("#chat-log", VerticalScroll).remove_children()

    def on_unmount(self) -> None:
        proc = self.process.proc if self.process is not None else None
        if proc is not None and proc.returncode is None:  # closing its input ends it; terminate to be sure
            if proc.stdin is not None:
                proc.stdin.close()
            proc.terminate()

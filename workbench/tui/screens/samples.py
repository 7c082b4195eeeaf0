"""Samples: for one evaluation prompt, the reference and each checkpoint's generation side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from workbench import numbers
from workbench.evaluation.compare import PromptSamples, prompt_text, samples_by_prompt
from workbench.evaluation.files import SAMPLES
from workbench.tui.polling import ThreadPoll
from workbench.tui.widgets.bars import TitleBar
from workbench.tui.widgets.footer import KeyFooter


def score_lines(sample: dict[str, Any]) -> list[str]:
    """'✓/✗ evaluator value (why it failed)' lines of one sample (no mark for scores without pass/fail)."""
    failed = set(sample.get("failed") or [])
    details = sample.get("details") or {}
    out = []
    for name, value in (sample.get("scores") or {}).items():
        text = numbers.num(value) if isinstance(value, (int, float)) else str(value)
        mark = "✗" if name in failed else ("✓" if value == 1 else " ")
        why = details.get(name) if name in failed and isinstance(details.get(name), str) else ""
        out.append(f"{mark} {name} {text}" + (f"  ({why})" if why else ""))
    return out


class SamplesScreen(Screen):
    """One prompt at a time: its reference, then a column per checkpoint with its generation and scores."""

    HELP_TITLE = "Samples"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="back"),
        Binding("n,right", "move(1)", "Next", tooltip="next prompt"),
        Binding("p,left", "move(-1)", "Prev", tooltip="previous prompt"),
        Binding("f", "toggle_failures", "Failures", tooltip="only the prompts some checkpoint failed"),
    ]
    DEFAULT_CSS = """
    SamplesScreen #samples-head { height: auto; max-height: 40%; padding: 0 1; }
    SamplesScreen #samples-columns { height: 1fr; }
    SamplesScreen .sample-column { width: 1fr; min-width: 24; border: round $primary; padding: 0 1; }
    SamplesScreen .sample-column.-failed { border: round $error; }
    """

    def __init__(self, run_dirs: list[Path], interval: float = 2.0):
        super().__init__()
        self.run_dirs = [Path(d) for d in run_dirs]
        self.interval = interval
        self.labels: list[str] = []
        self.prompts: list[PromptSamples] = []
        self.failures_only = False
        self.position = 0
        self._seen: tuple | None = None
        self.poll: ThreadPoll | None = None

    def compose(self) -> ComposeResult:
        yield TitleBar()
        yield Static("", id="samples-head")
        yield Horizontal(id="samples-columns")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "samples · " + ", ".join(d.name for d in self.run_dirs)
        self.poll = ThreadPoll(self, self._fetch, self._apply, self.interval, "eval-samples").start()

    def on_unmount(self) -> None:
        if self.poll:
            self.poll.stop()

    def _fetch(self):
        stamp = tuple((d / SAMPLES).stat().st_size if (d / SAMPLES).exists() else -1 for d in self.run_dirs)
        return stamp, (samples_by_prompt(self.run_dirs) if stamp != self._seen else None)

    def _apply(self, result) -> None:
        stamp, found = result
        if found is None:
            return
        self._seen = stamp
        self.labels, self.prompts = found
        self.show()

    @property
    def visible(self) -> list[PromptSamples]:
        return [p for p in self.prompts if p.failed] if self.failures_only else self.prompts

    def show(self) -> None:
        head = self.query_one("#samples-head", Static)
        columns = self.query_one("#samples-columns", Horizontal)
        columns.remove_children()
        shown = self.visible
        if not shown:
            head.update("no failed prompts (f shows all)" if self.failures_only and self.prompts
                        else "no samples yet (samples.jsonl)")
            return
        self.position = max(0, min(self.position, len(shown) - 1))
        item = shown[self.position]
        filt = " · failures only" if self.failures_only else ""
        reference = "" if item.reference is None else prompt_text(item.reference)
        head.update(f"prompt {self.position + 1}/{len(shown)} (row {item.index + 1}){filt}\n"
                    f"{prompt_text(item.prompt)}\n\nreference: {reference}")
        for label in self.labels:
            sample = item.by_label.get(label)
            if sample is None:
                body = "(not scored on this prompt)"
                failed = False
            else:
                generation = sample.get("generation")
                body = ("(no generation)" if generation is None else (generation or "(empty)")) + "\n\n" + \
                    "\n".join(score_lines(sample))
                failed = bool(sample.get("failed"))
            column = VerticalScroll(Static(body, markup=False), classes="sample-column" + (" -failed" if failed else ""))
            column.border_title = label
            columns.mount(column)

    def action_move(self, delta: int) -> None:
        if self.visible:
            self.position = (self.position + delta) % len(self.visible)
            self.show()

    def action_toggle_failures(self) -> None:
        self.failures_only = not self.failures_only
        self.position = 0
        self.show()

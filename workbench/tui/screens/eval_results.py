"""Evaluation results: checkpoints (or runs) by metric, from eval.json; live while an evaluation runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Static

from workbench import numbers
from workbench.evaluation.compare import ResultRow, metric_columns, result_rows
from workbench.evaluation.files import EVAL_JSON
from workbench.evaluation.settings import lower_is_better
from workbench.tui.polling import ThreadPoll
from workbench.tui.widgets.bars import TitleBar
from workbench.tui.widgets.footer import KeyFooter

def format_value(value: Any) -> str:
    """A metric cell: the one number formatter; '–' where the model has no such number."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–"
    return numbers.num(value)


def best_rows(rows: list[ResultRow], metric: str) -> set[int]:
    """Indices of the rows holding the best value of `metric` (lowest for losses, else highest)."""
    values = [(i, r.metrics[metric]) for i, r in enumerate(rows) if isinstance(r.metrics.get(metric), (int, float))]
    if len(values) < 2:
        return set()
    best = (min if lower_is_better(metric) else max)(v for _, v in values)
    return {i for i, v in values if v == best}


class EvalResultsScreen(Screen):
    """A table of every scored model of the given runs (rows) by metric (columns); the best value is bold."""

    HELP_TITLE = "Evaluation results"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="back"),
        Binding("s", "samples", "Samples", tooltip="the generations of each checkpoint, prompt by prompt"),
        Binding("t", "chat", "Chat", tooltip="chat with the checkpoint under the cursor (greedy)"),
        Binding("a", "toggle_all", "All metrics", tooltip="show the bookkeeping numbers too (rows, tokens, ...)"),
    ]
    DEFAULT_CSS = """
    EvalResultsScreen #results-info { height: auto; padding: 0 1; }
    EvalResultsScreen #results-table { height: 1fr; }
    """

    def __init__(self, run_dirs: list[Path], interval: float = 1.0):
        super().__init__()
        self.run_dirs = [Path(d) for d in run_dirs]
        self.interval = interval
        self.everything = False
        self.rows: list[ResultRow] = []
        self._seen: tuple | None = None
        self.poll: ThreadPoll | None = None

    def compose(self) -> ComposeResult:
        yield TitleBar()
        yield Static("", id="results-info")
        yield DataTable(id="results-table", zebra_stripes=True, cursor_type="row")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "evaluation · " + ", ".join(d.name for d in self.run_dirs)
        self.poll = ThreadPoll(self, self._fetch, self._apply, self.interval, "eval-results").start()

    def on_unmount(self) -> None:
        if self.poll:
            self.poll.stop()

    def _stamp(self) -> tuple:
        out = []
        for d in self.run_dirs:
            try:
                st = (d / EVAL_JSON).stat()
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)

    def _fetch(self) -> tuple[tuple, list[ResultRow] | None]:
        stamp = self._stamp()
        return stamp, (result_rows(self.run_dirs) if stamp != self._seen else None)

    def _apply(self, result: tuple[tuple, list[ResultRow] | None]) -> None:
        stamp, rows = result
        if rows is None:
            return
        self._seen, self.rows = stamp, rows
        self.render_table()

    def render_table(self) -> None:
        table = self.query_one(DataTable)
        cursor = table.cursor_row
        table.clear(columns=True)
        several = len(self.run_dirs) > 1
        metrics = metric_columns(self.rows, self.everything)
        table.add_columns(*(["run"] if several else []), "checkpoint", "step", *metrics)
        best = {m: best_rows(self.rows, m) for m in metrics}
        for i, row in enumerate(self.rows):
            cells: list[Any] = [row.run_id] if several else []
            cells += [row.checkpoint, "" if row.step is None else str(row.step)]
            for m in metrics:
                text = format_value(row.metrics.get(m))
                cells.append(Text(text, style="bold") if i in best[m] else text)
            table.add_row(*cells, key=f"{i}")
        if self.rows:
            table.move_cursor(row=min(max(cursor, 0), len(self.rows) - 1))
        info = self.query_one("#results-info", Static)
        if not self.rows:
            info.update("no evaluation results yet (eval.json): an evaluation writes one entry per scored model")
        else:
            info.update(f"{len(self.rows)} scored models · {len(metrics)} metrics · bold: the best of a column "
                        "(lowest for loss/perplexity) · s samples · t chat · a all metrics")

    def current(self) -> ResultRow | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row < 0:
            return None
        return self.rows[min(table.cursor_row, len(self.rows) - 1)]

    def action_toggle_all(self) -> None:
        self.everything = not self.everything
        self.render_table()

    def action_samples(self) -> None:
        from workbench.tui.screens.samples import SamplesScreen

        self.app.push_screen(SamplesScreen(self.run_dirs))

    def action_chat(self) -> None:
        row = self.current()
        if row is None:
            self.notify("no checkpoint selected", severity="warning")
            return
        from workbench.tui.screens.chat import ChatScreen

        run_dir = next(d for d in self.run_dirs if d.name == row.run_id)
        self.app.push_screen(ChatScreen(run_dir, row.checkpoint))

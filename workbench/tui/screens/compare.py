"""Compare runs: their curves overlaid (aligned by step, epoch, time or tokens) and the config keys that differ."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from workbench.runs.store import Run
from workbench.tui.widgets.bars import TitleBar
from workbench import numbers
from workbench.tui.configdiff import differing
from workbench.tui.metrics import MetricTable, order_metrics
from workbench.tui.polling import ThreadPoll
from workbench.tui.screens.chartkeys import ChartKeys
from workbench.runs.jsonl import JsonlFollower
from workbench.tui.widgets.chart import LineChart

NARROW = 110


def short_label(run: Run, taken: set[str]) -> str:
    """The run's name (or id) made unique among `taken`."""
    base = str(run.raw_status.get("name") or run.id)
    label = base if base not in taken else run.id[-24:]
    taken.add(label)
    return label


class CompareScreen(ChartKeys, Screen):
    """Two or more runs on one chart, plus a table of the config keys that differ."""

    HELP_TITLE = "Compare"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back", tooltip="back to the runs"), *ChartKeys.CHART_BINDINGS]

    def __init__(self, runs: list[Run], interval: float = 1.0):
        super().__init__()
        self.runs = runs
        self.interval = interval
        self.tables = {r.id: MetricTable() for r in runs}
        self.tails = {r.id: JsonlFollower(r.path("metrics.jsonl")) for r in runs}
        taken: set[str] = set()
        self.labels = {r.id: short_label(r, taken) for r in runs}
        self.metric = None
        self.poll: ThreadPoll | None = None

    @property
    def chart(self) -> LineChart:
        return self.query_one("#compare-chart", LineChart)

    def compose(self) -> ComposeResult:
        yield TitleBar()
        yield Static("", id="chart-state")
        with Horizontal(id="compare-body"):
            with Vertical(id="compare-left"):
                chart = LineChart(id="compare-chart", smoothing=self.smooth_weight)
                chart.can_focus = False
                yield chart
            with Vertical(id="compare-right"):
                yield Static("config keys that differ", id="diff-title")
                yield DataTable(id="compare-diff", zebra_stripes=True, cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "compare · " + ", ".join(self.labels.values())
        self.query_one("#compare-diff").can_focus = False  # ← → belong to the chart cursor
        self.set_focus(None)
        self._layout()
        self.run_worker(self._load_configs, thread=True, group="compare-config", exit_on_error=False)
        self.poll = ThreadPoll(self, self._fetch, self._apply, self.interval, "compare").start()

    def on_unmount(self) -> None:
        if self.poll:
            self.poll.stop()

    def on_resize(self) -> None:
        self._layout()

    def _layout(self) -> None:
        self.set_class(self.size.width < NARROW, "-narrow")

    # -- config diff ------------------------------------------------------------------
    def _load_configs(self) -> None:
        configs = []
        for run in self.runs:
            try:
                configs.append(run.config())
            except (OSError, ValueError):
                configs.append({})
        rows = differing(configs)
        try:
            self.app.call_from_thread(self._show_diff, rows)
        except Exception:  # noqa: BLE001 - app closing
            pass

    def _show_diff(self, rows: list[tuple[str, list[str]]]) -> None:
        self.diff_rows = rows
        table = self.query_one("#compare-diff", DataTable)
        table.add_column("key", key="key")
        for run in self.runs:
            table.add_column(self.labels[run.id], key=run.id)
        for key, values in rows:
            table.add_row(key, *values, key=key)
        if not rows:
            self.query_one("#diff-title", Static).update("configs are identical")

    # -- metrics ----------------------------------------------------------------------
    def _fetch(self) -> dict[str, tuple[list[dict[str, Any]], bool]]:
        return {rid: (batch.rows, batch.reset) for rid, batch in ((rid, t.read()) for rid, t in self.tails.items())}

    def _apply(self, result: dict[str, tuple[list[dict[str, Any]], bool]]) -> None:
        reload = False
        for rid, (rows, reset) in result.items():
            table = self.tables[rid]
            if reset:
                table.clear()
                reload = True
            grown = table.add_rows(rows)
            if self.metric is None and "loss" in table.series:
                self.metric = "loss"
                reload = True
            if not reload and self.metric in grown:
                xs, ys = table.since(self.metric, grown[self.metric], self.x_mode)
                self.chart.extend(rid, xs, ys)
                self.apply_window()
        if self.metric is None:
            choices = self.metric_choices()
            if choices:
                self.metric, reload = choices[0], True
        if reload:
            self.reload_chart()
        elif any(rows for rows, _ in result.values()):
            self.show_chart_state()

    def metric_choices(self) -> list[str]:
        names: set[str] = set()
        for t in self.tables.values():
            names.update(t.series)
        return order_metrics(names)

    def reload_chart(self) -> None:
        chart = self.chart
        chart.clear()
        chart.x_mode = self.x_mode
        if self.metric:
            for run in self.runs:
                xs, ys = self.tables[run.id].points(self.metric, self.x_mode)
                chart.add_series(run.id, label=self.labels[run.id])
                chart.set_data(run.id, xs, ys)
        self.apply_window()
        self.show_chart_state()

    def show_chart_state(self) -> None:
        if not self.is_mounted:
            return
        lasts = "  ".join(f"{self.labels[r.id]} {numbers.num(self.tables[r.id].last(self.metric))}"
                          for r in self.runs) if self.metric else "no metrics yet"
        from workbench.tui.textset import set_text

        set_text(self.query_one("#chart-state", Static), self.chart_state_text(f"{self.metric or '-'}: {lasts}"))

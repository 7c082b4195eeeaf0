"""Compare runs: their curves overlaid (aligned by step, epoch, time, tokens or fraction of run) and the config
keys that differ.

Any run source compares with any other: a workbench run beside a TensorBoard log beside a
LLaMA-Factory trainer_log.jsonl. Each is polled for new rows like run detail polls one.
"""

from __future__ import annotations

import math
from array import array
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Static

from workbench import numbers
from workbench.sources.base import RunSource, Update
from workbench.tui.configdiff import differing
from workbench.tui.metrics import X_MODES, MetricTable, order_metrics
from workbench.tui.polling import ThreadPoll
from workbench.tui.screens.chartkeys import ChartKeys
from workbench.tui.widgets.bars import TitleBar
from workbench.tui.widgets.chart import LineChart
from workbench.tui.widgets.footer import KeyFooter

NARROW = 110
FRACTION = "fraction"
"""The x axis where every run goes from 0 to 1 (step / max_steps): a 60-step run spans the chart like a 3k-step one."""


def source_name(source: RunSource) -> str:
    """A workbench run's name (else its id); another tool's run: 'id (kind)'."""
    from workbench.sources.rundir import run_of

    run = run_of(source)
    if run is not None:
        return str(run.raw_status.get("name") or run.id)
    from workbench.tui.widgets.runs_table import split_run_id

    kind = getattr(source, "kind", None)
    name = split_run_id(str(source.id))[0]  # TensorBoard logs of a workbench run are named after it
    return f"{name} ({kind})" if kind else name


def unique(name: str, taken: set[str], fallback: str) -> str:
    """`name`, or `fallback`, or either with a counter: one not in `taken` (which it joins)."""
    for candidate in (name, fallback):
        if candidate not in taken:
            taken.add(candidate)
            return candidate
    n = 2
    while f"{name}-{n}" in taken:
        n += 1
    taken.add(f"{name}-{n}")
    return f"{name}-{n}"


class CompareScreen(ChartKeys, Screen):
    """Two or more runs (any run sources) on one chart, plus a table of the config keys that differ."""

    HELP_TITLE = "Compare"
    BINDINGS = [Binding("escape", "app.pop_screen", "Back", tooltip="back to the runs"),
                *(Binding("a", "x_axis", "X axis", show=False,
                          tooltip="x axis: step, epoch, time, tokens, fraction of each run (0-100%)")
                  if b.key == "a" else b for b in ChartKeys.CHART_BINDINGS)]
    x_modes = (*X_MODES, FRACTION)

    def __init__(self, sources: list[RunSource], interval: float = 1.0):
        super().__init__()
        self.sources: dict[str, RunSource] = {}
        ids: set[str] = set()
        for source in sources:
            self.sources[unique(str(source.id), ids, str(source.id))] = source
        self.interval = interval
        self.tables = {key: MetricTable() for key in self.sources}
        self.max_steps: dict[str, float | None] = {key: None for key in self.sources}
        taken: set[str] = set()
        self.labels = {key: unique(source_name(s), taken, key[-24:]) for key, s in self.sources.items()}
        self.metric = None
        self.poll: ThreadPoll | None = None
        self.diff_rows: list[tuple[str, list[str]]] | None = None
        self._totals: dict[str, float] = {}

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
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "compare · " + ", ".join(self.labels.values())
        self.query_one("#compare-diff").can_focus = False  # ← → belong to the chart cursor
        self.set_focus(None)
        self._layout()
        self.poll = ThreadPoll(self, self._fetch, self._apply, self.interval, "compare").start()

    def on_unmount(self) -> None:
        if self.poll:
            self.poll.stop()

    def on_resize(self) -> None:
        self._layout()

    def _layout(self) -> None:
        self.set_class(self.size.width < NARROW, "-narrow")

    # -- config diff ------------------------------------------------------------------
    def _show_diff(self, configs: list[dict[str, Any]]) -> None:
        rows = differing(configs)
        self.diff_rows = rows
        table = self.query_one("#compare-diff", DataTable)
        table.add_column("key", key="key")
        for key in self.sources:
            table.add_column(self.labels[key], key=key)
        for name, values in rows:
            table.add_row(name, *values, key=name)
        if not rows:
            self.query_one("#diff-title", Static).update("configs are identical")

    # -- metrics ----------------------------------------------------------------------
    def _fetch(self) -> tuple[dict[str, Update | BaseException], list[dict[str, Any]] | None]:
        """Every source's new rows (a source that fails says why; the others go on), and on the
        first round the configs (other tools' sources know theirs only after a first poll)."""
        updates: dict[str, Update | BaseException] = {}
        for key, source in self.sources.items():
            try:
                updates[key] = source.poll()
            except Exception as exc:  # noqa: BLE001 - shown, polled again next time
                updates[key] = exc
        configs = None
        if self.diff_rows is None and self.poll is not None and self.poll.rounds == 0:
            configs = []
            for source in self.sources.values():
                try:
                    configs.append(source.config() or {})
                except Exception:  # noqa: BLE001 - a config that cannot be read differs in every key
                    configs.append({})
        return updates, configs

    def _apply(self, result: tuple[dict[str, Update | BaseException], list[dict[str, Any]] | None]) -> None:
        updates, configs = result
        if configs is not None:
            self._show_diff(configs)
        reload = False
        grown_any = False
        for key, update in updates.items():
            if isinstance(update, BaseException):
                self.app.notify(f"cannot read {self.labels[key]}: {update}", severity="error", timeout=3)
                continue
            table = self.tables[key]
            max_steps = update.status.get("max_steps")
            self.max_steps[key] = float(max_steps) if isinstance(max_steps, (int, float)) and max_steps > 0 else None
            if update.metrics_reset:
                table.clear()
                reload = True
            grown = table.add_rows(update.metrics)
            grown_any |= bool(grown)
            if self.metric is None and "loss" in table.series:
                self.metric = "loss"
                reload = True
            if not reload and self.metric in grown and self.x_mode != FRACTION:
                xs, ys = self.series_points(key, self.metric, grown[self.metric])
                self.chart.extend(key, xs, ys)
                self.apply_window()
        if self.metric is None:
            choices = self.metric_choices()
            if choices:
                self.metric, reload = choices[0], True
        if self.x_mode == FRACTION and grown_any:
            reload = True  # a run's total may have moved (unknown max_steps: its last step so far)
        if reload:
            self.reload_chart()
        elif grown_any:
            self.show_chart_state()

    def total_steps(self, key: str) -> float | None:
        """The step a run ends at: its max_steps, else the last step it logged so far."""
        if self.max_steps.get(key):
            return self.max_steps[key]
        last = [pts.x("step")[-1] for pts in self.tables[key].series.values() if len(pts)]
        return max(last) if last else None

    def series_points(self, key: str, metric: str, start: int = 0) -> tuple[array, array]:
        """(x, y) of one run's metric in the current x mode (fraction: step / total steps of that run)."""
        table = self.tables[key]
        if self.x_mode != FRACTION:
            return table.since(metric, start, self.x_mode)
        xs, ys = table.since(metric, start, "step")
        total = self.total_steps(key)
        if not total:
            return array("d"), array("d")
        return array("d", (x / total if math.isfinite(x) else x for x in xs)), ys

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
            for key in self.sources:
                xs, ys = self.series_points(key, self.metric)
                chart.add_series(key, label=self.labels[key])
                chart.set_data(key, xs, ys)
        self.apply_window()
        self.show_chart_state()

    def show_chart_state(self) -> None:
        if not self.is_mounted:
            return
        lasts = "  ".join(f"{self.labels[k]} {numbers.num(self.tables[k].last(self.metric))}"
                          for k in self.sources) if self.metric else "no metrics yet"
        from workbench.tui.textset import set_text

        set_text(self.query_one("#chart-state", Static), self.chart_state_text(f"{self.metric or '-'}: {lasts}"))

"""Run detail: live chart, status, why it failed, console tail, events, GPU use, actions."""

from __future__ import annotations

import time
from collections import deque
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Log, Static, TabbedContent, TabPane

from workbench.tui.widgets.bars import TitleBar
from workbench.tui import fmt
from workbench.tui.failure import diagnose
from workbench.tui.metrics import MetricTable, pair
from workbench.tui.polling import ThreadPoll
from workbench.tui.screens.chartkeys import ChartKeys
from workbench.sources.base import RunSource, Update
from workbench.tui.widgets.chart import LineChart

EVENT_GLYPHS = {"checkpoint": "✓", "saved": "✓", "nan": "⚠", "spike": "⚠", "oom": "✗", "error": "✗",
                "stop_requested": "■", "stopping": "■", "resumed": "↻", "ended": "●", "train_begin": "▶",
                "train_end": "●", "evaluated": "★"}
EVENT_SKIP_KEYS = ("time", "event")


def event_line(ev: dict[str, Any]) -> str:
    """'23:39:04 ✓ checkpoint  step=20 path=checkpoint-20'"""
    t = ev.get("time")
    stamp = time.strftime("%H:%M:%S", time.localtime(t)) if isinstance(t, (int, float)) else "--:--:--"
    name = str(ev.get("event", "?"))
    rest = " ".join(f"{k}={fmt.num(v) if isinstance(v, float) else v}" for k, v in ev.items()
                    if k not in EVENT_SKIP_KEYS and v is not None)
    return f"{stamp} {EVENT_GLYPHS.get(name, '·')} {name:<14} {rest}"


def summary_text(st: dict[str, Any]) -> str:
    """One status line: state, progress, loss, throughput, times."""
    step, total = st.get("step") or 0, st.get("max_steps")
    parts = [fmt.status_text(st.get("status")), f"step {step}/{total}" if total else f"step {step}"]
    if total:
        parts.append(fmt.progress(step, total, 8))
    parts.append(f"loss {fmt.num(st.get('loss'))}")
    if st.get("tokens_per_second") is not None:
        parts.append(f"{fmt.num(st['tokens_per_second'], 3)} tok/s")
    if st.get("elapsed") is not None:
        parts.append(fmt.duration(st["elapsed"]))
    if st.get("eta") is not None:
        parts.append(f"ETA {fmt.duration(st['eta'])}")
    line = "  ".join(parts)
    if st.get("status") in ("stopped", "completed", "stopping") and st.get("reason"):
        line += f"\n{st['reason']}"
    return line


class RunDetailScreen(ChartKeys, Screen):
    """Everything about one run, refreshed about twice a second."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        *ChartKeys.CHART_BINDINGS,
        Binding("x", "stop(False)", "Stop"),
        Binding("X", "stop(True)", "Stop now", show=False),
        Binding("r", "resume", "Resume", show=False),
        Binding("d", "duplicate", "Dup config", show=False),
        Binding("o", "logs", "Logs"),
        Binding("t", "panel('console')", "Console", show=False),
        Binding("e", "panel('events')", "Events", show=False),
        Binding("g", "panel('gpu')", "GPU", show=False),
    ]

    def __init__(self, source: RunSource, interval: float = 0.5):
        super().__init__()
        self.source = source
        self.interval = interval
        self.table = MetricTable()
        self.status: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self.gpu: dict[int, deque[dict[str, Any]]] = {}
        self.metric = None
        self.poll: ThreadPoll[Update] | None = None

    @property
    def chart(self) -> LineChart:
        return self.query_one("#run-chart", LineChart)

    def compose(self) -> ComposeResult:
        yield TitleBar()
        yield Static("loading…", id="run-summary")
        failure = Static("", id="run-failure")
        failure.display = False
        yield failure
        yield Static("", id="chart-state")
        chart = LineChart(id="run-chart", smoothing=self.smooth_weight)
        chart.can_focus = False  # the screen's keys drive it, wherever focus is
        yield chart
        with TabbedContent(id="run-bottom", initial="console"):
            with TabPane("Console", id="console"):
                yield Log(id="run-console", max_lines=1000)
            with TabPane("Events", id="events"):
                yield Log(id="run-events", max_lines=2000)
            with TabPane("GPU", id="gpu"):
                yield Static("no GPU samples for this run (gpu.jsonl is written when NVML sees GPUs)",
                             id="run-gpu")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.source.title
        self.show_chart_state()
        self.poll = ThreadPoll(self, self.source.poll, self.apply, self.interval, "run-detail",
                               on_error=lambda exc: self.notify(f"cannot read run: {exc}", severity="error")).start()

    def on_unmount(self) -> None:
        if self.poll:
            self.poll.stop()

    # -- data ---------------------------------------------------------------------------
    def apply(self, update: Update) -> None:
        """Fold one poll's new data into the view."""
        self.status = update.status
        if update.metrics_reset:
            self.table.clear()
        grown = self.table.add_rows(update.metrics)
        if self.metric is None or self.metric not in self.table.series:
            choices = self.metric_choices()
            default = "loss" if "loss" in choices else (choices[0] if choices else None)
            if default != self.metric:
                self.metric = default
                self.reload_chart()
        elif update.metrics_reset:
            self.reload_chart()
        elif grown:
            shown = pair(self.metric, self.table.series)
            for key in shown:
                if key in grown:
                    xs, ys = self.table.since(key, grown[key], self.x_mode)
                    self.chart.extend(key, xs, ys)
            if any(k in grown for k in shown):
                self.show_chart_state()

        if update.events_reset:
            self.events.clear()
            self.query_one("#run-events", Log).clear()
        if update.events:
            self.events.extend(update.events)
            self.query_one("#run-events", Log).write_lines([event_line(e) for e in update.events])
        console = self.query_one("#run-console", Log)
        if update.console_reset:
            console.clear()
        if update.console:
            console.write_lines(update.console)
        if update.gpu:
            self._add_gpu(update.gpu)
        self.query_one("#run-summary", Static).update(summary_text(self.status))
        self._show_failure()

    def _show_failure(self) -> None:
        lines = getattr(self.source, "console_lines", lambda: [])()
        failure = diagnose(self.status, lines, self.events)
        box = self.query_one("#run-failure", Static)
        box.display = failure is not None
        if failure is not None:
            text = [failure.headline, *(f"  {ln}" for ln in failure.error_lines)]
            if failure.hint:
                text.append(f"hint: {failure.hint}")
            box.update("\n".join(text))

    def _add_gpu(self, rows: list[dict[str, Any]]) -> None:
        from workbench.telemetry.samples import GpuSample
        from workbench.tui.widgets.gpu_panel import gpu_card_text

        for row in rows:
            if "index" in row:
                self.gpu.setdefault(int(row["index"]), deque(maxlen=240)).append(row)
        width = max(10, min(60, self.size.width - 40))
        cards = []
        for index in sorted(self.gpu):
            hist = [GpuSample.from_json(r) for r in self.gpu[index]]
            cards.append(gpu_card_text(hist[-1], hist, width))
        self.query_one("#run-gpu", Static).update("\n".join(cards))

    # -- chart --------------------------------------------------------------------------
    def metric_choices(self) -> list[str]:
        return self.table.groups()

    def reload_chart(self) -> None:
        chart = self.chart
        chart.clear()
        chart.x_mode = self.x_mode
        if self.metric:
            for key in pair(self.metric, self.table.series):
                xs, ys = self.table.points(key, self.x_mode)
                chart.set_data(key, xs, ys)
        self.show_chart_state()

    def show_chart_state(self) -> None:
        if not self.is_mounted:
            return
        keys = pair(self.metric, self.table.series) if self.metric else []
        what = " + ".join(f"{k} {fmt.num(self.table.last(k))}" for k in keys) or "no metrics yet"
        self.query_one("#chart-state", Static).update(self.chart_state_text(what))

    # -- actions ------------------------------------------------------------------------
    def _run(self):
        run = getattr(self.source, "run", None)
        if run is None or not self.source.controllable:
            self.notify("read-only view: this is not a workbench run", severity="warning")
        return run

    def action_stop(self, now: bool) -> None:
        run = self._run()
        if run is not None:
            self.app.stop_run(run, now=now)

    def action_resume(self) -> None:
        run = self._run()
        if run is not None:
            self.app.resume_run(run)

    def action_duplicate(self) -> None:
        run = self._run()
        if run is not None:
            self.app.duplicate_config(run)

    def action_logs(self) -> None:
        path = self.source.console_path()
        if path is None:
            self.notify("this run has no console log", severity="warning")
            return
        self.app.open_log(path, self.source.title)

    def action_panel(self, pane: str) -> None:
        self.query_one("#run-bottom", TabbedContent).active = pane

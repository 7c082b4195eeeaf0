"""Run detail: live chart(s), status, why it failed, console tail, events, GPU use, actions.

Focus model: nothing on this screen takes focus, so every key goes to the screen's
bindings (chart keys, ← → cursor, panel switches) wherever you came from.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections import deque
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Static, TabbedContent, TabPane, Tabs

from workbench import numbers
from workbench.sources.base import RunSource, Update
from workbench.sources.rundir import run_of
from workbench.tui import fmt, history
from workbench.tui.failure import diagnose
from workbench.tui.metrics import MetricTable, pair
from workbench.tui.polling import ThreadPoll
from workbench.tui.screens.chartkeys import ChartKeys
from workbench.tui.textset import set_text
from workbench.tui.widgets.bars import TitleBar
from workbench.tui.widgets.chart import LineChart
from workbench.tui.widgets.console import TailView
from workbench.tui.widgets.footer import KeyFooter

EVENT_GLYPHS = {"checkpoint": "✓", "saved": "✓", "nan": "⚠", "spike": "⚠", "oom": "✗", "error": "✗",
                "stop_requested": "■", "stopping": "■", "resumed": "↻", "ended": "●", "train_begin": "▶",
                "train_end": "●", "evaluated": "★", "damaged": "⚠"}
EVENT_SKIP_KEYS = ("time", "event")
PANEL_METRICS = ("learning_rate", "grad_norm", "eval_loss", "tokens_per_second")
PANELS = 4


def event_line(ev: dict[str, Any]) -> str:
    """'23:39:04 ✓ checkpoint  step=20 path=checkpoint-20'"""
    t = ev.get("time")
    stamp = time.strftime("%H:%M:%S", time.localtime(t)) if isinstance(t, (int, float)) else "--:--:--"
    name = str(ev.get("event", "?"))
    rest = " ".join(f"{k}={numbers.num(v) if isinstance(v, float) else v}" for k, v in ev.items()
                    if k not in EVENT_SKIP_KEYS and v is not None)
    return f"{stamp} {EVENT_GLYPHS.get(name, '·')} {name:<14} {rest}"


def summary_parts(st: dict[str, Any]) -> list[tuple[int, str]]:
    """(priority, text) of the status line: lower priority numbers stay when space is short."""
    step, total = st.get("step") or 0, st.get("max_steps")
    parts = [(0, fmt.status_text(st.get("status"))), (0, f"step {step}/{total}" if total else f"step {step}"),
             (0, f"loss {numbers.num(st.get('loss'))}")]
    if st.get("eta") is not None:
        parts.append((1, f"ETA {numbers.duration(st['eta'])}"))
    if st.get("tokens_per_second") is not None:
        parts.append((2, f"{numbers.num(st['tokens_per_second'])} tok/s"))
    if st.get("elapsed") is not None:
        parts.append((3, f"elapsed {numbers.duration(st['elapsed'])}"))
    if total:
        parts.insert(2, (4, fmt.progress(step, total, 8)))
    return parts


def summary_text(st: dict[str, Any], width: int = 200) -> str:
    """One status line that fits `width` cells (least telling parts dropped first), plus a reason line."""
    parts = summary_parts(st)
    for cut in (5, 4, 3, 2, 1):
        line = "  ".join(text for prio, text in parts if prio < cut)
        if cell_len(line) <= width:
            break
    if st.get("status") in ("stopped", "completed", "stopping") and st.get("reason"):
        line += f"\n{st['reason']}"
    return line


class RunDetailScreen(ChartKeys, Screen):
    """Everything about one run, refreshed about twice a second."""

    HELP_TITLE = "Run detail"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="back to the runs"),
        *ChartKeys.CHART_BINDINGS,
        Binding("p", "panels", "Panels", tooltip="one chart / four panels (metric, learning_rate, grad_norm, eval_loss)"),
        Binding("x", "stop(False)", "Stop", tooltip="stop gracefully: checkpoint, then exit (asks first)"),
        Binding("X", "stop(True)", "Stop now", show=False, tooltip="stop now: SIGTERM, then SIGKILL (asks first)"),
        Binding("r", "resume", "Resume", show=False, tooltip="resume from the last checkpoint"),
        Binding("d", "duplicate", "Dup config", show=False, tooltip="copy the run's config into configs/"),
        Binding("o", "logs", "Logs", tooltip="the full console log (search with /)"),
        Binding("t", "panel('console')", "Console", show=False, tooltip="bottom panel: console tail"),
        Binding("e", "panel('events')", "Events", show=False, tooltip="bottom panel: events"),
        Binding("g", "panel('gpu')", "GPU", show=False, tooltip="bottom panel: the run's GPU use"),
        Binding("n", "next_panel", "Next panel", show=False,
                tooltip="bottom panel: the next one (console, events, GPU, then plugins' panels)"),
    ]

    def __init__(self, source: RunSource, interval: float = 1.0):
        super().__init__()
        self.source = source
        self.interval = interval
        self.table = MetricTable()
        self.status: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self.gpu: dict[int, deque[dict[str, Any]]] = {}
        self.metric = None
        self.panels = False
        self.panel_metrics: list[str] = []
        self.poll: ThreadPoll[Update] | None = None
        self._shown: dict[str, str] = {}
        self._damage_said = False

    @property
    def chart(self) -> LineChart:
        return self.query_one("#run-chart", LineChart)

    def charts(self) -> list[LineChart]:
        out = [self.chart]
        if self.panels:
            out += [self.query_one(f"#run-chart-{i}", LineChart) for i in range(1, PANELS)]
        return out

    def compose(self) -> ComposeResult:
        yield TitleBar()
        yield Static("loading…", id="run-summary")
        failure = Static("", id="run-failure")
        failure.display = False
        yield failure
        yield Static("", id="chart-state")
        with Container(id="charts"):
            for i in range(PANELS):
                chart = LineChart(id="run-chart" if i == 0 else f"run-chart-{i}", smoothing=self.smooth_weight)
                chart.can_focus = False  # the screen's keys drive it, wherever focus is
                chart.display = i == 0
                yield chart
        with TabbedContent(id="run-bottom", initial="console"):
            with TabPane("Console", id="console"):
                yield TailView(id="run-console", keep=1000)
            with TabPane("Events", id="events"):
                yield TailView(id="run-events", keep=2000)
            with TabPane("GPU", id="gpu"):
                yield Static("no GPU samples for this run (gpu.jsonl is written when NVML sees GPUs)",
                             id="run-gpu")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = self.source.title
        for w in [*self.query(TailView), *self.query(Tabs)]:
            w.can_focus = False  # keys belong to the screen (← → move the chart cursor)
        self.set_focus(None)
        self.show_chart_state()
        self.history_state = "none"
        """none | skeleton (tail + decimated rows shown, the rest loading) | full."""
        self._since_tail: list[dict[str, Any]] | None = None
        run = run_of(self.source)
        path = run.path("metrics.jsonl") if run is not None else None
        try:
            big = path is not None and path.stat().st_size > history.BIG
        except OSError:
            big = False
        if big:
            self.run_worker(lambda: self._load_history(path), thread=True, group="history", exit_on_error=False)
        else:
            self._start_poll()

    def _start_poll(self) -> None:
        self.poll = ThreadPoll(self, self.source.poll, self.apply, self.interval, "run-detail",
                               on_error=lambda exc: self.notify(f"cannot read run: {exc}", severity="error")).start()

    # -- long histories -----------------------------------------------------------------
    def _load_history(self, path) -> None:
        """A skeleton of everything before the tail at once, then all of it exactly (worker thread)."""
        from textual.worker import get_current_worker

        worker = get_current_worker()
        start = history.follow_from_tail(self.source)
        first = MetricTable()
        if start is not None:
            first.add_bulk(history.skeleton(path, start))
        self.app.call_from_thread(self._show_first, first, start is not None)
        if start is None:
            return
        full = MetricTable()
        for chunk in history.chunks(path, 0, start):
            if worker.is_cancelled:
                return
            full.add_bulk(chunk)
        self.app.call_from_thread(self._show_full, full)

    def _show_first(self, table: MetricTable, moved: bool) -> None:
        if moved:
            self.table = table  # the skeleton; the first poll adds the exact tail
            self.history_state = "skeleton"
            self._since_tail = []
            self.metric = None
        self._start_poll()

    def _show_full(self, table: MetricTable) -> None:
        if self._since_tail is None:
            return
        table.add_bulk(self._since_tail)
        self._since_tail = None
        self.table = table
        self.history_state = "full"
        self.reload_chart()

    def on_unmount(self) -> None:
        if self.poll:
            self.poll.stop()

    def on_resize(self) -> None:
        self._set_text("#run-summary", summary_text(self.status, self.size.width - 2))

    def _set_text(self, selector: str, text: Any) -> None:
        """Update a Static only when its text changed (an idle screen writes nothing to the terminal)."""
        set_text(self.query_one(selector, Static), text)

    # -- data ---------------------------------------------------------------------------
    def apply(self, update: Update) -> None:
        """Fold one poll's new data into the view."""
        self.status = update.status
        if update.metrics_reset:
            self.table.clear()
            self._since_tail = None  # rewritten (a resume): the history being loaded is stale
        elif self._since_tail is not None and update.metrics:
            self._since_tail.extend(update.metrics)
        grown = self.table.add_rows(update.metrics)
        markers_changed = bool(update.events) or update.events_reset or any(k.startswith("eval_") for k in grown)
        if self.metric is None or self.metric not in self.table.series:
            choices = self.metric_choices()
            default = "loss" if "loss" in choices else (choices[0] if choices else None)
            if default != self.metric:
                self.metric = default
                self.reload_chart()
        elif update.metrics_reset:
            self.reload_chart()
        elif grown:
            for chart, metric in zip(self.charts(), self._shown_metrics()):
                for key in pair(metric, self.table.series):
                    if key in grown:
                        xs, ys = self.table.since(key, grown[key], self.x_mode)
                        chart.extend(key, xs, ys)
            self.apply_window()
            self.show_chart_state()

        if update.events_reset:
            self.events.clear()
            self.query_one("#run-events", TailView).clear()
        if update.events:
            self.events.extend(update.events)
            self.query_one("#run-events", TailView).write_lines([event_line(e) for e in update.events])
        if markers_changed:
            self._show_markers()
        if update.damaged:
            self._report_damaged(update.damaged)
        console = self.query_one("#run-console", TailView)
        if update.console_reset:
            console.clear()
        if update.console:
            console.write_lines(update.console)
        if update.gpu:
            self._add_gpu(update.gpu)
        self._set_text("#run-summary", summary_text(self.status, self.size.width - 2))
        self._show_failure()
        from workbench.tui.extensions import update_run_panels

        update_run_panels(self, update)  # plugin run panels (register_run_panels)

    def _report_damaged(self, damaged: list[str]) -> None:
        """Lines of the run's files that could not be read: in the events, and said once, so a gap
        in the chart is never a silent one (`workbench show` names them too)."""
        now = time.time()
        self.query_one("#run-events", TailView).write_lines(
            [event_line({"time": now, "event": "damaged", "where": f"{d} (skipped)"}) for d in damaged])
        if not self._damage_said:
            self._damage_said = True
            more = f" and {len(damaged) - 1} more" if len(damaged) > 1 else ""
            self.notify(f"{damaged[0]}{more}: skipped (e: events)", title="damaged run file", severity="warning")

    def _show_failure(self) -> None:
        lines = getattr(self.source, "console_lines", lambda: [])()
        failure = diagnose(self.status, lines, self.events)
        box = self.query_one("#run-failure", Static)
        if box.display != (failure is not None):
            box.display = failure is not None
        if failure is not None:
            text = [failure.headline, *(f"  {ln}" for ln in failure.error_lines)]
            if failure.hint:
                text.append(f"hint: {failure.hint}")
            self._set_text("#run-failure", "\n".join(text))

    def _add_gpu(self, rows: list[dict[str, Any]]) -> None:
        from workbench.telemetry.samples import GpuSample
        from workbench.tui.widgets.gpu_panel import gpu_line

        for row in rows:
            if "index" in row:
                self.gpu.setdefault(int(row["index"]), deque(maxlen=240)).append(row)
        width = max(40, self.size.width - 2)
        lines: list[Text] = []
        for index in sorted(self.gpu):
            hist = [GpuSample.from_json(r) for r in self.gpu[index]]
            lines.append(gpu_line(hist[-1], width))  # one line each, threshold marks and styles kept
            lines.append(Text("  util " + fmt.spark([s.util_percent for s in hist], width - 8, 0, 100), no_wrap=True))
        self._set_text("#run-gpu", Text("\n").join(lines))

    # -- chart --------------------------------------------------------------------------
    def metric_choices(self) -> list[str]:
        return self.table.groups()

    def _shown_metrics(self) -> list[str]:
        if not self.metric:
            return []
        return [self.metric, *self.panel_metrics] if self.panels else [self.metric]

    def _pick_panel_metrics(self) -> list[str]:
        taken = set(pair(self.metric, self.table.series)) if self.metric else set()
        out: list[str] = []
        for name in [*PANEL_METRICS, *self.metric_choices()]:
            if name in self.table.series and name not in taken and len(out) < PANELS - 1:
                out.append(name)
                taken.update(pair(name, self.table.series))
        return out

    def action_panels(self) -> None:
        self.panels = not self.panels
        self.reload_chart()

    def reload_chart(self) -> None:
        if self.panels:
            self.panel_metrics = self._pick_panel_metrics()
        for i in range(PANELS):
            self.query_one("#run-chart" if i == 0 else f"#run-chart-{i}", LineChart).display = i == 0 or self.panels
        self.query_one("#charts").set_class(self.panels, "-panels")
        charts = self.charts()
        for chart in charts:
            chart.clear()
            chart.x_mode = self.x_mode
            chart.smoothing = self.smooth_weight if self.smooth_on else 0.0
        for chart, metric in zip(charts, self._shown_metrics()):
            for key in pair(metric, self.table.series):
                xs, ys = self.table.points(key, self.x_mode)
                chart.set_data(key, xs, ys)
        self._show_markers()
        self.apply_window()
        self.show_chart_state()

    def _show_markers(self) -> None:
        """Checkpoints (events) and evaluations (eval rows) as marks on the x axis."""
        steps: list[tuple[float, str]] = [(float(e["step"]), "checkpoint") for e in self.events
                                          if e.get("event") == "checkpoint" and isinstance(e.get("step"), (int, float))]
        evals = next((p for k, p in self.table.series.items() if k.startswith("eval_")), None)
        if evals is not None:
            steps += [(s, "eval") for s in dict.fromkeys(evals.x("step"))]
        marks = tuple((x, kind) for x, kind in ((self.x_at_step(s), kind) for s, kind in steps) if x is not None)
        for chart in self.charts():
            if chart.markers != marks:
                chart.markers = marks

    def x_at_step(self, step: float) -> float | None:
        """The current axis' x of a step (the first train metric's point at that step)."""
        if self.x_mode == "step":
            return step
        pts = self.table.series.get("loss") or next(iter(self.table.series.values()), None)
        if pts is None or not len(pts):
            return None
        steps = pts.x("step")
        i = min(bisect_left(steps, step), len(steps) - 1)
        x = pts.x(self.x_mode)[i]
        return x if x == x else None  # NaN: not known on this axis

    def show_chart_state(self) -> None:
        if not self.is_mounted:
            return
        keys = pair(self.metric, self.table.series) if self.metric else []
        what = " + ".join(keys) or "no metrics yet"
        if getattr(self, "history_state", "none") == "skeleton":
            what += " (decimated: loading the full history…)"
        if self.panels:
            what += f" | {' | '.join(self.panel_metrics)}"
        self._set_text("#chart-state", self.chart_state_text(what))

    # -- actions ------------------------------------------------------------------------
    def _run(self):
        run = run_of(self.source)
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

    def action_next_panel(self) -> None:
        # the only key to plugin run panels, whose tabs are added as they match (the tab bar takes no focus)
        self.query_one("#run-bottom", TabbedContent).query_one(Tabs).action_next_tab()

"""The main screen: tabs for Runs, GPUs, Datasets, Configs and Plugins."""

from __future__ import annotations

import inspect
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import ContentSwitcher, DataTable, Footer, Static

from workbench.tui.widgets.bars import TabBar, TitleBar
from workbench.tui.widgets.runs_table import RunsTable

TABS = ("runs", "gpus", "datasets", "configs", "plugins")
TAB_TITLES = {"runs": "Runs", "gpus": "GPUs", "datasets": "Datasets", "configs": "Configs", "plugins": "Plugins"}


class RunsPane(Vertical):
    """The run table and a line about the run under the cursor."""

    BINDINGS = [
        Binding("c", "app.compare", "Compare"),
        Binding("x", "run_action('stop')", "Stop"),
        Binding("X", "run_action('stop_now')", "Stop now", show=False),
        Binding("r", "run_action('resume')", "Resume", show=False),
        Binding("d", "run_action('duplicate')", "Dup config", show=False),
        Binding("o", "run_action('logs')", "Logs", show=False),
        Binding("e", "app.open_evaluate", "Evaluate", show=False),
        Binding("E", "app.open_eval_results", "Eval results", show=False),
    ]

    def compose(self) -> ComposeResult:
        yield Static("", id="runs-empty")
        yield RunsTable(id="runs-table")
        yield Static("", id="run-info")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.app.open_run(str(event.row_key.value))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_info()

    def on_runs_table_marks_changed(self, event: RunsTable.MarksChanged) -> None:
        self.show_info()

    def show_info(self) -> None:
        table = self.query_one(RunsTable)
        rid = table.current_id
        s = table.summaries.get(rid or "")
        info = self.query_one("#run-info", Static)
        marked = f"{len(table.marked)} marked · " if table.marked else ""
        if not s:
            info.update(marked + "enter open · space mark · c compare · ? keys")
            return
        status = s.get("status")
        line = f"{marked}{s['id']}"
        if status in ("failed", "lost", "stopped"):
            from workbench.tui.failure import exit_text

            why = "  ".join(x for x in (exit_text(s), s.get("reason") or "") if x)
            line += f" · {status}: {why}" if why else f" · {status}"
        elif s.get("world_size") and s["world_size"] > 1:
            line += f" · {s['world_size']} processes"
        info.update(line)
        info.set_class(status in ("failed", "lost"), "-failed")

    def action_run_action(self, what: str) -> None:
        rid = self.query_one(RunsTable).current_id
        if rid is None:
            self.notify("no run selected", severity="warning")
            return
        self.app.do_run_action(what, rid)


class PluginsPane(Vertical):
    """The plugin registry: each plugin, its status, what it registers and its error."""

    def compose(self) -> ComposeResult:
        yield Static("Loading plugins…", id="plugins-note")
        yield DataTable(id="plugins-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="plugin-error")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns("plugin", "version", "status", "origin", "registers")
        self.records: list[Any] = []
        app: Any = self.app
        if app.registry is not None or app.registry_error:
            self.show(app.registry, app.registry_error)

    def show(self, registry: Any = None, error: str | None = None) -> None:
        """Fill the table from a built registry (or show why it could not be built)."""
        note = self.query_one("#plugins-note", Static)
        if error:
            note.update(f"plugin registry failed: {error}")
            return
        table = self.query_one(DataTable)
        table.clear()
        self.records = list(registry.plugins)
        for p in self.records:
            regs = "; ".join(f"{k}: {', '.join(v)}" for k, v in p.registers.items()) or "-"
            mark = {"ok": "✓ ok", "broken": "✗ BROKEN", "disabled": "· disabled"}.get(p.status, p.status)
            table.add_row(p.name, p.version or "-", mark, "built-in" if p.builtin else p.source, regs, key=p.name)
        broken = sum(p.status == "broken" for p in self.records)
        note.update(f"{len(self.records)} plugins · {broken} broken" + (" (select one to see its error)" if broken else ""))
        self._show_error(0)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_error(event.cursor_row)

    def _show_error(self, row: int) -> None:
        box = self.query_one("#plugin-error", Static)
        rec = self.records[row] if 0 <= row < len(self.records) else None
        box.update(f"{rec.name}: {rec.error}" if rec is not None and rec.error else "")
        box.set_class(bool(rec is not None and rec.error), "-failed")


class LazyPanel(Container):
    """A tab body that mounts its content the first time it is needed (start-up stays fast)."""

    def __init__(self, kind: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.kind = kind
        self.loaded = False

    def load(self) -> None:
        if self.loaded:
            return
        self.loaded = True
        self.mount(self._build())

    def _build(self) -> Widget:
        if self.kind == "gpus":
            from workbench.tui.widgets.gpu_panel import GpuPanel

            return GpuPanel(interval=self.app.gpu_poll)
        if self.kind == "plugins":
            return PluginsPane()
        from workbench.tui.panels import WorkspaceFiles, load_panel

        cls, error = load_panel(self.kind)
        ws = self.app.workspace
        if cls is None:
            return WorkspaceFiles(ws, self.kind, note=error)
        try:
            params = inspect.signature(cls).parameters
            return cls(workspace=ws) if "workspace" in params else cls()
        except Exception as exc:  # noqa: BLE001 - a broken panel must not take the app down
            return WorkspaceFiles(ws, self.kind, note=f"{cls.__name__}: {type(exc).__name__}: {exc}")


class MainScreen(Screen):
    """Header with the workspace, the five tabs, footer with keys."""

    BINDINGS = [
        Binding("1", "tab('runs')", "Runs", show=False),
        Binding("2", "tab('gpus')", "GPUs", show=False),
        Binding("3", "tab('datasets')", "Data", show=False),
        Binding("4", "tab('configs')", "Configs", show=False),
        Binding("5", "tab('plugins')", "Plugins", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

    def compose(self) -> ComposeResult:
        yield TitleBar(id="title-bar")
        yield TabBar(TAB_TITLES, "runs", id="tab-bar")
        with ContentSwitcher(id="tabs", initial="runs"):
            yield RunsPane(id="runs")
            for tab in TABS[1:]:
                yield LazyPanel(tab, id=tab)
        yield Footer()

    @property
    def active_tab(self) -> str:
        return self.query_one("#tabs", ContentSwitcher).current or "runs"

    def show_tab(self, tab: str) -> None:
        """Switch to a tab, mounting its content on first show."""
        if tab not in TABS:
            raise ValueError(f"no tab {tab!r}")
        if tab != "runs":
            self.load_panel(tab)
        self.query_one("#tabs", ContentSwitcher).current = tab
        self.query_one(TabBar).set_active(tab)
        if tab == "runs":
            self.query_one(RunsTable).focus()

    def on_tab_bar_clicked(self, event: TabBar.Clicked) -> None:
        self.show_tab(event.tab)

    def load_panel(self, tab: str) -> None:
        """Mount a tab's content now (on first show, or in the background after start-up)."""
        self.query_one(f"#{tab}", LazyPanel).load()

    def on_mount(self) -> None:
        self.query_one(RunsTable).focus()

    def action_tab(self, tab: str) -> None:
        self.show_tab(tab)

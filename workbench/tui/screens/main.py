"""The main screen: tabs for Runs, GPUs, Datasets, Configs and Plugins."""

from __future__ import annotations

import inspect
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import ContentSwitcher, DataTable, Input, Static

from workbench.tui.widgets.bars import TabBar, TitleBar
from workbench.tui.widgets.footer import KeyFooter
from workbench.tui.widgets.runs_table import RunsTable, run_label

TABS = ("runs", "gpus", "datasets", "configs", "plugins")
TAB_TITLES = {"runs": "Runs", "gpus": "GPUs", "datasets": "Datasets", "configs": "Configs", "plugins": "Plugins"}


class RunsPane(Vertical):
    """The run table, a filter line (`/`) and a line about the run under the cursor."""

    HELP_TITLE = "Runs"
    BINDINGS = [
        Binding("enter", "open", "Open", show=False, tooltip="open the run's detail"),
        Binding("c", "app.compare", "Compare", tooltip="compare the marked runs (or the marked one and the run under the cursor)"),
        Binding("slash", "filter", "Filter", priority=True,
                tooltip="filter/search: words, status:running, trainer:sft, tag:x, name:x, -word"),
        Binding("S", "sort", "Sort", tooltip="sort by: created, name, status, loss, best eval, progress, tok/s"),
        Binding("x", "run_action('stop')", "Stop", tooltip="stop gracefully: checkpoint, then exit (asks first)"),
        Binding("X", "run_action('stop_now')", "Stop now", show=False, tooltip="stop now: SIGTERM, then SIGKILL (asks first)"),
        Binding("r", "run_action('resume')", "Resume", show=False, tooltip="resume a stopped/failed run from its last checkpoint"),
        Binding("d", "run_action('duplicate')", "Dup config", show=False, tooltip="copy the run's config into configs/"),
        Binding("o", "run_action('logs')", "Logs", show=False, tooltip="the run's full console log"),
        Binding("a", "add_source", "Add source", show=False, priority=True,
                tooltip="add another tool's run folder (TensorBoard, trackio, LLaMA-Factory, HF Trainer): read-only rows"),
        Binding("e", "app.open_evaluate", "Evaluate", show=False, tooltip="evaluate the run's checkpoints"),
        Binding("E", "app.open_eval_results", "Eval results", show=False, tooltip="compare evaluation results"),
    ]

    def compose(self) -> ComposeResult:
        yield Static("", id="runs-empty")
        filt = Input(placeholder="filter: words, status:running, trainer:sft, tag:x (enter/esc: back to the table)",
                     id="runs-filter", compact=True)
        filt.display = False
        yield filt
        yield RunsTable(id="runs-table")
        yield Static("", id="run-info")

    def first_focus(self) -> Widget:
        return self.query_one(RunsTable)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.app.open_run(str(event.row_key.value))

    def action_open(self) -> None:
        rid = self.query_one(RunsTable).current_id
        if rid:
            self.app.open_run(rid)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.show_info()

    def on_runs_table_marks_changed(self, event: RunsTable.MarksChanged) -> None:
        self.show_info()

    def on_runs_table_shown(self, event: RunsTable.Shown) -> None:
        self.show_info()

    # -- filter and sort -------------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("filter", "add_source") and isinstance(self.screen.focused, Input):
            return False  # a "/" or "a" typed into an input
        return True

    async def action_add_source(self) -> None:
        await self.app.action_add_source()

    def action_filter(self) -> None:
        filt = self.query_one("#runs-filter", Input)
        filt.display = True
        self.screen.set_focus(filt)  # now: the keys typed right after `/` are the filter's

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "runs-filter":
            event.stop()
            self.query_one(RunsTable).set_filter(event.value)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "runs-filter":
            event.stop()
            self.leave_filter()

    def leave_filter(self) -> None:
        filt = self.query_one("#runs-filter", Input)
        filt.display = bool(filt.value.strip())
        self.query_one(RunsTable).focus()

    def action_sort(self) -> None:
        from workbench.tui.runfilter import SORTS

        table = self.query_one(RunsTable)
        table.set_sort(SORTS[(SORTS.index(table.sort_key) + 1) % len(SORTS)])
        self.show_info()

    def info_text(self) -> str:
        """'3/12 runs · sort loss · <run>: failed: why' (the run's part last: it may be cut)."""
        table = self.query_one(RunsTable)
        head = f"{len(table.shown_ids)}/{table.total} runs" if table.filter else f"{table.total} runs"
        if table.sort_key != "created":
            head += f" · sort {table.sort_key}"
        if table.marked:
            head += f" · {len(table.marked)} marked"
        rid = table.current_id
        s = table.summaries.get(rid or "")
        if not s:
            return head + " · enter open · space mark · / filter · ? keys"
        status = s.get("status")
        line = f"{head} · {run_label(s)}"
        if s.get("read_only"):  # another tool's run, added to the workspace
            why = f": {s['reason']}" if s.get("reason") and status not in ("running", "completed") else ""
            return f"{line}: read-only{why} · {s.get('path')}"
        if status in ("failed", "lost", "stopped"):
            from workbench.tui.failure import why_text

            why = why_text(s)
            line += f": {status}, {why}" if why else f": {status}"
        elif status == "queued" and s.get("queue_reason"):  # e.g. pending in Slurm
            line += f": queued, pending: {s['queue_reason']}"
        elif s.get("world_size") and s["world_size"] > 1:
            line += f": {s['world_size']} processes"
            if s.get("machines"):  # a multi-machine run: each machine's state
                line += " on " + ", ".join(f"machine {m.get('rank')} {m.get('status')}" for m in s["machines"])
        return line

    def show_info(self) -> None:
        table = self.query_one(RunsTable)
        info = self.query_one("#run-info", Static)
        from workbench.tui.textset import set_text

        set_text(info, self.info_text())
        s = table.summaries.get(table.current_id or "") or {}
        info.set_class(s.get("status") in ("failed", "lost"), "-failed")

    def action_run_action(self, what: str) -> None:
        rid = self.query_one(RunsTable).current_id
        if rid is None:
            self.notify("no run selected", severity="warning")
            return
        self.app.do_run_action(what, rid)


class PluginsPane(Vertical):
    """The plugin registry: each plugin, its status, what it registers and its error."""

    HELP_TITLE = "Plugins"
    HELP_EXTRA = [("↑ / ↓", "pick a plugin: a broken one's error shows below the table")]

    def first_focus(self) -> Widget:
        return self.query_one("#plugins-table", DataTable)

    def compose(self) -> ComposeResult:
        yield Static("Loading plugins… (↑ ↓ pick one: its error shows below)", id="plugins-note")
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
        if not self.query("#plugins-table"):
            return  # not composed yet: on_mount shows it
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
        conflicts = sum(p.status == "conflict" for p in self.records)
        note.update(f"{len(self.records)} plugins · {broken} broken" + (f" · {conflicts} in conflict" if conflicts else "")
                    + (" (select one to see its error)" if broken or conflicts else ""))
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

    class Loaded(Message):
        def __init__(self, tab: str):
            self.tab = tab
            super().__init__()

    def load(self) -> None:
        if self.loaded:
            return
        self.loaded = True
        self.mount(self._build())
        self.call_after_refresh(self.post_message, self.Loaded(self.kind))

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


def typing_into(widget: Widget | None) -> bool:
    """True when keys typed now are text for `widget` (an input, or inside an editor area)."""
    if widget is None:
        return False
    from textual.widgets import TextArea

    if isinstance(widget, (Input, TextArea)):
        return True
    return any(a.has_class("wb-editor") for a in widget.ancestors_with_self if isinstance(a, Widget))


def first_focus_of(panel: Widget) -> Widget | None:
    """A tab's defined first focus: its `first_focus()`, else its first focusable widget."""
    pick = getattr(panel, "first_focus", None)
    if callable(pick):
        try:
            target = pick()
        except Exception:  # noqa: BLE001 - not composed yet
            target = None
        if target is not None:
            return target
    for child in panel.query("*"):
        if isinstance(child, Widget) and child.focusable and not isinstance(child, Input):
            return child
    return None


def highlight_first(widget: Widget) -> None:
    """An option list arrives with its first usable option highlighted, so enter works at once."""
    from textual.widgets import OptionList

    if isinstance(widget, OptionList) and widget.highlighted is None:
        for i in range(widget.option_count):
            if not widget.get_option_at_index(i).disabled:
                widget.highlighted = i
                return


class MainScreen(Screen):
    """Header with the workspace, the five tabs, footer with keys.

    Focus model: each tab has a first focus (its list or table), set on arrival, so
    arrows and enter work at once; tab-switch digits never fire while text is typed
    (an input or the config editor has focus); escape leaves an input for its tab's
    first focus.
    """

    HELP_TITLE = "Main tabs"
    BINDINGS = [
        Binding("1", "tab('runs')", "Runs", show=False, tooltip="Runs tab"),
        Binding("2", "tab('gpus')", "GPUs", show=False, tooltip="GPUs tab"),
        Binding("3", "tab('datasets')", "Data", show=False, tooltip="Datasets tab"),
        Binding("4", "tab('configs')", "Configs", show=False, tooltip="Configs tab"),
        Binding("5", "tab('plugins')", "Plugins", show=False, tooltip="Plugins tab"),
        Binding("escape", "leave_input", "Leave input", show=False, tooltip="leave a text input (back to the tab's list)"),
    ]

    def compose(self) -> ComposeResult:
        yield TitleBar(id="title-bar")
        yield TabBar(TAB_TITLES, "runs", id="tab-bar")
        with ContentSwitcher(id="tabs", initial="runs"):
            yield RunsPane(id="runs")
            for tab in TABS[1:]:
                yield LazyPanel(tab, id=tab)
        yield KeyFooter()

    @property
    def active_tab(self) -> str:
        return self.query_one("#tabs", ContentSwitcher).current or "runs"

    def active_panel(self) -> Widget:
        """The widget that fills the active tab (the loaded panel, not its lazy holder)."""
        holder = self.query_one(f"#{self.active_tab}", Widget)
        if isinstance(holder, LazyPanel) and holder.children:
            return holder.children[0]
        return holder

    def show_tab(self, tab: str) -> None:
        """Switch to a tab (mounting its content on first show) and focus its first focus."""
        if tab not in TABS and not tab.startswith("plugin-tab-"):  # plugin tabs: workbench.tui.extensions
            raise ValueError(f"no tab {tab!r}")
        if tab != "runs":
            self.load_panel(tab)
        self.query_one("#tabs", ContentSwitcher).current = tab
        self.query_one(TabBar).set_active(tab)
        self.focus_tab()

    def focus_tab(self) -> None:
        """Focus the active tab's first focus (after its panel has mounted)."""
        tab = self.active_tab

        def apply() -> None:
            if self.active_tab != tab:
                return
            target = first_focus_of(self.active_panel())
            if target is not None:
                target.focus()
                highlight_first(target)
            else:
                self.set_focus(None)

        self.set_focus(None)  # nothing of the tab we left keeps the keys
        self.call_after_refresh(apply)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "tab" and typing_into(self.focused):
            return False
        if action == "leave_input" and not typing_into(self.focused):
            return False
        return True

    def action_leave_input(self) -> None:
        panel = self.active_panel()
        leave = getattr(panel, "leave_input", None)
        if callable(leave) and leave():
            return
        if self.active_tab == "runs":
            self.query_one(RunsPane).leave_filter()
            return
        target = first_focus_of(panel)
        if target is not None:
            target.focus()

    def on_tab_bar_clicked(self, event: TabBar.Clicked) -> None:
        self.show_tab(event.tab)

    def load_panel(self, tab: str) -> None:
        """Mount a tab's content now (on first show, or in the background after start-up)."""
        self.query_one(f"#{tab}", LazyPanel).load()

    def on_lazy_panel_loaded(self, event: LazyPanel.Loaded) -> None:
        if event.tab == self.active_tab:
            self.focus_tab()

    def on_mount(self) -> None:
        self.query_one(RunsTable).focus()

    def on_screen_resume(self) -> None:
        show = getattr(self.app, "show_pending_runs", None)
        if show is not None:
            show()
        if getattr(self.app, "runs_poll", None) is not None:
            self.app.runs_poll.kick()  # what changed while away, now

    def action_tab(self, tab: str) -> None:
        self.show_tab(tab)

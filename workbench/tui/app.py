"""The workbench TUI: `workbench` / `workbench tui` (also `workbench watch DIR`, `workbench serve`).

Start-up stays fast: this module imports only Textual and the light run-store code.
Screens other than the main one are imported when first opened; the run table, GPU
telemetry and the plugin registry are filled by worker threads after the first paint.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from textual.app import App, ScreenStackError
from textual.binding import Binding

import workbench_themes
from workbench.errors import WorkbenchError
from workbench.paths import runs_dir
from workbench.paths import workspace as default_workspace
from workbench.runs.store import ACTIVE, Run
from workbench.tui.added_poll import is_added_id
from workbench.tui.commands import WorkbenchCommands, tab_command
from workbench.tui.extensions import ExtensionsMixin  # settings, themes, plugin commands/tabs/panels
from workbench.tui.polling import ThreadPoll
from workbench.tui.runs_poll import RunsPoller, RunsSnapshot
from workbench.tui.screens.main import TABS, MainScreen, PluginsPane, RunsPane
from workbench.tui.widgets.runs_table import RunsTable

RUNS_POLL_ENV = "WORKBENCH_RUNS_POLL"
PRELOAD_DELAY_S = 1.0


class WorkbenchApp(ExtensionsMixin, App):
    """Runs, GPUs, datasets, configs and plugins of one workspace."""

    TITLE = "Workbench"
    CSS_PATH = workbench_themes.css_path()
    COMMANDS = App.COMMANDS | {WorkbenchCommands}
    HELP_TITLE = "Everywhere"
    BINDINGS = [
        Binding("question_mark", "help", "Keys", tooltip="the keys of this screen"),
        Binding("q", "quit", "Quit", tooltip="quit (runs keep going)"),
        Binding("ctrl+p", "command_palette", "Palette", show=False,
                tooltip="command palette: open a run, switch tab, stop a run, theme, plugin commands"),
    ]

    def __init__(self, workspace: Path | None = None, select_run: str | None = None, watch: Path | None = None,
                 gpu_poll: float | None = None, runs_poll: float | None = None):
        super().__init__()
        self.workspace = Path(workspace or default_workspace()).resolve()
        self.sub_title = str(self.workspace)
        self.select_run = select_run
        self.watch_path = Path(watch) if watch else None
        self.gpu_poll = gpu_poll
        self.active_runs: list[dict[str, Any]] = []
        self.runs: list[dict[str, Any]] = []
        self._runs_shown = False
        self._runs_pending: bool | None = None
        self.registry: Any = None
        self.registry_error: str | None = None
        self.plugin_commands: list[tuple[str, str, Any]] = []
        self.runs_poller = RunsPoller(self.workspace)
        self.runs_poll: ThreadPoll[RunsSnapshot] | None = None
        self.added_runs: list[dict[str, Any]] = []
        """Rows of other tools' runs added to the workspace (workbench.tui.added_poll), in the order added."""
        self.added_poller: Any = None
        self._added_error: str | None = None
        self.setup_extensions()  # settings, themes (workbench.tui.extensions)
        self.runs_poll_s = float(runs_poll or os.environ.get(RUNS_POLL_ENV) or self.refresh_seconds("runs"))
        self.gpu_poll = gpu_poll or self.refresh_seconds("gpu")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "quit":
            from workbench.tui.screens.main import typing_into

            return not typing_into(self.focused)
        return True

    def get_default_screen(self) -> MainScreen:
        return MainScreen()

    def on_mount(self) -> None:
        self.runs_poll = ThreadPoll(self, self._poll_runs, self._runs_updated, self.runs_poll_s, "runs",
                                    on_error=self._poll_failed, gate=self._runs_gate).start()
        if self.watch_path is not None:
            self.open_source(self.watch_path)
        elif self.select_run:
            self.open_run(self.select_run)

    def on_ready(self) -> None:
        """After the first frame: the plugin registry, then GPU telemetry, off the start-up path."""
        self._start_registry()
        self.set_timer(PRELOAD_DELAY_S, self._preload)

    @property
    def main_screen(self) -> MainScreen | None:
        """The tabs screen (None while starting or after exit)."""
        stack = self.screen_stack
        return stack[0] if stack and isinstance(stack[0], MainScreen) and stack[0].is_mounted else None

    def _preload(self) -> None:
        main = self.main_screen
        if main is not None:
            main.load_panel("gpus")  # its history starts now, not when the tab is first opened
            main.load_panel("plugins")

    # -- live data ------------------------------------------------------------------------
    def _poll_runs(self) -> tuple[RunsSnapshot, tuple[list[dict[str, Any]], bool] | None]:
        """The workspace's runs and the added sources, in one worker round (worker thread)."""
        snap = self.runs_poller.poll()
        added = self.added_poller  # set once the plugin registry is built
        return snap, (added.poll() if added is not None else None)

    def _runs_updated(self, result: tuple[RunsSnapshot, tuple[list[dict[str, Any]], bool] | None]) -> None:
        snap, added = result
        self.active_runs = snap.active
        changed = snap.changed or not self._runs_shown
        self.runs = snap.summaries
        if added is not None:
            error = self.added_poller.error
            if error and error != self._added_error:
                self.notify(f"cannot read the added sources: {error}", severity="error", timeout=5)
            self._added_error = error
            if added[1]:
                self.added_runs, changed = added[0], True
        if self.main_screen is not None and changed:
            self._show_rows()  # else nothing changed: not one cell to repaint

    def _show_rows(self) -> None:
        """Put the workspace's runs and the added sources in the table (later, when it is hidden)."""
        main = self.main_screen
        if main is None:
            return
        if self.screen is not main and self._runs_shown:
            self._runs_pending = True  # painted when the tabs come back (a hidden table must not repaint)
            return
        self._runs_shown = True
        self._runs_pending = None
        rows = self.runs + self.added_runs
        table = main.query_one(RunsTable)
        table.update_runs(rows)
        empty = main.query_one("#runs-empty")
        if empty.display != (not rows):
            empty.display = not rows
        if not rows:
            empty.update(f"No runs in {runs_dir(self.workspace)} yet.\n"
                         "Start one: workbench run CONFIG   (or: workbench demo); `a` adds another tool's run folder")
        main.query_one(RunsPane).show_info()

    def _runs_gate(self, tick: int) -> bool:
        """Poll every tick while the run list is on screen, every 4th under another screen."""
        try:
            return self.screen is self.main_screen or tick % 4 == 0
        except ScreenStackError:  # the app is shutting down: a last timer tick finds no screens
            return False

    def show_pending_runs(self) -> None:
        """The tabs screen is back on top: show what the run list polled meanwhile."""
        pending, self._runs_pending = self._runs_pending, None
        if pending:
            self._show_rows()

    def _poll_failed(self, exc: BaseException) -> None:
        self.notify(f"cannot list runs: {type(exc).__name__}: {exc}", severity="error", timeout=3)

    def refresh_runs(self) -> None:
        if self.runs_poll:
            self.runs_poll.kick()

    def _start_added_poll(self, registry: Any) -> None:
        """Poll the added sources with the runs (once the registry is built: it says which source reads a folder)."""
        from workbench.tui.added_poll import AddedRunsPoller

        if self.added_poller is None:
            self.added_poller = AddedRunsPoller(self.workspace, registry)
            self.refresh_runs()

    def _start_registry(self) -> None:
        self.run_worker(self._build_registry, thread=True, group="registry", exit_on_error=False)

    def _build_registry(self) -> None:
        from workbench.plugin_manager import get_registry

        error, commands = None, []
        try:
            registry = get_registry(self.workspace)
        except Exception as exc:  # noqa: BLE001 - the app works without plugins
            registry, error = None, f"{type(exc).__name__}: {exc}"
        try:
            self.call_from_thread(self._registry_ready, registry, commands, error)
        except Exception:  # noqa: BLE001 - app closing
            pass

    def _registry_ready(self, registry: Any, commands: list, error: str | None) -> None:
        self.registry, self.registry_error = registry, error
        self.plugin_commands = commands
        main = self.main_screen
        if main is not None:
            for pane in main.query(PluginsPane):
                pane.show(registry, error)
        self.extensions_ready(registry)  # plugin themes, tabs, keys (workbench.tui.extensions)
        self._start_added_poll(registry)

    # -- navigation ---------------------------------------------------------------------------
    def show_tab(self, tab: str) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()
        if self.main_screen is not None:
            self.main_screen.show_tab(tab)

    def open_run(self, run_id: str) -> None:
        """Push the detail screen of a run of this workspace (or of an added source's row)."""
        if is_added_id(run_id):
            source = self._added_source(run_id)
            if source is not None:
                from workbench.tui.screens.detail import RunDetailScreen

                self.push_screen(RunDetailScreen(source))
            return
        path = runs_dir(self.workspace) / run_id
        if not (path / "status.json").exists():
            self.notify(f"no run {run_id} in {runs_dir(self.workspace)}", severity="error")
            return
        from workbench.tui.screens.detail import RunDetailScreen
        from workbench.sources.rundir import RunDirSource

        self.push_screen(RunDetailScreen(RunDirSource(Run(path))))

    def on_configs_panel_run_launched(self, message: Any) -> None:
        """A launch from the Configs tab lands on the new run: Runs tab, its detail screen."""
        main = self.main_screen
        if main is not None:
            main.show_tab("runs")
        self.refresh_runs()
        self.open_run(message.run_id)

    def open_source(self, path: Path) -> None:
        """Push the detail screen for any run dir or Trainer output dir (`workbench watch`)."""
        from workbench.tui.screens.detail import RunDetailScreen
        from workbench.sources import source_for

        try:
            source = source_for(path)
        except WorkbenchError as exc:
            self.notify(exc.one_line(), severity="error")
            return
        self.push_screen(RunDetailScreen(source))

    def open_log(self, path: Path, title: str) -> None:
        from workbench.tui.screens.logs import LogScreen

        self.push_screen(LogScreen(path, title))

    def action_help(self) -> None:
        from workbench.tui.keys import help_sections
        from workbench.tui.screens.dialogs import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(help_sections(self)))

    def action_compare(self) -> None:
        """Compare the marked runs (with one marked: it and the run under the cursor)."""
        main = self.main_screen
        if main is None:
            return
        table = main.query_one(RunsTable)
        ids = [s["id"] for s in reversed(self.runs + self.added_runs) if s["id"] in table.marked]
        current = table.current_id
        if len(ids) == 1 and current and current not in ids:
            ids.append(current)
        if len(ids) < 2:
            self.notify("mark two or more runs with space, then press c", severity="warning")
            return
        self.compare(ids)

    def compare(self, run_ids: list[str]) -> None:
        """Compare runs of the workspace and added sources (any RunSource) on one chart."""
        from workbench.sources.rundir import RunDirSource
        from workbench.tui.screens.compare import CompareScreen

        root = runs_dir(self.workspace)
        sources = []
        for rid in run_ids:
            source = self._added_source(rid) if is_added_id(rid) else RunDirSource(Run(root / rid))
            if source is None:
                return
            sources.append(source)
        self.push_screen(CompareScreen(sources))

    # -- other tools' runs added to the workspace ([sources] paths; workbench.sources.added) --
    def added_summary(self, run_id: str) -> dict[str, Any] | None:
        return next((s for s in self.added_runs if s["id"] == run_id), None)

    def _added_source(self, run_id: str) -> Any:
        """A fresh read-only source for an added row (its detail and compare read from the start); None: notified why."""
        from workbench.sources.added import open_added

        s = self.added_summary(run_id)
        if s is None:
            self.notify(f"no added source {run_id}", severity="error")
            return None
        try:
            kind, source = open_added(Path(s["path"]), self.registry)
        except WorkbenchError as exc:
            self.notify(exc.one_line(), severity="error")
            return None
        except Exception as exc:  # noqa: BLE001 - a plugin's source must not take the app down
            self.notify(f"cannot open {s['path']}: {type(exc).__name__}: {exc}", severity="error")
            return None
        source.kind = kind
        return source

    def read_only_notice(self, run_id: str, what: str) -> None:
        """Say why `what` (stop, resume, ...) does not apply to an added source's row."""
        s = self.added_summary(run_id) or {}
        self.notify(f"{s.get('name', run_id)} is a read-only {s.get('source', 'other tool')} run: {what} applies "
                    "to workbench runs only", severity="warning")

    async def action_add_source(self) -> None:
        """Ask for a folder of another tool's run and add it to the workspace's settings."""
        from workbench.tui.screens.prompt import TextPrompt, push_and_focus

        def answered(text: str | None) -> None:
            if text and text.strip():
                self.run_worker(lambda: self._add_source(text.strip()), thread=True, group="sources",
                                exit_on_error=False)

        await push_and_focus(self, TextPrompt("Add another tool's run folder (TensorBoard logs, trackio project, "
                                              "LLaMA-Factory or HF Trainer output); relative to the workspace:"),
                             answered)

    def _add_source(self, text: str) -> None:
        from workbench.sources.added import add_path

        path = Path(text).expanduser()
        path = path if path.is_absolute() else self.workspace / path
        try:
            added = add_path(self.workspace, path, self.registry)
            message, severity = f"added {added.written} ({added.kind}): it is listed in the Runs tab", "information"
        except WorkbenchError as exc:
            message, severity = exc.one_line(), "error"
        self.call_from_thread(self.notify, message, severity=severity)
        self.call_from_thread(self.refresh_runs)

    def remove_source(self, written: str) -> None:
        from workbench.sources.added import remove_path

        try:
            gone = remove_path(self.workspace, written)
            self.notify(f"removed {gone.written} from the Runs tab (its files are untouched)")
        except WorkbenchError as exc:
            self.notify(exc.one_line(), severity="error")
        self.refresh_runs()

    # -- evaluation (screens in tui/screens/evaluate.py, eval_results.py, samples.py, chat.py) --
    def open_evaluate(self, run_id: str | None = None) -> None:
        """The Evaluate form, on `run_id` (default: the run under the cursor)."""
        from workbench.tui.screens.evaluate import EvaluateScreen

        run_id = run_id or self._current_run_id()
        if is_added_id(run_id):
            self.read_only_notice(run_id, "evaluation")
            return
        self.push_screen(EvaluateScreen(self.workspace, run_id))

    def open_eval_results(self, run_id: str | None = None) -> None:
        """Results of a run and of the evaluation runs made of it (default: the run under the cursor)."""
        from workbench.tui.screens.eval_results import EvalResultsScreen
        from workbench.tui.screens.evaluate import results_dirs

        run_id = run_id or self._current_run_id()
        if run_id is None:
            self.notify("no run selected", severity="warning")
            return
        if is_added_id(run_id):
            self.read_only_notice(run_id, "evaluation")
            return
        self.push_screen(EvalResultsScreen(results_dirs(Run(runs_dir(self.workspace) / run_id), self.workspace)))

    def action_open_evaluate(self) -> None:
        self.open_evaluate()

    def action_open_eval_results(self) -> None:
        self.open_eval_results()

    def _current_run_id(self) -> str | None:
        main = self.main_screen
        return main.query_one(RunsTable).current_id if main is not None else None

    # -- run actions ------------------------------------------------------------------------
    def do_run_action(self, what: str, run_id: str) -> None:
        if is_added_id(run_id):
            if what == "logs":
                self.notify("another tool's run: the workbench has no console log of it", severity="warning")
            else:
                self.read_only_notice(run_id, {"stop_now": "stop", "duplicate": "duplicate config"}.get(what, what))
            return
        run = Run(runs_dir(self.workspace) / run_id)
        if what == "stop":
            self.stop_run(run, now=False)
        elif what == "stop_now":
            self.stop_run(run, now=True)
        elif what == "resume":
            self.resume_run(run)
        elif what == "duplicate":
            self.duplicate_config(run)
        elif what == "logs":
            self.open_log(run.path("console.log"), run.id)

    def stop_run(self, run: Run, now: bool = False) -> None:
        """Ask, then request a graceful stop (checkpoint, exit) or terminate at once."""
        from workbench.tui.screens.dialogs import ConfirmScreen

        state = run.status().get("status")
        if state not in ACTIVE:
            self.notify(f"{run.id} is {state}, not running", severity="warning")
            return
        if now:
            question = f"Terminate {run.id} now?"
            detail = "The job gets SIGTERM, then SIGKILL; work since the last checkpoint is lost."
        else:
            question = f"Stop {run.id}?"
            detail = "It saves a checkpoint and exits; `r` resumes it later."

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_worker(lambda: self._stop(run, now), thread=True, group="control", exit_on_error=False)

        self.push_screen(ConfirmScreen(question, detail, yes="Stop now" if now else "Stop"), answered)

    def _stop(self, run: Run, now: bool) -> None:
        from workbench.runs.control import request_stop

        try:
            message, severity = request_stop(run, now=now), "information"
        except WorkbenchError as exc:
            message, severity = exc.one_line(), "error"
        self.call_from_thread(self.notify, message, severity=severity)
        self.call_from_thread(self.refresh_runs)

    def resume_run(self, run: Run) -> None:
        def work() -> None:
            from workbench.runs.control import resume

            try:
                message, severity = resume(run), "information"
            except WorkbenchError as exc:
                message, severity = exc.one_line(), "error"
            self.call_from_thread(self.notify, message, severity=severity)
            self.call_from_thread(self.refresh_runs)

        self.notify(f"resuming {run.id}…")
        self.run_worker(work, thread=True, group="control", exit_on_error=False)

    def duplicate_config(self, run: Run) -> None:
        from workbench.tui.actions import duplicate_config

        try:
            path = duplicate_config(run, self.workspace)
        except (WorkbenchError, OSError) as exc:
            self.notify(f"cannot duplicate config: {exc}", severity="error")
            return
        self.notify(f"config copied to {path.relative_to(self.workspace)}")

    # -- command palette ------------------------------------------------------------------
    def palette_commands(self) -> list[tuple[str, str, Any]]:
        """What WorkbenchCommands offers: tabs, runs, compare, help, plugin commands."""
        from functools import partial

        cmds: list[tuple[str, str, Any]] = [
            (f"Tab: {tab.capitalize()}", f"show the {tab} tab ({i + 1})", tab_command(self, tab))
            for i, tab in enumerate(TABS)
        ]
        cmds.append(("Help: keys", "every key of the app (?)", self.action_help))
        cmds.append(("Compare marked runs", "overlay the curves of the runs marked with space", self.action_compare))
        cmds.append(("Refresh runs", "re-read the runs folder now", self.refresh_runs))
        for s in self.runs[:100]:
            cmds.append((f"Open run {s['id']}", f"{s.get('status')} · {s.get('trainer')}", partial(self.open_run, s["id"])))
            if s.get("status") in ACTIVE:
                run = Run(Path(s["dir"]))
                cmds.append((f"Stop run {s['id']}", "graceful stop: checkpoint, then exit",
                             partial(self.stop_run, run, False)))
        cmds.append(("Add another tool's run folder", "TensorBoard, trackio, LLaMA-Factory, HF Trainer: listed "
                     "in the Runs tab, read-only (a)", self.action_add_source))
        for s in self.added_runs:
            cmds.append((f"Open {s['name']} ({s['source']})", s["path"], partial(self.open_run, s["id"])))
            cmds.append((f"Remove source {s['written']}", "from the Runs tab (its files are untouched)",
                         partial(self.remove_source, s["written"])))
        from workbench.tui.screens.evaluate import palette_entries

        cmds += palette_entries(self)
        cmds += self.extension_palette_commands()  # plugin commands and tabs, themes
        return cmds


def require_terminal() -> None:
    """Refuse to draw into a pipe or file: without a terminal the TUI draws escape codes nobody sees and
    spins until killed. A driver named in TEXTUAL_DRIVER (textual-serve's web driver) talks over pipes."""
    if os.environ.get("TEXTUAL_DRIVER") or (sys.stdin.isatty() and sys.stdout.isatty()):
        return
    which = "standard output" if not sys.stdout.isatty() else "standard input"
    raise WorkbenchError(f"the TUI needs a terminal, and {which} is not one",
                         hint="`workbench ls`, `workbench show RUN`, `workbench logs -f RUN` print the same; "
                              "`workbench serve` opens the TUI in a browser")


def run_app(select_run: str | None = None, workspace: Path | None = None, watch: Path | None = None,
            gpu_poll: float | None = None) -> None:
    """Run the TUI in this terminal until the user quits (jobs keep running)."""
    require_terminal()
    WorkbenchApp(workspace=workspace, select_run=select_run, watch=watch, gpu_poll=gpu_poll).run()

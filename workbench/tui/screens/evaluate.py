"""Evaluate: pick a run, its checkpoints, evaluators and data, and launch an evaluation run.

The launch is `workbench eval RUN --checkpoints ... -e ... --data ...`: the same resolution
and checks, then a run directory and its supervisor; the results view follows it live.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Label, Select, SelectionList, Static

from workbench.paths import runs_dir
from workbench.runs.store import Run
from workbench.tui.widgets.bars import TitleBar
from workbench.tui.widgets.footer import KeyFooter

BASE = "base"  # the model a run started from (workbench_plugins.evaluate.targets.BASE)


def checkpoint_choices(run: Run) -> list[str]:
    """base, every saved checkpoint-N (oldest first), final when it exists."""
    names = [BASE] + [p.name for p in run.checkpoints()]
    if (run.dir / "checkpoints" / "final").is_dir():
        names.append("final")
    return names


def trained_runs(workspace: Path) -> list[Run]:
    """Runs of the workspace that trained something (newest first): what there is to evaluate."""
    from workbench.runs.store import list_runs

    return [r for r in reversed(list_runs(workspace)) if r.raw_status.get("trainer") != "evaluate"]


class EvaluateScreen(Screen):
    """The evaluation form: run, checkpoints, evaluators, data; enter on Launch starts it."""

    HELP_TITLE = "Evaluate"
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", tooltip="back"),
        Binding("ctrl+s", "launch", "Launch", tooltip="launch the evaluation run"),
    ]
    DEFAULT_CSS = """
    EvaluateScreen #evaluate-form { padding: 0 1; height: 1fr; }
    EvaluateScreen #evaluate-lists { height: 1fr; }
    EvaluateScreen #evaluate-lists SelectionList { width: 1fr; height: 1fr; }
    EvaluateScreen #evaluate-error { color: $error; height: auto; }
    EvaluateScreen #evaluate-buttons { height: auto; }
    """

    def __init__(self, workspace: Path, run_id: str | None = None):
        super().__init__()
        self.workspace = Path(workspace)
        self.run_id = run_id
        self.runs: list[Run] = []
        self.launched: Run | None = None

    def compose(self) -> ComposeResult:
        yield TitleBar()
        with Vertical(id="evaluate-form"):
            yield Label("run")
            yield Select([], id="evaluate-run", prompt="pick a run", allow_blank=True)
            with Horizontal(id="evaluate-lists"):
                yield SelectionList(id="evaluate-checkpoints")
                yield SelectionList(id="evaluate-evaluators")
            yield Label("data (empty: the run's own evaluation rows)")
            yield Input(placeholder="path/to/eval.jsonl", id="evaluate-data")
            yield Static("", id="evaluate-error")
            with Horizontal(id="evaluate-buttons"):
                yield Button("Launch (ctrl+s)", id="evaluate-launch", variant="primary")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.sub_title = "evaluate"
        self.query_one("#evaluate-checkpoints").border_title = "checkpoints"
        self.query_one("#evaluate-evaluators").border_title = "evaluators"
        self.run_worker(self._load, thread=True, group="evaluate-load", exit_on_error=False)

    def _load(self) -> None:
        from workbench.plugin_manager import get_registry

        runs = trained_runs(self.workspace)
        registry = getattr(self.app, "registry", None) or get_registry(self.workspace)
        evaluators = {name: spec.description for name, spec in sorted(registry.evaluators.items())}
        self.app.call_from_thread(self._loaded, runs, evaluators)

    def _loaded(self, runs: list[Run], evaluators: dict[str, str]) -> None:
        self.runs = runs
        select = self.query_one("#evaluate-run", Select)
        select.set_options([(f"{r.id} ({r.raw_status.get('status')})", r.id) for r in runs])
        if runs:
            select.value = self.run_id if any(r.id == self.run_id for r in runs) else runs[0].id
        self.query_one("#evaluate-evaluators", SelectionList).add_options(
            [(name, name) for name in evaluators])
        self._select_defaults()

    @property
    def run(self) -> Run | None:
        value = self.query_one("#evaluate-run", Select).value
        return next((r for r in self.runs if r.id == value), None)

    def on_select_changed(self, event: Select.Changed) -> None:
        self._select_defaults()

    def _select_defaults(self) -> None:
        """The run's checkpoints (all chosen) and its own [eval].evaluators (else perplexity)."""
        run = self.run
        checkpoints = self.query_one("#evaluate-checkpoints", SelectionList)
        checkpoints.clear_options()
        evaluators = self.query_one("#evaluate-evaluators", SelectionList)
        if run is None:
            return
        checkpoints.add_options([(name, name, True) for name in checkpoint_choices(run)])
        try:
            own = list((run.config().get("eval") or {}).get("evaluators") or [])
        except (OSError, ValueError):
            own = []
        evaluators.deselect_all()
        for name in own or ["perplexity"]:
            try:
                evaluators.select(name)
            except Exception:  # noqa: BLE001 - an evaluator no longer registered
                pass

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "evaluate-launch":
            self.action_launch()

    def action_launch(self) -> None:
        run = self.run
        error = self.query_one("#evaluate-error", Static)
        checkpoints = list(self.query_one("#evaluate-checkpoints", SelectionList).selected)
        evaluators = list(self.query_one("#evaluate-evaluators", SelectionList).selected)
        if run is None or not checkpoints or not evaluators:
            error.update("pick a run, at least one checkpoint and one evaluator")
            return
        data = self.query_one("#evaluate-data", Input).value.strip() or None
        error.update("launching…")
        self.run_worker(lambda: self._launch(run, checkpoints, evaluators, data), thread=True,
                        group="evaluate-launch", exclusive=True, exit_on_error=False)

    def _launch(self, run: Run, checkpoints: list[str], evaluators: list[str], data: str | None) -> None:
        from workbench.cli.commands.eval import resolve
        from workbench.errors import WorkbenchError
        from workbench.runs.store import create_run
        from workbench.supervisor import spawn

        try:
            config, name = resolve(str(run.dir), data, evaluators, checkpoints=",".join(checkpoints))
            new = create_run(config, self.workspace, name=name)
            spawn(new)
        except WorkbenchError as exc:
            self.app.call_from_thread(self._failed, exc.one_line())
            return
        except OSError as exc:
            self.app.call_from_thread(self._failed, f"cannot launch: {exc}")
            return
        self.app.call_from_thread(self._started, new)

    def _failed(self, message: str) -> None:
        self.query_one("#evaluate-error", Static).update(message)

    def _started(self, new: Run) -> None:
        from workbench.tui.screens.eval_results import EvalResultsScreen

        self.launched = new
        self.notify(f"evaluation {new.id} started")
        refresh = getattr(self.app, "refresh_runs", None)
        if callable(refresh):
            refresh()
        self.app.switch_screen(EvalResultsScreen([new.dir]))


def results_dirs(run: Run, workspace: Path) -> list[Path]:
    """A run and the evaluation runs made of it, those with results (eval.json)."""
    from workbench.evaluation.compare import evaluations_of
    from workbench.evaluation.files import EVAL_JSON

    root = runs_dir(workspace)
    others = [p for p in root.iterdir() if p.is_dir() and p != run.dir] if root.is_dir() else []
    found = [run.dir] + evaluations_of(run.dir, others)
    return [d for d in found if (d / EVAL_JSON).exists()] or [run.dir]


def palette_entries(app: Any) -> list[tuple[str, str, Any]]:
    """Command-palette entries of the evaluation screens."""
    from functools import partial

    entries: list[tuple[str, str, Any]] = [("Evaluate a run…", "score checkpoints with evaluators (e)",
                                            partial(app.open_evaluate, None))]
    for s in getattr(app, "runs", [])[:100]:
        if (Path(s["dir"]) / "eval.json").exists():
            entries.append((f"Evaluation results of {s['id']}", "checkpoints by metric, samples, chat",
                            partial(app.open_eval_results, s["id"])))
    return entries

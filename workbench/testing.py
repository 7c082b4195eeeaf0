"""Helpers for testing Workbench plugins with pytest.

    from workbench.testing import registry_with, check_data_format, run_job, tiny_model_path

    def test_registers():
        reg = registry_with(my_plugin)
        assert "my_trainer" in reg.trainers

Everything here works without a GPU or a network: `tiny_model_path()` is the bundled
tiny Llama (trains on CPU in seconds) and `sample_data()` the bundled datasets.
Module-level imports are stdlib only; torch and friends load only inside `run_job`'s job
and `make_context`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from workbench.errors import DataError, PluginError

__all__ = [
    "RunResult", "check_data_format", "check_plugin", "fake_run", "make_context", "open_run_panel", "open_tab",
    "registry_with", "run_job", "run_palette_command", "run_tui", "sample_data", "show_run_panel", "tiny_model_path",
    "tui", "wait_until", "CANONICAL_FIELDS",
]

# The fields every row of a canonical data kind must have after conversion.
CANONICAL_FIELDS: dict[str, tuple[str, ...]] = {
    "language_modeling": ("text",),
    "conversational": ("messages",),
    "prompt_completion": ("prompt", "completion"),
    "prompt_only": ("prompt",),
    "preference": ("chosen", "rejected"),
    "unpaired_preference": ("prompt", "completion", "label"),
}



# -- bundled assets ---------------------------------------------------------------------------

def tiny_model_path() -> Path:
    """The bundled tiny Llama model (hidden 64, 2 layers, chat template): trains on CPU in seconds."""
    from workbench.paths import sample_data_dir

    return sample_data_dir() / "models" / "tiny-llama"


def sample_data(name: str) -> Path:
    """A bundled sample dataset by file name, with or without suffix: sample_data("sft-messages")."""
    from workbench.paths import sample_data_dir

    folder = sample_data_dir() / "data"
    exact = folder / name
    if exact.is_file():
        return exact
    matches = sorted(p for p in folder.iterdir() if p.is_file() and p.stem == name)
    if matches:
        # Several suffixes of one stem (sft-messages.jsonl / .parquet): JSONL is the plainest.
        return next((p for p in matches if p.suffix == ".jsonl"), matches[0])
    known = sorted(p.name for p in folder.iterdir() if p.is_file())
    raise FileNotFoundError(f"no sample dataset '{name}' in {folder}; known: {', '.join(known)}")


# -- registries built from given plugins ------------------------------------------------------

def _plugin_name(plugin: Any) -> str:
    """A module's dotted name, else the object's class name."""
    return getattr(plugin, "__name__", None) or type(plugin).__name__


def registry_with(*plugins: Any, builtins: bool = True, strict: bool = True):
    """A `workbench.plugin_manager.Registry` built from `plugins` (modules or objects with hookimpls).

    No entry points are needed: this is how a plugin's own tests see it registered.
    builtins: also load the built-in plugins (formats, trainers, ...), as the app would; a
        name clash with one of them then shows up as a conflict.
    strict: raise PluginError when a given plugin is broken or in conflict, with its error.
    """
    from workbench.plugin_manager import Candidate, build_registry, discover

    candidates = [c for c in discover(None) if c.builtin] if builtins else []
    candidates += [Candidate(_plugin_name(p), "registry_with", "", False, lambda p=p: p) for p in plugins]
    reg = build_registry(candidates=candidates)
    # A given plugin that is a built-in module was registered under its built-in name: check that one.
    given = {reg.manager.get_name(p) for p in plugins if reg.manager.is_registered(p)}
    given |= {_plugin_name(p) for p in plugins if not reg.manager.is_registered(p)}
    if strict:
        for record in reg.plugins:
            if record.name in given and record.status != "ok":
                raise PluginError(f"{record.status}: " + "; ".join(record.errors or [record.error]))
    return reg


def check_plugin(*plugins: Any, builtins: bool = True, full: bool = True):
    """Everything `workbench plugins --check` does, for the given plugins (modules or objects).

    Registers them (next to the built-ins), checks every spec's fields, resolves every import
    path and file they name (imports them when `full`), and raises PluginError listing every
    problem of these plugins, one per line. Returns the `CheckReport` when all is well; its
    `registry.plugin(name).import_seconds` and `.warnings` (e.g. deprecated hooks) are there too.
    """
    from workbench.plugin_manager import check_registry

    reg = registry_with(*plugins, builtins=builtins, strict=False)
    names = {reg.manager.get_name(p) for p in plugins if reg.manager.is_registered(p)}
    names |= {_plugin_name(p) for p in plugins if not reg.manager.is_registered(p)}
    report = check_registry(reg, full=full, only=names)
    problems = [e for r in reg.plugins if r.name in names for e in r.errors]
    if problems:
        raise PluginError("\n".join(problems))
    return report


# -- data formats -----------------------------------------------------------------------------

@dataclass
class FormatCheck:
    """What check_data_format saw: detection scores and each good row's canonical form."""

    confidence: float
    scores: dict[str, float]
    converted: list[dict]


def _fail(message: str) -> None:
    raise AssertionError(message)


def check_data_format(fmt: Any, good_rows: Sequence[Any], bad_rows: Sequence[Any] = (), *,
                      registry: Any = None, must_win: bool = True) -> FormatCheck:
    """Assert that a DataFormat detects, converts and rejects rows the way the host relies on.

    fmt: the DataFormat, or its name in `registry`.
    good_rows: raw rows (dicts), or (raw, expected canonical row) pairs.
    bad_rows: (raw, field) pairs: converting raw must raise workbench.errors.DataError whose
        `where` is `field` and whose message is one line; or (raw, field, text) to also require
        `text` in the message.
    registry: formats to compete with in detection (default: the built-ins plus `fmt`);
    must_win: the good rows must be detected as `fmt`, not as another registered format.
    Raises AssertionError naming the row and what was wrong; returns a FormatCheck.
    """
    from workbench.data.loading import MIN_CONFIDENCE, convert_rows, detect
    from workbench.data.readers import Row
    from workbench.specs import DATA_KINDS, DataFormat

    if isinstance(fmt, str):
        if registry is None:
            _fail(f"check_data_format('{fmt}'): pass the registry that holds it, or the DataFormat itself")
        fmt = registry.data_format(fmt)
    if not isinstance(fmt, DataFormat):
        _fail(f"expected a workbench.specs.DataFormat, got {type(fmt).__name__}")
    if fmt.kind not in DATA_KINDS:
        _fail(f"format '{fmt.name}': kind '{fmt.kind}' is not one of {', '.join(DATA_KINDS)}")
    if not good_rows:
        _fail("check_data_format needs at least one good row")

    pairs = [(r[0], r[1]) if isinstance(r, tuple) else (r, None) for r in good_rows]
    raw_good = [dict(raw) for raw, _ in pairs]

    own = fmt.detect(raw_good)
    confidence = float(own.confidence)
    if not 0.0 <= confidence <= 1.0:
        _fail(f"format '{fmt.name}': detect() returned confidence {confidence}, outside 0..1")
    if confidence < MIN_CONFIDENCE:
        _fail(f"format '{fmt.name}' is not confident about its own good rows: {confidence:.2f} < "
              f"{MIN_CONFIDENCE} ({own.reason or 'no reason given'})")
    competitors = dict(registry.data_formats) if registry is not None else dict(registry_with().data_formats)
    competitors[fmt.name] = fmt
    detection = detect(raw_good, competitors.values())
    if must_win and detection.format.name != fmt.name:
        _fail(f"the good rows are detected as '{detection.format.name}' ({detection.confidence:.2f}), not "
              f"'{fmt.name}' ({confidence:.2f}); scores: {detection.scores}")

    required = CANONICAL_FIELDS[fmt.kind]
    converted: list[dict] = []
    rows = [Row(f"good row {i}", i, dict(raw)) for i, (raw, _) in enumerate(pairs, 1)]
    for (row, out, problem), (_, expected) in zip(convert_rows(rows, fmt), pairs):
        if problem is not None:
            _fail(f"{row.location} was rejected: {problem.line()} (row: {row.data!r})")
        if not isinstance(out, dict):
            _fail(f"{row.location}: convert() returned {type(out).__name__}, expected a dict")
        missing = [k for k in required if k not in out]
        if missing:
            _fail(f"{row.location}: converted row lacks {', '.join(missing)} required by kind '{fmt.kind}': {out!r}")
        if expected is not None and out != expected:
            _fail(f"{row.location}: converted to {out!r}, expected {expected!r}")
        converted.append(out)

    for i, item in enumerate(bad_rows, 1):
        if not isinstance(item, tuple) or len(item) not in (2, 3):
            _fail(f"bad row {i}: give (row, field) or (row, field, text), got {item!r}")
        raw, expected_field, text = (*item, None)[:3]
        try:
            out = fmt.convert(dict(raw))
        except DataError as exc:
            if exc.where != expected_field:
                _fail(f"bad row {i}: DataError names field {exc.where!r}, expected {expected_field!r} "
                      f"({exc.message})")
            if not exc.message or "\n" in exc.message:
                _fail(f"bad row {i}: the DataError message must be one non-empty line, got {exc.message!r}")
            if text is not None and text not in exc.message:
                _fail(f"bad row {i}: message {exc.message!r} does not mention {text!r}")
            continue
        except Exception as exc:  # noqa: BLE001 - the point is to report it precisely
            _fail(f"bad row {i}: convert() raised {type(exc).__name__}: {exc}; raise workbench.errors.DataError "
                  f"(message, where='{expected_field}') so users see the field at fault")
        _fail(f"bad row {i} was accepted as {out!r}; expected a DataError for field {expected_field!r}")
    return FormatCheck(confidence, detection.scores, converted)


# -- a TrainContext for unit tests of trainers and evaluators ---------------------------------

def make_context(run_dir: str | os.PathLike, config: Mapping[str, Any] | None = None,
                 train_rows: Sequence[dict] | None = None, eval_rows: Sequence[dict] | None = None,
                 trainer_args: Mapping[str, Any] | None = None, **options: Any):
    """A real TrainContext over the tiny model, for calling a factory or evaluator in-process.

    config: overrides merged into a minimal resolved config (model = the tiny model, fp32, no
        adapter). train_rows/eval_rows: canonical rows, turned into datasets.Dataset.
    """
    from workbench.training.context import TrainContext
    from workbench.training.reporter import RunReporter

    run_dir = Path(run_dir)
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    resolved: dict[str, Any] = {
        "run": {"seed": 42, "stop_on_nan": True},
        "model": {"path": str(tiny_model_path()), "dtype": "float32", "trust_remote_code": False},
        "data": {"train": "", "format": "auto", "columns": {}, "eval_fraction": 0.0},
        "trainer": {"name": "test", "args": dict(trainer_args or {})},
        "launch": {"mixed_precision": "no", "num_processes": 1},
    }
    for section, values in (config or {}).items():
        if isinstance(values, Mapping) and isinstance(resolved.get(section), dict):
            resolved[section].update(values)
        else:
            resolved[section] = values
    return TrainContext(
        config=resolved, run_dir=run_dir, trainer_args=dict(trainer_args or {}), options=dict(options),
        reporter=RunReporter(run_dir), train_dataset=_dataset(train_rows), eval_dataset=_dataset(eval_rows),
    )


def _dataset(rows: Sequence[dict] | None):
    if rows is None:
        return None
    from datasets import Dataset

    return Dataset.from_list(list(rows))


# -- end-to-end runs through the real CLI -----------------------------------------------------

@dataclass
class RunResult:
    """The outcome of run_job: the run's final status and what it wrote."""

    status: str                      # completed | failed | stopped | lost, or "rejected" (never started)
    returncode: int                  # of `workbench run`
    run_dir: Path | None
    metrics: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    stdout: str = ""
    stderr: str = ""

    def rows(self, kind: str = "train") -> list[dict]:
        """Metrics rows of one kind: train, eval or evaluation (post-training evaluators)."""
        return [r for r in self.metrics if r.get("kind", "train") == kind]

    def values(self, key: str, kind: str = "train") -> list[Any]:
        """One metric across the rows that have it, e.g. values("loss")."""
        return [r[key] for r in self.rows(kind) if key in r]

    def event_names(self) -> list[str]:
        return [e.get("event", "") for e in self.events]

    @property
    def console(self) -> str:
        """The job's own stdout/stderr (console.log)."""
        path = self.run_dir / "console.log" if self.run_dir else None
        return path.read_text(encoding="utf-8", errors="replace") if path and path.exists() else ""

    def explain(self, lines: int = 30) -> str:
        """A failure message for asserts: status, error events, the console's tail."""
        errors = [e for e in self.events if e.get("event") in ("error", "oom")]
        tail = "\n".join((self.console or self.stderr).splitlines()[-lines:])
        return f"run {self.status} (rc {self.returncode}) in {self.run_dir}\nerrors: {errors}\n{tail}"


def _module_root(module: types.ModuleType) -> tuple[str, Path]:
    """(dotted name, folder to put on sys.path) of an imported module."""
    file = getattr(module, "__file__", None)
    if not file:
        raise PluginError("has no __file__: pass a module defined in a file", where=f"plugin {module.__name__}")
    path = Path(file).resolve()
    parts = module.__name__.split(".")
    if path.name == "__init__.py":
        path = path.parent
    else:
        path = path.with_suffix("")
    root = path
    for _ in parts:
        root = root.parent
    return module.__name__, root


def _project_entry_points(project: Path) -> tuple[str, dict[str, str], Path]:
    """(distribution name, {entry name: module}, import root) of a plugin project folder."""
    import tomllib

    data = tomllib.loads((project / "pyproject.toml").read_text(encoding="utf-8"))
    meta = data.get("project", {})
    eps = meta.get("entry-points", {}).get("workbench", {})
    if not eps:
        raise PluginError("no [project.entry-points.workbench] table", where=str(project / "pyproject.toml"))
    root = project / "src" if (project / "src").is_dir() else project
    return meta.get("name", project.name), dict(eps), root


def _plugin_sources(plugins: Iterable[Any]) -> list[tuple[str, dict[str, str], Path]]:
    """(dist name, entry points, import root) for each plugin given to run_job."""
    import importlib

    out = []
    for plugin in plugins:
        if isinstance(plugin, (str, os.PathLike)) and Path(plugin).exists():
            path = Path(plugin).resolve()
            if path.is_dir():
                out.append(_project_entry_points(path))
            else:
                out.append((path.stem, {path.stem: path.stem}, path.parent))
            continue
        module = importlib.import_module(plugin) if isinstance(plugin, str) else plugin
        if not isinstance(module, types.ModuleType):
            raise PluginError("run_job needs modules, module names, .py files or project folders; "
                              f"got {type(plugin).__name__}", where="run_job(plugins=...)")
        name, root = _module_root(module)
        out.append((name.replace(".", "-"), {name.rsplit(".", 1)[-1]: name}, root))
    return out


def _install_fake_dists(site: Path, sources: list[tuple[str, dict[str, str], Path]]) -> None:
    """Entry points the way pip would record them, minus any the environment already has."""
    from importlib.metadata import entry_points

    from workbench.plugin_manager import ENTRY_POINT_GROUP

    installed = {ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    for dist, eps, _ in sources:
        wanted = {k: v for k, v in eps.items() if v not in installed}
        if not wanted:
            continue
        info = site / f"{dist.replace('-', '_')}-0.0.0.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.0\n", encoding="utf-8")
        (info / "entry_points.txt").write_text(
            "[workbench]\n" + "".join(f"{k} = {v}\n" for k, v in wanted.items()), encoding="utf-8")


def _toml(config: Mapping[str, Any]) -> str:
    import tomlkit

    return tomlkit.dumps(json.loads(json.dumps(config)))


def _wait_for_supervisor(run_dir: Path, timeout: float):
    """The Run once its supervisor has exited: final status written, run_finished hooks called."""
    import time

    from workbench.runs.store import Run, process_alive

    run = Run(run_dir)
    deadline = time.time() + timeout
    raw = run.raw_status
    while time.time() < deadline and process_alive(raw.get("supervisor_pid"), raw.get("supervisor_start")):
        time.sleep(0.05)
    return run


def run_job(config: Mapping[str, Any] | str | os.PathLike, workspace: str | os.PathLike,
            plugins: Sequence[Any] = (), *, overrides: Sequence[str] = (), env: Mapping[str, str] | None = None,
            timeout: float = 600) -> RunResult:
    """Run a real job through `workbench run` (supervisor, accelerate, worker) with `plugins` available.

    config: a job config (dict, written to the workspace as TOML; relative paths are then
        relative to the workspace) or a TOML file.
    plugins: modules, module names, .py files or plugin project folders (their pyproject's
        [project.entry-points.workbench]); they are put on PYTHONPATH with an entry point,
        as `pip install` would, unless the environment already has that entry point.
    overrides: `--set KEY=VALUE` items. Returns when the run has ended.
    """
    ws = Path(workspace).resolve()
    ws.mkdir(parents=True, exist_ok=True)
    if isinstance(config, Mapping):
        n = len(list(ws.glob("job-*.toml"))) + 1
        config_path = ws / f"job-{n}.toml"
        config_path.write_text(_toml(config), encoding="utf-8")
    else:
        config_path = Path(config).resolve()
    sources = _plugin_sources(plugins)
    site = ws / ".workbench-test-site"
    _install_fake_dists(site, sources)
    paths = [str(site), *dict.fromkeys(str(root) for _, _, root in sources)]
    full_env = dict(os.environ, **(env or {}))
    full_env["PYTHONPATH"] = os.pathsep.join([*paths, *filter(None, [full_env.get("PYTHONPATH")])])
    full_env["WORKBENCH_WORKSPACE"] = str(ws)
    argv = [sys.executable, "-m", "workbench", "run", str(config_path)]
    for item in overrides:
        argv += ["--set", item]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=full_env, cwd=ws)
    run_dir = None
    for line in proc.stdout.splitlines():
        if line.startswith("run ") and "  ->  " in line:
            run_dir = Path(line.split("  ->  ", 1)[1].strip())
            break
    if run_dir is None:
        return RunResult("rejected", proc.returncode, None, stdout=proc.stdout, stderr=proc.stderr)
    run = _wait_for_supervisor(run_dir, timeout=60)
    return RunResult(run.status()["status"], proc.returncode, run_dir, run.metrics(), run.events(),
                     proc.stdout, proc.stderr)


# -- the TUI: run panels, tabs and palette commands under Textual's Pilot -------------------------

def fake_run(workspace: str | os.PathLike, run_id: str = "20250101-000000-test", *, trainer: str = "sft",
             status: str = "completed", metrics: Sequence[Mapping[str, Any]] = (), events: Sequence[Mapping[str, Any]] = (),
             tags: Sequence[str] = (), console: str = "") -> Path:
    """A run directory as a finished job leaves it (status.json, job.toml, metrics, events), no training."""
    import time

    from workbench.paths import runs_dir

    run_dir = runs_dir(Path(workspace).resolve()) / run_id
    (run_dir / "checkpoints").mkdir(parents=True, exist_ok=True)
    now = time.time()
    steps = [int(m.get("step", 0)) for m in metrics]
    status_doc = {"id": run_id, "status": status, "trainer": trainer, "name": run_id, "created": now - 60,
                  "started": now - 59, "world_size": 1, "attempt": 1, "max_steps": max(steps, default=0) or None}
    if status in ("completed", "failed", "stopped"):
        status_doc.update(ended=now - 1, exit_code=0 if status != "failed" else 1)
    (run_dir / "status.json").write_text(json.dumps(status_doc), encoding="utf-8")
    (run_dir / "job.toml").write_text(_toml({"run": {"name": run_id, "tags": list(tags)},
                                             "trainer": {"name": trainer, "args": {}}}), encoding="utf-8")
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps({"time": now - 30, "kind": "train", **m}) + "\n"
                                                   for m in metrics), encoding="utf-8")
    (run_dir / "events.jsonl").write_text("".join(json.dumps({"time": now - 30, **e}) + "\n" for e in events),
                                          encoding="utf-8")
    (run_dir / "console.log").write_text(console, encoding="utf-8")
    return run_dir


async def wait_until(pilot: Any, predicate: Any, timeout: float = 10.0, what: str = "condition") -> Any:
    """Pause the Pilot until `predicate()` is truthy and return its value; AssertionError after `timeout` s."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


class tui:  # noqa: N801 - used as `async with tui(...)`
    """`async with tui(workspace, plugins=[my_plugin]) as pilot:` the Workbench app under Textual's Pilot,
    with your plugins registered (as pip would), once its plugin registry is ready; `pilot.app` is the app."""

    def __init__(self, workspace: str | os.PathLike, plugins: Sequence[Any] = (), *, builtins: bool = True,
                 size: tuple[int, int] = (100, 30), timeout: float = 20.0, runs_poll: float | None = 0.2):
        self.workspace, self.plugins, self.builtins = Path(workspace), plugins, builtins
        self.size, self.timeout, self.runs_poll = size, timeout, runs_poll

    async def __aenter__(self):
        import workbench.plugin_manager as pm
        from workbench.tui.app import WorkbenchApp

        self._saved = pm._REGISTRY
        pm._REGISTRY = registry_with(*self.plugins, builtins=self.builtins, strict=True)
        self.app = WorkbenchApp(workspace=self.workspace, runs_poll=self.runs_poll)
        self._ctx = self.app.run_test(size=self.size)
        pilot = await self._ctx.__aenter__()
        await wait_until(pilot, lambda: self.app.registry is not None and self.app._persist_theme, self.timeout,
                    "the plugin registry")
        return pilot

    async def __aexit__(self, *exc: Any) -> None:
        import workbench.plugin_manager as pm

        try:
            await self._ctx.__aexit__(*exc)
        finally:
            pm._REGISTRY = self._saved


async def open_run_panel(pilot: Any, run_id: str, panel: str, timeout: float = 10.0):
    """Open run detail of `run_id` and return the widget of plugin run panel `panel` once it is shown."""
    from workbench.tui.extensions import PLUGIN_PANEL_PREFIX

    pilot.app.open_run(run_id)

    def shown():
        state = getattr(pilot.app.screen, "_plugin_panels", None)
        return state.shown.get(panel) if state is not None else None

    from textual.widgets import TabbedContent

    widget = await wait_until(pilot, shown, timeout, f"run panel '{panel}' in run detail of {run_id}")
    tabs = pilot.app.screen.query_one("#run-bottom", TabbedContent)
    for _ in range(tabs.tab_count):  # bring it to the front with the key a user has, `n`
        if tabs.active == f"{PLUGIN_PANEL_PREFIX}{panel}":
            break
        await pilot.press("n")
    assert tabs.active == f"{PLUGIN_PANEL_PREFIX}{panel}", f"`n` does not reach run panel '{panel}'"
    await pilot.pause(0.1)
    return widget


async def run_palette_command(pilot: Any, title: str) -> None:
    """Type `title` into the command palette (ctrl+p) and run the first match, as a user would."""
    from textual.command import CommandPalette

    await pilot.press("ctrl+p")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, CommandPalette), 5.0, "the command palette")
    await pilot.press(*title)
    await pilot.pause(0.3)
    await pilot.press("enter")
    await pilot.pause(0.2)


async def open_tab(pilot: Any, tab: str, timeout: float = 10.0):
    """Show plugin tab `tab` on the main screen and return its widget once built."""
    from workbench.tui.extensions import PLUGIN_TAB_PREFIX

    pilot.app.show_tab(f"{PLUGIN_TAB_PREFIX}{tab}")
    panel = pilot.app.main_screen.query_one(f"#{PLUGIN_TAB_PREFIX}{tab}")
    widget = await wait_until(pilot, lambda: panel.children[0] if panel.children else None, timeout, f"tab '{tab}'")
    await pilot.pause(0.1)
    return widget


def run_tui(workspace: str | os.PathLike, plugins: Sequence[Any], steps: Any, **options: Any) -> Any:
    """Synchronous Pilot session: `steps(pilot)` (an async function) runs in the app with `plugins`;
    returns what it returns. For plain (non-async) tests, e.g. a plugin package's own."""
    import asyncio

    async def go():
        async with tui(workspace, plugins, **options) as pilot:
            return await steps(pilot)

    return asyncio.run(go())


def show_run_panel(plugin: Any, panel: str, workspace: str | os.PathLike, **run: Any):
    """Synchronous: fabricate a run (`fake_run(workspace, **run)`), open it in the TUI with `plugin`
    registered and return the panel's widget, as a plain (non-async) test can."""
    run_dir = fake_run(workspace, **run)

    async def steps(pilot):
        return await open_run_panel(pilot, run_dir.name, panel)

    return run_tui(workspace, [plugin], steps)

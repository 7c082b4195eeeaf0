"""Discovers plugins and builds the registry of what they offer.

Sources, in order: the `workbench` entry-point group (built-ins register there too),
then `*.py` files in local plugin folders ($WORKBENCH_PLUGINS_DIR, colon-separated,
and `<workspace>/.workbench/plugins`). $WORKBENCH_PLUGINS_ALLOW / $WORKBENCH_PLUGINS_DENY
(comma-separated plugin names) filter them. A plugin that fails to import or whose
hook raises is recorded as broken and never takes the app down.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import os
import sys
import traceback
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable

import pluggy

from workbench import hookspecs
from workbench.errors import PluginError
from workbench.specs import (
    DataFormat,
    EvaluatorSpec,
    LauncherSpec,
    PresetSpec,
    RewardFunctionSpec,
    RunSourceSpec,
    TrainerSpec,
)

ENTRY_POINT_GROUP = "workbench"
ALLOW_ENV = "WORKBENCH_PLUGINS_ALLOW"
DENY_ENV = "WORKBENCH_PLUGINS_DENY"
DIR_ENV = "WORKBENCH_PLUGINS_DIR"

# hook name -> (registry attribute, spec type)
REGISTER_HOOKS: dict[str, tuple[str, type]] = {
    "register_trainers": ("trainers", TrainerSpec),
    "register_data_formats": ("data_formats", DataFormat),
    "register_evaluators": ("evaluators", EvaluatorSpec),
    "register_launchers": ("launchers", LauncherSpec),
    "register_reward_functions": ("reward_functions", RewardFunctionSpec),
    "register_presets": ("presets", PresetSpec),
    "register_run_sources": ("run_sources", RunSourceSpec),
}


@dataclass
class PluginRecord:
    """One plugin as `workbench plugins` shows it."""

    name: str
    source: str                    # "entry point <dist>", or a file path
    version: str = ""
    builtin: bool = False
    status: str = "ok"             # ok | broken | disabled
    error: str = ""
    hooks: list[str] = field(default_factory=list)
    registers: dict[str, list[str]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Registry:
    """Everything the plugins registered, by kind and name, with who registered it."""

    plugins: list[PluginRecord] = field(default_factory=list)
    trainers: dict[str, TrainerSpec] = field(default_factory=dict)
    data_formats: dict[str, DataFormat] = field(default_factory=dict)
    evaluators: dict[str, EvaluatorSpec] = field(default_factory=dict)
    launchers: dict[str, LauncherSpec] = field(default_factory=dict)
    reward_functions: dict[str, RewardFunctionSpec] = field(default_factory=dict)
    presets: dict[str, PresetSpec] = field(default_factory=dict)
    run_sources: dict[str, RunSourceSpec] = field(default_factory=dict)
    owner: dict[tuple[str, str], str] = field(default_factory=dict)          # (kind, name) -> plugin
    conflicts: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (kind, name) -> plugins
    manager: pluggy.PluginManager | None = None

    def plugin(self, name: str) -> PluginRecord | None:
        return next((p for p in self.plugins if p.name == name), None)

    def get(self, kind: str, name: str):
        """The spec of `kind` ("trainers", "data_formats", ...) called `name`, or a one-line PluginError."""
        table: dict = getattr(self, kind)
        singular = kind[:-1].replace("_", " ")
        if (kind, name) in self.conflicts:
            who = " and ".join(self.conflicts[(kind, name)])
            raise PluginError(f"{singular} '{name}' is registered by more than one plugin: {who}", where=f"plugin {who}")
        if name in table:
            return table[name]
        broken = [p for p in self.plugins if p.status == "broken"]
        hint = None
        if broken:
            hint = "broken plugins that might provide it: " + ", ".join(f"{p.name} ({p.error})" for p in broken)
        close = difflib.get_close_matches(name, list(table), n=1)
        did_you_mean = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(sorted(table)) or 'none'}"
        raise PluginError(f"no {singular} named '{name}'{did_you_mean}", hint=hint)

    def trainer(self, name: str) -> TrainerSpec:
        return self.get("trainers", name)

    def data_format(self, name: str) -> DataFormat:
        return self.get("data_formats", name)

    def call_hook(self, hook: str, **kwargs: Any) -> list[Any]:
        """Call a notification hook on every plugin; a raising plugin is reported, not fatal."""
        results = []
        if not self.manager:
            return results
        for impl in getattr(self.manager.hook, hook).get_hookimpls():
            try:
                results.append(impl.function(**kwargs))
            except Exception as exc:  # noqa: BLE001 - a plugin must never take the host down
                print(f"warning: plugin {impl.plugin_name}: {hook} raised {exc!r}", file=sys.stderr)
        return results


def _name_filter() -> tuple[set[str] | None, set[str]]:
    allow = os.environ.get(ALLOW_ENV)
    deny = os.environ.get(DENY_ENV, "")
    allowed = {n.strip() for n in allow.split(",") if n.strip()} if allow else None
    return allowed, {n.strip() for n in deny.split(",") if n.strip()}


def _local_plugin_files(workspace: Path | None) -> list[Path]:
    dirs = [Path(d) for d in os.environ.get(DIR_ENV, "").split(os.pathsep) if d]
    if workspace is not None:
        dirs.append(workspace / ".workbench" / "plugins")
    files: list[Path] = []
    for d in dirs:
        if d.is_dir():
            files += sorted(p for p in d.glob("*.py") if not p.name.startswith("_"))
    return files


def _load_file_module(path: Path):
    spec = importlib.util.spec_from_file_location(f"workbench_local_plugin_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _error_line(exc: BaseException) -> str:
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {exc}{where}"


@dataclass(frozen=True)
class Candidate:
    """A plugin found but not yet loaded: `load()` imports it."""

    name: str
    source: str
    version: str
    builtin: bool
    load: Callable[[], Any]


def discover(workspace: Path | None = None) -> list[Candidate]:
    """Entry points of the `workbench` group (built-ins first), then local plugin files."""
    found: list[Candidate] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        found.append(Candidate(ep.name, f"entry point {dist.metadata['Name'] if dist else '?'}",
                               dist.version if dist else "", ep.value.startswith("workbench_plugins."), ep.load))
    found.sort(key=lambda c: not c.builtin)  # a built-in owns its names; a clashing plugin is the conflict
    for path in _local_plugin_files(workspace):
        found.append(Candidate(path.stem, str(path), "", False, lambda p=path: _load_file_module(p)))
    return found


def build_registry(workspace: Path | None = None, candidates: list[Candidate] | None = None) -> Registry:
    """Load and query every plugin (discovered, or the given candidates). Never raises for a plugin's fault."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    reg = Registry(manager=pm)
    allowed, denied = _name_filter()

    for cand in discover(workspace) if candidates is None else candidates:
        record = PluginRecord(name=cand.name, source=cand.source, version=cand.version, builtin=cand.builtin)
        if (allowed is not None and cand.name not in allowed) or cand.name in denied:
            record.status = "disabled"
            reg.plugins.append(record)
            continue
        try:
            module = cand.load()
            if pm.is_registered(module):  # the same module offered twice (e.g. a test passing a built-in)
                continue
            record.version = cand.version or str(getattr(module, "__version__", ""))
            pm.register(module, name=cand.name)
        except Exception as exc:  # noqa: BLE001
            record.status, record.error = "broken", _error_line(exc)
            reg.plugins.append(record)
            continue
        reg.plugins.append(record)
        record.hooks = sorted(h.name for h in pm.get_hookcallers(module) or [])

    for hook, (attr, spec_type) in REGISTER_HOOKS.items():
        for impl in getattr(pm.hook, hook).get_hookimpls():  # registration order: the first one owns a name
            record = reg.plugin(impl.plugin_name)
            try:
                specs = list(impl.function() or [])
                bad = [s for s in specs if not isinstance(s, spec_type)]
                if bad:
                    raise TypeError(f"{hook} returned {type(bad[0]).__name__}, expected {spec_type.__name__}")
            except Exception as exc:  # noqa: BLE001
                if record:
                    record.status, record.error = "broken", f"{hook}: {_error_line(exc)}"
                continue
            table = getattr(reg, attr)
            for spec in specs:
                key = (attr, spec.name)
                if spec.name in table and reg.owner[key] != impl.plugin_name:
                    reg.conflicts.setdefault(key, [reg.owner[key]]).append(impl.plugin_name)
                    continue
                table[spec.name] = spec
                reg.owner[key] = impl.plugin_name
                if record:
                    record.registers.setdefault(attr, []).append(spec.name)

    for (attr, name), owners in reg.conflicts.items():
        for owner in owners[1:]:
            record = reg.plugin(owner)
            if record and record.status == "ok":
                record.status = "conflict"
                record.error = f"{attr[:-1].replace('_', ' ')} '{name}' already registered by {owners[0]}"
    return reg


_REGISTRY: Registry | None = None


def get_registry(workspace: Path | None = None, refresh: bool = False) -> Registry:
    """The process-wide registry (built on first use)."""
    global _REGISTRY
    if _REGISTRY is None or refresh:
        from workbench.paths import workspace as current_workspace

        _REGISTRY = build_registry(workspace or current_workspace())
    return _REGISTRY

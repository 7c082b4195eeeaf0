"""Discovers plugins and builds the registry of what they offer.

Sources, in order: the `workbench` entry-point group (built-ins register there too),
then `*.py` files in local plugin folders ($WORKBENCH_PLUGINS_DIR, colon-separated,
and `<workspace>/.workbench/plugins`). $WORKBENCH_PLUGINS_ALLOW / $WORKBENCH_PLUGINS_DENY
(comma-separated plugin names), or `[plugins] allow/deny` in the settings, filter them.

Nothing a plugin does takes the host down: an import that raises (even SystemExit or
KeyboardInterrupt), a hook that raises or returns the wrong thing, a misspelled hook, a
spec with bad fields, a name another plugin owns. Each becomes a one-line error on the
plugin's record, naming the plugin and where in it; what it registered correctly is kept.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Callable

import pluggy

from workbench import hookspecs
from workbench.errors import PluginError
from workbench.plugin_checks import callable_location, resolve_problems, spec_problems
from workbench.specs import (
    CallbackSpec,
    CommandSpec,
    DataFormat,
    EvaluatorSpec,
    LauncherSpec,
    PaletteCommandSpec,
    PresetSpec,
    RewardFunctionSpec,
    RunPanelSpec,
    TabSpec,
    ThemeSpec,
    RunSourceSpec,
    TrainerSpec,
)

ENTRY_POINT_GROUP = "workbench"
ALLOW_ENV = "WORKBENCH_PLUGINS_ALLOW"
DENY_ENV = "WORKBENCH_PLUGINS_DENY"
DIR_ENV = "WORKBENCH_PLUGINS_DIR"
LOCAL_PREFIX = "local:"
HEAVY_MODULES = ("torch", "transformers", "trl", "datasets", "peft", "accelerate", "tensorflow", "jax")
CONTAINED = (Exception, SystemExit, KeyboardInterrupt)  # what a plugin may raise without taking us down

# hook name -> (registry attribute, spec type)
REGISTER_HOOKS: dict[str, tuple[str, type]] = {
    "register_trainers": ("trainers", TrainerSpec),
    "register_data_formats": ("data_formats", DataFormat),
    "register_evaluators": ("evaluators", EvaluatorSpec),
    "register_launchers": ("launchers", LauncherSpec),
    "register_reward_functions": ("reward_functions", RewardFunctionSpec),
    "register_presets": ("presets", PresetSpec),
    "register_callbacks": ("callbacks", CallbackSpec),
    "register_commands": ("commands", CommandSpec),
    "register_palette_commands": ("palette_commands", PaletteCommandSpec),
    "register_tui_commands": ("palette_commands", PaletteCommandSpec),   # deprecated: tuples accepted
    "register_run_panels": ("run_panels", RunPanelSpec),
    "register_tabs": ("tabs", TabSpec),
    "register_themes": ("themes", ThemeSpec),
    "register_run_sources": ("run_sources", RunSourceSpec),
}
SINGULAR = {"trainers": "trainer", "data_formats": "data format", "evaluators": "evaluator",
            "launchers": "launcher", "reward_functions": "reward function", "presets": "preset",
            "callbacks": "callback", "commands": "command", "palette_commands": "palette command",
            "run_panels": "run panel", "tabs": "tab", "themes": "theme", "run_sources": "run source"}
HOOK_NAMES = tuple(n for n in dir(hookspecs) if getattr(getattr(hookspecs, n), "workbench_spec", None) is not None)


@dataclass
class PluginRecord:
    """One plugin as `workbench plugins` shows it."""

    name: str
    source: str                    # "entry point <dist>", or a file path
    version: str = ""
    builtin: bool = False
    status: str = "ok"             # ok | broken | conflict | disabled
    error: str = ""                # the first of `errors` (kept for older readers)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    registers: dict[str, list[str]] = field(default_factory=dict)
    import_seconds: float = 0.0
    heavy_imports: list[str] = field(default_factory=list)   # heavy libraries its import loaded

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def fail(self, message: str, status: str = "broken") -> None:
        """Record one problem; 'broken' outranks 'conflict'."""
        self.errors.append(message)
        self.error = self.errors[0]
        if self.status in ("ok", "conflict") and status == "broken":
            self.status = "broken"
        elif self.status == "ok":
            self.status = status


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
    callbacks: dict[str, CallbackSpec] = field(default_factory=dict)
    commands: dict[str, CommandSpec] = field(default_factory=dict)
    palette_commands: dict[str, PaletteCommandSpec] = field(default_factory=dict)
    run_panels: dict[str, RunPanelSpec] = field(default_factory=dict)
    tabs: dict[str, TabSpec] = field(default_factory=dict)
    themes: dict[str, ThemeSpec] = field(default_factory=dict)
    run_sources: dict[str, RunSourceSpec] = field(default_factory=dict)
    owner: dict[tuple[str, str], str] = field(default_factory=dict)          # (kind, name) -> plugin
    conflicts: dict[tuple[str, str], list[str]] = field(default_factory=dict)  # (kind, name) -> plugins
    overridden: dict[tuple[str, str], str] = field(default_factory=dict)     # (kind, name) -> replaced plugin
    manager: pluggy.PluginManager | None = None

    def plugin(self, name: str) -> PluginRecord | None:
        return next((p for p in self.plugins if p.name == name), None)

    def owner_of(self, kind: str, name: str) -> str:
        return self.owner.get((kind, name), "?")

    def get(self, kind: str, name: str):
        """The spec of `kind` ("trainers", "data_formats", ...) called `name`, or a one-line PluginError."""
        table: dict = getattr(self, kind)
        singular = SINGULAR.get(kind, kind)
        if (kind, name) in self.conflicts:
            who = " and ".join(self.conflicts[(kind, name)])
            raise PluginError(f"{singular} '{name}' is registered by more than one plugin: {who}; uninstall or deny "
                              "one (WORKBENCH_PLUGINS_DENY), or set override=True on the one that should win",
                              where=f"plugin {who}")
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
        """Call a notification hook on every plugin; a raising plugin is printed as a warning, not fatal."""
        results, errors = _call_each(self, hook, kwargs, timeout=None)
        for line in errors:
            print(f"warning: {line}", file=sys.stderr)
        return results


# -- discovery --------------------------------------------------------------------------------

def _split(value: str | None) -> set[str]:
    return {n.strip() for n in (value or "").split(",") if n.strip()}


def _name_filter(workspace: Path | None) -> tuple[set[str] | None, set[str]]:
    """(allowed or None for all, denied): the environment wins over the settings files."""
    allow_env, deny_env = os.environ.get(ALLOW_ENV), os.environ.get(DENY_ENV)
    settings_allow: list[str] | None = None
    settings_deny: list[str] = []
    if allow_env is None or deny_env is None:
        from workbench.settings import load_settings

        plugins = load_settings(workspace).plugins
        settings_allow, settings_deny = plugins.allow, plugins.deny
    if allow_env is not None:
        allowed = _split(allow_env) or None
    else:
        allowed = set(settings_allow) if settings_allow is not None else None
    denied = _split(deny_env) if deny_env is not None else set(settings_deny)
    return allowed, denied


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
    """Import a local plugin file under a private module name (a file called sft.py shadows nothing)."""
    spec = importlib.util.spec_from_file_location(f"workbench_local_plugin_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(spec.name, None)
        raise
    return module


def _error_line(exc: BaseException, at_import: bool = False) -> str:
    """'Type: message (file.py:LINE)', the innermost frame; SystemExit says what it did."""
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" ({Path(tb[-1].filename).name}:{tb[-1].lineno})" if tb else ""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})" + (" at import" if at_import else "") + where
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}{where}" if text else f"{type(exc).__name__}{where}"


@dataclass(frozen=True)
class Candidate:
    """A plugin found but not yet loaded: `load()` imports it."""

    name: str
    source: str
    version: str
    builtin: bool
    load: Callable[[], Any]
    local: bool = False


def discover(workspace: Path | None = None) -> list[Candidate]:
    """Entry points of the `workbench` group (built-ins first), then local plugin files."""
    found: list[Candidate] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        found.append(Candidate(ep.name, f"entry point {dist.metadata['Name'] if dist else '?'}",
                               dist.version if dist else "", ep.value.startswith("workbench_plugins."), ep.load))
    found.sort(key=lambda c: not c.builtin)  # a built-in owns its names; a clashing plugin is the conflict
    for path in _local_plugin_files(workspace):
        found.append(Candidate(path.stem, str(path), "", False, lambda p=path: _load_file_module(p), local=True))
    return found


# -- loading one plugin -----------------------------------------------------------------------

def _hookspec_range_problem(module: Any) -> str | None:
    wanted = getattr(module, "WORKBENCH_HOOKSPEC", None)
    if wanted is None:
        return None
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    try:
        spec = SpecifierSet(str(wanted))
    except InvalidSpecifier:
        return f"WORKBENCH_HOOKSPEC = {wanted!r} is not a version range such as '>=1,<2'"
    if str(hookspecs.HOOKSPEC_VERSION) not in spec:
        return (f"supports hook spec {wanted}, this Workbench has hook spec {hookspecs.HOOKSPEC_VERSION}; "
                "install a matching version of the plugin or of workbench")
    return None


def _marker_problems(pm: pluggy.PluginManager, module: Any, record: PluginRecord) -> None:
    """Misspelled hooks (marked, but not a hook), hooks not marked, deprecated hooks."""
    for attr in sorted(dir(module)):
        if attr.startswith("__"):
            continue
        try:
            value = getattr(module, attr)
        except CONTAINED:  # noqa: BLE001 - a property that raises
            continue
        marked = pm.parse_hookimpl_opts(module, attr) is not None
        where = callable_location(value) if callable(value) else ""
        at = f" ({where})" if where else ""
        if marked and attr not in HOOK_NAMES:
            close = difflib.get_close_matches(attr, HOOK_NAMES, n=1, cutoff=0.5)
            mean = f"; did you mean '{close[0]}'?" if close else f"; hooks: {', '.join(HOOK_NAMES)}"
            record.fail(f"plugin {record.name}: '{attr}' is marked @hookimpl but is not a hook{mean}{at}")
        elif not marked and attr in HOOK_NAMES and callable(value) and not isinstance(value, type) \
                and getattr(value, "__module__", None) == getattr(module, "__name__", None):
            record.fail(f"plugin {record.name}: '{attr}' is not marked @hookimpl, so it registers nothing; "
                        f"decorate it with @workbench.hookspecs.hookimpl{at}")
        if marked and attr in hookspecs.DEPRECATED_HOOKS:
            dep = hookspecs.DEPRECATED_HOOKS[attr]
            record.warnings.append(f"plugin {record.name}: hook '{attr}' is deprecated since Workbench {dep.since} "
                                   f"and goes in {dep.removal}: use '{dep.replacement}'{at}")


def _load_plugin(pm: pluggy.PluginManager, cand: Candidate, record: PluginRecord) -> Any:
    """Import and register one plugin; None (with record.status broken) when it cannot be."""
    before = set(sys.modules)
    started = time.perf_counter()
    try:
        module = cand.load()
    except CONTAINED as exc:  # noqa: BLE001 - SystemExit/KeyboardInterrupt at import are contained too
        record.fail(f"plugin {record.name}: import failed: {_error_line(exc, at_import=True)}")
        return None
    finally:
        record.import_seconds = round(time.perf_counter() - started, 4)
        record.heavy_imports = sorted(m for m in HEAVY_MODULES if m in sys.modules and m not in before)
    if pm.is_registered(module) or any(getattr(p, "__workbench_plugin__", None) is module for p in pm.get_plugins()):
        return False  # the same module offered twice (e.g. a test passing a built-in)
    record.version = cand.version or str(getattr(module, "__version__", "") or "")
    problem = _hookspec_range_problem(module)
    if problem:
        record.fail(f"plugin {record.name}: {problem}")
        return None
    if pm.has_plugin(record.name):
        if cand.local:  # a local file named like a built-in (sft.py): namespaced, not broken
            record.warnings.append(f"plugin {LOCAL_PREFIX}{record.name}: a plugin named '{record.name}' is already "
                                   f"installed, so this local file is called '{LOCAL_PREFIX}{record.name}'")
            record.name = f"{LOCAL_PREFIX}{record.name}"
        else:
            record.fail(f"plugin {record.name}: the name is already used by another installed plugin "
                        f"({record.source}); rename its entry point")
            return None
    _marker_problems(pm, module, record)
    refused = _argument_problems(pm, module, record)
    plugin = _without_hooks(module, refused) if refused else module
    try:
        pm.register(plugin, name=record.name)
    except CONTAINED as exc:  # noqa: BLE001 - any other validation pluggy does
        record.fail(f"plugin {record.name}: {'; '.join(str(exc).strip().splitlines())}")
        return None
    record.hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [] if h.name in HOOK_NAMES)
    return module


def _without_hooks(plugin: Any, refused: set[str]) -> Any:
    """A stand-in for a plugin minus the hooks whose arguments pluggy would refuse: its other hooks still register."""
    import types

    copy = types.ModuleType(str(getattr(plugin, "__name__", type(plugin).__name__)))
    if isinstance(plugin, types.ModuleType):
        copy.__dict__.update((k, v) for k, v in vars(plugin).items() if k not in refused)
    else:
        for name in dir(plugin):
            if name in refused or name.startswith("__"):
                continue
            try:
                setattr(copy, name, getattr(plugin, name))
            except CONTAINED:  # noqa: BLE001 - a property that raises holds no hook
                continue
    copy.__workbench_plugin__ = plugin  # what it stands for: offered again, it is the same plugin
    return copy


def _argument_problems(pm: pluggy.PluginManager, module: Any, record: PluginRecord) -> set[str]:
    """Hooks taking an argument the hook never passes (`def run_finished(rn)`): one error each, named."""
    import inspect

    refused: set[str] = set()
    for hook in HOOK_NAMES:
        try:
            fn = getattr(module, hook, None)
            marked = fn is not None and pm.parse_hookimpl_opts(module, hook) is not None
            params = inspect.signature(fn).parameters.values() if marked else ()
        except CONTAINED:  # noqa: BLE001 - not introspectable: pluggy says what it thinks
            continue
        required = [p.name for p in params if p.default is p.empty and p.name != "self"
                    and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        passed = getattr(pm.hook, hook).spec.argnames
        unknown = [name for name in required if name not in passed]
        if not unknown:
            continue
        refused.add(hook)
        close = difflib.get_close_matches(unknown[0], passed, n=1, cutoff=0.3) if passed else []
        mean = f"; did you mean '{close[0]}'?" if close else ""
        takes = f"{hook}({', '.join(passed)})" if passed else f"{hook}() (no arguments)"
        at = callable_location(fn)
        record.fail(f"plugin {record.name}: hook '{hook}' takes {', '.join(repr(n) for n in unknown)}, which it "
                    f"is never passed: it is called as {takes}{mean}" + (f" ({at})" if at else ""))
    return refused


# -- what the register hooks return ------------------------------------------------------------

def _legacy_palette_entry(item: Any) -> PaletteCommandSpec | None:
    """A (title, help, fn) tuple of the deprecated register_tui_commands."""
    if isinstance(item, (tuple, list)) and len(item) == 3 and isinstance(item[0], str) and callable(item[2]):
        slug = "-".join(item[0].lower().split()) or "command"
        return PaletteCommandSpec(slug, item[0], item[2], str(item[1]))
    return None


def _hook_specs(hook: str, spec_type: type, impl: Any, record: PluginRecord | None, plugin: str) -> list:
    """The specs one hookimpl returned, each checked; problems go to the plugin's record."""
    at = callable_location(impl.function)
    where = f" ({at})" if at else ""
    try:
        result = impl.function()
    except CONTAINED as exc:  # noqa: BLE001
        _fail(record, f"plugin {plugin}: {hook}() raised {_error_line(exc)}")
        return []
    if result is None:
        return []
    if isinstance(result, spec_type):
        _fail(record, f"plugin {plugin}: {hook}() returned a single {spec_type.__name__}; return a list: "
                      f"[{spec_type.__name__}(...)]{where}")
        return []
    if not isinstance(result, (list, tuple)):
        _fail(record, f"plugin {plugin}: {hook}() returned a {type(result).__name__}, expected a list of "
                      f"{spec_type.__name__}{where}")
        return []
    specs = []
    for i, item in enumerate(result):
        if hook == "register_tui_commands" and not isinstance(item, spec_type):
            converted = _legacy_palette_entry(item)
            if converted is None:
                _fail(record, f"plugin {plugin}: {hook}() item {i} is {type(item).__name__} {item!r:.60}, expected a "
                              f"PaletteCommandSpec or a (title, help, fn) tuple{where}")
                continue
            item = converted
        if not isinstance(item, spec_type):
            _fail(record, f"plugin {plugin}: {hook}() item {i} is a {type(item).__name__}, expected "
                          f"{spec_type.__name__}{where}")
            continue
        problems = spec_problems(item)
        if problems:
            label = getattr(item, "name", "?")
            for problem in problems:
                _fail(record, f"plugin {plugin}: {SINGULAR[REGISTER_HOOKS[hook][0]]} '{label}': {problem}{where}")
            continue
        specs.append(item)
    return specs


def _fail(record: PluginRecord | None, message: str, status: str = "broken") -> None:
    if record is not None:
        record.fail(message, status)


def _add_spec(reg: Registry, attr: str, spec: Any, plugin: str, record: PluginRecord | None, wins: bool) -> None:
    """Put one spec in its table, or record why not (every conflict is listed)."""
    table = getattr(reg, attr)
    key = (attr, spec.name)
    what = f"{SINGULAR[attr]} '{spec.name}'"
    if key in reg.conflicts:
        reg.conflicts[key].append(plugin)
        _fail(record, f"plugin {plugin}: {what} is also registered by {', '.join(reg.conflicts[key][:-1])}",
              "conflict")
        return
    if spec.name not in table:
        table[spec.name] = spec
        reg.owner[key] = plugin
        if record:
            record.registers.setdefault(attr, []).append(spec.name)
        return
    previous = reg.owner[key]
    if previous == plugin:
        _fail(record, f"plugin {plugin}: {what} is registered twice by this plugin")
        return
    prev_record = reg.plugin(previous)
    prev_wins = key in reg.overridden and reg.overridden[key] != previous
    if wins and not prev_wins:
        table[spec.name] = spec
        reg.owner[key] = plugin
        reg.overridden[key] = previous
        if record:
            record.registers.setdefault(attr, []).append(spec.name)
            record.warnings.append(f"plugin {plugin}: {what} overrides the one of plugin {previous} (override=True)")
        if prev_record and spec.name in prev_record.registers.get(attr, []):
            prev_record.registers[attr].remove(spec.name)
            prev_record.warnings.append(f"plugin {previous}: {what} is overridden by plugin {plugin}")
        return
    if prev_record is not None and prev_record.builtin and not (record and record.builtin) and not prev_wins:
        _fail(record, f"plugin {plugin}: {what} is already registered by built-in plugin {previous}; the built-in "
                      "stays; rename yours, or set override=True on the spec to replace it on purpose", "conflict")
        return
    # Between plugins of equal standing the name is ambiguous: using it is an error naming all of them,
    # wherever it is looked up (`get`, or the table itself: neither plugin's spec stays in it).
    reg.conflicts[key] = [previous, plugin]
    del table[spec.name]
    _fail(record, f"plugin {plugin}: {what} is already registered by plugin {previous}", "conflict")


def build_registry(workspace: Path | None = None, candidates: list[Candidate] | None = None) -> Registry:
    """Load and query every plugin (discovered, or the given candidates). Never raises for a plugin's fault."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    reg = Registry(manager=pm)
    allowed, denied = _name_filter(workspace)

    for cand in discover(workspace) if candidates is None else candidates:
        record = PluginRecord(name=cand.name, source=cand.source, version=cand.version, builtin=cand.builtin)
        names = {cand.name, f"{LOCAL_PREFIX}{cand.name}"} if cand.local else {cand.name}
        if (allowed is not None and not names & allowed) or names & denied:
            record.status = "disabled"
            reg.plugins.append(record)
            continue
        module = _load_plugin(pm, cand, record)
        if module is False:
            continue
        reg.plugins.append(record)

    for hook, (attr, spec_type) in REGISTER_HOOKS.items():
        # pluggy lists impls in registration order, tryfirst ones last: the first one owns a name,
        # a later one replaces it only with override=True on the spec (or @hookimpl(tryfirst=True)).
        for impl in getattr(pm.hook, hook).get_hookimpls():
            record = reg.plugin(impl.plugin_name)
            for spec in _hook_specs(hook, spec_type, impl, record, impl.plugin_name):
                _add_spec(reg, attr, spec, impl.plugin_name, record, wins=bool(spec.override or impl.tryfirst))
    _reject_builtin_command_names(reg)
    return reg


def _reject_builtin_command_names(reg: Registry) -> None:
    from workbench.cli.commands import builtin_command_names

    """A plugin command may not shadow a built-in one (`workbench run`, `ls`, ...)."""

    for name in sorted(set(reg.commands) & builtin_command_names()):
        plugin = reg.owner.pop(("commands", name))
        del reg.commands[name]
        record = reg.plugin(plugin)
        if record:
            record.registers["commands"].remove(name)
            record.fail(f"plugin {plugin}: command '{name}' is a built-in workbench command; choose another name",
                        "conflict")


# -- deeper checks (workbench plugins --check, workbench.testing.check_plugin) ------------------

@dataclass
class CheckReport:
    """What `workbench plugins --check` found: the registry and each plugin's resolve problems."""

    registry: Registry
    resolve_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> list[PluginRecord]:
        return [p for p in self.registry.plugins if p.status in ("broken", "conflict")]


def check_registry(reg: Registry, full: bool = True, only: set[str] | None = None) -> CheckReport:
    """Resolve every import path and file each plugin's specs name (imports them when `full`)."""
    report = CheckReport(reg)
    for attr in dict.fromkeys(a for a, _ in REGISTER_HOOKS.values()):
        for name, spec in getattr(reg, attr).items():
            plugin = reg.owner_of(attr, name)
            if only is not None and plugin not in only:
                continue
            started = time.perf_counter()
            problems = resolve_problems(spec, full=full)
            report.resolve_seconds[plugin] = report.resolve_seconds.get(plugin, 0.0) + time.perf_counter() - started
            for problem in problems:
                _fail(reg.plugin(plugin), f"plugin {plugin}: {SINGULAR[attr]} '{name}': {problem}")
    return report


# -- lifecycle notifications ---------------------------------------------------------------

def _call_each(reg: Registry, hook: str, kwargs: dict[str, Any], timeout: float | None) -> tuple[list, list[str]]:
    results: list[Any] = []
    errors: list[str] = []
    if reg.manager is None:
        return results, errors
    for impl in getattr(reg.manager.hook, hook).get_hookimpls():
        outcome: dict[str, Any] = {}

        def call(impl=impl, outcome=outcome) -> None:
            try:
                outcome["value"] = impl.function(**kwargs)
            except CONTAINED as exc:  # noqa: BLE001 - a plugin must never take the host down
                outcome["error"] = exc

        if timeout is None:
            call()
        else:
            thread = threading.Thread(target=call, name=f"plugin-{impl.plugin_name}-{hook}", daemon=True)
            thread.start()
            thread.join(timeout)
            if thread.is_alive():
                errors.append(f"plugin {impl.plugin_name}: {hook} did not return within {timeout:g} s "
                              f"({callable_location(impl.function)}); left running")
                continue
        if "error" in outcome:
            errors.append(f"plugin {impl.plugin_name}: {hook} raised {_error_line(outcome['error'])}")
        else:
            results.append(outcome.get("value"))
    return results, errors


def notify(hook: str, timeout: float | None = 30.0, registry: Registry | None = None, **kwargs: Any) -> list[str]:
    """Call lifecycle hook `hook` (run_started, run_event, run_finished) on every plugin.

    Returns one-line errors ("plugin NAME: run_finished raised ValueError: ... (file.py:LINE)"),
    one per plugin that raised or did not return within `timeout` seconds. Never raises: the
    caller (the supervisor) writes each line as a `plugin_error` event and the run goes on.
    """
    try:
        if hook not in HOOK_NAMES:
            return [f"workbench: notify: unknown hook '{hook}'"]
        reg = registry or get_registry()
        return _call_each(reg, hook, kwargs, timeout)[1]
    except CONTAINED as exc:  # noqa: BLE001 - e.g. a settings file that cannot be read
        return [f"workbench: notify({hook}) failed: {_error_line(exc)}"]


def plugin_error_event(line: str, hook: str) -> dict[str, Any]:
    """The events.jsonl record for one line of `notify`: {"event": "plugin_error", "plugin", "hook", "message"}."""
    plugin = line.split(":", 1)[0].removeprefix("plugin ").strip() if line.startswith("plugin ") else "workbench"
    return {"time": round(time.time(), 3), "event": "plugin_error", "plugin": plugin, "hook": hook, "message": line}


_REGISTRY: Registry | None = None


def get_registry(workspace: Path | None = None, refresh: bool = False) -> Registry:
    """The process-wide registry (built on first use)."""
    global _REGISTRY
    if _REGISTRY is None or refresh:
        from workbench.paths import workspace as current_workspace

        _REGISTRY = build_registry(workspace or current_workspace())
    return _REGISTRY

"""Checks of what plugins register: spec fields, import paths, factory signatures.

Three depths, cheapest first:
- `spec_problems(spec)`: the fields of one spec (names, data kinds, the syntax of import
  paths, types), at every registry build; imports nothing.
- `import_path_problem(path, full=False)`: does "module:attr" resolve? Without `full`, the
  module is found (not run) and the attribute looked up in its source, so `validate` stays
  fast even when the module imports torch; `full` imports it (`workbench plugins --check`).
- `option_problems(path, options)`: options of a config against the factory's signature
  (evaluators, reward functions), read from the source when possible.
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from typing import Any, Callable, Mapping

from workbench.specs import DATA_KINDS, MODEL_ROLES, ModelUse, load_object

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+\-]*$")
_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
IMPORT_PATH_RE = re.compile(rf"^{_IDENT}(\.{_IDENT})*:{_IDENT}(\.{_IDENT})*$")

# Fields naming code by import path, per spec class name; "callable_ok" fields may hold a callable too.
IMPORT_FIELDS: dict[str, tuple[str, ...]] = {
    "TrainerSpec": ("factory", "config_class"), "EvaluatorSpec": ("factory", "check"), "LauncherSpec": ("factory",),
    "RewardFunctionSpec": ("factory",), "CallbackSpec": ("factory",), "CommandSpec": ("run", "configure"),
    "PaletteCommandSpec": ("run",), "RunPanelSpec": ("widget",), "TabSpec": ("widget",),
}
CALLABLE_OK = {("CommandSpec", "run"), ("CommandSpec", "configure"), ("PaletteCommandSpec", "run")}
OPTIONAL_FIELDS = {("TrainerSpec", "config_class"), ("CommandSpec", "configure"), ("EvaluatorSpec", "check")}


def did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _str_tuple(value: Any, field: str, allow_empty: bool = True) -> list[str]:
    if isinstance(value, str) or not isinstance(value, (tuple, list)):
        return [f"{field}: expected a tuple of strings, got {type(value).__name__} {value!r}"]
    if not allow_empty and not value:
        return [f"{field}: empty; give at least one"]
    bad = [v for v in value if not isinstance(v, str) or not v]
    return [f"{field}: {bad[0]!r} is not a non-empty string"] if bad else []


def spec_problems(spec: Any) -> list[str]:
    """One-line problems with the fields of `spec` (empty when it is fine). Imports nothing."""
    kind = type(spec).__name__
    out: list[str] = []
    name = getattr(spec, "name", None)
    if not isinstance(name, str) or not NAME_RE.match(name):
        out.append(f"name {name!r}: must be a non-empty string of letters, digits, '-', '_' or '.' (no spaces)")
    for fld in ("description", "help"):
        if hasattr(spec, fld) and not isinstance(getattr(spec, fld), str):
            out.append(f"{fld}: expected a string, got {type(getattr(spec, fld)).__name__}")
    if not isinstance(getattr(spec, "override", False), bool):
        out.append(f"override: expected true or false, got {spec.override!r}")
    for fld in IMPORT_FIELDS.get(kind, ()):
        value = getattr(spec, fld)
        if value is None and (kind, fld) in OPTIONAL_FIELDS:
            continue
        if callable(value) and (kind, fld) in CALLABLE_OK:
            continue
        if not isinstance(value, str) or not IMPORT_PATH_RE.match(value):
            what = "an import path 'package.module:attribute'" + (" or a callable" if (kind, fld) in CALLABLE_OK else "")
            out.append(f"{fld}: {value!r} is not {what}")
    if kind == "TrainerSpec":
        problems = _str_tuple(spec.data_kinds, "data_kinds", allow_empty=False)
        out += problems
        if not problems:
            for k in spec.data_kinds:
                if k not in DATA_KINDS:
                    out.append(f"data_kinds: '{k}' is not a data kind{did_you_mean(k, DATA_KINDS)} "
                               f"(known: {', '.join(DATA_KINDS)})")
        if not isinstance(spec.models, (tuple, list)) or not all(isinstance(m, ModelUse) for m in spec.models):
            out.append(f"models: expected a tuple of ModelUse, got {spec.models!r}")
        else:
            out += [f"models: role '{m.role}' is not one of {', '.join(MODEL_ROLES)}{did_you_mean(m.role, MODEL_ROLES)}"
                    for m in spec.models if m.role not in MODEL_ROLES]
        if not isinstance(spec.default_args, Mapping):
            out.append(f"default_args: expected a dict, got {type(spec.default_args).__name__}")
        out += _str_tuple(spec.options, "options")
    elif kind == "DataFormat":
        if spec.kind not in DATA_KINDS:
            out.append(f"kind: '{spec.kind}' is not a data kind{did_you_mean(spec.kind, DATA_KINDS)} "
                       f"(known: {', '.join(DATA_KINDS)})")
        out += [f"{f}: expected a function, got {type(getattr(spec, f)).__name__}"
                for f in ("detect", "convert") if not callable(getattr(spec, f))]
        out += _str_tuple(spec.columns, "columns")
    elif kind == "EvaluatorSpec":
        out += _str_tuple(spec.needs, "needs")
        kinds = getattr(spec, "data_kinds", ())
        problems = _str_tuple(kinds, "data_kinds")
        out += problems or [f"data_kinds: '{k}' is not a data kind{did_you_mean(k, DATA_KINDS)}"
                            for k in kinds if k not in DATA_KINDS]
    elif kind in ("PresetSpec", "ThemeSpec"):
        if not isinstance(spec.path, str) or not spec.path:
            out.append(f"path: expected a file path, got {spec.path!r}")
    elif kind == "CommandSpec":
        if isinstance(name, str) and not re.match(r"^[a-z][a-z0-9-]*$", name):
            out.append(f"name '{name}': a command name is lower-case letters, digits and '-'")
        if not isinstance(spec.help, str) or not spec.help:
            out.append("help: a one-line description is required (it is shown in `workbench --help`)")
    elif kind in ("PaletteCommandSpec", "RunPanelSpec", "TabSpec"):
        if not isinstance(spec.title, str) or not spec.title.strip():
            out.append(f"title: expected a non-empty string, got {spec.title!r}")
        if kind == "PaletteCommandSpec" and spec.key is not None and (not isinstance(spec.key, str) or not spec.key):
            out.append(f"key: expected a key name such as 'ctrl+k', got {spec.key!r}")
        if kind == "RunPanelSpec":
            for fld in ("trainers", "tags", "metrics"):
                out += _str_tuple(getattr(spec, fld), fld)
    return out


# -- import paths -----------------------------------------------------------------------------

def _top_level_names(tree: ast.Module) -> tuple[set[str], bool]:
    """Names a module defines at top level, and whether it resolves names dynamically (lazy modules)."""
    names: set[str] = set()
    dynamic = False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            dynamic |= node.name == "__getattr__"
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for sub in ast.walk(target):
                    if isinstance(sub, ast.Name):
                        names.add(sub.id)
                    elif isinstance(sub, ast.Subscript) and "sys.modules" in ast.unparse(sub.value):
                        dynamic = True  # sys.modules[__name__] = _LazyModule(...)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name == "*":
                    dynamic = True
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            inner, dyn = _top_level_names(ast.Module(body=[n for n in ast.walk(node) if isinstance(n, ast.stmt)
                                                           and n is not node], type_ignores=[]))
            names |= inner
            dynamic |= dyn
    return names, dynamic


def _module_source(module: str) -> tuple[Path | None, str | None]:
    """(file, problem) of a module, found without running it (its parent packages are imported)."""
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError) as exc:
        return None, f"cannot find module '{module}': {exc}"
    except BaseException as exc:  # noqa: BLE001 - a parent package that raises or exits at import
        return None, f"importing a parent package of '{module}' raised {type(exc).__name__}: {exc}"
    if found is None:
        return None, f"no module named '{module}'"
    origin = found.origin
    return (Path(origin) if origin and origin.endswith(".py") else None), None


def import_path_problem(path: str, full: bool = False) -> str | None:
    """Why "module:attr" does not resolve, or None. full=True imports the module and checks the object."""
    module, _, attr = path.partition(":")
    if full:
        try:
            obj = load_object(path)
        except (Exception, SystemExit, KeyboardInterrupt) as exc:  # noqa: BLE001 - reported, never raised
            return f"'{path}' does not resolve: {type(exc).__name__}: {exc}"
        if not callable(obj):
            return f"'{path}' is a {type(obj).__name__}, not a function or class"
        return None
    source, problem = _module_source(module)
    if problem:
        return f"'{path}' does not resolve: {problem}"
    if module in sys.modules:  # already imported: look at the real module
        return import_path_problem(path, full=True)
    if source is None:
        return None  # a compiled or namespace module: checked when imported
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"), str(source))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError) as exc:
        return f"'{path}': cannot read {source.name}: {type(exc).__name__}: {exc}"
    names, dynamic = _top_level_names(tree)
    first = attr.split(".")[0]
    if first not in names and not dynamic:
        return (f"'{path}' does not resolve: {source.name} defines no '{first}'"
                f"{did_you_mean(first, [n for n in names if not n.startswith('_')])}")
    return None


def resolve_problems(spec: Any, full: bool = False) -> list[str]:
    """Problems with the import paths (and files) `spec` names: "field: why"."""
    kind = type(spec).__name__
    out = []
    for fld in IMPORT_FIELDS.get(kind, ()):
        value = getattr(spec, fld)
        if isinstance(value, str):
            problem = import_path_problem(value, full=full)
            if problem:
                out.append(f"{fld}: {problem}")
    if kind in ("PresetSpec", "ThemeSpec") and isinstance(spec.path, str) and not Path(spec.path).is_file():
        out.append(f"path: file not found: {spec.path}")
    return out


# -- factory signatures -----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Param:
    name: str
    required: bool
    default: Any = None       # the literal default when it could be read
    kinds: frozenset[str] | None = None   # what its annotation admits ("int", "None", ...); None: unknown


_KINDS = {"int", "float", "str", "bool", "list", "dict", "tuple"}
_ALIASES = {"List": "list", "Sequence": "list", "Dict": "dict", "Mapping": "dict", "Tuple": "tuple"}


def _annotation_kinds(node: ast.expr | None) -> frozenset[str] | None:
    """The value kinds an annotation admits (`int | None` -> {int, None}), or None when it cannot be told."""
    if isinstance(node, ast.Constant):
        if node.value is None:
            return frozenset({"None"})
        if isinstance(node.value, str):  # a quoted (or `from __future__ import annotations`) annotation
            try:
                return _annotation_kinds(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                return None
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _annotation_kinds(node.left), _annotation_kinds(node.right)
        return left | right if left is not None and right is not None else None
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
    if name is not None:
        name = _ALIASES.get(name, name)
        return frozenset({name}) if name in _KINDS else None
    if isinstance(node, ast.Subscript):
        base = _annotation_kinds(node.value)
        if base is not None:  # list[int], dict[str, float]: the container is what a config value can be
            return base
        outer = node.value.id if isinstance(node.value, ast.Name) else getattr(node.value, "attr", None)
        inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        kinds = [_annotation_kinds(n) for n in inner]
        if outer in ("Optional", "Union") and all(k is not None for k in kinds):
            return frozenset().union(*kinds) | ({"None"} if outer == "Optional" else set())
    return None


def _kinds_of(annotation: Any) -> frozenset[str] | None:
    """`_annotation_kinds` for an annotation object of an imported function."""
    if annotation is inspect.Parameter.empty:
        return None
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", None) \
        if isinstance(annotation, type) else str(annotation)
    try:
        return _annotation_kinds(ast.parse(str(text), mode="eval").body)
    except SyntaxError:
        return None


def _kind_clash(kinds: frozenset[str], value: Any) -> str | None:
    """What the annotation wanted, when a config value is not of it (an int is a float too, a bool is neither)."""
    if isinstance(value, bool):
        ok = "bool" in kinds
    elif isinstance(value, int):
        ok = bool(kinds & {"int", "float"})
    elif isinstance(value, float):
        ok = "float" in kinds
    elif isinstance(value, str):
        ok = "str" in kinds
    elif isinstance(value, list):
        ok = bool(kinds & {"list", "tuple"})
    elif isinstance(value, dict):
        ok = "dict" in kinds
    else:
        ok = True
    return None if ok else " or ".join(sorted(kinds - {"None"})) or "None"


@dataclasses.dataclass(frozen=True)
class Signature:
    params: tuple[Param, ...]
    var_keyword: bool         # takes **kwargs: any option goes


def _literal(node: ast.expr | None) -> Any:
    try:
        return ast.literal_eval(node) if node is not None else None
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def signature_of(path: str, skip: int = 0) -> Signature | None:
    """The parameters of the function at `path` after the first `skip` ones, from its source if it is a
    plain `def` there (no import), else by importing it. None when it cannot be told."""
    module, _, attr = path.partition(":")
    source, problem = _module_source(module)
    if source is not None and "." not in attr and module not in sys.modules:
        try:
            tree = ast.parse(source.read_text(encoding="utf-8"))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            tree = None
        node = next((n for n in (tree.body if tree else []) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
                     and n.name == attr), None)
        if node is not None:
            a = node.args
            positional = [*a.posonlyargs, *a.args]
            defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
            params = [Param(p.arg, d is None, _literal(d), _annotation_kinds(p.annotation))
                      for p, d in zip(positional, defaults)][skip:]
            params += [Param(p.arg, d is None, _literal(d), _annotation_kinds(p.annotation))
                       for p, d in zip(a.kwonlyargs, a.kw_defaults)]
            return Signature(tuple(params), a.kwarg is not None)
    if problem:
        return None
    try:
        fn = load_object(path)
        sig = inspect.signature(fn)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - resolution problems are reported elsewhere
        del exc
        return None
    params, var_kw = [], False
    for i, p in enumerate(sig.parameters.values()):
        if p.kind is p.VAR_KEYWORD:
            var_kw = True
        elif p.kind is p.VAR_POSITIONAL or i < skip:
            continue
        else:
            params.append(Param(p.name, p.default is p.empty, None if p.default is p.empty else p.default,
                                _kinds_of(p.annotation)))
    return Signature(tuple(params), var_kw)


def _type_clash(default: Any, value: Any) -> str | None:
    if default is None or value is None:
        return None
    if isinstance(default, bool) or isinstance(value, bool):
        return None if isinstance(default, bool) == isinstance(value, bool) else type(default).__name__
    if isinstance(default, (int, float)):
        if not isinstance(value, (int, float)):
            return type(default).__name__
        return None if isinstance(default, float) or isinstance(value, int) else type(default).__name__
    for kind in (str, list, dict):
        if isinstance(default, kind) and not isinstance(value, kind):
            return kind.__name__
    return None


def option_problems(path: str, options: Mapping[str, Any], skip: int = 0,
                    declared: tuple = ()) -> list[tuple[str | None, str]]:
    """(option or None, why) for each option the function at `path` cannot take. Empty when unknown or fine.

    declared: what a function taking **options accepts (a spec's `options`: names, or (name,
    default) pairs); without it such a function takes anything."""
    sig = signature_of(path, skip=skip)
    if sig is None:
        return []
    params = {p.name: p for p in sig.params}
    extra: dict[str, Any] = {}
    for item in declared:
        name, default = (item, None) if isinstance(item, str) else (item[0], item[1])
        if name not in params:
            extra[name] = default
    names = [*params, *extra]
    out = []
    for key, value in options.items():
        kinds = None
        if key in params:
            default, kinds = params[key].default, params[key].kinds
        elif key in extra:
            default = extra[key]
        else:
            if not sig.var_keyword or extra:
                out.append((key, f"has no option '{key}'{did_you_mean(key, names)} "
                                 f"(options: {', '.join(names) or 'none'})"))
            continue
        clash = _kind_clash(kinds, value) if kinds else _type_clash(default, value)  # the annotation wins
        if clash:
            out.append((key, f"option '{key}': expected {clash} (default {default!r}), got "
                             f"{type(value).__name__} {value!r}"))
    out += [(None, f"needs option '{p.name}'") for p in sig.params if p.required and p.name not in options]
    return out


def callable_location(fn: Callable) -> str:
    """'file.py:LINE' of a function (where a hookimpl lives), or ''."""
    code = getattr(inspect.unwrap(fn), "__code__", None)
    if code is None:
        return ""
    return f"{Path(code.co_filename).name}:{code.co_firstlineno}"


# -- the specs one job config uses (called by config validation and the worker) ----------------

def used_specs(config: dict, registry: Any) -> list[tuple[str, str, str]]:
    """(registry table, name, config key path) of every registered thing a resolved config uses."""
    out = [("trainers", config["trainer"]["name"], "trainer.name")]
    for name in (config.get("eval") or {}).get("evaluators") or []:
        if isinstance(name, str) and name in registry.evaluators:
            out.append(("evaluators", name, "eval.evaluators"))
    launcher = (config.get("launch") or {}).get("launcher")
    if isinstance(launcher, str) and launcher in registry.launchers:
        out.append(("launchers", launcher, "launch.launcher"))
    trainer = config["trainer"]
    names = trainer.get("reward_functions") or []
    for i, name in enumerate([names] if isinstance(names, str) else names):
        if isinstance(name, str) and name in registry.reward_functions:
            out.append(("reward_functions", name, f"trainer.reward_functions[{i}]"))
    single = (trainer.get("args") or {}).get("reward_function")
    if isinstance(single, str) and single in registry.reward_functions:
        out.append(("reward_functions", single, "trainer.args.reward_function"))
    out += [("callbacks", name, "plugins") for name in registry.callbacks]
    return out


def check_config_plugins(config: dict, registry: Any, where: Callable[[str], str]) -> None:
    """Every spec the config uses resolves (found without running heavy imports) and takes its options.

    Raises a one-line PluginError naming the config key, the spec, its plugin and the problem.
    """
    from workbench.errors import PluginError

    for table, name, keypath in used_specs(config, registry):
        spec = getattr(registry, table)[name]
        plugin = registry.owner_of(table, name)
        label = f"{_SINGULAR.get(table, table)} '{name}' (plugin {plugin})"
        hint = f"`workbench plugins --check` lists every problem; WORKBENCH_PLUGINS_DENY={plugin} runs without it"
        for problem in resolve_problems(spec):
            raise PluginError(f"{keypath}: {label}: {problem}", where=where(keypath), hint=hint)
        if table == "trainers" and spec.config_class:
            from workbench.config.argschema import trainer_fields

            try:
                trainer_fields(spec.config_class)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - named, not raised raw
                raise PluginError(f"{keypath}: {label}: config_class '{spec.config_class}' does not resolve: "
                                  f"{type(exc).__name__}: {exc}", where=where(keypath), hint=hint) from None
        if table == "evaluators":
            options = ((config.get("eval") or {}).get("options") or {}).get(name) or {}
            if isinstance(options, dict):
                for option, problem in option_problems(spec.factory, options, skip=1,
                                                       declared=tuple(getattr(spec, "options", ()) or ())):
                    key = f"eval.options.{name}" + (f".{option}" if option else "")
                    raise PluginError(f"{key}: evaluator '{name}' (plugin {plugin}) {problem}", where=where(key))


_SINGULAR = {"trainers": "trainer", "evaluators": "evaluator", "launchers": "launcher",
             "reward_functions": "reward function", "callbacks": "callback"}

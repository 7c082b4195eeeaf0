"""The fields of a trainer's config class (e.g. trl.SFTConfig), cached per library version.

Importing TRL costs seconds; validating a config or opening its form must not. The first use
imports the real class (in a child process) and records its fields in the user's cache, keyed
by the class path and the installed version of its package; later uses read that file. Each
record holds what `validate` checks (annotation, default, help, choices) and what the config
form shows (`"form"`: kind, choices, nullable, default, type text), so neither imports the class.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import re
import types
import typing
from importlib import metadata
from pathlib import Path
from typing import Any

from workbench.runs.files import write_json_atomic
from workbench.specs import load_object


def cache_dir() -> Path:
    from workbench.paths import user_cache_dir

    return user_cache_dir() / "argschema"


def installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def package_version(class_path: str) -> str | None:
    """The installed version of the package `class_path` lives in; None for a local plugin module
    (no stable version: never cached)."""
    return installed_version(class_path.split(":")[0].split(".")[0])


def _jsonable(value: Any) -> Any:
    if value is dataclasses.MISSING:
        return None
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type):
        return annotation.__name__
    return repr(annotation).replace("typing.", "")


def _choices(field: dataclasses.Field) -> list[str] | None:
    """Allowed string values: the field's metadata `choices`, or the members of an Enum in its annotation
    (transformers turns e.g. `optim: OptimizerNames | str` into the enum, so any other string fails there)."""
    import importlib

    if field.metadata.get("choices"):
        return [str(c) for c in field.metadata["choices"]]
    annotation = field.type
    candidates = [annotation] if isinstance(annotation, type) else []
    for dotted in re.findall(r"[A-Za-z_][\w]*(?:\.[A-Za-z_]\w*)+", _type_name(annotation)):
        module, _, name = dotted.rpartition(".")
        try:
            candidates.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError, ValueError):
            continue
    for cand in candidates:
        if isinstance(cand, type) and issubclass(cand, enum.Enum):
            return [str(m.value) for m in cand]
    return None


def _factory_default(f: dataclasses.Field) -> tuple[bool, Any]:
    """(has a default, the default) of a field; a factory that needs context has none to show."""
    if f.default is not dataclasses.MISSING:
        return True, f.default
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        try:
            return True, f.default_factory()  # type: ignore[misc]
        except Exception:  # noqa: BLE001
            return True, None
    return False, None


def fields_of(cls: type) -> dict[str, dict[str, Any]]:
    """One JSON-able record per dataclass field of `cls` (see the module docstring)."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - unresolvable forward references: fall back to the raw annotations
        hints = {}
    out = {}
    for f in dataclasses.fields(cls):
        has_default, default = _factory_default(f)
        out[f.name] = {
            "annotation": _type_name(f.type),
            "default": _jsonable(default if has_default else dataclasses.MISSING),
            "help": str(f.metadata.get("help", "")),
            "choices": _choices(f),
            "init": f.init,
            "form": _form_record(f, hints.get(f.name, f.type), has_default, default),
        }
    return out


# -- what the config form shows of a field (workbench.config.form builds its FieldSpecs from this) --

def _form_record(f: dataclasses.Field, annotation: Any, has_default: bool, default: Any) -> dict[str, Any]:
    kind, choices, nullable = _describe(annotation)
    meta_choices = tuple(f.metadata.get("choices") or ()) if f.metadata else ()
    if meta_choices and kind in ("str", "value"):
        kind, choices = "choice", meta_choices
    if isinstance(default, enum.Enum):
        default = default.value
    return {"kind": kind, "choices": [_jsonable(c) for c in choices], "nullable": nullable,
            "required": not has_default, "default": _jsonable(default),
            "type_text": annotation if isinstance(annotation, str) else _type_text(annotation)}


def _union_parts(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        parts = []
        for arg in typing.get_args(annotation):
            parts += _union_parts(arg)
        return parts
    return [annotation]


def _describe(annotation: Any) -> tuple[str, tuple, bool]:
    """(kind, choices, nullable) of a dataclass field annotation; kinds as workbench.config.form.KINDS."""
    if isinstance(annotation, str):
        return _describe_text(annotation)
    parts = _union_parts(annotation)
    nullable = any(p is type(None) or p is None for p in parts)
    rest = [p for p in parts if not (p is type(None) or p is None)]
    choices: list = []
    plain: set[str] = set()
    for p in rest:
        origin = typing.get_origin(p) or p
        if origin is typing.Literal:
            choices += [a for a in typing.get_args(p) if a is not False]
            if any(a is False for a in typing.get_args(p)):
                plain.add("bool")
        elif isinstance(origin, type) and issubclass(origin, enum.Enum):
            choices += [m.value for m in origin]
        elif origin in (bool, int, float, str, list, dict):
            plain.add(origin.__name__)
        elif origin in (tuple, set, frozenset):
            plain.add("list")
        else:
            plain.add("other")
    if choices and plain <= {"str"}:
        return "choice", tuple(dict.fromkeys(choices)), nullable
    if len(plain) == 1 and not choices:
        only = next(iter(plain))
        return ("value" if only == "other" else only), (), nullable
    if plain == {"int", "float"}:
        return "float", (), nullable
    return "value", (), nullable


def _describe_text(text: str) -> tuple[str, tuple, bool]:
    """Fallback for annotations that could not be resolved (string annotations of plugins)."""
    parts = [p.strip() for p in text.replace("Optional[", "").rstrip("]").split("|")]
    nullable = any(p in ("None", "NoneType") for p in parts) or text.startswith("Optional[")
    rest = [p for p in parts if p not in ("None", "NoneType")]
    if len(rest) == 1:
        base = rest[0].split("[")[0]
        if base in ("bool", "int", "float", "str", "list", "dict"):
            return base, (), nullable
    return "value", (), nullable


def _type_text(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    return text or repr(annotation).replace("typing.", "")


def cacheable(class_path: str) -> bool:
    """Whether the class comes from an installed package (a version to key its schema by)."""
    return package_version(class_path) is not None


def _cache_path(class_path: str) -> Path | None:
    version = package_version(class_path)
    if not version:
        return None
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", class_path)
    return cache_dir() / f"{safe}-{version}-v4.json"


def cached_fields(class_path: str) -> dict[str, dict[str, Any]] | None:
    """The cached fields of `class_path`, or None (not cached yet, or not cacheable)."""
    path = _cache_path(class_path)
    if path is None:
        return None
    try:
        fields = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return fields if isinstance(fields, dict) else None


def write_cache_file(path: Path, data: dict[str, Any]) -> None:
    """Write a cache entry atomically; a read-only or full cache only costs speed."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, data)
    except OSError:
        pass


def store_fields(class_path: str, fields: dict[str, dict[str, Any]]) -> None:
    path = _cache_path(class_path)
    if path is not None:
        write_cache_file(path, fields)


def fields_for(class_path: str) -> dict[str, dict[str, Any]]:
    """The records of the class at `class_path` (run by the warm checker or a child process)."""
    return fields_of(load_object(class_path))


def _fields_in_child(class_path: str) -> dict[str, dict[str, Any]]:
    """Import the class where it cannot weigh on the caller (TRL imports torch: seconds, hundreds of MB):
    the warm checker (workbench.config.checker), else a child process; read its fields."""
    import subprocess
    import sys
    import tempfile

    from workbench.config import checker

    pending = checker.submit("workbench.config.argschema:fields_for", {"class_path": class_path},
                             warm=["torch", "workbench.config.argschema", class_path])
    fields = pending.result() if pending is not None else None
    if isinstance(fields, dict):
        return fields
    with tempfile.TemporaryDirectory(prefix="workbench-schema-") as tmp:
        out = Path(tmp) / "fields.json"
        proc = subprocess.run([sys.executable, "-m", "workbench.config.argschema", class_path, str(out)],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              env=checker.check_env())
        try:
            return json.loads(out.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            lines = proc.stderr.strip().splitlines()
            raise ImportError(lines[-1] if lines else f"exit code {proc.returncode}") from None


def trainer_fields(class_path: str, in_process: bool = False) -> dict[str, dict[str, Any]]:
    """{field: {annotation, default, help, choices}} of the config class at `class_path`.

    Read from the cache; built per class on first use (one class, not every trainer's), in a
    child process unless `in_process` (a class from no installed package is never cached).
    """
    fields = cached_fields(class_path)
    if fields is not None:
        return fields
    if in_process or package_version(class_path) is None:
        fields = fields_of(load_object(class_path))
    else:
        fields = _fields_in_child(class_path)
    store_fields(class_path, fields)
    return fields


if __name__ == "__main__":  # python -m workbench.config.argschema CLASS OUT.json
    import sys

    Path(sys.argv[2]).write_text(json.dumps(fields_of(load_object(sys.argv[1]))), encoding="utf-8")

"""The fields of a trainer's config class (e.g. trl.SFTConfig), cached per library version.

Importing TRL costs seconds; validating a config must not. The first use imports the real
class and records its fields (name, annotation, default, help) in the user's cache, keyed
by the class path and the installed version of its package; later uses read that file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from workbench.runs.files import write_json_atomic
from workbench.specs import load_object


def cache_dir() -> Path:
    base = os.environ.get("WORKBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "workbench")
    return Path(base) / "argschema"


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
    import enum
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


def fields_of(cls: type) -> dict[str, dict[str, Any]]:
    out = {}
    for f in dataclasses.fields(cls):
        default = f.default
        if default is dataclasses.MISSING and f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        out[f.name] = {
            "annotation": _type_name(f.type),
            "default": _jsonable(default),
            "help": str(f.metadata.get("help", "")),
            "choices": _choices(f),
        }
    return out


def _cache_path(class_path: str) -> Path | None:
    version = package_version(class_path)
    if not version:
        return None
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", class_path)
    return cache_dir() / f"{safe}-{version}-v3.json"


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


def _fields_in_child(class_path: str) -> dict[str, dict[str, Any]]:
    """Import the class in a child process (TRL imports torch: seconds, hundreds of MB) and read its fields."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory(prefix="workbench-schema-") as tmp:
        out = Path(tmp) / "fields.json"
        proc = subprocess.run([sys.executable, "-m", "workbench.config.argschema", class_path, str(out)],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              env=dict(os.environ, PYTHONWARNINGS="ignore"))
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

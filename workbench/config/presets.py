"""Presets: ready job configs that plugins register, and copying one into a workspace.

A copy has its relative paths (model, data, ...) rewritten to absolute paths of the
files the preset points at, so the new config runs from any folder.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import tomlkit

from workbench.errors import ConfigError
from workbench.specs import PresetSpec


def description_of(path: Path) -> str:
    """The first comment line of a TOML file, without the '#'."""
    try:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                s = line.strip()
                if s.startswith("#"):
                    return s.lstrip("#").strip()
                if s:
                    break
    except OSError:
        pass
    return ""


def presets(registry=None) -> dict[str, PresetSpec]:
    """Every registered preset by name."""
    if registry is None:
        from workbench.plugin_manager import get_registry

        registry = get_registry()
    return dict(sorted(registry.presets.items()))


def get_preset(name: str, registry=None) -> PresetSpec:
    """A preset by name, or a one-line PluginError with a did-you-mean."""
    if registry is None:
        from workbench.plugin_manager import get_registry

        registry = get_registry()
    return registry.get("presets", name)


def _absolutize(container: Any, base: Path) -> None:
    """Rewrite string values that are relative paths to existing files/folders under `base`."""
    for key in list(container.keys()):
        value = container[key]
        if isinstance(value, dict):
            _absolutize(value, base)
        elif isinstance(value, str) and not value.startswith("hub:") and not Path(value).is_absolute():
            if not value.startswith(("./", "../")) and "/" not in value and not Path(value).suffix:
                continue  # a bare word ("sft", "auto"), not a path
            candidate = (base / value).resolve()
            if value and candidate.exists():
                container[key] = str(candidate)


def materialize(preset_path: Path | str) -> str:
    """The preset's TOML text with its relative paths made absolute; comments kept."""
    src = Path(preset_path)
    try:
        doc = tomlkit.parse(src.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read preset: {exc.strerror or exc}", where=str(src)) from None
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(f"invalid TOML in preset: {exc}", where=str(src)) from None
    _absolutize(doc, src.parent.resolve())
    return tomlkit.dumps(doc)


def write_preset(spec: PresetSpec, dest: Path | str, force: bool = False) -> Path:
    """Write a runnable copy of a preset to `dest`; refuses to overwrite unless `force`."""
    target = Path(dest)
    if target.is_dir() or str(dest).endswith(("/", os.sep)):  # `configs/`: a folder, made if need be
        target = target / f"{spec.name}.toml"
    if target.exists() and not force:
        raise ConfigError("already exists; pass --force to overwrite it", where=str(target))
    text = materialize(spec.path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:  # written whole or not at all: a full disk leaves no half config behind
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as exc:
        if tmp.parent.is_dir():
            tmp.unlink(missing_ok=True)
        blocker = next((p for p in target.parents if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a folder" if blocker else exc.strerror or str(exc)
        raise ConfigError(f"cannot write the config: {why}", where=str(target)) from None
    return target


def unique_path(path: Path) -> Path:
    """`path`, or `stem-2.toml`, `stem-3.toml`, ... whichever does not exist yet."""
    if not path.exists():
        return path
    stem = path.stem
    base = stem.rsplit("-", 1)[0] if stem.rsplit("-", 1)[-1].isdigit() else stem
    n = 2
    while True:
        candidate = path.with_name(f"{base}-{n}{path.suffix}")
        if not candidate.exists():
            return candidate
        n += 1

"""`workbench plugin new`: writes a ready-to-install plugin package from templates.

The templates (workbench.scaffold.templates) are string.Template texts; `$module`,
`$dist`, `$short` and friends are filled from the plugin's name.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template

from workbench.errors import ConfigError

KINDS = ("trainer", "data-format", "evaluator", "reward-function", "launcher", "preset", "run-panel", "tab",
         "cli-command", "lifecycle", "theme")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
# The registry table each kind's spec lands in (for name clashes with what is installed).
_TABLE = {"trainer": "trainers", "data-format": "data_formats", "evaluator": "evaluators",
          "reward-function": "reward_functions", "launcher": "launchers", "preset": "presets", "run-panel": "run_panels",
          "tab": "tabs", "cli-command": "commands", "lifecycle": "callbacks", "theme": "themes"}


@dataclass(frozen=True)
class Names:
    """The names a plugin called NAME gets: distribution, import package, registered name."""

    dist: str     # workbench-orpo  (pip install ..., the project name)
    module: str   # workbench_orpo  (import name)
    short: str    # orpo            (the entry-point/plugin name and the registered spec's name)

    @classmethod
    def from_name(cls, name: str) -> "Names":
        if not _NAME.match(name):
            raise ConfigError(f"plugin name '{name}' must start with a letter and hold only letters, digits, - and _",
                              where="NAME")
        dist = name.lower().replace("_", "-")
        module = dist.replace("-", "_")
        short = re.sub(r"^workbench-", "", dist).replace("-", "_")
        if keyword.iskeyword(module) or keyword.iskeyword(short):
            raise ConfigError(f"plugin name '{name}' is a Python keyword", where="NAME")
        return cls(dist, module, short)


def _check_clash(names: Names, kind: str) -> None:
    """Refuse names the installed plugins already use: the new plugin would be listed as a conflict."""
    from workbench.plugin_manager import build_registry

    reg = build_registry()
    table = getattr(reg, _TABLE[kind])
    if names.short in table:
        raise ConfigError(f"a {kind.replace('-', ' ')} named '{names.short}' is already registered by plugin "
                          f"'{reg.owner[(_TABLE[kind], names.short)]}'; choose another name", where="NAME")
    if kind == "cli-command":
        from workbench.cli.commands import builtin_command_names

        if names.short.replace("_", "-") in builtin_command_names():
            raise ConfigError(f"'workbench {names.short}' is a built-in command; choose another name", where="NAME")
    if reg.plugin(names.short) is not None:
        raise ConfigError(f"a plugin named '{names.short}' is already installed; choose another name", where="NAME")


def files_for(names: Names, kind: str) -> dict[str, str]:
    """Relative path -> text of every file of the new plugin package."""
    from workbench.hookspecs import HOOKSPEC_VERSION
    from workbench.scaffold import templates

    if kind not in KINDS:
        raise ConfigError(f"unknown kind '{kind}'; choose one of {', '.join(KINDS)}", where="--kind")
    values = {
        "dist": names.dist, "module": names.module, "short": names.short,
        "title": names.short.replace("_", " "), "kind": kind, "hookspec_version": str(HOOKSPEC_VERSION),
        "cli_name": names.short.replace("_", "-"), "short_upper": names.short.upper(),
        "theme_name": names.short,
    }
    body = templates.KIND_FILES[kind]
    texts = {
        "pyproject.toml": templates.PYPROJECT,
        "README.md": templates.README_COMMON + templates.README_KIND[kind],
        f"{names.module}/__init__.py": templates.INIT,
        **{Template(path).substitute(values): text for path, text in body.items()},
    }
    return {path: Template(text).substitute(values) for path, text in texts.items()}


def scaffold(name: str, directory: str | Path = ".", kind: str = "trainer", check_installed: bool = True) -> Path:
    """Write the plugin package `directory/<dist>`; refuses to overwrite. Returns its folder."""
    names = Names.from_name(name)
    files = files_for(names, kind)
    target = Path(directory) / names.dist
    if target.exists():
        raise ConfigError(f"{target} already exists; not overwriting it (choose another --dir or name)")
    if check_installed:
        _check_clash(names, kind)
    for rel, text in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target

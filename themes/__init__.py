"""The workbench's look: themes as data (`*.toml` here) and the app stylesheet (`workbench.tcss`).

Installed as `workbench_themes`. A theme file:

    name = "my-theme"              # what `theme = ...` in the settings and the palette name
    description = "one line"
    dark = true
    [colors]                       # Textual's theme colours
    primary = "#5fafff"            # primary, secondary, accent, warning, error, success,
    background = "#121212"         # foreground, background, surface, panel, boost
    [variables]                    # CSS variables: $status-running, $chart-1, ...
    status-failed = "#ff5f5f"

Built-in themes are the files of this package (dark, light, high contrast, colour-blind
safe); users add files to `<config dir>/themes/`, plugins ship them with `register_themes()`.
Every theme gets every variable of VARIABLE_DEFAULTS (a theme that lacks one inherits the
dark theme's value), so stylesheets can use them whatever theme is on.
"""

from __future__ import annotations

import re
import tomllib
from importlib.resources import files
from pathlib import Path
from typing import Any

from textual.theme import Theme

DEFAULT_THEME = "workbench-dark"
BUILTIN_FILES = ("dark.toml", "light.toml", "high-contrast.toml", "colorblind.toml")
COLOR_KEYS = ("primary", "secondary", "accent", "warning", "error", "success", "foreground", "background",
              "surface", "panel", "boost")
STATUS_NAMES = ("queued", "running", "stopping", "completed", "failed", "stopped", "lost")
CHART_SERIES = 6
_COLOR = re.compile(r"^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$")


class ThemeFileError(ValueError):
    """A theme file that cannot be used; the message is one line naming the file."""


def css_path(name: str = "workbench.tcss") -> Path:
    """Filesystem path of a stylesheet shipped in this package."""
    resource = files(__name__) / name
    return Path(str(resource))


def css_text(name: str = "workbench.tcss") -> str:
    """The stylesheet's text (works from zipped installs too)."""
    return (files(__name__) / name).read_text(encoding="utf-8")


def _check_color(value: Any, key: str, where: str) -> str:
    if not isinstance(value, str) or not _COLOR.match(value):
        raise ThemeFileError(f"{where}: {key}: expected a colour like '#5fafff', got {value!r}")
    return value


def theme_from_data(data: dict[str, Any], where: str, defaults: dict[str, str] | None = None) -> Theme:
    """A Textual Theme from a theme file's table; ThemeFileError names `where` and the key at fault."""
    name = data.get("name")
    if not isinstance(name, str) or not re.match(r"^[a-z0-9][a-z0-9_-]*$", name):
        raise ThemeFileError(f"{where}: name: expected a lower-case name like 'my-theme', got {name!r}")
    unknown = sorted(set(data) - {"name", "description", "dark", "colors", "variables"})
    if unknown:
        raise ThemeFileError(f"{where}: {unknown[0]}: unknown key (known: name, description, dark, colors, variables)")
    colors = data.get("colors", {})
    variables = data.get("variables", {})
    if not isinstance(colors, dict) or not isinstance(variables, dict):
        raise ThemeFileError(f"{where}: [colors] and [variables] must be tables")
    bad = sorted(set(colors) - set(COLOR_KEYS))
    if bad:
        raise ThemeFileError(f"{where}: colors.{bad[0]}: unknown colour (known: {', '.join(COLOR_KEYS)})")
    if "primary" not in colors:
        raise ThemeFileError(f"{where}: colors.primary: required")
    for key, value in colors.items():
        _check_color(value, f"colors.{key}", where)
    for key, value in variables.items():
        if not isinstance(value, str):
            raise ThemeFileError(f"{where}: variables.{key}: expected a string, got {value!r}")
        if key.startswith(("status-", "chart-")):
            _check_color(value, f"variables.{key}", where)
    dark = data.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeFileError(f"{where}: dark: expected true or false, got {dark!r}")
    return Theme(name=name, dark=dark, variables={**(defaults or {}), **variables}, **colors)


def load_theme_file(path: str | Path, defaults: dict[str, str] | None = None) -> Theme:
    """Read one theme TOML file (user or plugin); errors are ThemeFileError naming the file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ThemeFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ThemeFileError(f"{path}: invalid TOML: {str(exc).split(' (at')[0]}") from None
    return theme_from_data(data, str(path), VARIABLE_DEFAULTS if defaults is None else defaults)


def _builtin(name: str) -> dict[str, Any]:
    return tomllib.loads((files(__name__) / name).read_text(encoding="utf-8"))


_DARK = _builtin("dark.toml")
# The variables every theme has (the dark theme's values unless a theme sets its own).
VARIABLE_DEFAULTS: dict[str, str] = {k: v for k, v in _DARK["variables"].items()
                                     if k.startswith(("status-", "chart-"))}
THEMES: list[Theme] = [theme_from_data(_builtin(f), f"workbench_themes/{f}", VARIABLE_DEFAULTS) for f in BUILTIN_FILES]
DESCRIPTIONS: dict[str, str] = {t.name: _builtin(f).get("description", "") for t, f in zip(THEMES, BUILTIN_FILES)}


def user_theme_files(config_dir: Path) -> list[Path]:
    """`<config dir>/themes/*.toml`, sorted."""
    folder = Path(config_dir) / "themes"
    return sorted(folder.glob("*.toml")) if folder.is_dir() else []

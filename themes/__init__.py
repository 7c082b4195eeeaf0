"""The workbench's look: Textual themes and the app stylesheet (`workbench.tcss`).

Installed as `workbench_themes`. The app registers `THEMES` and loads `css_path()`;
plugins and users can add themes through Textual's theme registry.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from textual.theme import Theme

DEFAULT_THEME = "workbench-dark"

THEMES = [
    Theme(
        name="workbench-dark",
        primary="#5fafff",
        secondary="#8787d7",
        accent="#ffaf5f",
        warning="#ffd75f",
        error="#ff5f5f",
        success="#87d787",
        foreground="#d0d0d0",
        background="#121212",
        surface="#1c1c1c",
        panel="#262626",
        dark=True,
        variables={"footer-key-foreground": "#5fafff", "block-cursor-text-style": "bold"},
    ),
    Theme(
        name="workbench-light",
        primary="#005faf",
        secondary="#5f5faf",
        accent="#af5f00",
        warning="#af8700",
        error="#d70000",
        success="#008700",
        foreground="#1c1c1c",
        background="#f5f5f5",
        surface="#ebebeb",
        panel="#dadada",
        dark=False,
    ),
]
"""Colours picked from the xterm-256 palette so 256-colour terminals show them unchanged."""


def css_path(name: str = "workbench.tcss") -> Path:
    """Filesystem path of a stylesheet shipped in this package."""
    resource = files(__name__) / name
    return Path(str(resource))


def css_text(name: str = "workbench.tcss") -> str:
    """The stylesheet's text (works from zipped installs too)."""
    return (files(__name__) / name).read_text(encoding="utf-8")

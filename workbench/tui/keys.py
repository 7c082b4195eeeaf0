"""The keys of each screen, read from the bindings themselves: the `?` help and docs/tui.md.

Help never drifts from the code: it lists the workbench's own bindings (their
`tooltip`, else their description) of the app, the screen you are on and the widgets
holding focus, plus each of those classes' `HELP_EXTRA` (keys Textual's widgets handle,
such as arrows and enter in a table).
"""

from __future__ import annotations

from typing import Any, Iterable

from textual.binding import Binding

NAMES = {
    "left_square_bracket": "[", "right_square_bracket": "]", "question_mark": "?", "slash": "/",
    "plus": "+", "minus": "-", "less_than_sign": "<", "greater_than_sign": ">", "full_stop": ".",
    "comma": ",", "space": "space", "escape": "escape", "enter": "enter", "up": "↑", "down": "↓",
    "left": "←", "right": "→", "equals_sign": "=", "number_sign": "#", "asterisk": "*",
}


def key_label(key: str) -> str:
    """How a key is written in help and docs: '[', 'ctrl+p', 'X', 'escape'."""
    return " / ".join(NAMES.get(k.strip(), k.strip()) for k in key.split(","))


def binding_lines(bindings: Iterable[Binding | tuple]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for b in bindings:
        if not isinstance(b, Binding):
            b = Binding(*b)
        out.append((key_label(b.key), b.tooltip or b.description or b.action))
    return out


def class_sections(cls: type) -> list[tuple[str, list[tuple[str, str]]]]:
    """(title, key lines) that a workbench class contributes (its bindings + HELP_EXTRA)."""
    title = getattr(cls, "HELP_TITLE", None)
    if not title:
        return []
    lines = binding_lines(cls.__dict__.get("BINDINGS", getattr(cls, "BINDINGS", [])))
    lines += list(getattr(cls, "HELP_EXTRA", []))
    return [(title, lines)] if lines else []


def _ours(node: Any) -> bool:
    return type(node).__module__.startswith("workbench") and getattr(type(node), "HELP_TITLE", None)


def help_sections(app: Any) -> list[tuple[str, list[tuple[str, str]]]]:
    """The key sections of what is on screen now: the focused widgets and tab, the screen, 'Everywhere'."""
    screen = app.screen
    nodes: list[Any] = []
    focused = screen.focused
    if focused is not None:
        nodes += [n for n in focused.ancestors_with_self if n is not screen and n is not app]
    active_panel = getattr(screen, "active_panel", None)
    if callable(active_panel):  # the main screen: the active tab's panel, wherever focus is
        panel = active_panel()
        nodes += [panel, *panel.query("*")]
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    seen: set[str] = set()
    for node in [*nodes, screen, app]:
        if not _ours(node):
            continue
        for title, lines in class_sections(type(node)):
            if title in seen:
                have = dict(sections)[title]
                have += [line for line in lines if line not in have]
            else:
                seen.add(title)
                sections.append((title, list(lines)))
    return sections


def help_text(sections: list[tuple[str, list[tuple[str, str]]]], width: int = 78) -> str:
    """The sections as plain text columns."""
    keyw = min(16, max((len(k) for _, lines in sections for k, _ in lines), default=4))
    out = []
    for title, lines in sections:
        out.append(title)
        out.extend(f"  {k:<{keyw}} {what}" for k, what in lines)
        out.append("")
    return "\n".join(out).rstrip()

"""The key tables of docs/tui.md, generated from the bindings themselves:
`python -m workbench.tui.keydocs` prints them (a test checks the docs hold every one)."""

from __future__ import annotations

from workbench.tui.keys import class_sections


def all_screen_classes() -> list[type]:
    """Every class whose keys docs/tui.md must describe (imports the screens: not for start-up)."""
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.panels.configs import ConfigsPanel
    from workbench.tui.panels.datasets import DatasetsPanel
    from workbench.tui.screens.compare import CompareScreen
    from workbench.tui.screens.detail import RunDetailScreen
    from workbench.tui.screens.logs import LogScreen
    from workbench.tui.screens.main import MainScreen, PluginsPane, RunsPane
    from workbench.tui.screens.rowview import RowScreen
    from workbench.tui.widgets.gpu_panel import GpuPanel
    from workbench.tui.widgets.runs_table import RunsTable

    return [WorkbenchApp, MainScreen, RunsPane, RunsTable, GpuPanel, DatasetsPanel, ConfigsPanel, PluginsPane,
            RunDetailScreen, CompareScreen, LogScreen, RowScreen]


def markdown_tables() -> str:
    """The key tables of docs/tui.md, one per screen (`python -m workbench.tui.keys`)."""
    out: list[str] = []
    merged: dict[str, list[tuple[str, str]]] = {}
    for cls in all_screen_classes():
        for title, lines in class_sections(cls):
            have = merged.setdefault(title, [])
            have += [line for line in lines if line not in have]
    for title, lines in merged.items():
        out.append(f"| {title} | |\n|---|---|")
        for key, what in lines:
            keys = " ".join(f"`{k}`" for k in key.split(" / "))
            out.append(f"| {keys} | {what} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(markdown_tables())

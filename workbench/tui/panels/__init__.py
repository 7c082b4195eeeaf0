"""Tab panels contributed by other modules, loaded the first time their tab is shown.

`load_panel("datasets")` imports `workbench.tui.panels.datasets.DatasetsPanel`;
`load_panel("configs")` imports `workbench.tui.panels.configs.ConfigsPanel`. When the
module is not there, the app shows `WorkspaceFiles`, a plain list of the workspace's
data or config files; when it is there but broken, the error is shown instead.
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import DataTable, Static

from workbench import numbers

PANELS = {
    "datasets": ("workbench.tui.panels.datasets", "DatasetsPanel"),
    "configs": ("workbench.tui.panels.configs", "ConfigsPanel"),
}
PATTERNS = {
    "datasets": (".jsonl", ".json", ".csv", ".tsv", ".parquet", ".arrow", ".txt"),
    "configs": (".toml",),
}
SKIP_DIRS = {"runs", ".git", ".venv", "node_modules", "__pycache__", "checkpoints", ".workbench"}
MAX_FILES = 500
MAX_DEPTH = 4


def load_panel(kind: str) -> tuple[type[Widget] | None, str | None]:
    """(panel class, None), or (None, why not): 'not installed' or the import error."""
    module_name, class_name = PANELS[kind]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None, None
        return None, f"{module_name}: {type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - a broken panel must not take the app down
        return None, f"{module_name}: {type(exc).__name__}: {exc}"
    cls = getattr(module, class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Widget)):
        return None, f"{module_name} has no Widget class {class_name}"
    return cls, None


def workspace_files(workspace: Path, kind: str) -> list[Path]:
    """Files of `kind` (datasets or configs) under the workspace, skipping runs/ and hidden folders."""
    suffixes = PATTERNS[kind]
    found: list[Path] = []
    root_depth = len(workspace.parts)
    for dirpath, dirnames, filenames in os.walk(workspace):
        depth = len(Path(dirpath).parts) - root_depth
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith(".")
                             and depth < MAX_DEPTH)
        for name in sorted(filenames):
            if name.endswith(suffixes):
                found.append(Path(dirpath) / name)
                if len(found) >= MAX_FILES:
                    return found
    return found


class WorkspaceFiles(Widget):
    """Fallback panel: the workspace's data or config files with size and age."""

    def __init__(self, workspace: Path, kind: str, note: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.workspace = workspace
        self.kind = kind
        self.note = note

    def compose(self) -> ComposeResult:
        head = f"{self.kind.capitalize()} in {self.workspace}"
        if self.note:
            head += f"\npanel unavailable: {self.note}"
        yield Static(head, classes="panel-note")
        yield DataTable(cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("file", "size", "modified")
        self.run_worker(self._scan, thread=True, exit_on_error=False)

    def _scan(self) -> None:
        import time

        rows = []
        for p in workspace_files(self.workspace, self.kind):
            try:
                st = p.stat()
            except OSError:
                continue
            rows.append((str(p.relative_to(self.workspace)), numbers.size(st.st_size),
                         time.strftime("%Y-%m-%d %H:%M", time.localtime(st.st_mtime))))
        try:
            self.app.call_from_thread(self._show, rows)
        except Exception:  # noqa: BLE001 - app closing
            pass

    def _show(self, rows: list[tuple[str, str, str]]) -> None:
        table = self.query_one(DataTable)
        for row in rows:
            table.add_row(*row)
        if not rows:
            self.query_one(".panel-note", Static).update(
                f"No {self.kind} files in {self.workspace} yet." + (f"\npanel unavailable: {self.note}" if self.note else ""))

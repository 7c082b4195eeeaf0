"""The table of runs: one row per run, updated in place as summaries change."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from workbench.tui import fmt

COLUMNS = (("mark", " ", 1), ("run", "run", 20), ("status", "status", 11), ("progress", "progress", 13),
           ("loss", "loss", 6), ("step", "step", 9), ("eta", "ETA", 6), ("tps", "tok/s", 6),
           ("elapsed", "elapsed", 7), ("trainer", "trainer", 7))
"""Most telling first: at 80 columns the run, its state, progress and loss are in view."""
MARK = "●"


def run_label(s: dict[str, Any]) -> str:
    """Name first (the id's date prefix would eat an 80-column table), then the start time."""
    rid = s["id"]
    parts = rid.split("-", 2)
    if len(parts) == 3 and parts[0].isdigit() and len(parts[1]) == 6 and parts[1].isdigit():
        when = f"{parts[0][6:8]}/{parts[1][:2]}:{parts[1][2:4]}"
        return f"{parts[2][:20 - len(when) - 1]} {when}"
    return rid


def cells(s: dict[str, Any], marked: bool) -> dict[str, Any]:
    """The text of each column for one run summary."""
    step, total = s.get("step"), s.get("max_steps")
    status = s.get("status") or "?"
    return {
        "mark": MARK if marked else " ",
        "run": run_label(s),
        "status": fmt.status_text(status),
        "trainer": s.get("trainer") or "-",
        "progress": fmt.progress(step, total),
        "step": f"{step or 0}/{total}" if total else str(step or 0),
        "loss": fmt.num(s.get("loss"), 4),
        "tps": fmt.num(s.get("tokens_per_second"), 3),
        "elapsed": fmt.duration(s.get("elapsed")),
        "eta": fmt.duration(s.get("eta")),
    }


class RunsTable(DataTable):
    """All runs, newest first; space marks runs for comparison."""

    BINDINGS = [Binding("space", "toggle_mark", "Mark", show=True)]
    STATUS_CLASSES = ("running", "queued", "starting", "stopping", "completed", "failed", "stopped", "lost")
    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {f"runs-table--{s}" for s in STATUS_CLASSES}

    class MarksChanged(Message):
        def __init__(self, marked: frozenset[str]):
            self.marked = marked
            super().__init__()

    def __init__(self, **kwargs: Any):
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.marked: set[str] = set()
        self.summaries: dict[str, dict[str, Any]] = {}
        self._order: list[str] = []
        self._shown: dict[str, dict[str, Any]] = {}

    def on_mount(self) -> None:
        for key, label, width in COLUMNS:
            self.add_column(label, key=key, width=width)

    @property
    def current_id(self) -> str | None:
        """The run under the cursor."""
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - cursor outside the table
            return None

    def _styled(self, row: dict[str, Any], status: str | None) -> dict[str, Any]:
        """Colour the status cell from the stylesheet (component class runs-table--<status>)."""
        if status in self.STATUS_CLASSES:
            row = dict(row)
            row["status"] = Text(row["status"], style=self.get_component_rich_style(f"runs-table--{status}"))
        return row

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._shown = {rid: {} for rid in self._shown}  # theme changed: restyle every cell next update
        if self.summaries:
            self.call_later(self.update_runs, list(self.summaries.values()))

    def update_runs(self, summaries: list[dict[str, Any]]) -> None:
        """Show these summaries (newest first): changed cells only; rows added/removed as runs come and go."""
        ids = [s["id"] for s in summaries]
        self.summaries = {s["id"]: s for s in summaries}
        self.marked &= set(ids)
        current = self.current_id
        if ids != self._order:
            for gone in set(self._order) - set(ids):
                self.remove_row(gone)
                self._shown.pop(gone, None)
            for s in summaries:
                if s["id"] not in self._shown:
                    row = self._styled(cells(s, s["id"] in self.marked), s.get("status"))
                    self.add_row(*(row[k] for k, _, _ in COLUMNS), key=s["id"])
                    self._shown[s["id"]] = row
            order = {rid: i for i, rid in enumerate(ids)}
            by_label = {run_label(s): i for i, s in enumerate(summaries)}
            self.sort("run", key=lambda label: by_label.get(str(label), len(by_label)))
            self._order = ids
            if current in order:
                self.move_cursor(row=self.get_row_index(current), animate=False)
        for s in summaries:
            row = self._styled(cells(s, s["id"] in self.marked), s.get("status"))
            shown = self._shown.get(s["id"], {})
            for key, value in row.items():
                if key not in shown or str(shown[key]) != str(value):
                    self.update_cell(s["id"], key, value)
            self._shown[s["id"]] = row

    def action_toggle_mark(self) -> None:
        rid = self.current_id
        if rid is None:
            return
        if rid in self.marked:
            self.marked.discard(rid)
        else:
            self.marked.add(rid)
        self.update_cell(rid, "mark", MARK if rid in self.marked else " ")
        self._shown.setdefault(rid, {})["mark"] = MARK if rid in self.marked else " "
        self.post_message(self.MarksChanged(frozenset(self.marked)))
        if self.cursor_row < self.row_count - 1:
            self.move_cursor(row=self.cursor_row + 1)

"""The table of runs: one row per run, columns sized from every value and chosen per width.

No cell is ever cut: each column is as wide as its widest value (header included).
Which columns show depends on the table's width, in order of importance (run, status,
step/max, loss, tok/s, ETA first: they fit in 80 columns); only the run label gives
way (with an ellipsis) when even those do not fit. Filter, sort and search act on the
summaries before they become rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable

from workbench import numbers
from workbench.tui import fmt
from workbench.tui.runfilter import RunFilter

MARK = "●"
CELL_PADDING = 1
SCROLLBAR = 2


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    priority: int
    """Lower shows first when the width is short."""
    right: bool = False


COLUMNS = (
    Column("mark", " ", 0),
    Column("run", "run", 0),
    Column("status", "status", 1),
    Column("step", "step", 2, right=True),
    Column("loss", "loss", 3, right=True),
    Column("tps", "tok/s", 4, right=True),
    Column("eta", "ETA", 5, right=True),
    Column("progress", "progress", 6),
    Column("elapsed", "elapsed", 7, right=True),
    Column("best", "best eval", 8, right=True),
    Column("trainer", "trainer", 9),
    Column("tags", "tags", 10),
)
"""Display order; `priority` decides what goes first when the table is narrow."""
BY_KEY = {c.key: c for c in COLUMNS}
RUN_MIN = 12
SHORT_KINDS = {"tensorboard": "tb", "trackio": "tk", "llamafactory": "lf", "hf-trainer": "hf"}
"""The marker of another tool's run where the run column is too narrow for its full kind."""


def run_label(s: dict[str, Any]) -> str:
    """Name first (the id's date prefix would eat an 80-column table), then the start time.

    Another tool's run (an added source) reads 'name (tensorboard)': the kind marks it read-only.
    """
    if s.get("read_only"):
        return f"{run_label({'id': str(s.get('name') or s['id'])})} ({s.get('source') or '?'})"
    name, when = split_run_id(s["id"])
    return f"{name} {when}" if when else name


def split_run_id(rid: str) -> tuple[str, str | None]:
    """'20250101-093000-sft-lora' -> ('sft-lora', '01/09:30'); an id of another form -> (id, None)."""
    parts = rid.split("-", 2)
    if len(parts) == 3 and parts[0].isdigit() and len(parts[0]) == 8 and len(parts[1]) == 6 and parts[1].isdigit():
        return parts[2], f"{parts[0][6:8]}/{parts[1][:2]}:{parts[1][2:4]}"
    return rid, None


def best_text(s: dict[str, Any]) -> str:
    best = s.get("best_eval")
    if not best:
        return "-"
    name, value = best
    return f"{numbers.num(value)} {name.removeprefix('eval_')}"


def cells(s: dict[str, Any], marked: bool) -> dict[str, str]:
    """The text of each column for one run summary (full text: nothing cut)."""
    step, total = s.get("step"), s.get("max_steps")
    return {
        "mark": MARK if marked else " ",
        "run": run_label(s),
        "status": fmt.status_text(s.get("status") or "?"),
        "step": f"{step or 0}/{total}" if total else str(step or 0),
        "loss": numbers.num(s.get("loss")),
        "tps": numbers.num(s.get("tokens_per_second")),
        "eta": numbers.duration(s.get("eta")),
        "progress": fmt.progress(step, total),
        "elapsed": numbers.duration(s.get("elapsed")),
        "best": best_text(s),
        "trainer": s.get("trainer") or "-",
        "tags": ",".join(s.get("tags") or []) or "-",
    }


def choose_columns(widths: dict[str, int], available: int) -> tuple[list[str], int]:
    """Columns that fit in `available` cells (display order) and the run column's width."""
    pad = 2 * CELL_PADDING
    chosen = {"mark", "run"}
    others = widths["mark"] + pad  # every chosen column but the run label, padding included
    run_full = max(RUN_MIN, widths["run"])
    for col in sorted(COLUMNS, key=lambda c: c.priority):
        if col.key in chosen:
            continue
        cost = widths[col.key] + pad
        # The 80-column set may squeeze the run label down to RUN_MIN; the rest only
        # shows when the run label keeps its full width.
        room = available - (RUN_MIN if col.priority <= 5 else run_full) - pad
        if others + cost <= room:
            chosen.add(col.key)
            others += cost
        elif col.priority > 5:
            break  # the optional columns come in order: never a later one instead of an earlier
    run_w = max(RUN_MIN, min(run_full, available - others - pad))
    return [c.key for c in COLUMNS if c.key in chosen], run_w


def ellipsize(text: str, width: int, keep_tail: int = 0) -> str:
    """`text` cut to `width` cells with an ellipsis; the last `keep_tail` characters always stay."""
    if cell_len(text) <= width:
        return text
    tail = text[len(text) - keep_tail:] if keep_tail else ""
    room = width - cell_len(tail)
    if room < 2:
        tail, room = "", width
    out = ""
    for ch in text[: len(text) - len(tail)]:
        if cell_len(out + ch) > room - 1:
            break
        out += ch
    return out + "…" + tail


class RunsTable(DataTable):
    """All runs, newest first (or as sorted); space marks runs for comparison."""

    HELP_TITLE = "Runs"
    BINDINGS = [Binding("space", "toggle_mark", "Mark", show=True, tooltip="mark / unmark the run for comparison")]
    HELP_EXTRA = [("↑ / ↓ / pgup / pgdn", "move the cursor")]
    STATUS_CLASSES = ("running", "queued", "starting", "stopping", "completed", "failed", "stopped", "lost")
    COMPONENT_CLASSES = DataTable.COMPONENT_CLASSES | {f"runs-table--{s}" for s in STATUS_CLASSES}

    class MarksChanged(Message):
        def __init__(self, marked: frozenset[str]):
            self.marked = marked
            super().__init__()

    class Shown(Message):
        """The rows shown changed (count, filter or sort)."""

    def __init__(self, **kwargs: Any):
        super().__init__(cursor_type="row", zebra_stripes=True, cell_padding=CELL_PADDING, **kwargs)
        self.marked: set[str] = set()
        self.summaries: dict[str, dict[str, Any]] = {}
        self.filter = RunFilter("")
        self.sort_key: str = "created"
        self.shown_ids: list[str] = []
        self._texts: dict[str, dict[str, str]] = {}
        self._layout: tuple[tuple[str, ...], tuple[int, ...]] | None = None
        self._shown: dict[str, dict[str, str]] = {}
        self.follow_top = True
        """Until the cursor is moved off the first row, it stays on the first row (the newest run) as rows
        come: rows that arrive after the first paint (other tools' runs) do not push it down."""
        self._rebuilding = False

    def watch_cursor_coordinate(self, old: Any, new: Any) -> None:
        super().watch_cursor_coordinate(old, new)
        if not self._rebuilding and new.row != 0:
            self.follow_top = False

    # -- what the table holds -----------------------------------------------------------
    @property
    def current_id(self) -> str | None:
        """The run under the cursor."""
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - cursor outside the table
            return None

    @property
    def total(self) -> int:
        return len(self.summaries)

    def set_filter(self, text: str) -> None:
        self.filter = RunFilter(text)
        self._refill()

    def set_sort(self, key: str) -> None:
        self.sort_key = key
        self._refill()

    def _visible(self) -> list[dict[str, Any]]:
        from workbench.tui.runfilter import sort_summaries

        rows = [s for s in self.summaries.values() if self.filter.matches(s)]
        return sort_summaries(rows, self.sort_key)

    # -- layout ---------------------------------------------------------------------------
    def _available(self) -> int:
        width = self.size.width or self.app.size.width
        return max(20, width - SCROLLBAR)

    def _widths(self, ids: list[str]) -> dict[str, int]:
        widths = {c.key: cell_len(c.label) for c in COLUMNS}
        for rid in ids:
            for key, text in self._texts[rid].items():
                n = cell_len(text)
                if n > widths[key]:
                    widths[key] = n
        widths["mark"] = 1
        return widths

    def _compute_layout(self, ids: list[str]) -> tuple[tuple[str, ...], tuple[int, ...]]:
        widths = self._widths(ids)
        keys, run_w = choose_columns(widths, self._available())
        return tuple(keys), tuple(run_w if k == "run" else widths[k] for k in keys)

    def on_resize(self) -> None:
        if self.summaries:
            self._refill()

    def _cell(self, key: str, text: str, status: str | None, width: int, s: dict[str, Any] | None = None) -> Any:
        if key == "run":
            marker = f" ({s.get('source') or '?'})" if s and s.get("read_only") else ""
            if marker and cell_len(text) > width:  # cut: the short kind leaves the name more room ('qwen (tb)')
                short = f" ({SHORT_KINDS.get(s.get('source') or '', (s.get('source') or '?')[:4])})"
                text, marker = text[: len(text) - len(marker)] + short, short
            tail = len(marker)
            if not marker and s is not None:  # the start time stays whole: the name gives way
                when = split_run_id(str(s.get("id", "")))[1]
                tail = len(when) + 1 if when and text.endswith(f" {when}") else 0
            text = ellipsize(text, width, keep_tail=tail)
        if BY_KEY[key].right:
            return Text(text, justify="right")
        if key == "status" and status in self.STATUS_CLASSES:
            return Text(text, style=self.get_component_rich_style(f"runs-table--{status}"))
        return text

    def _row(self, rid: str, layout: tuple[tuple[str, ...], tuple[int, ...]]) -> list[Any]:
        s = self.summaries[rid]
        return [self._cell(k, self._texts[rid][k], s.get("status"), w, s) for k, w in zip(*layout)]

    # -- updates ----------------------------------------------------------------------------
    def notify_style_update(self) -> None:
        super().notify_style_update()
        if self.summaries and self.is_mounted:
            self._layout = None  # theme changed: restyle every cell
            self.call_later(self._refill)

    def update_runs(self, summaries: list[dict[str, Any]]) -> None:
        """Show these summaries (newest first): changed cells only; rebuilt when columns change."""
        old = self.summaries
        self.summaries = {s["id"]: s for s in summaries}
        self.marked &= set(self.summaries)
        texts = {}
        for rid, s in self.summaries.items():  # unchanged summaries are the same objects: keep their text
            texts[rid] = self._texts[rid] if old.get(rid) is s and rid in self._texts else cells(s, rid in self.marked)
        self._texts = texts
        self._refill()

    def _refill(self) -> None:
        visible = [s["id"] for s in self._visible()]
        layout = self._compute_layout(visible)
        current = self.current_id
        if layout != self._layout or visible != self.shown_ids:
            self._rebuild(visible, layout, current)
        else:
            keys, widths = layout
            for rid in visible:
                texts, shown = self._texts[rid], self._shown.get(rid, {})
                for key, width in zip(keys, widths):
                    if shown.get(key) != texts[key]:
                        s = self.summaries[rid]
                        self.update_cell(rid, key, self._cell(key, texts[key], s.get("status"), width, s))
                self._shown[rid] = dict(texts)

    def _rebuild(self, visible: list[str], layout: tuple[tuple[str, ...], tuple[int, ...]], current: str | None) -> None:
        changed_columns = layout != self._layout
        if changed_columns:
            self.clear(columns=True)
            for key, width in zip(*layout):
                col = BY_KEY[key]
                label = Text(col.label, justify="right") if col.right else col.label
                self.add_column(label, key=key, width=width)
        else:
            self.clear()
        self._layout = layout
        self._rebuilding = True
        try:
            for rid in visible:
                self.add_row(*self._row(rid, layout), key=rid)
            self._shown = {rid: dict(self._texts[rid]) for rid in visible}
            self.shown_ids = visible
            if current in self._shown and not self.follow_top:
                self.move_cursor(row=visible.index(current), animate=False)
            elif visible:
                self.move_cursor(row=0, animate=False)
        finally:
            self._rebuilding = False
        self.post_message(self.Shown())

    def row_text(self, rid: str) -> dict[str, str]:
        """The full text of every column of a run's row (shown or not)."""
        return dict(self._texts[rid])

    def action_toggle_mark(self) -> None:
        rid = self.current_id
        if rid is None:
            return
        if rid in self.marked:
            self.marked.discard(rid)
        else:
            self.marked.add(rid)
        mark = MARK if rid in self.marked else " "
        self._texts[rid]["mark"] = mark
        self._shown.setdefault(rid, {})["mark"] = mark
        self.update_cell(rid, "mark", mark)
        self.post_message(self.MarksChanged(frozenset(self.marked)))
        self.follow_top = False
        if self.cursor_row < self.row_count - 1:
            self.move_cursor(row=self.cursor_row + 1)


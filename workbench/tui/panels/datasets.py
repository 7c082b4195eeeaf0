"""The Datasets panel: browse data files, page through rows, validate, view the loss mask, token stats.

A file opens at once whatever its size: the first page comes from the file's first
bytes, and a worker thread builds a sparse line-offset index (LineIndex) for paging
further. Validation, the tokenizer (transformers is imported only inside workers,
never on the app's start-up path) and the statistics all run in worker threads with
progress bars.

Keys: n/p page, v validate, m loss mask of the highlighted row, s statistics,
enter on a bad row jumps to it, tab/shift+tab move between parts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, OptionList, ProgressBar, Static, TabbedContent, TabPane
from textual.widgets.option_list import Option

from workbench.data.lineindex import LineIndex, first_lines
from workbench.data.loading import DETECT_SAMPLE, detect, map_columns
from workbench.data.readers import decode_line, iter_rows, source_kind
from workbench.errors import WorkbenchError

PAGE = 50
DATA_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet")
SKIP_DIRS = {"runs", ".git", ".venv", "node_modules", "__pycache__", "bench"}


def _css() -> str:
    try:
        from workbench_themes import css_text

        return css_text("datasets.tcss")
    except Exception:  # noqa: BLE001 - the panel still works unstyled
        return ""


def find_data_files(workspace: Path, depth: int = 3) -> list[Path]:
    """Data files in the workspace (not under runs/ or hidden folders) and the bundled samples."""
    found: list[Path] = []

    def walk(folder: Path, level: int) -> None:
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            return
        for entry in entries:
            if entry.is_dir():
                if level < depth and entry.name not in SKIP_DIRS and not entry.name.startswith("."):
                    walk(entry, level + 1)
            elif entry.suffix.lower() in DATA_SUFFIXES and not entry.name.endswith(".config.json"):
                found.append(entry)

    walk(workspace, 0)
    try:
        from workbench.paths import sample_data_dir

        samples = sample_data_dir() / "data"
        found += [p for p in sorted(samples.iterdir()) if p.suffix.lower() in DATA_SUFFIXES and p not in found]
    except Exception:  # noqa: BLE001 - no bundled samples installed
        pass
    return found


def default_model() -> str:
    from workbench.paths import sample_data_dir

    return str(sample_data_dir() / "models" / "tiny-llama")


def row_summary(data: dict, width: int = 200) -> str:
    """One line of a row for the table."""
    if "__error__" in data:
        return f"! {data['__error__']}"
    text = json.dumps(data, ensure_ascii=False)
    return text if len(text) <= width else text[: width - 1] + "…"


@dataclass
class PageRow:
    number: int
    data: dict


class RowSource:
    """Pages of rows of one file: JSONL through a LineIndex, other kinds by reading in order."""

    def __init__(self, path: Path):
        self.path = path
        self.kind = source_kind(str(path))
        self.index = LineIndex(path) if self.kind == "jsonl" else None
        self._rows: list[PageRow] | None = None

    def first_page(self) -> list[PageRow]:
        if self.index is not None:
            return [PageRow(n, decode_line(raw) if raw.strip() else {"__error__": "(blank line)"})
                    for n, raw in first_lines(self.path, PAGE)]
        return self.page(1)

    def page(self, start: int) -> list[PageRow]:
        """Rows whose number (line for JSONL, row otherwise) is >= start."""
        if self.index is not None:
            return [PageRow(n, decode_line(raw) if raw.strip() else {"__error__": "(blank line)"})
                    for n, raw in self.index.read(start, PAGE)]
        if self._rows is None:
            self._rows = [PageRow(r.number, r.data) for r in iter_rows(str(self.path))]
        return [r for r in self._rows if r.number >= start][:PAGE]

    @property
    def known_rows(self) -> int | None:
        if self.index is not None:
            return self.index.known_lines if self.index.complete else None
        return len(self._rows) if self._rows is not None else None


class DatasetsPanel(Widget):
    """Browse, validate and inspect training data files."""

    DEFAULT_CSS = _css()
    BINDINGS = [
        Binding("n", "next_page", "next page"),
        Binding("p", "prev_page", "prev page"),
        Binding("v", "validate", "validate"),
        Binding("m", "mask", "loss mask"),
        Binding("s", "stats", "stats"),
    ]

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None):
        super().__init__(name=name, id=id, classes=classes)
        self.source: RowSource | None = None
        self.page_start = 1
        self.rows: list[PageRow] = []
        self.format = None
        self.bad_rows: list = []
        self.model_path: str | None = None
        self._tokenizer = None
        self.mask_rendered: Text | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="ds-body"):
            yield OptionList(id="ds-files")
            with Vertical(id="ds-main"):
                yield Static("pick a data file", id="ds-info")
                with TabbedContent(id="ds-tabs"):
                    with TabPane("Rows", id="ds-tab-rows"):
                        yield DataTable(id="ds-rows", cursor_type="row", zebra_stripes=True)
                    with TabPane("Check", id="ds-tab-check"):
                        yield ProgressBar(id="ds-check-progress", show_eta=False)
                        yield Static("press v to validate every row", id="ds-check-summary")
                        yield OptionList(id="ds-bad")
                    with TabPane("Mask", id="ds-tab-mask"):
                        with VerticalScroll(id="ds-mask-scroll"):
                            yield Static("highlight a row and press m: its tokens through the chat template, "
                                         "trained tokens highlighted", id="ds-mask")
                    with TabPane("Stats", id="ds-tab-stats"):
                        yield ProgressBar(id="ds-stats-progress", show_eta=False)
                        with VerticalScroll():
                            yield Static("press s for token statistics", id="ds-stats")

    def on_mount(self) -> None:
        from workbench.paths import workspace

        files = self.query_one("#ds-files", OptionList)
        ws = workspace()
        for path in find_data_files(ws):
            label = str(path.relative_to(ws)) if path.is_relative_to(ws) else f"sample/{path.name}"
            files.add_option(Option(label, id=str(path)))
        table = self.query_one("#ds-rows", DataTable)
        table.add_columns("#", "row")

    # ------------------------------------------------------------- files and pages

    @on(OptionList.OptionSelected, "#ds-files")
    def _file_selected(self, event: OptionList.OptionSelected) -> None:
        self.open_file(Path(event.option.id))

    def open_file(self, path: Path) -> None:
        """Show the first page now; index the rest in the background."""
        self.workers.cancel_group(self, "file")
        try:
            self.source = RowSource(path)
            self.rows = self.source.first_page()
        except WorkbenchError as exc:
            self.source = None
            self._info(f"[b]{path.name}[/b]: {exc.one_line()}")
            return
        self.page_start = 1
        self.bad_rows = []
        self.query_one("#ds-bad", OptionList).clear_options()
        self.query_one("#ds-check-summary", Static).update("press v to validate every row")
        self._detect()
        self._show_page()
        if self.source.index is not None:
            self._build_index(self.source)

    def _detect(self) -> None:
        from workbench.plugin_manager import get_registry

        sample = [r.data for r in self.rows[:DETECT_SAMPLE] if "__error__" not in r.data]
        try:
            detection = detect(sample, get_registry().data_formats.values())
            self.format = detection.format
            self._detected = f"{detection.format.name} ({detection.format.kind}) {detection.confidence:.0%}"
        except WorkbenchError as exc:
            self.format = None
            self._detected = f"unknown format: {exc.message}"

    def _info(self, text: str) -> None:
        self.query_one("#ds-info", Static).update(text)

    def _status_line(self) -> str:
        src = self.source
        if src is None:
            return ""
        total = src.known_rows
        if total is None and src.index is not None:
            count = f"≥{src.index.known_lines:,} lines, indexing {src.index.progress:.0%}"
        else:
            count = f"{total:,} rows" if total is not None else "…"
        last = self.rows[-1].number if self.rows else self.page_start
        return f"[b]{src.path.name}[/b]  {self._detected}  rows {self.page_start}-{last} of {count}"

    def _show_page(self, highlight: int | None = None) -> None:
        table = self.query_one("#ds-rows", DataTable)
        table.clear()
        for r in self.rows:
            table.add_row(str(r.number), row_summary(r.data), key=str(r.number))
        self._info(self._status_line())
        if highlight is not None:
            for i, r in enumerate(self.rows):
                if r.number == highlight:
                    table.move_cursor(row=i)
                    break

    @work(thread=True, exclusive=True, group="file")
    def _build_index(self, source: RowSource) -> None:
        from textual.worker import get_current_worker

        worker = get_current_worker()
        assert source.index is not None
        while not worker.is_cancelled and not source.index.build_step(4 << 20):
            self.app.call_from_thread(self._info, self._status_line())
        if not worker.is_cancelled:
            self.app.call_from_thread(self._info, self._status_line())

    def go_to(self, start: int, highlight: int | None = None) -> None:
        if self.source is None:
            return
        rows = self.source.page(max(1, start))
        if rows:
            self.page_start, self.rows = max(1, start), rows
            self._show_page(highlight)

    def action_next_page(self) -> None:
        if self.rows:
            self.go_to(self.rows[-1].number + 1)

    def action_prev_page(self) -> None:
        self.go_to(max(1, self.page_start - PAGE))

    def highlighted_row(self) -> PageRow | None:
        table = self.query_one("#ds-rows", DataTable)
        if not self.rows:
            return None
        return self.rows[min(max(table.cursor_row, 0), len(self.rows) - 1)]

    # ------------------------------------------------------------- validation

    def action_validate(self) -> None:
        if self.source is None:
            return
        self.query_one("#ds-tabs", TabbedContent).active = "ds-tab-check"
        self.query_one("#ds-check-summary", Static).update("validating…")
        self._validate(str(self.source.path))

    @work(thread=True, exclusive=True, group="check")
    def _validate(self, path: str) -> None:
        from workbench.data.validate import check_source
        from workbench.plugin_manager import get_registry

        bar = self.query_one("#ds-check-progress", ProgressBar)
        self.app.call_from_thread(bar.update, total=100, progress=0)
        try:
            report = check_source(path, get_registry().data_formats, workers=1,
                                  progress=lambda f: self.app.call_from_thread(bar.update, progress=100 * f))
        except WorkbenchError as exc:
            self.app.call_from_thread(self.query_one("#ds-check-summary", Static).update, exc.one_line())
            return
        self.app.call_from_thread(self._show_report, report)

    def _show_report(self, report) -> None:
        self.bad_rows = report.bad
        lines = [f"{report.total:,} rows, format {report.format} ({report.confidence:.0%}): "
                 + ("all valid" if report.ok else f"{len(report.bad):,} invalid")]
        lines += [f"  {n:>6}  {reason}" for reason, n in report.reasons().most_common(6)]
        self.query_one("#ds-check-summary", Static).update(Text("\n".join(lines)))
        bad = self.query_one("#ds-bad", OptionList)
        bad.clear_options()
        for i, b in enumerate(report.bad[:5000]):
            label = f"{b.number:>7}  {b.field + ': ' if b.field else ''}{b.reason}"
            bad.add_option(Option(Text(label), id=f"bad-{i}"))

    @on(OptionList.OptionSelected, "#ds-bad")
    def _jump_to_bad(self, event: OptionList.OptionSelected) -> None:
        bad = self.bad_rows[int(event.option.id.removeprefix("bad-"))]
        self.go_to(max(1, bad.number - 5), highlight=bad.number)  # a little context above it
        self.query_one("#ds-tabs", TabbedContent).active = "ds-tab-rows"
        self.query_one("#ds-rows", DataTable).focus()

    # ------------------------------------------------------------- loss mask

    def action_mask(self) -> None:
        row = self.highlighted_row()
        if row is None or self.format is None:
            return
        self.query_one("#ds-tabs", TabbedContent).active = "ds-tab-mask"
        self.query_one("#ds-mask", Static).update(f"row {row.number}: loading the tokenizer…")
        self._render_mask(row, self.format)

    def _get_tokenizer(self):
        if self._tokenizer is None:
            from workbench.data.tokens import load_tokenizer

            self._tokenizer = load_tokenizer(self.model_path or default_model())
        return self._tokenizer

    @work(thread=True, exclusive=True, group="mask")
    def _render_mask(self, row: PageRow, fmt) -> None:
        target = self.query_one("#ds-mask", Static)
        try:
            if "__error__" in row.data:
                raise WorkbenchError(row.data["__error__"], where=f"row {row.number}")
            canonical = fmt.convert(map_columns(row.data, None))
            text = mask_text(self._get_tokenizer(), canonical, fmt.kind, row.number)
        except WorkbenchError as exc:
            text = Text(f"row {row.number} cannot be rendered: {exc.one_line()}")
        self.mask_rendered = text
        self.app.call_from_thread(target.update, text)

    # ------------------------------------------------------------- statistics

    def action_stats(self) -> None:
        if self.source is None:
            return
        self.query_one("#ds-tabs", TabbedContent).active = "ds-tab-stats"
        self.query_one("#ds-stats", Static).update("tokenizing…")
        self._stats(str(self.source.path))

    @work(thread=True, exclusive=True, group="stats")
    def _stats(self, path: str) -> None:
        from workbench.cli.commands.data import render_stats
        from workbench.data.loading import prepare
        from workbench.data.tokens import token_stats
        from workbench.plugin_manager import get_registry

        bar = self.query_one("#ds-stats-progress", ProgressBar)
        out = self.query_one("#ds-stats", Static)
        try:
            prepared = prepare(path, {}, get_registry().data_formats)
            total = max(1, len(prepared.rows))
            self.app.call_from_thread(bar.update, total=total, progress=0)
            stats = token_stats(self._get_tokenizer(), prepared.rows, prepared.format.kind, 1024,
                                progress=lambda i: self.app.call_from_thread(bar.update, progress=i))
            stats.errors = len(prepared.bad)
            self.app.call_from_thread(bar.update, progress=total)
            text = Text(render_stats(Path(path).name, prepared.format.name, prepared.format.kind, stats, width=30))
        except WorkbenchError as exc:
            text = Text(exc.one_line())
        self.app.call_from_thread(out.update, text)


TRAINED_STYLE = "bold black on green"
MASKED_STYLE = "dim"


def mask_text(tok, canonical: dict, kind: str, number: int) -> Text:
    """The row's tokens, trained ones highlighted, masked ones dimmed; newlines kept."""
    from workbench.data.tokens import encode_row, token_pieces

    out = Text()
    for k, enc in enumerate(encode_row(tok, canonical, kind)):
        title = f"row {number}" + (f" ({'chosen' if k == 0 else 'rejected'})" if kind == "preference" else "")
        out.append(f"{title}: {len(enc.ids)} tokens, {enc.trained} trained (highlighted)\n", style="bold")
        for start, count, piece in token_pieces(tok, enc.ids):
            trained = any(enc.mask[start:start + count])
            shown = piece.replace("\n", "⏎\n")
            out.append(shown, style=TRAINED_STYLE if trained else MASKED_STYLE)
            out.append("│" if not shown.endswith("\n") else "", style="dim blue")
        out.append("\n\n")
    return out

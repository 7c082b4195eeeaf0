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
from workbench.data.loading import DETECT_SAMPLE, detect
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


def is_saved_dataset(folder: Path) -> bool:
    """A `Dataset.save_to_disk` / `DatasetDict.save_to_disk` folder (one data source, not files to list)."""
    return (folder / "dataset_dict.json").is_file() or \
        ((folder / "dataset_info.json").is_file() and (folder / "state.json").is_file())


def find_data_files(workspace: Path, depth: int = 3) -> list[Path]:
    """Data files and save_to_disk folders in the workspace (not under runs/ or hidden folders), and the
    bundled samples."""
    found: list[Path] = []

    def walk(folder: Path, level: int) -> None:
        try:
            entries = sorted(folder.iterdir())
        except OSError:
            return
        for entry in entries:
            if entry.is_dir():
                if entry.name in SKIP_DIRS or entry.name.startswith("."):
                    continue
                if is_saved_dataset(entry):
                    found.append(entry)
                elif level < depth:
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


@dataclass(frozen=True)
class TokenizerChoice:
    """Which tokenizer, chat template and max_length the mask and stats use, and where from."""

    model: str
    tokenizer: str | None
    chat_template: str | None
    max_length: int
    config: str | None
    """The config these come from (None: the bundled tiny model, said on screen)."""

    @classmethod
    def bundled(cls) -> "TokenizerChoice":
        return cls(default_model(), None, None, 1024, None)

    @property
    def label(self) -> str:
        name = Path(self.tokenizer or self.model).name or self.model
        if self.config is None:
            return f"{name} (bundled tiny model, no config chosen)"
        template = f", template {Path(self.chat_template).name}" if self.chat_template else ""
        return f"{name}{template} (from {Path(self.config).name})"

    @classmethod
    def from_config(cls, path: Path) -> "TokenizerChoice":
        """Read [model] path/tokenizer/chat_template and trainer.args.max_length of a job config."""
        from workbench.config import load_config

        cfg = load_config(str(path), check_data=False)
        args = cfg["trainer"].get("args", {})
        max_length = args.get("max_length") or args.get("max_seq_length") or 1024
        return cls(str(cfg["model"]["path"]), cfg["model"].get("tokenizer"), cfg["model"].get("chat_template"),
                   int(max_length), str(path))


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
            return self.index.known_rows if self.index.complete else None
        if self._rows is not None:
            return len(self._rows)
        return self._count

    _count: int | None = None

    def count(self) -> int:
        """Count the rows without keeping them (parquet: from its metadata)."""
        if self._count is None:
            if self.kind == "parquet":
                try:
                    import pyarrow.parquet as pq

                    self._count = pq.ParquetFile(self.path).metadata.num_rows
                    return self._count
                except Exception:  # noqa: BLE001 - fall back to reading it
                    pass
            self._count = sum(1 for _ in iter_rows(str(self.path)))
        return self._count


class DatasetsPanel(Widget):
    """Browse, validate and inspect training data files."""

    DEFAULT_CSS = _css()
    HELP_TITLE = "Datasets"
    BINDINGS = [
        Binding("n", "next_page", "next page", tooltip="next page of rows"),
        Binding("p", "prev_page", "prev page", tooltip="previous page of rows"),
        Binding("v", "validate", "validate", tooltip="validate every row (bad rows listed; enter jumps to one)"),
        Binding("m", "mask", "loss mask", tooltip="loss mask of the highlighted row (trained tokens highlighted)"),
        Binding("s", "stats", "stats", tooltip="token statistics of the whole file (with progress)"),
        Binding("c", "pick_config", "config", priority=True,
                tooltip="tokenizer, chat template and max_length from a config"),
        Binding("x", "cancel_job", "cancel", show=False, tooltip="cancel the running statistics job"),
        Binding("w", "view_row", "row", show=False, tooltip="the highlighted row in full (pretty JSON, wrapped)"),
    ]
    HELP_EXTRA = [
        ("↑ / ↓ / enter", "pick a file (list) or a row; enter on a row shows it in full"),
        ("tab / shift+tab", "files list / rows / the open view"),
    ]

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None):
        super().__init__(name=name, id=id, classes=classes)
        self.source: RowSource | None = None
        self.page_start = 1
        self.rows: list[PageRow] = []
        self.format = None
        self.bad_rows: list = []
        self.model_path: str | None = None
        self.tokenizer_choice = TokenizerChoice.bundled()
        self._tokenizer = None
        self._tokenizer_key: tuple | None = None
        self.mask_rendered: Text | None = None
        self.stats_state: str = "idle"
        """idle | running | done | cancelled | failed (for tests and the header)."""

    def compose(self) -> ComposeResult:
        with Horizontal(id="ds-body"):
            yield OptionList(id="ds-files")
            with Vertical(id="ds-main"):
                yield Static("pick a data file", id="ds-info")
                yield Static("", id="ds-tokenizer")
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
                        with VerticalScroll(id="ds-stats-scroll"):
                            yield Static("press s for token statistics", id="ds-stats")

    def on_mount(self) -> None:
        from workbench.paths import workspace

        files = self.query_one("#ds-files", OptionList)
        ws = workspace()
        for path in find_data_files(ws):
            label = str(path.relative_to(ws)) if path.is_relative_to(ws) else f"sample/{path.name}"
            files.add_option(Option(label, id=str(path)))
        if files.option_count:
            files.highlighted = 0
        table = self.query_one("#ds-rows", DataTable)
        table.add_columns("#", "row")
        self._show_tokenizer()

    def first_focus(self) -> Widget:
        return self.query_one("#ds-files", OptionList)

    def _activate(self, pane: str, focus: str) -> None:
        """Show an inner tab and move focus into it, so the panel's keys keep working."""
        self.query_one("#ds-tabs", TabbedContent).active = pane
        self.call_after_refresh(self.query_one(focus).focus)

    def _show_tokenizer(self) -> None:
        c = self.tokenizer_choice
        self.query_one("#ds-tokenizer", Static).update(
            f"tokenizer {c.label} · max_length {c.max_length}" + ("" if c.config else "  (c: pick a config)"))

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
        else:
            self._count_rows(self.source)
        self.call_after_refresh(self.query_one("#ds-rows", DataTable).focus)

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
            count = f"≥{src.index.known_rows:,} (counting {src.index.progress:.0%})"
        else:
            count = f"{total:,}" if total is not None else "… (counting)"
        last = self.rows[-1].number if self.rows else self.page_start
        return f"[b]{src.path.name}[/b]  {count} rows  {self._detected}  showing {self.page_start}-{last}"

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

    @work(thread=True, exclusive=True, group="file")
    def _count_rows(self, source: RowSource) -> None:
        """Rows of a CSV/JSON/parquet file, counted once in the background (the header's total)."""
        try:
            source.count()
        except WorkbenchError:
            return
        if self.source is source:
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

    @on(DataTable.RowSelected, "#ds-rows")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_view_row()

    def action_view_row(self) -> None:
        """The highlighted row in full: pretty JSON, wrapped, scrollable (n/p: next/previous row)."""
        from workbench.tui.screens.rowview import RowScreen

        row = self.highlighted_row()
        if row is None:
            return
        self.app.push_screen(RowScreen(self.source.path.name if self.source else "", row.number, row.data,
                                       step=self._step_row))

    def _step_row(self, number: int, delta: int) -> tuple[int, dict] | None:
        """The row after/before `number` (for the row viewer's n/p)."""
        if self.source is None:
            return None
        if delta > 0:
            rows = self.source.page(number + 1)
            return (rows[0].number, rows[0].data) if rows else None
        rows = self.source.page(max(1, number - PAGE))
        before = [r for r in rows if r.number < number]
        return (before[-1].number, before[-1].data) if before else None

    def highlighted_row(self) -> PageRow | None:
        table = self.query_one("#ds-rows", DataTable)
        if not self.rows:
            return None
        return self.rows[min(max(table.cursor_row, 0), len(self.rows) - 1)]

    # ------------------------------------------------------------- validation

    def action_validate(self) -> None:
        if self.source is None:
            return
        self._activate("ds-tab-check", "#ds-bad")
        self.query_one("#ds-check-summary", Static).update("validating… (x cancels)")
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
        self._activate("ds-tab-rows", "#ds-rows")

    # ------------------------------------------------------------- loss mask

    def action_mask(self) -> None:
        row = self.highlighted_row()
        if row is None or self.format is None:
            return
        self._activate("ds-tab-mask", "#ds-mask-scroll")
        self.query_one("#ds-mask", Static).update(f"row {row.number}: loading tokenizer {self.tokenizer_choice.label}…")
        self._render_mask(row, self.format)

    def _settings(self, source: str):
        """The data stats backend's settings for `source` under the chosen tokenizer."""
        from workbench.data.stats import settings_for

        choice = self.tokenizer_choice
        if choice.config:
            return settings_for(source, config=choice.config)
        return settings_for(source, model=self.model_path or choice.model, max_length=choice.max_length)

    # ------------------------------------------------------------- tokenizer from a config

    async def action_pick_config(self) -> None:
        from workbench.tui.panels.configs import find_configs
        from workbench.tui.screens.pickers import ListPicker
        from workbench.tui.screens.prompt import push_and_focus

        ws = self.app.workspace if hasattr(self.app, "workspace") else Path.cwd()
        configs = find_configs(Path(ws))
        if not configs:
            self.notify("no configs in the workspace (configs/*.toml): the bundled tiny tokenizer stays",
                        severity="warning")
            return
        labels = [(str(p.relative_to(ws)) if p.is_relative_to(ws) else str(p), str(p)) for p in configs]

        def picked(path: str | None) -> None:
            if path:
                self._load_choice(path)

        await push_and_focus(self.app, ListPicker("Tokenizer, chat template and max_length from config:", labels),
                             picked)

    @work(thread=True, exclusive=True, group="tokenizer-choice")
    def _load_choice(self, path: str) -> None:
        try:
            choice = TokenizerChoice.from_config(Path(path))
        except WorkbenchError as exc:
            self.app.call_from_thread(self.notify, exc.one_line(), severity="error")
            return
        self.app.call_from_thread(self._set_choice, choice)

    def _set_choice(self, choice: "TokenizerChoice") -> None:
        self.tokenizer_choice = choice
        self._show_tokenizer()

    @work(thread=True, exclusive=True, group="mask")
    def _render_mask(self, row: PageRow, fmt) -> None:
        target = self.query_one("#ds-mask", Static)
        try:
            if "__error__" in row.data:
                raise WorkbenchError(row.data["__error__"], where=f"row {row.number}")
            from workbench.data.stats import row_sequences, tokenizer_for

            settings = self._settings(str(self.source.path) if self.source else "")
            text = mask_text(tokenizer_for(settings), row_sequences(settings, row.data, fmt=fmt), fmt.kind, row.number,
                             settings.max_length, settings.loss.truncation)
        except WorkbenchError as exc:
            text = Text(f"row {row.number} cannot be rendered: {exc.one_line()}")
        self.mask_rendered = text
        self.app.call_from_thread(target.update, text)

    # ------------------------------------------------------------- statistics

    def action_stats(self) -> None:
        if self.source is None or self.format is None:
            self.notify("open a data file of a known format first", severity="warning")
            return
        self._activate("ds-tab-stats", "#ds-stats-scroll")
        c = self.tokenizer_choice
        self.query_one("#ds-stats", Static).update(f"tokenizing with {c.label}, max_length {c.max_length}… (x cancels)")
        self.stats_state = "running"
        self._stats(self.source, self.format, c)

    def action_cancel_job(self) -> None:
        running = [w for w in self.workers if w.group == "stats" and not w.is_finished]
        for w in running:
            w.cancel()
        if not running:
            self.notify("nothing to cancel", severity="warning")

    @work(thread=True, exclusive=True, group="stats")
    def _stats(self, source: "RowSource", fmt, choice: "TokenizerChoice") -> None:
        """Token statistics through workbench.data.stats: streamed rows, progress, cancel, bounded memory."""
        import time

        from textual.worker import get_current_worker

        from workbench.cli.commands.data import render_stats
        from workbench.data.stats import Cancelled, compute_stats

        worker = get_current_worker()
        bar = self.query_one("#ds-stats-progress", ProgressBar)
        out = self.query_one("#ds-stats", Static)
        total = source.known_rows
        self.app.call_from_thread(bar.update, total=total or 1000, progress=0)
        last, done_rows = [0.0], [0]

        def progress(rows: int, fraction: float | None) -> None:
            done_rows[0] = rows
            now = time.monotonic()
            if now - last[0] >= 0.2:  # at most 5 screen updates a second
                last[0] = now
                if total:
                    self.app.call_from_thread(bar.update, total=total, progress=min(rows, total))
                elif fraction is not None:
                    self.app.call_from_thread(bar.update, total=1000, progress=int(fraction * 1000))

        try:
            settings = self._settings(str(source.path))
            report = compute_stats(settings, progress=progress, should_stop=lambda: worker.is_cancelled)
            text = Text(settings.describe() + ("  (cached)" if report.cached else "") + "\n"
                        + render_stats(source.path.name, report.format, report.kind, report.stats, width=30))
            state = "done"
            self.app.call_from_thread(bar.update, total=1, progress=1)
        except Cancelled:
            text, state = Text(f"cancelled after {done_rows[0]:,} rows"), "cancelled"
        except WorkbenchError as exc:
            text, state = Text(exc.one_line()), "failed"

        def show() -> None:
            self.stats_state = state
            out.update(text)

        self.app.call_from_thread(show)


TRAINED_STYLE = "bold black on green"
MASKED_STYLE = "dim"
CUT_STYLE = "dim strike"
CUT_SHOWN = 16  # tokens shown on each side of what max_length keeps


def mask_text(tok, sequences: list, kind: str, number: int, max_length: int | None = None,
              truncation: str = "keep_start") -> Text:
    """The row's tokens as the trainer sees them: trained ones highlighted, masked ones dimmed, the ones
    truncation to `max_length` cuts struck through; newlines kept."""
    from workbench.data.tokens import kept_window, token_pieces

    out = Text()
    for k, enc in enumerate(sequences):
        lo, hi = kept_window(len(enc.ids), max_length, truncation)
        trained = sum(enc.mask[lo:hi])
        title = f"row {number}" + (f" ({'chosen' if k == 0 else 'rejected'})" if kind == "preference" else "")
        dropped = len(enc.ids) - (hi - lo)
        cut = f" ({dropped} cut by max_length {max_length}, struck through)" if dropped else ""
        out.append(f"{title}: {len(enc.ids)} tokens{cut}, {trained} trained (highlighted)\n", style="bold")
        first, last = max(0, lo - CUT_SHOWN), min(len(enc.ids), hi + CUT_SHOWN)  # a 5 MB row: not every token
        if first:
            out.append(f"… {first:,} more tokens cut …\n", style=CUT_STYLE)
        for start, count, piece in token_pieces(tok, enc.ids[first:last]):
            start += first
            shown = piece.replace("\n", "⏎\n")
            if start + count <= lo or start >= hi:
                style = CUT_STYLE
            else:
                style = TRAINED_STYLE if any(enc.mask[max(start, lo):min(start + count, hi)]) else MASKED_STYLE
            out.append(shown, style=style)
            out.append("│" if not shown.endswith("\n") else "", style="dim blue")
        if last < len(enc.ids):
            out.append(f"\n… {len(enc.ids) - last:,} more tokens cut …", style=CUT_STYLE)
        out.append("\n\n")
    return out

"""Token statistics of a whole data file, streamed: progress, cancel, bounded memory.

Rows are read, converted and tokenized one at a time (never the whole file in a list),
so memory stays at the tokenizer plus one int per sequence, whatever the file's size.
`progress(rows_done, fraction_or_None)` is called as rows go by and
`cancelled()` is checked at each row. The statistics backend is
`workbench.data.tokens.token_stats`, fed from a generator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Iterator

from workbench.errors import WorkbenchError


class StatsCancelled(WorkbenchError):
    """The user cancelled the job after `rows` rows."""

    def __init__(self, rows: int):
        super().__init__(f"cancelled after {rows} rows")
        self.rows = rows


def stream_rows(path: str, fmt: Any, cancelled: Callable[[], bool], counts: dict[str, int]) -> Iterator[dict]:
    """Canonical rows of `path` in `fmt`, skipping bad ones (counted in counts['bad'])."""
    from workbench.data.loading import map_columns
    from workbench.data.readers import iter_rows

    for row in iter_rows(path):
        if cancelled():
            raise StatsCancelled(counts["rows"])
        counts["rows"] += 1
        if "__error__" in row.data:
            counts["bad"] += 1
            continue
        try:
            yield fmt.convert(map_columns(row.data, None))
        except Exception:  # noqa: BLE001 - a bad row is counted, as `data stats` does
            counts["bad"] += 1


def stream_stats(path: str, fmt: Any, tokenizer: Any, choice: Any,
                 progress: Callable[[int, float | None], None] | None = None,
                 cancelled: Callable[[], bool] = lambda: False) -> str:
    """The `data stats` report of `path` with the chosen tokenizer, as text (its first line names it)."""
    from workbench.cli.commands.data import render_stats
    from workbench.data.tokens import token_stats

    counts = {"rows": 0, "bad": 0}
    rows = stream_rows(path, fmt, cancelled, counts)

    def tick(i: int) -> None:
        if progress is not None:
            progress(counts["rows"], None)

    stats = token_stats(tokenizer, rows, fmt.kind, choice.max_length, progress=tick)
    stats.errors = counts["bad"]
    if progress is not None:
        progress(counts["rows"], 1.0)
    head = f"tokenizer {choice.label}, max_length {choice.max_length}"
    return head + "\n" + render_stats(Path(path).name, fmt.name, fmt.kind, stats, width=30)

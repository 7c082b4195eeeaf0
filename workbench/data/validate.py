"""Validate every row of a data source: each bad row with its location, field and reason.

JSONL files (the common case for big data) are split into byte ranges aligned to
line starts and checked by a pool of processes; other sources are read in order.
Either way the report is the same: every invalid row, in file order, and the count
of each kind of problem.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np

from workbench.data.loading import BadRow, Detection, convert_rows, map_columns, resolve_format
from workbench.data.readers import BOM, decode_line, iter_rows, source_kind
from workbench.errors import DataError
from workbench.specs import DataFormat

CHUNK = 16 << 20            # bytes per parallel task
PARALLEL_MIN = 32 << 20     # smaller files are not worth the process start-up
Progress = Callable[[float], None]


@dataclass
class CheckReport:
    """The outcome of checking one source."""

    source: str
    format: str
    kind: str
    confidence: float
    total: int = 0
    bad: list[BadRow] = field(default_factory=list)
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.bad

    def reasons(self) -> Counter:
        """How many rows fail for each kind of problem (field path with indices folded)."""
        return Counter(reason_key(b) for b in self.bad)

    def to_json(self) -> dict:
        return {"source": self.source, "format": self.format, "kind": self.kind, "confidence": self.confidence,
                "scores": self.scores, "rows": self.total, "invalid": len(self.bad),
                "reasons": dict(self.reasons().most_common()), "bad_rows": [b.to_json() for b in self.bad]}


_INDEX = re.compile(r"\[\d+\]")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_NUMBER = re.compile(r"\b\d+\b")


def reason_key(bad: BadRow) -> str:
    """Group similar problems: "messages[3].role: unknown role 'bot'" -> "messages[*].role: unknown role '…'"."""
    reason = _NUMBER.sub("N", _QUOTED.sub("'…'", bad.reason.split(" (")[0]))
    return f"{_INDEX.sub('[*]', bad.field)}: {reason}" if bad.field else reason


def check_source(source: str, formats: dict[str, DataFormat], data_cfg: dict | None = None, split: str = "train",
                 progress: Progress | None = None, workers: int | None = None,
                 should_stop: Callable[[], bool] | None = None) -> CheckReport:
    """Check every row of `source` with the configured or detected format.

    workers: processes for big JSONL files (default: 1 when the format has a columnar
    check, which parses on threads, else the CPU count). 1 = in this thread, which is
    what a TUI worker thread wants: no fork from a threaded process.
    """
    data_cfg = data_cfg or {}
    detection = resolve_format(source, data_cfg, formats, split)
    report = CheckReport(source, detection.format.name, detection.format.kind, round(detection.confidence, 3),
                         scores=detection.scores)
    columns = data_cfg.get("columns") or None
    kind = source_kind(source)
    if workers is None:  # the columnar path already parses on several threads; Python parsing needs processes
        workers = 1 if getattr(detection.format.convert, "arrow_check", None) else (os.cpu_count() or 1)
    if kind == "jsonl" and workers > 1 and os.path.getsize(source) >= PARALLEL_MIN:
        _check_jsonl_parallel(source, detection, columns, report, workers, progress)
    elif kind == "jsonl":
        _check_jsonl_serial(source, detection.format, columns, report, progress, should_stop)
    else:
        _check_rows(iter_rows(source, split), detection, columns, report, progress, should_stop)
    if progress:
        progress(1.0)
    return report


def _check_rows(rows: Iterable, detection: Detection, columns, report: CheckReport, progress, should_stop) -> None:
    for i, (_, _, bad) in enumerate(convert_rows(rows, detection.format, columns)):
        report.total += 1
        if bad:
            report.bad.append(bad)
        if should_stop and i % 1024 == 0 and should_stop():
            return


def check_range(path: str, start: int, end: int, fmt: DataFormat, columns: dict | None,
                threads: bool = False) -> tuple[int, int, list[tuple[int, str, str]]]:
    """Check the lines starting in [start, end): (newlines seen, rows, [(local line, field, reason)]).

    `start` must be a line start. Local line numbers are 1-based within the range.
    """
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(end - start)
        if data and not data.endswith(b"\n"):
            data += f.readline()  # finish the last line (only the file's last range can lack a newline)
    if start == 0 and data.startswith(BOM):
        data = data[len(BOM):]
    nlines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    certain = _arrow_prefilter(data, nlines, fmt, columns, threads)
    if certain is None:
        todo: Iterable[int] = range(nlines)
        rows = 0
    else:  # one row per line; only the rows the columnar check could not prove go through Python
        todo = np.flatnonzero(~certain).tolist()
        rows = nlines - len(todo)
    lines = data.split(b"\n") if todo else []
    bad = []
    convert = fmt.convert
    loads = json.loads
    for index in todo:
        raw = lines[index]
        number = index + 1
        if not raw or raw.isspace():
            continue
        rows += 1
        try:
            row = loads(raw)
        except ValueError:
            row = decode_line(raw)  # the precise message, off the hot path
        if type(row) is not dict:
            row = decode_line(raw)
        if "__error__" in row and len(row) == 1:
            bad.append((number, "", row["__error__"]))
            continue
        try:
            convert(map_columns(row, columns) if columns else row)
        except DataError as exc:
            bad.append((number, exc.where or "", exc.message))
        except Exception as exc:  # noqa: BLE001 - a plugin's converter bug is still a row-level report
            bad.append((number, "", f"{fmt.name} converter raised {exc!r}"))
    return nlines, rows, bad


def _arrow_prefilter(data: bytes, nlines: int, fmt: DataFormat, columns: dict | None, threads: bool = False):
    """Per line: True where the format's columnar check proves the row valid; None when not usable.

    Usable only when pyarrow parses the block into exactly one row per line (no blank
    or broken lines), so row i is line i+1. Anything else falls back to per-line checks.
    """
    check = getattr(fmt.convert, "arrow_check", None)
    if check is None or nlines < 64:
        return None
    try:
        import io

        import pyarrow.json as pj

        table = pj.read_json(io.BytesIO(data), read_options=pj.ReadOptions(use_threads=threads,
                                                                           block_size=len(data) + 1))
        if table.num_rows != nlines:
            return None
        if columns:
            names = list(table.column_names)
            for target, source in columns.items():
                if source in names and target not in names:
                    names[names.index(source)] = target
            table = table.rename_columns(names)
        result = check(table)
    except Exception:  # noqa: BLE001 - any parse/type surprise just means the slow, exact path
        return None
    return result if len(result) == nlines else None


def _add_range(report: CheckReport, path: str, first_line: int, result) -> int:
    lines, rows, bad = result
    report.total += rows
    for local, where, reason in bad:
        number = first_line + local - 1
        report.bad.append(BadRow(f"{path}:{number}", number, where, reason))
    return lines


def _check_jsonl_serial(path: str, fmt: DataFormat, columns, report: CheckReport, progress, should_stop) -> None:
    size = os.path.getsize(path)
    line = 1
    for start, end in _ranges(path, size, CHUNK):
        line += _add_range(report, path, line, check_range(path, start, end, fmt, columns, threads=True))
        if progress:
            progress(end / size if size else 1.0)
        if should_stop and should_stop():
            return


def _check_jsonl_parallel(path: str, detection: Detection, columns, report: CheckReport, workers: int,
                          progress) -> None:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    size = os.path.getsize(path)
    ranges = _ranges(path, size, min(CHUNK, max(1 << 20, size // (workers * 4))))
    method = "fork" if "fork" in mp.get_all_start_methods() else None
    line = 1
    with ProcessPoolExecutor(workers, mp_context=mp.get_context(method)) as pool:
        futures = [pool.submit(check_range, path, s, e, detection.format, columns) for s, e in ranges]
        for (_, end), fut in zip(ranges, futures):  # in order, so line numbers add up
            line += _add_range(report, path, line, fut.result())
            if progress:
                progress(end / size if size else 1.0)


def _ranges(path: str, size: int, chunk: int) -> list[tuple[int, int]]:
    """Byte ranges of about `chunk` bytes, each starting at a line start."""
    bounds = [0]
    with open(path, "rb") as f:
        pos = chunk
        while pos < size:
            f.seek(pos)
            f.readline()
            nxt = f.tell()
            if nxt >= size:
                break
            bounds.append(nxt)
            pos = nxt + chunk
    bounds.append(size)
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]

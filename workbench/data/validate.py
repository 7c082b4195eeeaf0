"""Validate every row of a data source: each bad row with its location, field and reason.

JSONL files (the common case for big data) are split into byte ranges aligned to
line starts and checked by a pool of processes; other sources are read in order.
Either way the report is the same: every invalid row, in file order, and the count
of each kind of problem.
"""

from __future__ import annotations

import functools
import json
import mmap
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from itertools import repeat
from typing import Callable, Iterable

import numpy as np

from workbench.data.jsongrammar import plain_variant, spacing_variant, utf8_valid
from workbench.data.loading import BadRow, Detection, convert_rows, map_columns, resolve_format
from workbench.data.readers import BOM, decode_line, iter_rows, lone_surrogate, source_kind
from workbench.errors import DataError
from workbench.specs import DataFormat

CHUNK = 4 << 20             # bytes per block checked in this process
PARALLEL_CHUNK = 512 << 10  # bytes per block in the process pool: small blocks stay in the CPU caches
TASK_BYTES = 16 << 20       # bytes per pool task (consecutive blocks), to keep the parent's share small
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
_NUMBER = re.compile(r"(?<![\w.-])\d+(?![\w.-])")  # not the 8 of UTF-8, nor a version


def reason_key(bad: BadRow) -> str:
    """Group similar problems: "messages[3].role: unknown role 'bot'" -> "messages[*].role: unknown role '…'"."""
    reason = _NUMBER.sub("N", _QUOTED.sub("'…'", bad.reason.split(" (")[0]))
    return f"{_INDEX.sub('[*]', bad.field)}: {reason}" if bad.field else reason


def check_source(source: str, formats: dict[str, DataFormat], data_cfg: dict | None = None, split: str = "train",
                 progress: Progress | None = None, workers: int | None = None,
                 should_stop: Callable[[], bool] | None = None) -> CheckReport:
    """Check every row of `source` with the configured or detected format.

    workers: processes for big JSONL files (default: the CPU count). 1 = in this thread
    (pyarrow then parses on its threads), which is what a TUI worker thread wants: no
    fork from a threaded process.
    """
    data_cfg = data_cfg or {}
    detection = resolve_format(source, data_cfg, formats, split)
    report = CheckReport(source, detection.format.name, detection.format.kind, round(detection.confidence, 3),
                         scores=detection.scores)
    columns = data_cfg.get("columns") or None
    kind = source_kind(source)
    if workers is None:  # line patterns and Python parsing hold the GIL: processes, not threads
        workers = os.cpu_count() or 1
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

    `start` must be a line start. Local line numbers are 1-based within the range. Rows
    go through up to three stages: the format's line pattern, its columnar check (on the
    lines the pattern left), and the Python converter for whatever neither could prove
    valid; only the converter writes error messages.
    """
    return check_ranges(path, [(start, end)], fmt, columns, threads)[0]


def check_ranges(path: str, ranges: list[tuple[int, int]], fmt: DataFormat, columns: dict | None,
                 threads: bool = False) -> list:
    """`check_range` over ranges of one file (one pool task: many cache-sized blocks).

    The file is mapped into memory, not read: the blocks are checked where the page
    cache holds them, without a copy.
    """
    with open(path, "rb") as f:
        data = _map(f)
        return [_check_block(data, start, end, fmt, columns, threads) for start, end in ranges]


def _map(f) -> mmap.mmap | bytes:
    try:
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # an empty file, or one that can't be mapped
        return f.read()


def _check_block(data: mmap.mmap | bytes, start: int, end: int, fmt: DataFormat, columns: dict | None,
                 threads: bool) -> tuple[int, int, list[tuple[int, str, str]]]:
    if start < end < len(data) and data[end - 1] != 10:  # finish the last line
        nxt = data.find(b"\n", end)
        end = len(data) if nxt < 0 else nxt + 1
    if start == 0 and data[:len(BOM)] == BOM:
        start = len(BOM)
    lines = Lines(data, start, min(end, len(data)))
    nlines = len(lines)
    check = getattr(fmt.convert, "arrow_check", None)
    todo: list[int] | range = range(nlines)
    rows = 0
    if check is not None and not columns:
        proven, todo = _pattern_prefilter(data, lines, getattr(check, "line_pattern", None))
        rows += proven
    if check is not None:
        proven, todo = _arrow_prefilter(data, lines, todo, check, columns, threads)
        rows += proven
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
        except (ValueError, RecursionError):
            row = decode_line(raw)  # the precise message, off the hot path
        if type(row) is not dict or (b"\\u" in raw and lone_surrogate(raw)):
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


class Lines:
    """The lines of data[lo:hi] (without their newlines), sliced only when asked for.

    `starts` and `ends` are offsets in `data`, which may be a whole mapped file.
    """

    def __init__(self, data: mmap.mmap | bytes, lo: int = 0, hi: int | None = None):
        hi = len(data) if hi is None else hi
        self.data, self.lo, self.hi = data, lo, hi
        arr = np.frombuffer(data, dtype=np.uint8, count=hi - lo, offset=lo) if hi > lo else np.zeros(0, np.uint8)
        controls = np.flatnonzero(arr < 32)  # one pass finds the newlines and any other control byte
        newline = arr[controls] == 10
        ends = controls if newline.all() else controls[newline]
        del arr  # (a mapped file can't be closed while an array views it)
        self.newlines = len(ends)
        self.only_newline_controls = len(ends) == len(controls)
        if hi > lo and data[hi - 1] != 10:
            ends = np.append(ends, hi - lo)  # a last line without its newline
        ends = ends + lo
        self.ends = ends.tolist()
        self.starts = [lo, *(ends[:-1] + 1).tolist()] if len(ends) else []

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, i: int) -> bytes:
        return self.data[self.starts[i]:self.ends[i]]

    def block(self) -> bytes:
        """All the lines, as they are in the file."""
        return self.data[self.lo:self.hi]


def _pattern_prefilter(data: mmap.mmap | bytes, lines: Lines, pattern) -> tuple[int, list[int] | range]:
    """(lines proven valid by the format's line pattern, indices of the other lines)."""
    if pattern is None:
        return 0, range(len(lines))
    strict, plain = _variants(pattern)
    starts, ends = lines.starts, lines.ends
    # The spacing the block's first line is written with is most likely that of all its lines.
    k = next((i for i, v in enumerate(strict[:-1]) if starts and v.fullmatch(data, starts[0], ends[0])), -1)
    if not lines.only_newline_controls:
        matched = _match(data, starts, ends, strict[k].fullmatch, strict[-1].fullmatch)
    elif data.find(b"\\", lines.lo, lines.hi) < 0:  # the common case: the plain grammar for every line
        matched = _match(data, starts, ends, plain[k].fullmatch, plain[-1].fullmatch)
    else:
        fast_plain, fast_strict, find = plain[k].fullmatch, strict[k].fullmatch, data.find
        matched = [fast_plain(data, a, b) if find(b"\\", a, b) < 0 else fast_strict(data, a, b)
                   for a, b in zip(starts, ends)]
        if (plain[k], strict[k]) != (plain[-1], strict[-1]) and None in matched:
            general_plain, general_strict = plain[-1].fullmatch, strict[-1].fullmatch
            matched = [m or (general_plain(data, a, b) if find(b"\\", a, b) < 0 else general_strict(data, a, b))
                       for m, a, b in zip(matched, starts, ends)]
    todo = [i for i, m in enumerate(matched) if m is None] if None in matched else []
    if todo and len(todo) == len(lines):
        return 0, todo
    if not utf8_valid(memoryview(data)[lines.lo:lines.hi]):  # rare: find the matched lines that are not UTF-8 and check those exactly
        left = set(todo)
        todo = sorted(left | {i for i in range(len(lines)) if i not in left and not _decodes(lines[i])})
    return len(lines) - len(todo), todo


def _match(data: mmap.mmap | bytes, starts: list[int], ends: list[int], fast, general) -> list:
    """Per line, `fast`'s match or else `general`'s (None where neither matches)."""
    matched = list(map(fast, repeat(data), starts, ends))
    if fast is not general and None in matched:
        matched = [m or general(data, a, b) for m, a, b in zip(matched, starts, ends)]
    return matched


SPACINGS = ((b", ", b": "), (b",", b":"))  # json.dumps' default and compact writers'


@functools.lru_cache(maxsize=16)
def _variants(pattern) -> tuple[tuple[re.Pattern[bytes], ...], tuple[re.Pattern[bytes], ...]]:
    """(strict, plain) grammars: one per fixed spacing in SPACINGS, then the general one."""
    out = []
    for general in (pattern, plain_variant(pattern)):
        spaced = [spacing_variant(general, comma, colon) for comma, colon in SPACINGS]
        if any(s.pattern == general.pattern for s in spaced):  # not built from jsongrammar's pieces
            spaced = [general] * len(SPACINGS)
        out.append((*spaced, general))
    return out[0], out[1]


def _decodes(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _arrow_prefilter(data: mmap.mmap | bytes, lines: Lines, todo, check, columns: dict | None,
                     threads: bool = False) -> tuple[int, list[int] | range]:
    """(rows the columnar check proves valid, indices of the lines still to check in Python).

    The non-blank lines still to check are parsed by pyarrow as one block; the check is
    usable only when that gives exactly one row per line, so row i is the i-th of them.
    Anything else (a line pyarrow cannot parse, a type surprise) leaves every line to Python.
    """
    candidates = [i for i in todo if not lines[i].isspace() and lines[i]]
    if len(candidates) < 64:
        return 0, todo
    block = lines.block() if len(candidates) == len(lines) else b"\n".join([lines[i] for i in candidates])
    try:
        import io

        import pyarrow.json as pj

        # Several blocks let pyarrow parse on its threads; one block when running in a worker process.
        size = len(block) // 8 + 1 if threads else len(block) + 1
        table = pj.read_json(io.BytesIO(block), read_options=pj.ReadOptions(use_threads=threads,
                                                                            block_size=max(size, 1 << 20)))
        if table.num_rows != len(candidates):
            return 0, todo
        if columns:
            names = list(table.column_names)
            for target, source in columns.items():
                if source in names and target not in names:
                    names[names.index(source)] = target
            table = table.rename_columns(names)
        certain = check(table)
    except Exception:  # noqa: BLE001 - any parse/type surprise just means the slow, exact path
        return 0, todo
    if len(certain) != len(candidates):
        return 0, todo
    left = np.flatnonzero(~np.asarray(certain, dtype=bool)).tolist()
    return len(candidates) - len(left), [candidates[j] for j in left]


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
    ranges = _ranges(path, size, min(CHUNK, PARALLEL_CHUNK, max(64 << 10, size // (workers * 4))))
    per_task = max(1, min(TASK_BYTES // PARALLEL_CHUNK, len(ranges) // (workers * 4)))
    groups = [ranges[i:i + per_task] for i in range(0, len(ranges), per_task)]
    method = "fork" if "fork" in mp.get_all_start_methods() else None
    line = 1
    with ProcessPoolExecutor(workers, mp_context=mp.get_context(method)) as pool:
        futures = [pool.submit(check_ranges, path, group, detection.format, columns) for group in groups]
        for group, fut in zip(groups, futures):  # in order, so line numbers add up
            for result in fut.result():
                line += _add_range(report, path, line, result)
            if progress:
                progress(group[-1][1] / size if size else 1.0)


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

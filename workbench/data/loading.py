"""Detect a source's format and convert its rows to a canonical kind, with exact errors."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from workbench.data.readers import Row, iter_rows
from workbench.errors import DataError
from workbench.specs import DataFormat

DETECT_SAMPLE = 64
MIN_CONFIDENCE = 0.5


@dataclass(frozen=True)
class BadRow:
    location: str
    number: int
    field: str
    reason: str

    def line(self) -> str:
        return f"{self.location}: {self.field}: {self.reason}" if self.field else f"{self.location}: {self.reason}"

    def to_json(self) -> dict:
        return {"location": self.location, "row": self.number, "field": self.field, "reason": self.reason}


@dataclass
class Detection:
    format: DataFormat
    confidence: float
    scores: dict[str, float] = field(default_factory=dict)


def map_columns(data: dict, columns: dict[str, str] | None) -> dict:
    """Rename the file's columns to the format's field names ({format_field: file_column})."""
    if not columns:
        return data
    out = dict(data)
    for target, source in columns.items():
        if source in out:
            out[target] = out.pop(source)
    return out


def detect(rows: list[dict], formats: Iterable[DataFormat]) -> Detection:
    """The format whose detector is most confident about the sample rows."""
    scores: dict[str, float] = {}
    best: tuple[float, DataFormat] | None = None
    for fmt in formats:
        try:
            conf = float(fmt.detect(rows).confidence)
        except Exception:  # noqa: BLE001 - a plugin's detector must not break detection
            conf = 0.0
        scores[fmt.name] = round(conf, 3)
        if best is None or conf > best[0]:
            best = (conf, fmt)
    if best is None or best[0] < MIN_CONFIDENCE:
        top = ", ".join(f"{k} {v:.0%}" for k, v in sorted(scores.items(), key=lambda kv: -kv[1])[:3])
        keys = sorted({k for r in rows[:5] for k in r})
        raise DataError(f"cannot tell the data format (columns: {', '.join(keys) or 'none'}; best guesses: {top}); "
                        "set data.format or data.columns")
    return Detection(best[1], best[0], scores)


def convert_rows(rows: Iterable[Row], fmt: DataFormat, columns: dict[str, str] | None = None
                 ) -> Iterator[tuple[Row, dict | None, BadRow | None]]:
    """(row, canonical row, None) for good rows, (row, None, BadRow) for bad ones."""
    for row in rows:
        if "__error__" in row.data:
            yield row, None, BadRow(row.location, row.number, "", row.data["__error__"])
            continue
        try:
            yield row, fmt.convert(map_columns(row.data, columns)), None
        except DataError as exc:
            yield row, None, BadRow(row.location, row.number, exc.where or "", exc.message)
        except Exception as exc:  # noqa: BLE001 - a plugin's converter bug is still a row-level report
            yield row, None, BadRow(row.location, row.number, "", f"{fmt.name} converter raised {exc!r}")


def check_columns(columns: dict[str, str] | None, sample: list[dict], source: str) -> None:
    """Every mapped column (data.columns / --columns) must be a column of the data.

    A mapping naming a column the file does not have would otherwise be ignored, and the
    format's field then reported missing on every row.
    """
    if not columns or not sample:
        return
    present = {k for row in sample for k in row}
    for target, column in columns.items():
        if column not in present:
            close = difflib.get_close_matches(column, sorted(present), n=1, cutoff=0.6)
            mean = f"; did you mean '{close[0]}'?" if close else ""
            raise DataError(f"column '{column}' (mapped to {target}) is not in {Path(source).name}{mean} "
                            f"(its columns: {', '.join(sorted(present)[:12])})", where="data.columns")


def resolve_format(source: str, data_cfg: dict, formats: dict[str, DataFormat], split: str = "train") -> Detection:
    """The configured format, or the detected one; the column mapping must fit the data either way."""
    name = data_cfg.get("format", "auto")
    if name != "auto" and name not in formats:
        raise DataError(f"unknown data format '{name}' (known: {', '.join(sorted(formats))})", where="data.format")
    columns = data_cfg.get("columns")
    if name != "auto" and not columns:
        return Detection(formats[name], 1.0)
    raw = [r.data for r in iter_rows(source, split, limit=DETECT_SAMPLE) if "__error__" not in r.data]
    check_columns(columns, raw, source)
    if name != "auto":
        return Detection(formats[name], 1.0)
    sample = [map_columns(r, columns) for r in raw]
    if not sample:
        raise DataError("no readable rows", where=source)
    return detect(sample, formats.values())


@dataclass
class Prepared:
    rows: list[dict]
    bad: list[BadRow]
    format: DataFormat
    total: int


def prepare(source: str, data_cfg: dict, formats: dict[str, DataFormat], split: str = "train",
            max_rows: int | None = None) -> Prepared:
    """Read and convert every row; bad rows are collected, never silently dropped."""
    detection = resolve_format(source, data_cfg, formats, split)
    good, bad, total = [], [], 0
    for _, converted, problem in convert_rows(iter_rows(source, split, limit=max_rows), detection.format,
                                              data_cfg.get("columns")):
        total += 1
        if problem:
            bad.append(problem)
        else:
            good.append(converted)
    return Prepared(good, bad, detection.format, total)


def bad_rows_error(bad: list[BadRow], total: int, show: int = 5) -> DataError:
    first = bad[0]
    more = "; ".join(b.line() for b in bad[1:show])
    msg = f"{len(bad)} of {total} rows are invalid; first: {first.line()}" + (f"; then {more}" if more else "")
    return DataError(msg, hint="fix the rows, or set data.on_invalid = \"skip\" to train without them "
                                "(skipped rows are recorded in the run directory)")

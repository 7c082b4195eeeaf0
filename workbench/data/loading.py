"""Detect a source's format and convert its rows to a canonical kind, with exact errors."""

from __future__ import annotations

from dataclasses import dataclass, field
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


def resolve_format(source: str, data_cfg: dict, formats: dict[str, DataFormat], split: str = "train") -> Detection:
    """The configured format, or the detected one."""
    name = data_cfg.get("format", "auto")
    if name != "auto":
        if name not in formats:
            raise DataError(f"unknown data format '{name}' (known: {', '.join(sorted(formats))})", where="data.format")
        return Detection(formats[name], 1.0)
    sample = [map_columns(r.data, data_cfg.get("columns")) for r in iter_rows(source, split, limit=DETECT_SAMPLE)
              if "__error__" not in r.data]
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

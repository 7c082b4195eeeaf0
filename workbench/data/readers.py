"""Row readers for every supported source; each row comes with where it came from.

A location is what an error message names: "file.jsonl:17" (line), "file.csv:5"
(line of the record's start), "file.parquet row 12", "hub:org/name row 3".
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from workbench.errors import DataError

HUB_PREFIX = "hub:"
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
SUFFIXES = (".jsonl", ".json", ".csv", ".parquet")


@dataclass(frozen=True)
class Row:
    location: str   # for messages: "path:line" or "path row N"
    number: int     # line (text formats) or 1-based row index
    data: dict


def is_hub_name(source: str) -> bool:
    return source.startswith(HUB_PREFIX) or (not Path(source).exists() and bool(_HUB_ID.match(source))
                                             and not source.endswith(SUFFIXES))


def source_kind(source: str) -> str:
    """jsonl | json | csv | parquet | disk | hub."""
    if is_hub_name(source):
        return "hub"
    path = Path(source)
    if path.is_dir():
        return "disk"
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".json":
        return "json"
    if suffix in (".csv", ".tsv"):
        return "csv"
    if suffix == ".parquet":
        return "parquet"
    raise DataError(f"unsupported data file type '{suffix or path.name}' (use .jsonl, .json, .csv, .parquet, "
                    "a save_to_disk folder or a Hub name)", where=str(path))


def iter_rows(source: str, split: str = "train", limit: int | None = None) -> Iterator[Row]:
    """Yield rows of `source` in file order, at most `limit` of them."""
    kind = source_kind(source)
    if kind != "hub" and not Path(source).exists():
        raise DataError("file not found", where=source)
    reader = {"jsonl": _jsonl, "json": _json, "csv": _csv, "parquet": _parquet, "disk": _disk, "hub": _hub}[kind]
    for i, row in enumerate(reader(source, split) if kind in ("disk", "hub") else reader(source)):
        if limit is not None and i >= limit:
            return
        yield row


def _jsonl(path: str) -> Iterator[Row]:
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                data = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                yield Row(f"{path}:{number}", number, {"__error__": f"invalid JSON: {getattr(exc, 'msg', exc)}"})
                continue
            if not isinstance(data, dict):
                yield Row(f"{path}:{number}", number, {"__error__": f"expected a JSON object, got {type(data).__name__}"})
                continue
            yield Row(f"{path}:{number}", number, data)


def _json(path: str) -> Iterator[Row]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON at line {exc.lineno}: {exc.msg}", where=path) from None
    if isinstance(data, dict):  # {"data": [...]} or {"train": [...]}
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise DataError("expected a JSON array of rows (or an object holding one array)", where=path)
        data = lists[0]
    if not isinstance(data, list):
        raise DataError("expected a JSON array of rows", where=path)
    for i, item in enumerate(data, start=1):
        row = item if isinstance(item, dict) else {"__error__": f"expected an object, got {type(item).__name__}"}
        yield Row(f"{path} row {i}", i, row)


def _csv(path: str) -> Iterator[Row]:
    with open(path, newline="", encoding="utf-8") as f:
        dialect = "excel-tab" if path.endswith(".tsv") else "excel"
        reader = csv.DictReader(f, dialect=dialect)
        start = 2
        for data in reader:
            yield Row(f"{path}:{start}", start, {k: _csv_value(v) for k, v in data.items() if k is not None})
            start = reader.line_num + 1


def _csv_value(value: str | None):
    """CSV cells holding JSON lists/objects (e.g. messages) are decoded; the rest stay strings."""
    if value and value[:1] in "[{":
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    if value in ("true", "false", "True", "False"):
        return value.lower() == "true"
    return value


def _parquet(path: str) -> Iterator[Row]:
    import pyarrow.parquet as pq

    number = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=1024):
        for data in batch.to_pylist():
            number += 1
            yield Row(f"{path} row {number}", number, data)


def _disk(path: str, split: str) -> Iterator[Row]:
    from datasets import DatasetDict, load_from_disk

    ds = load_from_disk(path)
    if isinstance(ds, DatasetDict):
        if split not in ds:
            raise DataError(f"split '{split}' not in dataset (has {', '.join(ds)})", where=path)
        ds = ds[split]
    for i, data in enumerate(ds, start=1):
        yield Row(f"{path} row {i}", i, data)


def _hub(source: str, split: str) -> Iterator[Row]:
    name = source.removeprefix(HUB_PREFIX)
    try:
        from datasets import load_dataset

        ds = load_dataset(name, split=split, streaming=True)
        for i, data in enumerate(ds, start=1):
            yield Row(f"hub:{name} row {i}", i, data)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - offline, unknown name, gated repo...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"cannot load Hub dataset '{name}': {first}", where=f"hub:{name}") from None

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
SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet")
BOM = b"\xef\xbb\xbf"
TOO_DEEP = "invalid JSON: nested too deeply for Python's parser (about 1,000 levels)"


@dataclass(frozen=True)
class Row:
    location: str   # for messages: "path:line" or "path row N"
    number: int     # line (text formats) or 1-based row index
    data: dict


def is_hub_name(source: str) -> bool:
    """"hub:org/name", or an "org/name" that is not a local path."""
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


# A \\uD800-\\uDFFF escape (not itself after an escaped backslash), with the low half that may pair with it.
_SURROGATE = re.compile(rb"(?<!\\)((?:\\\\)*)\\u([dD][89a-fA-F][0-9a-fA-F]{2})(\\u[dD][c-fC-F][0-9a-fA-F]{2})?")


def lone_surrogate(raw: bytes, column: bool = True) -> str | None:
    """Why a JSON text holds a string no UTF-8 text can (a \\ud83d escape without its pair, e.g. an emoji
    cut in half), or None. JSON parsers accept it; Arrow, tokenizers and the trainer's dataset cannot."""
    if b"\\u" not in raw:
        return None
    for m in _SURROGATE.finditer(raw):
        if m.group(2)[1:2].lower() in b"89ab" and m.group(3):  # a high surrogate with its low half: a pair
            continue
        at = m.start() + len(m.group(1))
        where = f" (column {len(raw[:at].decode('utf-8', 'replace').lstrip(chr(0xFEFF))) + 1})" if column else ""
        return f"not valid Unicode: a lone surrogate \\u{m.group(2).decode()}{where}, e.g. half of an emoji cut in two"
    return None


def decode_line(raw: bytes) -> dict:
    """One JSONL line as a row dict, or {"__error__": reason} (the caller adds the location).

    The column of a JSON error counts characters from the line's start, the same
    whether the line came with its newline (the row reader) or without (the fast checker).
    """
    raw = raw.rstrip(b"\r\n")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        if exc.msg == "Invalid control character at":  # a raw NUL, tab or other byte below 32 inside a string
            return {"__error__": f"invalid JSON: raw control character {exc.doc[exc.pos]!r} in a string "
                                 f"(column {exc.pos + 1}; JSON wants it escaped: \\t, \\u0000)"}
        return {"__error__": f"invalid JSON: {exc.msg} (column {exc.pos + 1})"}
    except UnicodeDecodeError as exc:
        return {"__error__": f"not UTF-8 text: {exc.reason} at byte {exc.start}"}
    except RecursionError:
        return {"__error__": TOO_DEEP}
    if type(data) is not dict:
        return {"__error__": f"expected a JSON object, got {_json_type(data)}"}
    surrogate = lone_surrogate(raw)
    if surrogate:
        return {"__error__": surrogate}
    return data


def _json_type(value) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean",
            type(None): "null"}.get(type(value), type(value).__name__)


def _jsonl(path: str) -> Iterator[Row]:
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            if number == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
            if not raw.strip():
                continue
            yield Row(f"{path}:{number}", number, decode_line(raw))


def _json(path: str) -> Iterator[Row]:
    try:
        data = json.loads(Path(path).read_bytes())
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                        where=f"{path}:{exc.lineno}") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"not UTF-8 text: {exc.reason} at byte {exc.start}", where=path) from None
    except RecursionError:
        raise DataError(TOO_DEEP, where=path) from None
    if isinstance(data, dict):  # {"data": [...]} or {"train": [...]}
        lists = [k for k, v in data.items() if isinstance(v, list)]
        if len(lists) != 1:
            raise DataError("expected a JSON array of rows, or an object holding exactly one array "
                            f"(found arrays: {', '.join(lists) or 'none'})", where=path)
        data = data[lists[0]]
    if not isinstance(data, list):
        raise DataError(f"expected a JSON array of rows, got {_json_type(data)}", where=path)
    check_text = lone_surrogate(Path(path).read_bytes()) is not None  # rare: then each row is checked
    for i, item in enumerate(data, start=1):
        row = item if isinstance(item, dict) else {"__error__": f"expected a JSON object, got {_json_type(item)}"}
        if check_text and "__error__" not in row:
            surrogate = lone_surrogate(json.dumps(row).encode(), column=False)
            if surrogate:
                row = {"__error__": surrogate}
        yield Row(f"{path} row {i}", i, row)


def _csv(path: str) -> Iterator[Row]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        dialect = "excel-tab" if path.lower().endswith(".tsv") else "excel"
        reader = csv.reader(f, dialect=dialect)
        try:
            header = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            raise DataError(f"unreadable CSV header: {exc}", where=f"{path}:1") from None
        if len(set(header)) != len(header):
            dup = next(h for h in header if header.count(h) > 1)
            raise DataError(f"duplicate column {dup!r} in the header", where=f"{path}:1")
        start = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (csv.Error, UnicodeDecodeError) as exc:
                yield Row(f"{path}:{start}", start, {"__error__": f"unreadable CSV record: {exc}"})
                start = reader.line_num + 1
                continue
            if cells:
                if len(cells) != len(header):
                    data = {"__error__": f"record has {len(cells)} fields, the header has {len(header)}"}
                else:
                    data = {k: _csv_value(v) for k, v in zip(header, cells)}
                yield Row(f"{path}:{start}", start, data)
            start = reader.line_num + 1


def _csv_value(value: str):
    """CSV cells holding JSON lists/objects (e.g. messages) are decoded; the rest stay strings
    (a completion "True" is text: a format that wants a boolean, like KTO's label, reads the word).

    An empty cell is a missing value (None), so "missing field" errors read naturally.
    """
    if value == "":
        return None
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            return value
    return value


def _parquet(path: str) -> Iterator[Row]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a bad file
        raise DataError(f"unreadable Parquet file: {_first_line(exc)}", where=path) from None
    number = 0
    for batch in pf.iter_batches(batch_size=1024):
        for data in batch.to_pylist():
            number += 1
            yield Row(f"{path} row {number}", number, data)


def _disk(path: str, split: str) -> Iterator[Row]:
    from datasets import DatasetDict, load_from_disk

    try:
        ds = load_from_disk(path)
    except Exception as exc:  # noqa: BLE001 - not a save_to_disk folder, version mismatch...
        raise DataError(f"not a datasets save_to_disk folder: {_first_line(exc)}", where=path) from None
    if isinstance(ds, DatasetDict):
        if split not in ds:
            raise DataError(f"split '{split}' not in dataset (has {', '.join(ds)})", where=path)
        ds = ds[split]
    for i, data in enumerate(ds, start=1):
        yield Row(f"{path} row {i}", i, data)


def _truthy(value: str | None) -> bool:
    return (value or "").strip().upper() in ("1", "ON", "YES", "TRUE")


def hub_offline_reason(timeout: float = 3.0) -> str | None:
    """Why the Hub cannot be reached from here (offline mode set, or its host unreachable), or None.

    A plain TCP connect: `datasets` would otherwise retry five times over about 25 s before
    saying the same. Behind a proxy the probe is skipped (the proxy decides).
    """
    import os
    import socket
    from urllib.parse import urlparse

    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        if _truthy(os.environ.get(var)):
            return f"{var} is set"
    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return f"{host} is unreachable: {exc.strerror or type(exc).__name__}"
    return None


def _hub(source: str, split: str) -> Iterator[Row]:
    name = source.removeprefix(HUB_PREFIX)
    offline = hub_offline_reason()
    if offline:
        raise DataError(f"cannot load Hub dataset '{name}': offline ({offline}); Hub datasets are streamed, so "
                        "download it and point the config at the local files", where=f"hub:{name}")
    try:
        from datasets import load_dataset

        ds = load_dataset(name, split=split, streaming=True)
        for i, data in enumerate(ds, start=1):
            yield Row(f"hub:{name} row {i}", i, data)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001 - offline, unknown name, gated repo...
        first = _first_line(exc)
        raise DataError(f"cannot load Hub dataset '{name}': {first}", where=f"hub:{name}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

"""Token statistics and loss masks of a data file under a chosen config, in bounded memory.

The backend of `workbench data stats` and of the TUI's Datasets stats / loss-mask views:

    from workbench.data.stats import settings_for, compute_stats, row_sequences, Cancelled

    settings = settings_for("data.jsonl", config="job.toml")   # or model="path/or/hub-id"
    settings.describe()        # "tokenizer tiny-llama (config job.toml), chat template of the tokenizer,
                               #  max_length 128 (job.toml: trainer.args.max_length)"
    report = compute_stats(settings, progress=lambda rows, fraction: ..., should_stop=lambda: False)
    report.stats               # TokenStats: lengths, trained tokens, over max_length, packing, histogram
    report.cached              # True when no row was tokenized (a cache entry from an earlier run)
    row_sequences(settings, raw_row_dict)   # [Encoded(ids, mask)] for the loss-mask view of one row

- The tokenizer, chat template and max_length come from the config (its [model] path /
  tokenizer / chat_template, trainer.args.max_length, else the trainer's default), or
  from `model=` / `max_length=` (named in `describe()`, so a screen can say which it uses).
- Which tokens are trained on follows the config's trainer args as the trainer reads them
  (its own config class's defaults included): `assistant_only_loss` (TRL's SFT default is
  off: a conversation trains on every token), `completion_only_loss`, `truncation_mode`
  (`settings.loss`, a `LossMask`). Without a config: assistant turns and completions.
- Rows are streamed from the file (never all in memory): per sequence only its length
  (4 bytes) is kept; peak memory does not grow with the file.
- `progress(rows_done, fraction_or_None)` is called every 256 rows and at the end
  (fraction of the file's lines, when known); `should_stop()` is polled as often and
  raises `Cancelled` when it returns True (nothing is cached then).
- Per-sequence lengths and trained spans are cached by content (data file hash, format,
  columns, split, max_rows, tokenizer and chat template) in the workspace's data cache
  (`workbench.data.cache`, stage `stats`: flat arrays, memory-mapped; no Arrow import, so a
  cold run costs what a plain tokenizer loop costs): the same file under the same tokenizer
  is measured again without tokenizing, for any max_length, in a fraction of a second.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from workbench.data.tokens import DEFAULT_LOSS, Encoded, LossMask, TokenStats, encode_row, mask_runs
from workbench.errors import WorkbenchError

Progress = Callable[[int, "float | None"], None]
DEFAULT_MAX_LENGTH = 1024
PROGRESS_EVERY = 256
WRITE_BATCH = 4096


class Cancelled(WorkbenchError):
    """compute_stats() stopped because should_stop() said so."""


@dataclass(frozen=True)
class StatsSettings:
    """Everything token statistics depend on, and where each setting came from."""

    source: str
    model: str
    tokenizer: str | None = None
    chat_template: str | None = None
    max_length: int = DEFAULT_MAX_LENGTH
    max_length_from: str = "default"
    config: str | None = None
    format: str = "auto"
    columns: dict = field(default_factory=dict)
    split: str = "train"
    max_rows: int | None = None
    trust_remote_code: bool = False
    loss: LossMask = DEFAULT_LOSS
    loss_from: str = "no config: assistant turns and completions"

    @property
    def data_cfg(self) -> dict:
        return {"format": self.format, "columns": dict(self.columns), "split": self.split}

    def describe(self) -> str:
        """One line naming the tokenizer, chat template and max_length used (and the config)."""
        tok = self.tokenizer or self.model
        where = f" (config {Path(self.config).name})" if self.config else ""
        template = f"chat template {Path(self.chat_template).name}" if self.chat_template else \
            "chat template of the tokenizer"
        return (f"tokenizer {_short(tok)}{where}, {template}, max_length {self.max_length} ({self.max_length_from}), "
                f"{self.loss.describe()} ({self.loss_from})")

    def to_json(self) -> dict:
        return {"config": self.config, "model": self.model, "tokenizer": self.tokenizer or self.model,
                "chat_template": self.chat_template, "max_length": self.max_length,
                "max_length_from": self.max_length_from, "assistant_only_loss": self.loss.assistant_only,
                "completion_only_loss": self.loss.completion_only, "truncation_mode": self.loss.truncation,
                "loss_from": self.loss_from}


def _short(path: str) -> str:
    p = Path(path)
    return p.name if p.exists() else path


def settings_for(source: str, *, config: str | None = None, model: str | None = None, max_length: int | None = None,
                 format: str = "auto", columns: dict | None = None, split: str = "train",
                 max_rows: int | None = None, overrides: list[str] | None = None) -> StatsSettings:
    """Settings from a job config (its tokenizer, template, data options and max_length) and/or explicit values.

    Explicit arguments win over the config. Without a config, `model` is required.
    """
    from workbench.errors import ConfigError

    tokenizer = template = None
    trust = False
    loss, loss_from = DEFAULT_LOSS, StatsSettings.loss_from
    source_of_max = "--max-length" if max_length else "default"
    data_columns = dict(columns or {})
    if config:
        from workbench.config import load_config

        cfg = load_config(config, overrides=overrides, check_data=False, deep=False)  # no trainer-object child
        model = model or cfg["model"]["path"]
        tokenizer = cfg["model"].get("tokenizer")
        template = cfg["model"].get("chat_template")
        trust = bool(cfg["model"].get("trust_remote_code", False))
        if not max_length:
            max_length, source_of_max = _config_max_length(cfg, Path(config).name)
        if format == "auto":
            format = cfg["data"].get("format", "auto")
        data_columns = {**cfg["data"].get("columns", {}), **data_columns}
        loss, loss_from = config_loss(cfg, Path(config).name)
    if not model:
        raise ConfigError("token statistics need a model (for the tokenizer and chat template) or a config")
    return StatsSettings(source=str(source), model=str(model), tokenizer=tokenizer, chat_template=template,
                         max_length=int(max_length or DEFAULT_MAX_LENGTH), max_length_from=source_of_max,
                         config=str(config) if config else None, format=format, columns=data_columns, split=split,
                         max_rows=max_rows, trust_remote_code=trust, loss=loss, loss_from=loss_from)


def _config_max_length(cfg, name: str) -> tuple[int, str]:
    value = cfg["trainer"].get("args", {}).get("max_length")
    if value:
        return int(value), f"{name}: trainer.args.max_length"
    try:
        from workbench.plugin_manager import get_registry

        spec = get_registry().trainer(cfg["trainer"]["name"])
        default = (spec.default_args or {}).get("max_length")
        if default:
            return int(default), f"default of trainer {spec.name}"
    except WorkbenchError:
        pass
    return DEFAULT_MAX_LENGTH, "default"


def config_loss(cfg, name: str) -> tuple[LossMask, str]:
    """The loss mask the config's trainer applies: trainer.args, else the trainer's defaults, else its
    config class's (e.g. trl.SFTConfig: assistant_only_loss off, completion_only_loss on for
    prompt/completion rows, keep_start truncation)."""
    args = dict(cfg["trainer"].get("args", {}))
    fields: dict = {}
    try:
        from workbench.config.argschema import trainer_fields
        from workbench.plugin_manager import get_registry

        spec = get_registry().trainer(cfg["trainer"]["name"])
        args = {**(spec.default_args or {}), **args}
        fields = trainer_fields(spec.config_class) if spec.config_class else {}
    except (WorkbenchError, ImportError, OSError, ValueError):
        pass  # the trainer's class cannot be read here: only what the config says, else assistant/completion

    def value(key: str, fallback):
        if key in args:
            return args[key]
        record = fields.get(key)
        return record.get("default", fallback) if isinstance(record, dict) else fallback

    assistant = value("assistant_only_loss", True)
    completion = value("completion_only_loss", True)
    truncation = "keep_start" if value("packing", False) else value("truncation_mode", "keep_start")
    loss = LossMask(assistant_only=bool(assistant), completion_only=completion is None or bool(completion),
                    truncation=truncation if truncation in ("keep_start", "keep_end") else "keep_start")
    return loss, f"{name}: trainer {cfg['trainer']['name']}"


@dataclass
class StatsReport:
    """compute_stats()'s answer."""

    settings: StatsSettings
    stats: TokenStats
    format: str
    kind: str
    cached: bool
    seconds: float

    def to_json(self) -> dict:
        return {"source": self.settings.source, "format": self.format, "kind": self.kind,
                **self.settings.to_json(), "cached": self.cached, **self.stats.to_json()}


_TOKENIZERS: dict[tuple, object] = {}


def tokenizer_for(settings: StatsSettings):
    """The settings' tokenizer (with its chat template file), loaded once per process."""
    from workbench.data.tokens import load_tokenizer

    key = (settings.model, settings.tokenizer, settings.chat_template)
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = load_tokenizer(settings.model, settings.tokenizer, settings.chat_template)
    return _TOKENIZERS[key]


def row_sequences(settings: StatsSettings, row: dict, formats: dict | None = None, fmt=None) -> list[Encoded]:
    """The sequences (ids and loss mask) a trainer builds from one raw row, with the settings' tokenizer."""
    from workbench.data.loading import map_columns, resolve_format

    if fmt is None:
        formats = formats if formats is not None else _formats()
        fmt = resolve_format(settings.source, settings.data_cfg, formats, settings.split).format
    canonical = fmt.convert(map_columns(row, settings.columns or None))
    return encode_row(tokenizer_for(settings), canonical, fmt.kind, settings.loss)


def _formats() -> dict:
    from workbench.plugin_manager import get_registry

    return get_registry().data_formats


def _line_count(source: str) -> int | None:
    """Lines of a JSONL file (for progress), counted in blocks; None for other sources."""
    from workbench.data.readers import source_kind

    try:
        if source_kind(source) != "jsonl":
            return None
        n = 0
        with open(source, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                n += block.count(b"\n")
        return max(n, 1)
    except (OSError, WorkbenchError):
        return None


def stats_key(settings: StatsSettings, formats: dict, tok) -> str | None:
    from workbench.data import cache

    rows = cache.rows_key(settings.source, settings.data_cfg, formats, settings.split, settings.max_rows)
    if rows is None or not cache.enabled():
        return None
    import workbench.data.tokens as tokens_module

    return cache.digest({"stage": "stats", "rows": rows, "tokenizer": cache.tokenizer_fingerprint(tok),
                         "loss": settings.loss.key(),
                         "encoder": cache.file_digest(Path(tokens_module.__file__)),
                         "versions": cache._versions("transformers", "tokenizers")})


def compute_stats(settings: StatsSettings, *, progress: Progress | None = None,
                  should_stop: Callable[[], bool] | None = None, formats: dict | None = None,
                  use_cache: bool = True, cache_root: Path | None = None) -> StatsReport:
    """Token statistics of `settings.source` (see the module docstring). Raises Cancelled, DataError."""
    from workbench.data import cache

    started = time.perf_counter()
    formats = formats if formats is not None else _formats()
    tok = tokenizer_for(settings)
    key = stats_key(settings, formats, tok) if use_cache else None
    entry = cache.entry("stats", key, cache_root) if key else None
    meta = entry.meta() if entry is not None and entry.exists() else None
    if meta is not None and meta.get("format_name") in formats:
        try:
            stats = _stats_from_entry(entry, meta, settings, progress, should_stop)
        except (OSError, ValueError, KeyError):
            pass  # a damaged entry is a miss: computed again below
        else:
            fmt = formats[meta["format_name"]]
            return StatsReport(settings, stats, fmt.name, fmt.kind, True, time.perf_counter() - started)
    stats, fmt = _stream_stats(settings, formats, tok, entry, progress, should_stop)
    return StatsReport(settings, stats, fmt.name, fmt.kind, False, time.perf_counter() - started)


def _check_stop(should_stop) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled("token statistics cancelled")


def _stream_stats(settings: StatsSettings, formats: dict, tok, entry, progress, should_stop):
    """Tokenize row by row; write per-sequence (row, seq, length, runs) to the cache entry as we go."""
    from workbench.data.loading import convert_rows, resolve_format
    from workbench.data.readers import iter_rows

    detection = resolve_format(settings.source, settings.data_cfg, formats, settings.split)
    fmt = detection.format
    total_lines = _line_count(settings.source) if progress else None
    stats = TokenStats(max_length=settings.max_length, truncation=settings.loss.truncation)
    try:
        writer = _EntryWriter(entry) if entry is not None else None
    except OSError:  # the cache cannot be written (full, another user's folder): it only costs speed
        writer = None
    try:
        rows = iter_rows(settings.source, settings.split, limit=settings.max_rows)
        for i, (row, converted, problem) in enumerate(convert_rows(rows, fmt, settings.columns or None), start=1):
            if problem is not None:
                stats.errors += 1
            else:
                stats.rows += 1
                for k, enc in enumerate(encode_row(tok, converted, fmt.kind, settings.loss)):
                    runs = mask_runs(enc.mask)
                    stats.add(len(enc.ids), runs)
                    if writer:
                        try:
                            writer.add(row.number, k, len(enc.ids), runs)
                        except OSError:
                            writer.discard()
                            writer = None
            if i % PROGRESS_EVERY == 0:
                _check_stop(should_stop)
                if progress:
                    progress(i, min(1.0, row.number / total_lines) if total_lines else None)
        stats.finish()
        if writer:
            try:
                writer.commit({"stage": "stats", "source": settings.source, "format_name": fmt.name,
                               "rows": stats.rows, "errors": stats.errors})
            except OSError:
                pass
    finally:
        if writer:
            writer.discard()
    if progress:
        progress(stats.rows + stats.errors, 1.0)
    return stats, fmt


def _stats_from_entry(entry, meta: dict, settings: StatsSettings, progress, should_stop) -> TokenStats:
    """Statistics for settings.max_length from the cached lengths and trained spans (no tokenizer call)."""
    import numpy as np

    cols = {name: np.memmap(entry.path / f"{name}.bin", dtype=dtype, mode="r")
            if (entry.path / f"{name}.bin").stat().st_size else np.zeros(0, dtype=dtype)
            for name, dtype in COLUMNS.items()}
    _check_stop(should_stop)
    lengths = cols["length"].astype(np.int64)
    spans = cols["runs"].astype(np.int64).reshape(-1, 2)
    limit = settings.max_length
    stats = TokenStats(max_length=limit, rows=meta["rows"], errors=meta["errors"], sequences=len(lengths),
                       truncation=settings.loss.truncation)
    stats.lengths.frombytes(np.ascontiguousarray(cols["length"]).tobytes())
    if limit:
        stats.total_tokens = int(np.minimum(lengths, limit).sum())
        stats.over_max = int((lengths > limit).sum())
        stats.truncated_tokens = int(np.maximum(lengths - limit, 0).sum())
        if stats.truncation == "keep_end":  # each span's sequence keeps its last `limit` tokens
            ends = cols["runs_end"].astype(np.int64)
            per_sequence = np.diff(ends, prepend=0) // 2
            lo = np.repeat(np.maximum(lengths - limit, 0), per_sequence)
            stats.trained_tokens = int(np.maximum(spans[:, 1] - np.maximum(spans[:, 0], lo), 0).sum())
        else:
            stats.trained_tokens = int(np.maximum(np.minimum(spans[:, 1], limit) - spans[:, 0], 0).sum())
    else:
        stats.total_tokens = int(lengths.sum())
        stats.trained_tokens = int((spans[:, 1] - spans[:, 0]).sum())
    if progress:
        progress(stats.rows + stats.errors, 1.0)
    return stats.finish()


# Per-sequence columns of a stats entry: raw little-endian arrays, memory-mapped on read.
COLUMNS = {"row": "<i8", "seq": "<i1", "length": "<u4", "runs_end": "<i8", "runs": "<i4"}
_ARRAY_CODES = {"row": "q", "seq": "b", "length": "I", "runs_end": "q", "runs": "i"}


class _EntryWriter:
    """Streams per-sequence records (row, seq, length, trained spans) into a staging folder of flat
    arrays, renamed into the entry at the end. No Arrow/pandas import: the cold path stays as
    light as a plain tokenizer loop."""

    def __init__(self, entry):
        import uuid
        from array import array

        self.entry = entry
        self.staging = entry.path.parent / f".staging-{entry.path.name}-{uuid.uuid4().hex[:8]}"
        self.staging.mkdir(parents=True)
        self.files = {name: open(self.staging / f"{name}.bin", "wb") for name in COLUMNS}
        self.buffer = {name: array(code) for name, code in _ARRAY_CODES.items()}
        self.spans = 0

    def add(self, row: int, seq: int, length: int, runs: list[int]) -> None:
        b = self.buffer
        b["row"].append(row)
        b["seq"].append(seq)
        b["length"].append(length)
        b["runs"].extend(runs)
        self.spans += len(runs)
        b["runs_end"].append(self.spans)
        if len(b["row"]) >= WRITE_BATCH:
            self._flush()

    def _flush(self) -> None:
        import sys
        from array import array

        for name, arr in self.buffer.items():
            if sys.byteorder != "little":
                arr.byteswap()
            arr.tofile(self.files[name])
            self.buffer[name] = array(_ARRAY_CODES[name])

    def commit(self, meta: dict) -> None:
        import json

        from workbench.data.cache import CACHE_FORMAT, META, install

        self._flush()
        for f in self.files.values():
            f.close()
        (self.staging / META).write_text(json.dumps({**meta, "format": CACHE_FORMAT, "created": time.time()}),
                                         encoding="utf-8")
        install(self.staging, self.entry)  # False: another process stored the same entry first

    def discard(self) -> None:
        import shutil

        for f in self.files.values():
            f.close()
        shutil.rmtree(self.staging, ignore_errors=True)

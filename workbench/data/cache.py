"""Converted and tokenized data cached by content fingerprint, in the workspace.

Entries are `datasets` folders (`save_to_disk`: Arrow files, memory-mapped when loaded)
under `<workspace>/.workbench/cache/data/<stage>-<key>/`, written to a staging folder and
renamed into place, so a reader never sees half an entry and concurrent writers (several
ranks) cannot corrupt one. Stages:

- `rows`: the canonical rows of a data source after format detection and conversion.
  Key: the source's content hash, data.format / columns / split / max_rows, the source
  files of the data-format plugins, and the library versions.
- `tokenized`: what a trainer's own dataset preparation (TRL's `_prepare_dataset`:
  chat template, tokenization, masks, truncation, packing) made of a rows dataset.
  Key: the rows key (carried as the dataset's `datasets` fingerprint, also through the
  eval hold-out split), the tokenizer's content (vocabulary, merges, special tokens,
  chat template), every field of the trainer's own config class plus the
  TrainingArguments fields its preparation reads, the trainer's derived preparation
  settings, the split name, and the versions of trl / transformers / tokenizers / datasets.
  Caching the trainer's own output (not a re-implementation) makes a cached run train on
  exactly the tensors an uncached one would.

`WORKBENCH_DATA_CACHE=0` turns the cache off. Deleting the folder is always safe.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

CACHE_FORMAT = 1
DISABLE_ENV = "WORKBENCH_DATA_CACHE"
META = "workbench-cache.json"
BAD_ROWS = "bad_rows.jsonl"
# TrainingArguments fields (not of the trainer's own config class) that some trainer's preparation reads.
PREPARATION_BASE_FIELDS = ("seed", "per_device_train_batch_size")
# Attributes a TRL trainer derives before preparing its data, read by `_prepare_dataset`.
PREPARATION_ATTRIBUTES = ("chat_template", "completion_only_loss", "calculate_KL", "padding_free",
                          "_is_vision_dataset")

_KEYED: set[str] = set()   # dataset fingerprints that this module set (content keys, safe to cache on)


def enabled() -> bool:
    return os.environ.get(DISABLE_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


def cache_root(workspace: Path | None = None) -> Path:
    from workbench.paths import workspace as current_workspace

    return (workspace or current_workspace()) / ".workbench" / "cache" / "data"


def digest(value: Any) -> str:
    """A stable hex key for JSON-able data (sorted keys; other objects by str())."""
    text = json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def source_fingerprint(source: str) -> str | None:
    """Content hash of a data file or save_to_disk folder; None for Hub datasets (not cached)."""
    from workbench.data.readers import source_kind

    if source_kind(source) == "hub":
        return None
    path = Path(source)
    if path.is_dir():
        parts = sorted((str(p.relative_to(path)), file_digest(p)) for p in path.rglob("*") if p.is_file())
        return digest(["dir", parts])
    return digest(["file", path.suffix.lower(), file_digest(path)])


def _module_digest(obj: Any) -> str:
    """Identity of the code behind a plugin function: module, name and the content of the module's file
    and of the Python files beside it (the helpers it imports from its own package, e.g. formats/common.py)."""
    import inspect
    import sys

    module = getattr(obj, "__module__", None) or ""
    name = getattr(obj, "__qualname__", None) or type(obj).__name__
    try:
        source = inspect.getsourcefile(sys.modules[module]) if module in sys.modules else None
    except TypeError:
        source = None
    if not source or not os.path.exists(source):
        return f"{module}:{name}:-"
    folder = Path(source).parent
    stamp = tuple((p.name, st.st_size, st.st_mtime_ns) for p in sorted(folder.glob("*.py")) if (st := p.stat()))
    return f"{module}:{name}:{_folder_digest(str(folder), stamp)}"


@functools.lru_cache(maxsize=64)
def _folder_digest(folder: str, stamp: tuple) -> str:
    """Content hash of a folder's Python files; `stamp` (names, sizes, mtimes) keys the cache: every format
    of a package shares one hash instead of reading the package again for each of its functions."""
    h = hashlib.blake2b(digest_size=16)
    for name, _, _ in stamp:
        h.update(f"{name}:{file_digest(Path(folder) / name)};".encode())
    return h.hexdigest()


def _versions(*names: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "-"
    return out


def tokenizer_fingerprint(tok) -> str:
    """The tokenizer's content: vocabulary, merges, normalizer, special tokens, template, settings.

    Paths and per-call state (the backend's truncation/padding) are left out, so a copy of
    the same tokenizer in another folder hits the same entries.
    """
    parts: dict[str, Any] = {"class": type(tok).__name__}
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is not None:
        spec = json.loads(backend.to_str())
        spec.pop("truncation", None)
        spec.pop("padding", None)
        parts["backend"] = spec
    else:  # a slow tokenizer: its vocabulary stands for it
        parts["vocab"] = sorted(tok.get_vocab().items())
    parts["init"] = {k: v for k, v in getattr(tok, "init_kwargs", {}).items()
                     if not (k.endswith("_file") or k in ("name_or_path", "chat_template", "is_local",
                                                          "local_files_only"))}
    parts["special"] = {k: str(v) for k, v in tok.special_tokens_map.items()}
    parts["ids"] = [tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, getattr(tok, "unk_token_id", None)]
    parts["chat_template"] = getattr(tok, "chat_template", None)
    for attr in ("padding_side", "truncation_side", "model_max_length", "add_bos_token", "add_eos_token"):
        parts[attr] = getattr(tok, attr, None)
    return digest(parts)


# ----------------------------------------------------------------------------- entries


@dataclass
class Entry:
    """One cache entry: a save_to_disk folder plus workbench-cache.json."""

    path: Path

    @property
    def key(self) -> str:
        return self.path.name.split("-", 1)[1]

    def exists(self) -> bool:
        return (self.path / META).is_file()

    def meta(self) -> dict | None:
        """workbench-cache.json, or None when it is missing or damaged (the entry is then a miss)."""
        try:
            meta = json.loads((self.path / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return meta if isinstance(meta, dict) else None

    def load(self):
        """The cached dataset, memory-mapped."""
        from datasets import load_from_disk

        return load_from_disk(str(self.path))

    def store(self, dataset, meta: dict, extra: Callable[[Path], None] | None = None) -> bool:
        """Write `dataset` (and `meta`) atomically; False when another writer got there first, or when
        the cache cannot be written (full, another user's folder): the cache only costs speed."""
        import datasets

        staging = self.path.parent / f".staging-{self.path.name}-{uuid.uuid4().hex[:8]}"
        bars = datasets.is_progress_bar_enabled()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            datasets.disable_progress_bars()  # no "Saving the dataset" bar in console.log
            dataset.save_to_disk(str(staging))
            if bars:
                datasets.enable_progress_bars()
            if extra:
                extra(staging)
            (staging / META).write_text(json.dumps({**meta, "format": CACHE_FORMAT, "created": time.time()},
                                                   default=str), encoding="utf-8")
            return install(staging, self)
        except OSError:
            return False
        finally:
            if bars:
                datasets.enable_progress_bars()
            shutil.rmtree(staging, ignore_errors=True)


def install(staging: Path, target: Entry) -> bool:
    """Rename a complete staging folder into place; False when a sound entry is already there (another
    rank or run wrote it). A damaged one (no readable workbench-cache.json) is replaced: entries are
    renamed in whole, so one without it is never another writer's half-written entry."""
    try:
        os.rename(staging, target.path)
        return True
    except OSError:
        if not target.path.is_dir() or target.meta() is not None:
            return False
    shutil.rmtree(target.path, ignore_errors=True)
    try:
        os.rename(staging, target.path)
    except OSError:
        return False
    return True


def entry(stage: str, key: str, root: Path | None = None) -> Entry:
    return Entry((root or cache_root()) / f"{stage}-{key}")


def keyed(dataset, key: str):
    """Give `dataset` the content key as its datasets fingerprint (what the tokenized stage keys on)."""
    dataset._fingerprint = key
    _KEYED.add(key)
    return dataset


def is_keyed(dataset) -> bool:
    return getattr(dataset, "_fingerprint", None) in _KEYED


# ----------------------------------------------------------------------------- rows stage


@dataclass
class Rows:
    """A source's converted rows as a datasets.Dataset, with what the conversion found."""

    dataset: Any
    format: Any          # the DataFormat used
    bad: list            # BadRow
    total: int           # rows read (good + bad)
    hit: bool
    key: str | None
    seconds: float

    def event(self, split: str) -> dict:
        return {"stage": "rows", "split": split, "hit": self.hit, "key": self.key, "rows": len(self.dataset),
                "seconds": round(self.seconds, 3)}


def rows_key(source: str, data_cfg: dict, formats: dict, split: str, max_rows: int | None) -> str | None:
    content = source_fingerprint(source)
    if content is None:
        return None
    plugins = sorted((name, fmt.kind, _module_digest(fmt.detect), _module_digest(fmt.convert))
                     for name, fmt in formats.items())
    return digest({"cache": CACHE_FORMAT, "stage": "rows", "content": content,
                   "format": data_cfg.get("format", "auto"), "columns": data_cfg.get("columns") or {},
                   "split": split, "max_rows": max_rows, "formats": plugins,
                   "versions": _versions("workbench", "datasets", "pyarrow")})


def _bad_record(bad, source: str) -> dict:
    """A bad row as stored: its location also relative to the source ("at": ":17", " row 3")."""
    record = bad.to_json()
    if bad.location.startswith(source):
        record["at"] = bad.location[len(source):]
    return record


def load_rows(source: str, data_cfg: dict, formats: dict, split: str = "train", max_rows: int | None = None,
              root: Path | None = None) -> Rows:
    """The converted rows of `source`, from the cache when its content was converted before."""
    from datasets import Dataset

    from workbench.data.loading import BadRow, prepare

    started = time.perf_counter()
    key = rows_key(source, data_cfg, formats, split, max_rows) if enabled() else None
    if key is not None:
        e = entry("rows", key, root)
        meta = e.meta() if e.exists() else None
        if meta is not None and meta.get("format_name") in formats:
            try:
                bad_path = e.path / BAD_ROWS
                # The entry may have been written for another file of the same content: name this one.
                bad = [BadRow(f"{source}{b['at']}" if "at" in b else b["location"], b["row"], b["field"], b["reason"])
                       for b in (json.loads(line) for line in bad_path.read_text(encoding="utf-8").splitlines())] \
                    if bad_path.exists() else []
                return Rows(keyed(e.load(), key), formats[meta["format_name"]], bad, meta["total"], True, key,
                            time.perf_counter() - started)
            except (OSError, ValueError, KeyError, TypeError):
                pass  # a damaged entry is a miss: converted again below
    prepared = prepare(source, data_cfg, formats, split, max_rows)
    dataset = Dataset.from_list(prepared.rows)
    if key is None:
        return Rows(dataset, prepared.format, prepared.bad, prepared.total, False, None,
                    time.perf_counter() - started)

    def write_bad(folder: Path) -> None:
        if prepared.bad:
            (folder / BAD_ROWS).write_text("".join(json.dumps(_bad_record(b, str(source)), ensure_ascii=False) + "\n"
                                                   for b in prepared.bad), encoding="utf-8")

    e = entry("rows", key, root)
    stored = e.store(dataset, {"stage": "rows", "source": str(source), "format_name": prepared.format.name,
                               "total": prepared.total, "bad": len(prepared.bad)}, extra=write_bad)
    if stored:  # else another writer's entry, or none: the rows converted here serve
        try:
            dataset = e.load()  # memory-mapped, and exactly what a later hit reads
        except (OSError, ValueError):
            pass
    prepared.rows.clear()
    return Rows(keyed(dataset, key), prepared.format, prepared.bad, prepared.total, False, key,
                time.perf_counter() - started)


def check_holdout(rows: int, fraction: float) -> int:
    """The rows `data.eval_fraction` holds out of `rows` (datasets' `train_test_split` rounds them up);
    a DataError when that leaves none to train on."""
    import math

    from workbench.errors import DataError

    held = math.ceil(fraction * rows)
    if held >= rows:
        raise DataError(f"holding out {fraction:g} of {rows} valid row{'s' if rows != 1 else ''} ({held}, rounded up) "
                        "leaves none to train on", where="data.eval_fraction",
                        hint="lower data.eval_fraction, add rows, or give the evaluation rows as data.eval")
    return held


def split_holdout(dataset, fraction: float, seed: int):
    """`train_test_split` that keeps content keys on both parts (so both can be cached)."""
    check_holdout(len(dataset), fraction)
    parts = dataset.train_test_split(test_size=fraction, seed=seed)
    train, held = parts["train"], parts["test"]
    if is_keyed(dataset):
        base = dataset._fingerprint
        keyed(train, digest([base, "holdout", fraction, seed, "train"]))
        keyed(held, digest([base, "holdout", fraction, seed, "test"]))
    return train, held


# ----------------------------------------------------------------------------- tokenized stage


def preparation_key(trainer, dataset, processing_class, args, rest: Iterable[Any]) -> str | None:
    """The key of one `_prepare_dataset` call, or None when it cannot be cached safely."""
    import dataclasses

    from transformers import TrainingArguments

    if not is_keyed(dataset) or any(callable(r) for r in rest):  # e.g. a formatting_func: code we cannot hash
        return None
    base_fields = {f.name for f in dataclasses.fields(TrainingArguments)}
    own = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(args)
           if f.name not in base_fields or f.name in PREPARATION_BASE_FIELDS}
    own.pop("output_dir", None)
    derived = {a: getattr(trainer, a) for a in PREPARATION_ATTRIBUTES if hasattr(trainer, a)}
    classes = [c.__module__ + "." + c.__qualname__ for c in type(trainer).__mro__
               if c.__module__.split(".")[0] in ("trl", "transformers")]
    return digest({"cache": CACHE_FORMAT, "stage": "tokenized", "rows": dataset._fingerprint,
                   "tokenizer": tokenizer_fingerprint(getattr(processing_class, "tokenizer", processing_class)),
                   "args": own, "derived": derived, "call": list(rest), "trainer": classes,
                   "versions": _versions("trl", "transformers", "tokenizers", "datasets")})


@contextlib.contextmanager
def _caching_off():
    """datasets' implicit cache files off: intermediate maps go to temporary files, the entry is written once."""
    import datasets

    was = datasets.is_caching_enabled()
    datasets.disable_caching()
    try:
        yield
    finally:
        if was:
            datasets.enable_caching()


def _all_ranks_agree(flag: bool) -> bool:
    """True only when every rank's flag is true (ranks must take the same path: TRL's preparation has barriers)."""
    try:
        from accelerate import PartialState

        state = PartialState()
    except Exception:  # noqa: BLE001 - no distributed state: a single process
        return flag
    if state.num_processes <= 1:
        return flag
    from accelerate.utils import gather_object

    return all(gather_object([flag]))


def _is_local_main() -> bool:
    try:
        from accelerate import PartialState

        return PartialState().is_local_main_process
    except Exception:  # noqa: BLE001
        return True


def with_preparation_cache(trainer_cls: type, reporter=None, root: Path | None = None) -> type:
    """A subclass of a TRL trainer class whose `_prepare_dataset` results are cached.

    The trainer's own preparation runs on a miss and its output is stored; on a hit the
    stored dataset (memory-mapped) is returned instead. Datasets without a content key,
    and calls with a formatting function, pass through uncached. `reporter` gets one
    `data_cache` event per call (stage "tokenized", hit or miss, key, rows, seconds).
    """
    if not enabled() or not hasattr(trainer_cls, "_prepare_dataset"):
        return trainer_cls

    def _prepare_dataset(self, dataset, processing_class, args, *rest):
        from datasets import Dataset

        prepare = super(cached, self)._prepare_dataset
        split = rest[-1] if rest and isinstance(rest[-1], str) else "train"
        key = preparation_key(self, dataset, processing_class, args, rest) if isinstance(dataset, Dataset) else None
        if key is None:
            return prepare(dataset, processing_class, args, *rest)
        started = time.perf_counter()
        e = entry("tokenized", key, root)
        hit = _all_ranks_agree(e.exists() and e.meta() is not None)
        if hit:
            out = e.load()
        else:
            with _caching_off():
                out = prepare(dataset, processing_class, args, *rest)
            if _is_local_main():
                e.store(out, {"stage": "tokenized", "trainer": trainer_cls.__name__, "split": split,
                              "rows": dataset._fingerprint})
            if e.exists():
                out = e.load()   # memory-mapped, and exactly what a later hit will read
        if reporter is not None:
            reporter.event("data_cache", stage="tokenized", split=split, hit=hit, key=key,
                           trainer=trainer_cls.__name__, rows=len(out), seconds=round(time.perf_counter() - started, 3))
        return out

    cached = type(trainer_cls.__name__, (trainer_cls,), {"_prepare_dataset": _prepare_dataset,
                                                        "__module__": trainer_cls.__module__,
                                                        "__qualname__": trainer_cls.__qualname__})
    return cached

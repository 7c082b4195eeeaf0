"""The data cache: converted rows and the trainers' own tokenized datasets, keyed by content.

Every input of a key is changed once and must miss; what does not change the data
(the learning rate, the file's path or mtime) must hit.
"""

from __future__ import annotations

import os
import shutil
import types
from pathlib import Path

import pytest

from tests.conftest import DATA, MODEL
from workbench.data import cache


@pytest.fixture
def root(tmp_path) -> Path:
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def formats():
    from workbench.plugin_manager import get_registry

    return get_registry().data_formats


@pytest.fixture(scope="module")
def tok():
    from workbench.data.tokens import load_tokenizer

    return load_tokenizer(str(MODEL))


def copy_data(tmp_path: Path, name: str = "sft-messages.jsonl") -> Path:
    dst = tmp_path / name
    shutil.copy(DATA / name, dst)
    return dst


DATA_CFG = {"format": "auto", "columns": {}}


# ------------------------------------------------------------------ rows stage


def test_rows_second_load_hits_and_keeps_bad_rows(tmp_path, root, formats):
    src = copy_data(tmp_path, "sft-messages-bad.jsonl")
    first = cache.load_rows(str(src), DATA_CFG, formats, root=root)
    second = cache.load_rows(str(src), DATA_CFG, formats, root=root)
    assert not first.hit and second.hit and first.key == second.key
    assert second.format.name == first.format.name and second.total == first.total
    assert [b.line() for b in second.bad] == [b.line() for b in first.bad] and first.bad
    assert second.dataset.to_list() == first.dataset.to_list()
    assert second.dataset.cache_files, "a hit is memory-mapped from the cache entry"



def test_a_hit_for_a_copy_names_the_copy_in_its_bad_rows(tmp_path, root, formats):
    """Was: the entry is keyed by content, so a copy of a file in another folder hit it and its bad rows
    (the job's error, invalid_rows.train.jsonl) named the first file's path."""
    first = copy_data(tmp_path, "sft-messages-bad.jsonl")
    (tmp_path / "copy").mkdir()
    copy = tmp_path / "copy" / "train.jsonl"
    shutil.copy(first, copy)
    original = cache.load_rows(str(first), DATA_CFG, formats, root=root)
    again = cache.load_rows(str(copy), DATA_CFG, formats, root=root)
    assert again.hit and again.key == original.key
    assert [b.line() for b in again.bad] == [b.line().replace(str(first), str(copy)) for b in original.bad]
    assert all(b.location.startswith(f"{copy}:") for b in again.bad) and again.bad


def test_a_cache_that_cannot_be_written_or_read_only_costs_speed(tmp_path, formats):
    """Was: a cache folder that could not be created (another user's, a file in the way) or an entry
    with a damaged workbench-cache.json failed the run with OSError / JSONDecodeError."""
    src = copy_data(tmp_path)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    rows = cache.load_rows(str(src), DATA_CFG, formats, root=blocker / "cache")
    assert not rows.hit and len(rows.dataset) == len(src.read_text().splitlines())

    root = tmp_path / "cache"
    first = cache.load_rows(str(src), DATA_CFG, formats, root=root)
    (cache.entry("rows", first.key, root).path / cache.META).write_text("{damaged")
    again = cache.load_rows(str(src), DATA_CFG, formats, root=root)
    assert not again.hit and again.dataset.to_list() == first.dataset.to_list()
    assert cache.load_rows(str(src), DATA_CFG, formats, root=root).hit  # the damaged entry was replaced

def test_rows_key_follows_content_not_path_or_mtime(tmp_path, root, formats):
    src = copy_data(tmp_path)
    key = cache.load_rows(str(src), DATA_CFG, formats, root=root).key
    other = tmp_path / "elsewhere.jsonl"
    shutil.copy(src, other)
    os.utime(other, (1, 1))
    assert cache.load_rows(str(other), DATA_CFG, formats, root=root).hit  # same bytes: same rows

    stat = src.stat()
    data = src.read_bytes()
    changed = data.replace(b"a", b"b", 1)
    assert len(changed) == len(data)
    src.write_bytes(changed)
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # same size and mtime: only the content differs
    again = cache.load_rows(str(src), DATA_CFG, formats, root=root)
    assert not again.hit and again.key != key


@pytest.mark.parametrize("change", [{"format": "messages"}, {"columns": {"messages": "messages"}},
                                    {"split": "validation"}, {"max_rows": 10}])
def test_rows_key_follows_conversion_settings(tmp_path, formats, change):
    src = str(copy_data(tmp_path))
    base = cache.rows_key(src, DATA_CFG, formats, "train", None)
    cfg = {**DATA_CFG, **{k: v for k, v in change.items() if k in ("format", "columns")}}
    key = cache.rows_key(src, cfg, formats, change.get("split", "train"), change.get("max_rows"))
    assert key != base


def test_rows_key_follows_a_helper_module_beside_the_converter(tmp_path, monkeypatch):
    """A converter's own package helpers (the built-in formats' common.py) are part of its code: editing one
    alone must miss the cache (it hit, serving rows converted by the old helper)."""
    import sys

    pkg = tmp_path / "fmtpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "common.py").write_text("def fix(row):\n    return row\n")
    (pkg / "conv.py").write_text("from fmtpkg.common import fix\n"
                                  "def detect(rows):\n    return True\n"
                                  "def convert(row):\n    return fix(row)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import fmtpkg.conv as conv

    try:
        spec = types.SimpleNamespace(kind="conversational", detect=conv.detect, convert=conv.convert)
        src = str(copy_data(tmp_path))
        before = cache.rows_key(src, DATA_CFG, {"mine": spec}, "train", None)
        (pkg / "common.py").write_text("def fix(row):\n    return {**row, 'fixed': True}\n")
        assert cache.rows_key(src, DATA_CFG, {"mine": spec}, "train", None) != before
    finally:
        for name in ("fmtpkg", "fmtpkg.conv", "fmtpkg.common"):
            sys.modules.pop(name, None)

def test_rows_disabled_by_env(tmp_path, root, formats, monkeypatch):
    monkeypatch.setenv("WORKBENCH_DATA_CACHE", "0")
    rows = cache.load_rows(str(copy_data(tmp_path)), DATA_CFG, formats, root=root)
    assert rows.key is None and not rows.hit and not root.exists()
    assert len(rows.dataset) == 400


def test_holdout_split_keeps_keys_and_hits(tmp_path, root, formats):
    rows = cache.load_rows(str(copy_data(tmp_path)), DATA_CFG, formats, root=root)
    train, held = cache.split_holdout(rows.dataset, 0.1, 42)
    again = cache.split_holdout(cache.load_rows(str(copy_data(tmp_path)), DATA_CFG, formats, root=root).dataset,
                                0.1, 42)
    assert cache.is_keyed(train) and cache.is_keyed(held)
    assert (train._fingerprint, held._fingerprint) == (again[0]._fingerprint, again[1]._fingerprint)
    assert train.to_list() == again[0].to_list()
    assert cache.split_holdout(rows.dataset, 0.1, 7)[0]._fingerprint != train._fingerprint  # another seed


# ------------------------------------------------------------------ tokenized stage keys


def sft_args(tmp_path, **kw):
    from trl import SFTConfig

    base = dict(output_dir=str(tmp_path / "out"), max_length=128, assistant_only_loss=True, report_to="none", bf16=False)
    return SFTConfig(**{**base, **kw})


def keyed_rows(tmp_path, formats, root):
    return cache.load_rows(str(copy_data(tmp_path)), DATA_CFG, formats, root=root).dataset


TRAINER = types.SimpleNamespace(chat_template=None, completion_only_loss=None)


def test_preparation_key_changes_with_each_input(tmp_path, root, formats, tok):
    ds = keyed_rows(tmp_path, formats, root)
    rest = (False, None, "train")
    base = cache.preparation_key(TRAINER, ds, tok, sft_args(tmp_path), rest)
    assert base and base == cache.preparation_key(TRAINER, ds, tok, sft_args(tmp_path), rest)
    # Optimisation settings do not change the tokenized data: same key.
    assert base == cache.preparation_key(TRAINER, ds, tok, sft_args(tmp_path, learning_rate=1.0, max_steps=3,
                                                                     gradient_accumulation_steps=4), rest)
    changed = {
        "max_length": cache.preparation_key(TRAINER, ds, tok, sft_args(tmp_path, max_length=64), rest),
        "packing": cache.preparation_key(TRAINER, ds, tok, sft_args(tmp_path, packing=True), (True, None, "train")),
        "assistant_only_loss": cache.preparation_key(TRAINER, ds, tok, sft_args(tmp_path, assistant_only_loss=False),
                                                     rest),
        "truncation_mode": cache.preparation_key(TRAINER, ds, tok, sft_args(tmp_path, truncation_mode="keep_end"),
                                                 rest),
        "seed": cache.preparation_key(TRAINER, ds, tok, sft_args(tmp_path, seed=1), rest),
        "split name": cache.preparation_key(TRAINER, ds, tok, sft_args(tmp_path), (False, None, "eval")),
        "derived template": cache.preparation_key(types.SimpleNamespace(chat_template="{{ x }}",
                                                                        completion_only_loss=None),
                                                  ds, tok, sft_args(tmp_path), rest),
        "rows": cache.preparation_key(TRAINER, cache.split_holdout(ds, 0.5, 1)[0], tok, sft_args(tmp_path), rest),
    }
    for name, key in changed.items():
        assert key and key != base, name
    assert len(set(changed.values())) == len(changed)


def test_preparation_key_follows_tokenizer_content_and_template(tmp_path, root, formats, tok):
    from workbench.data.tokens import load_tokenizer

    ds = keyed_rows(tmp_path, formats, root)
    rest = (False, None, "train")
    base = cache.preparation_key(TRAINER, ds, tok, sft_args(tmp_path), rest)
    copy = tmp_path / "tok-copy"
    shutil.copytree(MODEL, copy)
    assert cache.preparation_key(TRAINER, ds, load_tokenizer(str(copy)), sft_args(tmp_path), rest) == base

    template = tmp_path / "template.jinja"
    template.write_text(tok.chat_template.replace("<|assistant|>", "<|assistant|> "))
    other_template = load_tokenizer(str(MODEL), chat_template=str(template))
    assert cache.preparation_key(TRAINER, ds, other_template, sft_args(tmp_path), rest) != base

    extended = load_tokenizer(str(copy))
    extended.add_tokens(["<|new_token|>"])
    assert cache.preparation_key(TRAINER, ds, extended, sft_args(tmp_path), rest) != base

    other_eos = load_tokenizer(str(copy))
    other_eos.eos_token = "<|pad|>"
    assert cache.preparation_key(TRAINER, ds, other_eos, sft_args(tmp_path), rest) != base


def test_kto_key_follows_batch_size(tmp_path, root, formats, tok):
    """KTO's preparation pairs KL completions within per_device_train_batch_size: part of its key."""
    from trl import KTOConfig

    ds = keyed_rows(tmp_path, formats, root)
    trainer = types.SimpleNamespace(calculate_KL=True)
    keys = {cache.preparation_key(trainer, ds, tok, KTOConfig(output_dir=str(tmp_path), per_device_train_batch_size=b,
                                                              report_to="none", bf16=False), ("train",)) for b in (4, 8)}
    assert len(keys) == 2


def test_unkeyed_dataset_or_formatting_func_is_not_cached(tmp_path, root, formats, tok):
    from datasets import Dataset

    plain = Dataset.from_list([{"messages": [{"role": "user", "content": "hi"}]}])
    assert cache.preparation_key(TRAINER, plain, tok, sft_args(tmp_path), (False, None, "train")) is None
    ds = keyed_rows(tmp_path, formats, root)
    assert cache.preparation_key(TRAINER, ds, tok, sft_args(tmp_path), (False, lambda r: "x", "train")) is None


# ------------------------------------------------------------------ the real SFTTrainer, in process


def test_sft_trainer_second_construction_skips_tokenization(tmp_path, root, formats, tok):
    from transformers import AutoModelForCausalLM
    from trl import SFTTrainer

    events = []
    reporter = types.SimpleNamespace(event=lambda name, **kw: events.append((name, kw)))
    cls = cache.with_preparation_cache(SFTTrainer, reporter=reporter, root=root)
    model = AutoModelForCausalLM.from_pretrained(str(MODEL))

    def build(**kw):
        ds = cache.load_rows(str(copy_data(tmp_path)), DATA_CFG, formats, root=root).dataset
        return cls(model=model, args=sft_args(tmp_path, max_steps=1, **kw), train_dataset=ds, processing_class=tok)

    first, second = build(), build()
    assert [kw["hit"] for _, kw in events] == [False, True]
    assert first.train_dataset.to_dict() == second.train_dataset.to_dict()
    assert set(second.train_dataset.column_names) >= {"input_ids", "labels"}
    assert max(len(ids) for ids in second.train_dataset["input_ids"]) <= 128
    assert type(second).__name__ == "SFTTrainer"

    short = build(max_length=16)   # another max_length: prepared again, truncated to it
    assert events[-1][1]["hit"] is False and events[-1][1]["key"] != events[0][1]["key"]
    assert max(len(ids) for ids in short.train_dataset["input_ids"]) <= 16
    entries = sorted(p.name.split("-")[0] for p in root.iterdir() if not p.name.startswith("."))
    assert entries == ["rows", "tokenized", "tokenized"]

"""The token-statistics backend: a chosen config's tokenizer, template and max_length (named),
progress and cancel, cached per-sequence lengths, and memory that does not grow with the file."""

from __future__ import annotations

import json
import random
import shutil
import tracemalloc
from bisect import bisect_left, insort
from pathlib import Path

import pytest

from tests.conftest import CONFIGS, DATA, MODEL, cli
from workbench.data import stats as backend
from workbench.data.tokens import pack_bfd, token_stats


def write_config(tmp_path: Path, extra_model: str = "",
                 args: str = "max_length = 128\nassistant_only_loss = true") -> Path:
    path = tmp_path / "job.toml"
    path.write_text(f'[model]\npath = "{MODEL}"\n{extra_model}\n[data]\ntrain = "{DATA / "sft-messages.jsonl"}"\n'
                    f'[trainer]\nname = "sft"\n[trainer.args]\n{args}\n')
    return path


def chat_rows(path: Path, n: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    words = "the model answer token layer loss step value".split()
    with open(path, "w") as f:
        for _ in range(n):
            conv = [{"role": "user", "content": " ".join(rng.choices(words, k=rng.randint(3, 30)))},
                    {"role": "assistant", "content": " ".join(rng.choices(words, k=rng.randint(3, 60)))}]
            f.write(json.dumps({"messages": conv}) + "\n")
    return path


def test_max_length_and_tokenizer_come_from_the_config(workspace, tmp_path):
    settings = backend.settings_for(str(DATA / "sft-messages.jsonl"), config=str(write_config(tmp_path)))
    assert settings.max_length == 128 and "job.toml: trainer.args.max_length" in settings.max_length_from
    assert "max_length 128" in settings.describe() and "tiny-llama" in settings.describe()
    report = backend.compute_stats(settings)
    assert report.stats.max_length == 128 and report.to_json()["max_length"] == 128
    assert report.to_json()["tokenizer"] == str(MODEL)
    short = backend.compute_stats(backend.settings_for(str(DATA / "sft-messages.jsonl"),
                                                       config=str(write_config(tmp_path, args="max_length = 24"))))
    assert short.stats.over_max > 0 and short.stats.max_length == 24


def test_the_configs_chat_template_is_used_and_named(workspace, tmp_path):
    from workbench.data.tokens import load_tokenizer

    template = tmp_path / "plain.jinja"  # no {% generation %} markers, one extra token per turn
    template.write_text("{% for m in messages %}<|bos|>{{ m['role'] }}: {{ m['content'] }}<|end|>\n{% endfor %}")
    settings = backend.settings_for(str(DATA / "sft-messages.jsonl"),
                                    config=str(write_config(tmp_path, f'chat_template = "{template}"')))
    assert "chat template plain.jinja" in settings.describe()
    report = backend.compute_stats(settings)
    tok = load_tokenizer(str(MODEL), chat_template=str(template))
    rows = [json.loads(line) for line in (DATA / "sft-messages.jsonl").read_text().splitlines()]
    expected = token_stats(tok, rows, "conversational", 128)
    assert list(report.stats.lengths) == list(expected.lengths)
    assert report.stats.trained_tokens == expected.trained_tokens
    default = backend.compute_stats(backend.settings_for(str(DATA / "sft-messages.jsonl"), model=str(MODEL),
                                                         max_length=128))
    assert list(default.stats.lengths) != list(report.stats.lengths)


def test_cached_stats_match_and_tokenize_nothing(workspace, tmp_path, monkeypatch):
    src = chat_rows(tmp_path / "chat.jsonl", 300)
    fresh = {}
    for limit in (16, 64, 4096):
        settings = backend.settings_for(str(src), model=str(MODEL), max_length=limit)
        fresh[limit] = backend.compute_stats(settings, use_cache=False).to_json()
    first = backend.compute_stats(backend.settings_for(str(src), model=str(MODEL), max_length=64))
    assert not first.cached

    def no_tokenizing(*a, **k):
        raise AssertionError("a cached measurement must not tokenize")

    monkeypatch.setattr(backend, "encode_row", no_tokenizing)
    for limit in (16, 64, 4096):  # any max_length from the same entry
        report = backend.compute_stats(backend.settings_for(str(src), model=str(MODEL), max_length=limit))
        assert report.cached
        assert {**report.to_json(), "cached": False} == fresh[limit]


def test_changed_file_or_template_is_measured_again(workspace, tmp_path):
    src = chat_rows(tmp_path / "chat.jsonl", 50)
    settings = backend.settings_for(str(src), model=str(MODEL))
    assert not backend.compute_stats(settings).cached and backend.compute_stats(settings).cached
    chat_rows(src, 50, seed=1)
    assert not backend.compute_stats(settings).cached
    template = tmp_path / "t.jinja"
    template.write_text("{% for m in messages %}{{ m['content'] }}<|end|>{% endfor %}")
    other = backend.settings_for(str(src), config=str(write_config(tmp_path, f'chat_template = "{template}"')))
    assert not backend.compute_stats(other).cached



def test_stats_with_an_unwritable_or_damaged_cache_are_still_measured(workspace, tmp_path):
    """Was: a cache folder that could not be made failed the statistics (NotADirectoryError), and an
    entry whose workbench-cache.json was damaged raised JSONDecodeError instead of measuring again."""
    src = chat_rows(tmp_path / "chat.jsonl", 40)
    settings = backend.settings_for(str(src), model=str(MODEL), max_length=64)
    expected = backend.compute_stats(settings, use_cache=False).to_json()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    blocked = backend.compute_stats(settings, cache_root=blocker / "cache")
    assert {**blocked.to_json(), "cached": False} == expected
    root = tmp_path / "cache"
    assert not backend.compute_stats(settings, cache_root=root).cached
    (meta,) = root.glob("stats-*/workbench-cache.json")
    meta.write_text("{damaged")
    again = backend.compute_stats(settings, cache_root=root)
    assert not again.cached and {**again.to_json(), "cached": False} == expected
    assert backend.compute_stats(settings, cache_root=root).cached  # the damaged entry was replaced

def test_progress_then_cancel_leaves_no_entry(workspace, tmp_path):
    src = chat_rows(tmp_path / "chat.jsonl", 1200)
    seen = []
    backend.compute_stats(backend.settings_for(str(src), model=str(MODEL)), use_cache=False,
                          progress=lambda n, f: seen.append((n, f)))
    assert [n for n, _ in seen] == sorted(n for n, _ in seen) and seen[-1] == (1200, 1.0)
    assert all(f is not None and 0 < f <= 1 for _, f in seen) and len(seen) >= 4

    calls = []
    with pytest.raises(backend.Cancelled):
        backend.compute_stats(backend.settings_for(str(src), model=str(MODEL)),
                              should_stop=lambda: calls.append(1) or len(calls) >= 2)
    root = workspace / ".workbench" / "cache" / "data"
    assert not root.exists() or not [p for p in root.iterdir() if p.name.startswith(("stats-", ".staging"))]


def test_memory_does_not_grow_with_the_file(workspace, tmp_path):
    """The old `data stats` held every converted row (1.8 GB for 200 MB); Python-level peak must stay flat."""
    small, big = chat_rows(tmp_path / "small.jsonl", 150), chat_rows(tmp_path / "big.jsonl", 1500)
    peaks = []
    for src in (small, big):
        settings = backend.settings_for(str(src), model=str(MODEL))
        backend.tokenizer_for(settings)  # loaded outside the measurement
        tracemalloc.start()
        backend.compute_stats(settings)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.5 * peaks[0], peaks


def reference_bfd(lengths, capacity):
    free, bins = [], 0
    for n in sorted((min(x, capacity) for x in lengths), reverse=True):
        k = bisect_left(free, n)
        if k < len(free):
            room = free.pop(k) - n
        else:
            bins += 1
            room = capacity - n
        if room > 0:
            insort(free, room)
    return bins


def test_bounded_bfd_equals_plain_bfd():
    rng = random.Random(3)
    for _ in range(200):
        cap = rng.choice([8, 64, 512])
        lengths = [rng.randint(1, cap * 2) for _ in range(rng.randint(0, 300))]
        assert pack_bfd(lengths, cap) == reference_bfd(lengths, cap)


def test_cli_names_the_settings(workspace, tmp_path):
    config = write_config(tmp_path)
    first = cli("data", "stats", str(DATA / "sft-messages.jsonl"), "--config", str(config), "--json")
    assert first.returncode == 0, first.stderr
    out = json.loads(first.stdout)
    assert out["max_length"] == 128 and out["max_length_from"] == "job.toml: trainer.args.max_length"
    assert out["tokenizer"] == str(MODEL) and out["cached"] is False and out["rows"] == 400
    again = cli("data", "stats", str(DATA / "sft-messages.jsonl"), "--config", str(config))
    assert again.returncode == 0 and "max_length 128 (job.toml: trainer.args.max_length)" in again.stdout
    assert "from the cache" in again.stdout
    shutil.rmtree(workspace / ".workbench")
    preset = cli("data", "stats", str(DATA / "sft-messages.jsonl"), "--config", str(CONFIGS / "sft.toml"), "--json")
    assert json.loads(preset.stdout)["max_length"] == 128

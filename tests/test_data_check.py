"""Readers, the line index and `data check`: exact line numbers for known bad rows."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from workbench.data.lineindex import LineIndex, first_lines
from workbench.data.readers import iter_rows, source_kind
from workbench.data.samples import BAD_LINES
from workbench.data.validate import check_range, check_source
from workbench.errors import DataError
from workbench.paths import sample_data_dir
from workbench.plugin_manager import get_registry

FORMATS = get_registry().data_formats
DATA = sample_data_dir() / "data"


@pytest.mark.parametrize("name", sorted(BAD_LINES))
def test_bad_sample_files_report_exactly_their_bad_lines(name):
    report = check_source(str(DATA / name), FORMATS)
    assert {b.number: b.field for b in report.bad} == BAD_LINES[name]
    assert all(b.location.endswith(f":{b.number}") for b in report.bad)
    assert sum(report.reasons().values()) == len(BAD_LINES[name])


@pytest.mark.parametrize("name,fmt,rows", [("sft-alpaca.csv", "alpaca", 60),
                                           ("sft-prompt-completion.json", "prompt_completion", 60),
                                           ("sft-messages.parquet", "messages", 60),
                                           ("sft-tools.jsonl", "messages", 40),
                                           ("preference-implicit.jsonl", "preference", 60)])
def test_clean_samples_in_every_file_type(name, fmt, rows):
    report = check_source(str(DATA / name), FORMATS)
    assert (report.format, report.total, report.bad) == (fmt, rows, [])


def test_json_csv_parquet_and_disk_readers(tmp_path):
    rows = [{"text": f"row {i} ✓"} for i in range(5)]
    (tmp_path / "a.json").write_text(json.dumps({"data": rows}))
    assert [r.data for r in iter_rows(str(tmp_path / "a.json"))] == rows
    (tmp_path / "b.json").write_text("[1, 2")
    with pytest.raises(DataError, match="invalid JSON"):
        list(iter_rows(str(tmp_path / "b.json")))
    (tmp_path / "c.csv").write_text('text,extra\n"multi\nline",1\nsecond,2\n')
    got = [(r.number, r.data) for r in iter_rows(str(tmp_path / "c.csv"))]
    assert got == [(2, {"text": "multi\nline", "extra": "1"}), (4, {"text": "second", "extra": "2"})]
    from datasets import Dataset
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "disk"))
    assert source_kind(str(tmp_path / "disk")) == "disk"
    assert [r.data for r in iter_rows(str(tmp_path / "disk"))] == rows
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataError, match="unreadable Parquet"):
        list(iter_rows(str(tmp_path / "x.parquet")))
    with pytest.raises(DataError, match="unsupported data file type"):
        source_kind(str(tmp_path / "a.txt"))


def test_hub_name_offline_is_one_clear_line(tmp_path):
    # The offline switches are read when huggingface_hub is imported: use a fresh process.
    env = {**__import__("os").environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "HF_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "workbench.cli.main", "data", "check", "hub:nobody/no-such-dataset"],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2
    assert out.stderr.startswith("error: hub:nobody/no-such-dataset: cannot load Hub dataset 'nobody/no-such-dataset'")
    assert len(out.stderr.strip().splitlines()) <= 2  # the error line (and at most a hint)


def _chat(rng: random.Random, i: int) -> str:
    kind = rng.random()
    msgs = [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]
    if kind < 0.05:
        return "{broken"
    if kind < 0.10:
        msgs[1]["role"] = "bot"
    elif kind < 0.15:
        msgs[1]["content"] = None
    elif kind < 0.18:
        return ""
    elif kind < 0.22:
        msgs = [{"role": "system", "content": "s"}, *msgs, {"role": "system", "content": "late"}]
    elif kind < 0.25:
        msgs[1] = {"role": "assistant", "content": None, "tool_calls": [
            {"id": "x", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}
        msgs.append({"role": "tool", "tool_call_id": "x", "content": "1"})
        msgs.append({"role": "assistant", "content": "done"})
    elif kind < 0.27:
        msgs = msgs[:1]
    return json.dumps({"messages": msgs, "id": i})


@pytest.mark.parametrize("with_blank", [False, True])
def test_columnar_fast_path_agrees_with_python_path(tmp_path, with_blank):
    rng = random.Random(7)
    lines = [_chat(rng, i) for i in range(3000)]
    if not with_blank:
        lines = [x or json.dumps({"messages": [{"role": "user", "content": "x"}]}) for x in lines]
    clean = [x for x in lines if x.startswith('{"messages"')]
    fmt = FORMATS["messages"]
    for body in (lines, clean):
        path = tmp_path / "f.jsonl"
        path.write_text("\n".join(body) + "\n")
        fast = check_range(str(path), 0, path.stat().st_size, fmt, None)
        slow_fmt = type(fmt)(fmt.name, fmt.kind, fmt.detect, lambda row: fmt.convert(row))  # no arrow_check
        slow = check_range(str(path), 0, path.stat().st_size, slow_fmt, None)
        assert fast == slow


def test_parallel_and_serial_checks_agree(tmp_path, monkeypatch):
    import workbench.data.validate as v

    rng = random.Random(3)
    path = tmp_path / "f.jsonl"
    path.write_text("\n".join(_chat(rng, i) for i in range(4000)))  # no final newline
    monkeypatch.setattr(v, "PARALLEL_MIN", 0)
    monkeypatch.setattr(v, "CHUNK", 16 << 10)
    serial = check_source(str(path), FORMATS, workers=1)
    parallel = check_source(str(path), FORMATS, workers=2)
    assert serial.bad == parallel.bad and serial.total == parallel.total
    expected = [i + 1 for i, x in enumerate(path.read_text().split("\n"))
                if x and (x.startswith("{broken") or '"bot"' in x or '"content": null}' in x and "tool" not in x
                          or '"late"' in x or x.count('"role"') == 1)]
    assert [b.number for b in serial.bad] == expected


def test_line_index_pages_match_the_file(tmp_path):
    lines = [f'{{"text": "line {i}"}}' if i % 97 else "" for i in range(1, 5001)]
    path = tmp_path / "f.jsonl"
    path.write_text("\n".join(lines) + "\n")
    idx = LineIndex(path, stride=64)
    assert idx.read(1, 3) == [(1, lines[0].encode()), (2, lines[1].encode()), (3, lines[2].encode())]
    while not idx.build_step(4096):
        assert 0 < idx.progress < 1
    assert idx.known_lines == 5000
    for start in (1, 63, 64, 65, 129, 4990):
        got = idx.read(start, 20)
        assert got == [(n, lines[n - 1].encode()) for n in range(start, min(start + 20, 5001))]
    assert first_lines(path, 5) == [(n, lines[n - 1].encode()) for n in range(1, 6)]


def test_cli_check_exit_code_and_json():
    cli = [sys.executable, "-m", "workbench.cli.main", "data", "check"]
    bad = subprocess.run([*cli, str(DATA / "sft-messages-bad.jsonl"), "--json"], capture_output=True, text=True)
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert [r["row"] for r in report["bad_rows"]] == sorted(BAD_LINES["sft-messages-bad.jsonl"])
    assert report["invalid"] == sum(report["reasons"].values())
    ok = subprocess.run([*cli, str(DATA / "sft-alpaca.jsonl")], capture_output=True, text=True)
    assert ok.returncode == 0 and "400 rows, ok" in ok.stdout
    mapped = subprocess.run([*cli, str(DATA / "sft-text.jsonl"), "--format", "prompt_only", "--columns",
                             "prompt=text"], capture_output=True, text=True)
    assert mapped.returncode == 0, mapped.stdout + mapped.stderr

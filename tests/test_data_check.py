"""Readers, the line index and `data check`: exact line numbers for known bad rows."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

from workbench.data.jsongrammar import plain_variant, spacing_variant, utf8_valid
from workbench.data.lineindex import LineIndex, first_lines
from workbench.data.readers import iter_rows, source_kind
from workbench.data.samples import BAD_LINES
from workbench.data.validate import SPACINGS, check_range, check_source
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
    assert idx.known_rows == 5000 - 5000 // 97  # every 97th line is blank: lines, not rows
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


# Lines near the edge of what the line patterns accept: each must get the same verdict
# (and message) from the fast stages as from json.loads + the converter.
_EDGE_LINES = [
    '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}',
    '  {"messages":[{"content":"q","role":"user"},{"role":"assistant","content":"a"}]}\r',
    '{"id": 1, "messages": [{"role": "assistant", "content": ""}], "x": null, "y": -1.5e3}',
    '{"messages": [{"role": "user", "content": "q"}]}',
    '{"messages": [{"role": "assistant", "content": "a"}, {"role": "system", "content": "s"}]}',
    '{"messages": [{"role": "system", "content": "s"}, {"role": "assistant", "content": "a"}]}',
    '{"messages": [{"role": "assistant", "content": "a"}], "messages": []}',
    '{"messages": [{"role": "assistant", "content": "a"}], "\\u006dessages": []}',
    '{"messages": [{"role": "assistant", "content": "a", "role": "bot"}]}',
    '{"messages": [{"role": "assistant", "content": "a\\x"}]}',
    '{"messages": [{"role": "assistant", "content": "a\\u12"}]}',
    '{"messages": [{"role": "assistant", "content": "tab\there"}]}',
    '{"messages": [{"role": "assistant", "content": "ok \\ud83d\\ude42 \\n \\" \\\\ \\/"}]}',
    '{"messages": [{"role": "assistant", "content": "a"}], "n": 01}',
    '{"messages": [{"role": "assistant", "content": "a"}], "n": NaN}',
    '{"messages": [{"role": "assistant", "content": "a"}], "meta": {"k": [1, 2]}}',
    '{"messages": [{"role": "assistant", "content": "a"}]} trailing',
    '{"messages": [{"role": "assistant", "content": "a"}],}',
    '{"messages": [{"role": "assistant", "content": null}]}',
    '{"messages": [{"role": "assistant", "content": 3}]}',
    '{"messages": [{"role": "Assistant", "content": "a"}]}',
    '{"messages": [{"role": "tool", "content": "a"}, {"role": "assistant", "content": "a"}]}',
    '{"messages": [{"role": "assistant", "content": "a", "tool_calls": null}]}',
    '["not", "an", "object"]',
    '{"messages": []}',
    '',
    '   ',
    '{"text": "fine"}',
]


def _slow(fmt):
    return type(fmt)(fmt.name, fmt.kind, fmt.detect, lambda row: fmt.convert(row))  # no fast stages


@pytest.mark.parametrize("repeat", [1, 8])  # 8: enough lines for the columnar stage to run too
@pytest.mark.parametrize("control", [True, False])  # False: no raw tab, so the plain pattern variant runs
def test_line_pattern_stage_agrees_with_python_path(tmp_path, repeat, control):
    path = tmp_path / "edge.jsonl"
    edge = [x for x in _EDGE_LINES if control or "\t" not in x]
    body = "\n".join(edge * repeat).encode() + b"\n"
    # a line the pattern accepts but that is not UTF-8: the block check must catch it
    body += b'{"messages": [{"role": "assistant", "content": "caf\xe9"}]}\n'
    path.write_bytes(body)
    fmt = FORMATS["messages"]
    assert fmt.convert.arrow_check.line_pattern is not None
    fast = check_range(str(path), 0, path.stat().st_size, fmt, None)
    slow = check_range(str(path), 0, path.stat().st_size, _slow(fmt), None)
    assert fast == slow
    assert fast[2][-1][2].startswith("not UTF-8 text")


@pytest.mark.parametrize("name", ["messages", "text", "prompt_completion"])
def test_line_patterns_never_pass_a_row_the_converter_rejects(name):
    """Random single-byte mutations of valid lines: whatever the pattern matches must convert."""
    fmt = FORMATS[name]
    pattern = fmt.convert.arrow_check.line_pattern
    plain = plain_variant(pattern)
    spaced = [spacing_variant(pattern, comma, colon) for comma, colon in SPACINGS]
    spaced_plain = [spacing_variant(plain, comma, colon) for comma, colon in SPACINGS]
    seeds = {"messages": [_EDGE_LINES[0], _EDGE_LINES[2], _EDGE_LINES[12]],
             "text": ['{"text": " x", "id": 2}', '{"text": "a\\u00a0b"}'],
             "prompt_completion": ['{"prompt": "p", "completion": "c"}', '{"completion": " c", "prompt": "p"}']}[name]
    alphabet = b' \t\r"\\:,{}[]0-eEnul5u\x00\x1f\xa0abrolesystemcontentassitant'
    rng = random.Random(11)
    matched = 0
    for _ in range(20000):
        raw = bytearray(rng.choice(seeds).encode())
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(raw) + 1)
            op = rng.random()
            if op < 0.4 and i < len(raw):
                raw[i] = rng.choice(alphabet)
            elif op < 0.7:
                raw.insert(i, rng.choice(alphabet))
            elif i < len(raw):
                del raw[i]
        raw = bytes(raw)
        plain_ok = b"\\" not in raw and not any(c < 32 for c in raw)
        usable = [pattern, *spaced] + ([plain, *spaced_plain] if plain_ok else [])
        if not any(p.fullmatch(raw) for p in usable) or not utf8_valid(raw):
            continue  # (UTF-8 is checked per block)
        matched += 1
        row = json.loads(bytes(raw))
        assert type(row) is dict, raw
        fmt.convert(row)  # raises if the pattern passed a bad row
    assert matched > 300  # the mutations must exercise the pattern, not just miss it


def test_columnar_stage_checks_lines_the_pattern_leaves(tmp_path):
    """Rows with a nested extra field never match the pattern; the columnar check still proves them."""
    import workbench.data.validate as v

    rng = random.Random(5)
    lines = []
    for i in range(400):
        text = _chat(rng, i)
        row = json.loads(text) if text.startswith("{\"") and i % 50 else {"messages": [{"role": "bot", "content": "x"}]}
        row["meta"] = {"source": "x", "n": i}
        lines.append(json.dumps(row))
    path = tmp_path / "f.jsonl"
    path.write_text("\n".join(lines) + "\n")
    fmt = FORMATS["messages"]
    calls = []
    real = v._arrow_prefilter
    v._arrow_prefilter = lambda *a, **k: calls.append(real(*a, **k)) or calls[-1]
    try:
        fast = check_range(str(path), 0, path.stat().st_size, fmt, None)
    finally:
        v._arrow_prefilter = real
    assert calls and calls[0][0] > 200  # most rows proven column-wise
    assert fast == check_range(str(path), 0, path.stat().st_size, _slow(fmt), None)


def _mutations(seeds: list[str], n: int, seed: int):
    alphabet = b' \t\r"\\:,{}[]0-eEnul5u\x00\x1f\xa0abrolesystemcontentassitant'
    rng = random.Random(seed)
    for _ in range(n):
        raw = bytearray(rng.choice(seeds).encode())
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(raw) + 1)
            if rng.random() < 0.5 and i < len(raw):
                raw[i] = rng.choice(alphabet)
            else:
                raw.insert(i, rng.choice(alphabet))
        yield bytes(raw)


@pytest.mark.parametrize("name", ["messages", "text", "prompt_completion"])
def test_possessive_and_spaced_grammars_agree_with_the_backtracking_one(name):
    """Possessive repeats must not change a verdict; a fixed-spacing variant only narrows it."""
    import re

    pattern = FORMATS[name].convert.arrow_check.line_pattern
    assert b"*+" in pattern.pattern  # the fast grammar is the possessive one
    greedy = re.compile(pattern.pattern.replace(b"*+", b"*").replace(b"?+", b"?"))
    assert greedy.pattern != pattern.pattern
    spaced = [spacing_variant(pattern, comma, colon) for comma, colon in SPACINGS]
    seeds = {"messages": [_EDGE_LINES[0], _EDGE_LINES[2], _EDGE_LINES[5], _EDGE_LINES[12],
                          json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant",
                                      "content": "a"}, {"role": "user", "content": "q2"}]}, separators=(",", ":"))],
             "text": ['{"text": " x", "id": 2}', '{"id": "a", "text": "b", "n": -0.5}'],
             "prompt_completion": ['{"prompt": "p", "completion": "c"}', '{"a":1,"completion":" c","prompt":"p"}']}[name]
    agree = hits = narrowed = 0
    for raw in _mutations(seeds, 20000, 3):
        verdict = bool(pattern.fullmatch(raw))
        assert verdict == bool(greedy.fullmatch(raw)), raw
        for variant in spaced:
            if variant.fullmatch(raw):
                assert verdict, raw  # a variant never accepts what the general grammar rejects
                hits += 1
            elif verdict:
                narrowed += 1
        agree += verdict
    assert agree > 300 and hits > 100 and narrowed > 100  # all three cases exercised


def test_line_stage_with_mixed_spacing_and_escapes_agrees_with_python_path(tmp_path):
    """Blocks whose lines mix spacings and escapes: each line falls back to the general grammar as needed."""
    rng = random.Random(9)
    lines = []
    for i in range(600):
        text = _chat(rng, i)
        if not text.startswith("{\""):
            lines.append(text)  # broken or blank
            continue
        row = json.loads(text) if i % 7 else {"messages": [{"role": "assistant", "content": "x"}]}
        if i % 5 == 1:
            row.setdefault("messages", [{}])[0]["content"] = 'line\nbreak "quoted" \u00e9'
        style = i % 4
        text = (json.dumps(row) if style == 0 else json.dumps(row, separators=(",", ":")) if style == 1
                else json.dumps(row, indent=None, separators=(" , ", " : ")) if style == 2
                else json.dumps(row, ensure_ascii=False))
        lines.append(text)
    fmt = FORMATS["messages"]
    for body in (lines, lines[1:], [x for x in lines if "\\" not in x]):
        path = tmp_path / "mixed.jsonl"
        path.write_text("\n".join(body) + "\n", encoding="utf-8")
        fast = check_range(str(path), 0, path.stat().st_size, fmt, None)
        assert fast == check_range(str(path), 0, path.stat().st_size, _slow(fmt), None)
        assert fast[1] > 400 and fast[2]  # most rows valid, some not


def test_a_hand_written_line_pattern_gets_no_spacing_variants():
    import re

    import workbench.data.validate as v

    hand = re.compile(rb'\{"text": "[a-z]+"\}')
    strict, plain = v._variants(hand)
    assert all(p is strict[-1] for p in strict) and all(p is plain[-1] for p in plain)
    built = v._variants(FORMATS["text"].convert.arrow_check.line_pattern)[0]
    assert len({p.pattern for p in built}) == len(built)


def test_ranges_of_a_mapped_file_bom_no_final_newline_and_empty(tmp_path):
    """Block edges: a BOM, a last line without its newline, a range ending mid-line, an empty file."""
    fmt = FORMATS["messages"]
    good = '{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "ä"}]}'
    bad = '{"messages": [{"role": "bot", "content": "q"}]}'
    path = tmp_path / "edges.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join([good, bad] * 40 + [good, bad]).encode())
    size = path.stat().st_size
    whole = check_range(str(path), 0, size, fmt, None)
    assert whole == check_range(str(path), 0, size, _slow(fmt), None)
    assert whole[:2] == (82, 82) and [b[0] for b in whole[2]] == list(range(2, 83, 2))
    cut = len(b"\xef\xbb\xbf" + good.encode()) + 5  # inside line 2: the range runs to that line's end
    first = check_range(str(path), 0, cut, fmt, None)
    assert first[:2] == (2, 2) and [b[0] for b in first[2]] == [2]
    rest = check_range(str(path), cut + len(bad) - 3, size, fmt, None)  # line 3 on
    assert rest[:2] == (80, 80) and rest[2][0][0] == 2
    (tmp_path / "empty.jsonl").write_bytes(b"")
    assert check_range(str(tmp_path / "empty.jsonl"), 0, 0, fmt, None) == (0, 0, [])


def test_problem_counts_keep_the_words_and_fold_the_values():
    """Was: "not UTF-8 text" was counted as "not UTF-N text", and "'chosen' and 'rejected' are identical"
    as "'…' and '…' are identical"."""
    from workbench.data.loading import BadRow
    from workbench.data.validate import reason_key
    from workbench_plugins.formats.pairs import convert_preference
    from workbench.errors import DataError

    assert reason_key(BadRow("f:1", 1, "", "not UTF-8 text: invalid start byte at byte 49")) == \
        "not UTF-8 text: invalid start byte at byte N"
    assert reason_key(BadRow("f:2", 2, "", "record has 3 fields, the header has 2")) == \
        "record has N fields, the header has N"
    with pytest.raises(DataError) as exc:
        convert_preference({"prompt": "p", "chosen": "same", "rejected": "same"})
    assert reason_key(BadRow("f:3", 3, exc.value.where, exc.value.message)) == \
        "rejected: chosen and rejected are identical"


def test_csv_cells_that_read_true_or_false_stay_text(tmp_path):
    """Was: every CSV cell "True"/"false" became a boolean, so a completion or text "True" (a yes/no
    question's answer) was an invalid row; KTO labels in a CSV still read as booleans."""
    from workbench.data.loading import prepare
    from workbench.plugin_manager import get_registry

    formats = get_registry().data_formats
    qa = tmp_path / "boolq.csv"
    qa.write_text("prompt,completion\nIs the sky blue?,True\nIs grass red?,false\n")
    report = check_source(str(qa), formats)
    assert report.format == "prompt_completion" and report.ok, [b.line() for b in report.bad]
    assert prepare(str(qa), {}, formats).rows[0]["completion"] == "True"
    kto = tmp_path / "kto.csv"
    kto.write_text("prompt,completion,label\nQ,good,true\nQ,bad,False\nQ,odd,maybe\n")
    report = check_source(str(kto), formats)
    assert report.format == "kto" and [(b.number, b.field) for b in report.bad] == [(4, "label")]
    assert [r["label"] for r in prepare(str(kto), {"on_invalid": "skip"}, formats).rows] == [True, False]


def test_a_raw_nul_byte_names_the_character_and_its_column(tmp_path):
    """Was: "invalid JSON: Invalid control character at (column 47)": which character, and that JSON
    wants it escaped, went unsaid (a NUL or tab pasted into a string is common in scraped data)."""
    good = json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})
    path = tmp_path / "nul.jsonl"
    path.write_bytes((good + "\n" + good.replace("hi", "h\x00i") + "\n").encode())
    from workbench.plugin_manager import get_registry

    formats = get_registry().data_formats
    (bad,) = check_source(str(path), formats).bad
    column = good.index("hi") + 2
    assert bad.number == 2 and bad.reason.startswith(f"invalid JSON: raw control character '\\x00' in a string "
                                                     f"(column {column};")
    job = [r.data for r in iter_rows(str(path))]  # the job's reader says the same
    assert job[1]["__error__"] == bad.reason


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_a_lone_surrogate_escape_is_a_bad_row_not_a_crash_in_the_job(tmp_path, suffix):
    """Was: '"\\ud83d"' (an emoji cut in half by a scraper) parsed as JSON, so data check and validate
    passed the row, and the job died converting it to Arrow (UnicodeEncodeError: surrogates not allowed).
    A proper pair (json.dumps' default for an emoji) stays valid, on every stage of the fast path."""
    from workbench.data.cache import load_rows
    from workbench.plugin_manager import get_registry

    rows = [json.dumps({"messages": [{"role": "user", "content": f"hi {i} \U0001F600"},
                                     {"role": "assistant", "content": "yo"}]}) for i in range(300)]
    assert "\\ud83d\\ude00" in rows[0]
    rows[150] = rows[150].replace("\\ude00", "")
    path = tmp_path / f"chat{suffix}"
    path.write_text("\n".join(rows) + "\n" if suffix == ".jsonl" else "[" + ",\n".join(rows) + "]")
    formats = get_registry().data_formats
    report = check_source(str(path), formats)
    assert [b.number for b in report.bad] == [151] and report.total == 300
    assert report.bad[0].reason.startswith("not valid Unicode: a lone surrogate \\ud83d")
    loaded = load_rows(str(path), {}, formats, root=tmp_path / "cache")  # the job's reader, then Arrow
    assert [b.number for b in loaded.bad] == [151] and len(loaded.dataset) == 299

"""The one reader of run files (workbench.runs.jsonl): never raises, never repeats or skips."""

from __future__ import annotations

import json
import os

from workbench.runs.jsonl import JsonlFollower, LineFollower, TextFollower, clean_line, read_jsonl, tail_jsonl


def rows(n: int, start: int = 1) -> str:
    return "".join(json.dumps({"step": i, "loss": 1.0 / i}) + "\n" for i in range(start, start + n))


def test_line_follower_returns_only_complete_new_lines(tmp_path):
    p = tmp_path / "m.jsonl"
    tail = LineFollower(p)
    assert tail.read()[0] == []  # missing file
    p.write_bytes(b'{"a": 1}\n{"a": 2')
    assert tail.read()[0] == [b'{"a": 1}']
    assert tail.read()[0] == []  # the partial line waits
    with open(p, "ab") as f:
        f.write(b'}\n{"a": 3}\n')
    lines, reset, first = tail.read()
    assert lines == [b'{"a": 2}', b'{"a": 3}'] and not reset and first == 2
    assert tail.offset == p.stat().st_size


def test_follower_resets_when_the_file_is_replaced_shorter(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text(rows(10))
    tail = JsonlFollower(p)
    batch = tail.read()
    assert [r["step"] for r in batch.rows] == list(range(1, 11)) and not batch.reset
    tmp = tmp_path / "m.tmp"  # a resumed run rewrites metrics.jsonl keeping the rows up to its checkpoint
    tmp.write_text(rows(5))
    os.replace(tmp, p)
    batch = tail.read()
    assert batch.reset and [r["step"] for r in batch.rows] == [1, 2, 3, 4, 5]


def test_truncated_file_that_regrew_past_the_offset_is_read_from_the_start(tmp_path):
    """Was: the follower kept its old offset and skipped every line written before it."""
    p = tmp_path / "m.jsonl"
    p.write_text(rows(100))
    tail = JsonlFollower(p)
    assert len(tail.read().rows) == 100
    with open(p, "w") as f:  # truncated in place (same inode) and written again, past the old offset
        f.write(rows(150, start=1000))
    batch = tail.read()
    assert batch.reset and [r["step"] for r in batch.rows] == list(range(1000, 1150))


def test_damaged_lines_are_reported_with_their_line_numbers_never_raised(tmp_path):
    p = tmp_path / "m.jsonl"
    deep = "[" * 5000 + "]" * 5000
    p.write_bytes(b'{"step": 1}\n5\n{"step": 3}\nnot json\n' + deep.encode() + b'\n{"step": 6}\n'
                  b'{"step": 7, "note": "\xff\xfe"}\n["a list"]\n{"step": 9}\n')
    got, damaged = read_jsonl(p)
    assert [r["step"] for r in got] == [1, 3, 6, 9]
    assert [d.line for d in damaged] == [2, 4, 5, 7, 8]
    reasons = {d.line: d.reason for d in damaged}
    assert "not a JSON object (a int)" == reasons[2]
    assert "invalid JSON" in reasons[4] and "too deep" in reasons[5]
    assert "UTF-8" in reasons[7] and "list" in reasons[8]
    assert [r["step"] for r in tail_jsonl(p)] == [1, 3, 6, 9]


def test_line_numbers_continue_across_reads(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text(rows(3))
    tail = JsonlFollower(p)
    tail.read()
    with open(p, "a") as f:
        f.write("oops\n" + rows(1, start=5))
    batch = tail.read()
    assert [d.line for d in batch.damaged] == [4] and tail.damaged_count == 1


def test_reads_in_bounded_chunks_and_read_all_gets_everything(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text(rows(5000))
    tail = JsonlFollower(p, max_read=4096)
    first = tail.read()
    assert 0 < len(first.rows) < 5000
    rest = tail.read_all()
    assert [r["step"] for r in first.rows + rest.rows] == list(range(1, 5001))


def test_a_concurrent_writer_is_followed_without_a_repeat_or_a_gap(tmp_path):
    """Was: the terminal follower printed lines twice when they arrived during a read."""
    import threading

    p = tmp_path / "m.jsonl"
    p.touch()
    done = threading.Event()

    def write():
        with open(p, "a") as f:
            for i in range(1, 20001):
                f.write(json.dumps({"step": i}) + "\n")
                if i % 50 == 0:
                    f.flush()
        done.set()

    tail = JsonlFollower(p, max_read=8192)
    seen: list[int] = []
    t = threading.Thread(target=write)
    t.start()
    while not done.is_set():
        seen.extend(r["step"] for r in tail.read().rows)
    t.join()
    seen.extend(r["step"] for r in tail.read_all().rows)
    assert seen == list(range(1, 20001))


def test_a_deleted_file_resets_the_follower(tmp_path):
    p = tmp_path / "m.jsonl"
    p.write_text(rows(3))
    tail = JsonlFollower(p)
    tail.read()
    p.unlink()
    assert tail.read().reset
    p.write_text(rows(2, start=10))
    assert [r["step"] for r in tail.read().rows] == [10, 11]


def test_text_follower_keeps_what_a_terminal_shows(tmp_path):
    p = tmp_path / "console.log"
    p.write_text("start\n 10%|#   |\r 50%|##  |\r100%|####|\n\x1b[31merror\x1b[0m\n")
    tail = TextFollower(p, keep=2)
    new, reset = tail.read()
    assert new == ["start", "100%|####|", "error"]
    assert list(tail.lines) == ["100%|####|", "error"]
    assert clean_line("a\rb\r") == "b"


def test_text_follower_shows_a_progress_bar_that_writes_no_newline(tmp_path):
    """Was: the console tail stalled for as long as a tqdm bar redrew its line without a newline."""
    p = tmp_path / "console.log"
    p.write_text("loading\n")
    tail = TextFollower(p)
    tail.read()
    with open(p, "a") as f:
        f.write("  1%|          | 1/100\r  2%|          | 2/100\r")
    tail.read()
    assert tail.partial == "  2%|          | 2/100"
    with open(p, "a") as f:
        f.write(" 57%|######    | 57/100")
    tail.read()
    assert tail.partial == " 57%|######    | 57/100" and list(tail.lines) == ["loading"]


def test_text_follower_starts_near_the_end_of_a_huge_log(tmp_path):
    p = tmp_path / "console.log"
    p.write_text("".join(f"line {i}\n" for i in range(200_000)))
    tail = TextFollower(p, keep=100)
    new, _ = tail.read()
    assert new[-1] == "line 199999" and len(new) < 5000
    assert list(tail.lines) == [f"line {i}" for i in range(199_900, 200_000)]

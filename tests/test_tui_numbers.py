"""Exact numbers: one formatter, columns sized from every value, a column set per width."""

from __future__ import annotations

import json

import pytest

from tests.conftest import cli
from tests.test_tui_app import app_for, table_of, wait_until, ws  # noqa: F401 - fixture
from tests.test_tui_support import make_run
from tests.tui_screen import screen_lines, screen_text
from workbench import numbers


def test_numbers_keep_their_significant_digits():
    assert numbers.num(3e-5) == "3e-5" and numbers.num(3.78e-5) == "3.78e-5"
    assert numbers.num(2.513492) == "2.513" and numbers.num(0.0421349) == "0.04213"
    assert numbers.num(9447) == "9447" and numbers.num(20000) == "20000"
    assert numbers.num(123456.0) == "123.5k" and numbers.num(1.5e9) == "1.5G"
    assert numbers.num(-0.5) == "-0.5" and numbers.num(0) == "0"
    assert numbers.num(float("inf")) == "inf"
    # rounding never shows more digits than asked: 9.99996 -> 10
    assert numbers.num(9.99996) == "10"



def test_the_terminal_follower_writes_numbers_like_ls_and_the_tui():
    """`run`/`logs -f`/`eval` progress lines used `:.4g` (2e-05, 1.235e+04) while ls/show/the TUI wrote 2e-5, 12.35k."""
    from workbench.cli.follow import format_metrics, format_scores

    line = format_metrics({"step": 3, "loss": 2.513492, "learning_rate": 2e-5, "tokens_per_second": 12345.6,
                           "eval/contains/contains": 0.25}, 10)
    assert line == "step 3/10  loss 2.513  lr 2e-5  tok/s 12.35k  eval/contains/contains 0.25"
    assert format_scores({"perplexity/perplexity": 123456.0, "perplexity/rows": 8}) == \
        "perplexity/perplexity 123.5k  perplexity/rows 8"

def big_run(ws, run_id: str, *, step: int, total: int, loss: float, tps: float, status: str = "running", **extra):
    run_dir = make_run(ws, run_id, status=status, steps=total, logged=0, **extra)
    rows = [{"step": s, "time": 1000.0 + s, "kind": "train", "loss": loss, "tokens_per_second": tps,
             "learning_rate": 1e-4, "epoch": 0.1} for s in range(step - 2, step + 1)]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run_dir


def test_ls_prints_a_tiny_loss_in_full_and_ids_uncut(workspace):
    rid = "20250101-000001-a-very-long-run-name-for-the-listing"
    big_run(workspace, rid, step=9447, total=20000, loss=3e-5, tps=1234.5, status="completed")
    big_run(workspace, "20250101-000002-long", step=10, total=10, loss=2.0, tps=1.0, status="completed",
            created=1000.0, started=1000.0, ended=4725.0)
    out = cli("ls").stdout
    assert "0.0000" not in out and "3e-5" in out
    assert rid in out and "9447/20000" in out
    long_row = next(line for line in out.splitlines() if "-long" in line)
    assert long_row.split()[-1] == "1h02m", out  # durations as the TUI writes them (was 1:02:05)


@pytest.mark.parametrize("size", [(80, 24), (120, 40), (60, 20)])
async def test_runs_table_never_cuts_a_number(ws, size):
    big_run(ws, "20250101-000001-first", step=12, total=40, loss=2.5, tps=90.0, created=1.0)
    big_run(ws, "20250101-000002-second", step=9447, total=20000, loss=3.78e-5, tps=123456.0, created=2.0)
    app = app_for(ws)
    async with app.run_test(size=size) as pilot:
        table = table_of(app)
        await wait_until(pilot, lambda: table.row_count == 2)
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "9447/20000" in text and "3.78e-5" in text and "12/40" in text and "2.5" in text
        header = next(ln for ln in screen_lines(app) if " status " in ln)
        if size[0] >= 80:  # the 80-column set: run, status, step/max, loss, tok/s, ETA
            assert "123.5k" in text
            for label in ("run", "status", "step", "loss", "tok/s", "ETA"):
                assert f" {label}" in header, (label, header)
        if size[0] >= 120:
            assert "elapsed" in header and "trainer" in header
        assert table.scroll_x == 0 and table.max_scroll_x == 0, "no horizontal scroll needed"


async def test_a_failure_reason_is_said_once(ws):
    make_run(ws, "20250101-000001-killed", status="failed", signal="SIGKILL", reason="killed by SIGKILL")
    app = app_for(ws)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: table_of(app).row_count == 1)
        info = app.screen.query_one("#run-info")
        text = await wait_until(pilot, lambda: "SIGKILL" in str(info.render()) and str(info.render()))
        assert text.count("SIGKILL") == 1, text

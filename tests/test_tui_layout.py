"""Every screen at 80x24, 120x40 and 60x20: no number cut, no status line wrapped, nothing of
the screen behind showing through an overlay."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import DATA
from tests.test_tui_app import app_for, table_of, wait_until, ws  # noqa: F401 - fixture
from tests.test_tui_support import make_run
from tests.tui_screen import screen_lines, screen_text

SIZES = [(80, 24), (120, 40), (60, 20)]
ONE_LINE = ("#run-summary", "#run-info", "#chart-state", "#log-path", "#gpu-summary", "#ds-info", "#ds-tokenizer",
            "#row-title")
NUMBER = re.compile(r"(?<![\w.])-?\d[\d,]*(?:\.\d+)?(?:e-?\d+)?[kMGT]?")


def the_run(ws):
    run_dir = make_run(ws, "20250101-000001-exact-numbers", status="running", steps=20000, logged=0)
    rows = [{"step": s, "time": 1000.0 + s, "kind": "train", "loss": 3.78e-5 * (1 + 1 / s), "epoch": s / 20000,
             "learning_rate": 2e-5, "grad_norm": 0.5, "tokens_per_second": 123456.0, "num_tokens": 100.0 * s}
             for s in range(9300, 9448)]
    rows[-1]["loss"] = 3.78e-5
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    make_run(ws, "20250101-000002-other", steps=40, created=2.0)
    (ws / "data").mkdir()
    (ws / "data" / "chat.jsonl").write_text((DATA / "sft-messages.jsonl").read_text())
    return run_dir


def check_one_line_widgets(app) -> None:
    for sel in ONE_LINE:
        for w in app.screen.query(sel):
            if not w.display or not w.region.height:
                continue
            text = str(w.render())
            lines = 1 + (sel == "#run-summary" and "\n" in text)
            assert w.region.height == lines, f"{sel} wraps: {w.region} {text!r}"
    check_footer_whole(app)


def check_footer_whole(app) -> None:
    """The footer shows `? Keys`, `q Quit` and every key it shows whole: none cut, none under the palette key."""
    from textual.widgets._footer import FooterKey

    footer = screen_lines(app)[-1]
    shown = [k for k in app.screen.query(FooterKey) if k.display]
    for key in ("? Keys", "q Quit", *(f"{k.key_display} {k.description}".strip() for k in shown)):
        assert key in footer, f"{key!r} missing or cut in the footer: {footer!r}"


def check_numbers_whole(app, expected: list[str]) -> None:
    text = screen_text(app)
    for value in expected:
        assert value in text, f"{value!r} missing or cut on screen:\n{text}"


def check_overlay_opaque(app, behind: list[str]) -> None:
    lines = screen_lines(app)
    text = "\n".join(lines)
    for word in behind:
        assert word not in text, f"{word!r} from the screen behind shows through the overlay:\n{text}"
    for line in lines:
        inside = line.strip()
        assert not inside or (inside.startswith("█") and inside.endswith("█")), f"bleed-through: {line!r}"


async def help_over(pilot, app, behind: list[str]) -> None:
    await pilot.press("question_mark")
    await pilot.pause(0.2)
    check_overlay_opaque(app, behind)
    await pilot.press("escape")
    await pilot.pause(0.1)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_screen_at(ws, monkeypatch, size):
    monkeypatch.setenv("WORKBENCH_FAKE_GPUS", "8")
    the_run(ws)
    app = app_for(ws, gpu_poll=0.2)
    async with app.run_test(size=size) as pilot:
        table = table_of(app)
        await wait_until(pilot, lambda: table.row_count == 2)
        await pilot.pause(0.2)
        check_one_line_widgets(app)
        check_numbers_whole(app, ["9447/20000", "3.78e-5"])
        await help_over(pilot, app, ["exact-numbers", "9447/20000"])

        # run detail
        await pilot.press("enter")
        from workbench.tui.screens.detail import RunDetailScreen

        screen = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen)
        await wait_until(pilot, lambda: screen.chart.series("loss") is not None and len(screen.chart.series("loss")) == 148)
        await pilot.pause(0.2)
        check_one_line_widgets(app)
        check_numbers_whole(app, ["step 9447/20000", "loss 3.78e-5"])
        if size[0] >= 80:
            check_numbers_whole(app, ["ETA "])
        for line in screen_lines(app):  # no tick label or legend number cut at the edge
            assert not re.search(r"\d…|…\d", line), line
        await help_over(pilot, app, ["9447/20000"])
        await pilot.press("p")
        await pilot.pause(0.2)
        check_one_line_widgets(app)
        await pilot.press("p", "o")
        from workbench.tui.screens.logs import LogScreen

        await wait_until(pilot, lambda: isinstance(app.screen, LogScreen))
        await pilot.pause(0.2)
        check_one_line_widgets(app)
        assert screen_lines(app)[1].lstrip().startswith("● following")
        await pilot.press("escape", "escape")
        await wait_until(pilot, lambda: app.screen is app.screen_stack[0])

        # GPUs: all 8, nothing cut
        await pilot.press("2")
        panel = app.screen.query_one("GpuPanel")
        await wait_until(pilot, lambda: len(panel.history.get(7, [])) >= 2)
        await pilot.pause(0.3)
        check_one_line_widgets(app)
        rows = [ln for ln in screen_lines(app) if "°C" in ln and "GPUs ·" not in ln]
        assert len(rows) == 8 and all(ln.rstrip().endswith("W") for ln in rows), screen_text(app)
        await help_over(pilot, app, ["H100"])

        # Datasets, Configs, Plugins
        await pilot.press("3")
        ds = await wait_until(pilot, lambda: app.screen.query("DatasetsPanel") and app.screen.query_one("DatasetsPanel"))
        await wait_until(pilot, lambda: ds.query_one("#ds-files").option_count > 0)
        await pilot.press("enter")
        await wait_until(pilot, lambda: ds.rows)
        await pilot.pause(0.2)
        check_one_line_widgets(app)
        await help_over(pilot, app, ["chat.jsonl"])
        for key in ("4", "5"):
            await pilot.press(key)
            await pilot.pause(0.3)
            check_one_line_widgets(app)
            await help_over(pilot, app, ["Workbench —"])

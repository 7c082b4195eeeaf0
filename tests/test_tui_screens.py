"""Run detail chart keys, log search, the datasets tokenizer choice and stats, driven by keys."""

from __future__ import annotations

import json

import pytest

from tests.conftest import DATA, MODEL
from tests.test_tui_app import app_for, table_of, wait_until, ws  # noqa: F401 - fixture
from tests.test_tui_support import make_run, write_rows
from tests.tui_screen import screen_lines, screen_text

SIZE = (80, 24)


def spiky_run(ws, run_id="20250101-000001-spiky", steps=400):
    run_dir = make_run(ws, run_id, steps=steps, logged=steps)
    rows = [json.loads(x) for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    rows[0]["loss"] = 60.0  # the first step's spike
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return run_dir


async def open_detail(pilot, app):
    from workbench.tui.screens.detail import RunDetailScreen

    await wait_until(pilot, lambda: table_of(app).row_count >= 1)
    await pilot.press("enter")
    screen = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen)
    await wait_until(pilot, lambda: screen.chart.series("loss") is not None and len(screen.chart.series("loss")) > 10)
    await pilot.pause(0.1)
    return screen


async def test_detail_metric_by_name_zoom_cursor_markers_and_panels(ws):
    spiky_run(ws)
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_detail(pilot, app)
        chart = screen.chart
        # robust y: the spike at step 1 is clipped, the curve keeps the height
        assert chart.robust_y and chart.info.y_range[1] < 10 and chart.info.clipped >= 1
        state = await wait_until(pilot, lambda: "clipped" in (t := str(screen.query_one("#chart-state").render())) and t)
        n = chart.info.clipped
        assert f"· {n} {'column' if n == 1 else 'columns'} clipped (y: full)" in state, state
        await pilot.press("y")
        await pilot.pause()
        assert chart.info.y_range[1] >= 60
        await pilot.press("y")
        # checkpoints every 20 steps and evals every 10 are marked on the axis
        kinds = {k for _, k in chart.markers}
        assert kinds == {"checkpoint", "eval"} and (20.0, "checkpoint") in chart.markers
        # a metric by name
        await pilot.press("slash", *"grad", "enter")
        assert screen.metric == "grad_norm" and chart.keys == ["grad_norm"]
        # zoom in twice: the last quarter of the run, following its end
        await pilot.press("plus", "plus")
        assert screen.window[0] == "last" and chart.x_range == (pytest.approx(301.0, abs=1.0), 400.0)
        await pilot.press("less_than_sign")
        assert chart.x_range[1] < 400
        # the cursor reads exact values at a step
        await pilot.press("left")
        state = str(screen.query_one("#chart-state").render())
        step = int(state.split(":")[0].split()[1])
        from workbench import numbers

        assert state.startswith(f"step {step}: grad_norm {numbers.num(1.0 + 1 / step)}"), state
        await pilot.press("0")
        assert chart.x_range is None and chart.cursor is None
        # an x range typed in
        await pilot.press("z", *["backspace"] * 5, *"10:50", "enter")
        assert chart.x_range == (10.0, 50.0)
        # four panels
        await pilot.press("slash", *"loss", "enter", "p")
        assert screen.metric == "loss"
        panels = [c for c in screen.charts() if c.display]
        assert len(panels) == 4 and panels[1].keys == ["learning_rate"] and panels[2].keys == ["grad_norm"]
        text = screen_text(app)
        assert "learning_rate" in text and "grad_norm" in text


async def test_cursor_keys_step_from_logged_point_to_logged_point_when_zoomed_in(ws):
    run_dir = make_run(ws, "r1", steps=400, logged=0)
    write_rows(run_dir, "metrics.jsonl", [{"step": s, "kind": "train", "loss": 5.0 + s / 1000} for s in range(10, 401, 10)])
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: table_of(app).row_count >= 1)
        await pilot.press("enter")
        from workbench.tui.screens.detail import RunDetailScreen

        screen = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen)
        await wait_until(pilot, lambda: screen.chart.series("loss") is not None and len(screen.chart.series("loss")) == 40)
        await pilot.press("z", *"100:300", "enter")  # 200 steps over ~70 columns: a point every ~3.5 columns
        await wait_until(pilot, lambda: screen.window is not None)
        seen = []
        for key in ("left",) * 4 + ("right",) * 2:
            await pilot.press(key)
            seen.append(str(screen.query_one("#chart-state").render()).split(":")[0])
        assert seen == ["step 300", "step 290", "step 280", "step 270", "step 280", "step 290"], seen


async def test_no_color_lines_differ_by_pattern(ws, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    make_run(ws, "20250101-000001-a", created=1.0)
    make_run(ws, "20250101-000002-b", created=2.0, loss0=5.0)
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_until(pilot, lambda: table_of(app).row_count == 2)
        await pilot.press("space", "space", "c")
        from workbench.tui.screens.compare import CompareScreen

        screen = await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen)
        await wait_until(pilot, lambda: all(len(screen.chart.series(k) or []) > 0 for k in screen.tables))
        await pilot.pause(0.1)
        legend = screen.chart.render_line(0).text + screen.chart.render_line(1).text
        assert "━━ 20250101-000001-a" in legend and "╺╸ 20250101-000002-b" in legend, legend


@pytest.mark.parametrize("key", ["up", "pageup", "home"])
async def test_scrolling_up_the_log_stops_following(ws, key):
    run_dir = make_run(ws, "20250101-000001-logged", status="running")
    (run_dir / "console.log").write_text("".join(f"line {i}\n" for i in range(1, 201)))
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: table_of(app).row_count == 1)
        await pilot.press("o")
        from workbench.tui.screens.logs import LogScreen

        screen = await wait_until(pilot, lambda: isinstance(app.screen, LogScreen) and app.screen)
        await wait_until(pilot, lambda: screen.body.line_count == 200 and screen.body.scroll_y == screen.body.max_scroll_y
                         and screen.body.max_scroll_y > 0)
        assert "● following" in screen_lines(app)[1]
        await pilot.press(key)
        await pilot.pause(0.1)
        assert not screen.follow and "‖ paused" in screen_lines(app)[1], screen_lines(app)[1]
        where = screen.body.scroll_y
        with open(run_dir / "console.log", "a") as f:  # the job writes on: the view stays where you read
            f.writelines(f"line {i}\n" for i in range(201, 261))
        await wait_until(pilot, lambda: screen.body.line_count == 260)
        await pilot.pause(0.1)
        assert screen.body.scroll_y == where


async def test_log_search_next_previous_and_follow_state_at_80_columns(ws):
    run_dir = make_run(ws, "20250101-000001-logged")
    lines = [f"step {i} loss {2 + 1 / i:.3f}" + (" WARNING slow step" if i % 100 == 0 else "") for i in range(1, 1001)]
    (run_dir / "console.log").write_text("\n".join(lines) + "\n")
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: table_of(app).row_count == 1)
        await pilot.press("o")
        from workbench.tui.screens.logs import LogScreen

        screen = await wait_until(pilot, lambda: isinstance(app.screen, LogScreen) and app.screen)
        await wait_until(pilot, lambda: screen.body.line_count >= 1000)
        top = screen_lines(app)[1]
        assert top.lstrip().startswith("● following") and "1,000 lines" in top
        await pilot.press("slash", *"warning", "enter")
        state = str(screen.query_one("#log-path").render())
        assert "/warning" in state and "of 10" in state and "paused" in state
        first = screen.match_line
        assert "WARNING" in screen.body.lines[first]
        await pilot.press("n")  # from the last match on screen, on to the next (wrapping to the top)
        assert screen.match_line != first and "WARNING" in screen.body.lines[screen.match_line]
        await pilot.press("N")
        assert screen.match_line == first
        assert "WARNING" in screen_text(app)  # the match is on screen
        await pilot.press("f")
        assert screen.follow and "● following" in screen_lines(app)[1]
        # typed as a burst (a fast typist, a paste over SSH): every key after `/` lands in the search
        from textual import events

        screen.query_text = ""
        for key, char in [("slash", "/"), *[(c, c) for c in "step 5"], ("enter", None)]:
            app.post_message(events.Key(key, char))
        await wait_until(pilot, lambda: screen.query_text == "step 5", what="the whole burst in the search")
        assert screen.body.lines[screen.match_line].startswith("step 5")


def config_with_max_length(ws, max_length: int = 128):
    (ws / "configs").mkdir(exist_ok=True)
    text = (DATA.parent / "configs" / "sft.toml").read_text()
    path = ws / "configs" / "short.toml"
    path.write_text(text + "\n" if "max_length" in text else text)
    import tomllib

    data = tomllib.loads(path.read_text())
    data["trainer"].setdefault("args", {})["max_length"] = max_length
    data["model"]["path"] = str(MODEL)
    data["data"]["train"] = str(DATA / "sft-messages.jsonl")
    import tomlkit

    path.write_text(tomlkit.dumps(data))
    return path


async def test_datasets_use_the_chosen_configs_tokenizer_and_say_so(ws):
    config_with_max_length(ws, 128)
    (ws / "data").mkdir()
    (ws / "data" / "chat.jsonl").write_text((DATA / "sft-messages.jsonl").read_text())
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        panel = await wait_until(pilot, lambda: app.screen.query("DatasetsPanel") and app.screen.query_one("DatasetsPanel"))
        assert "bundled tiny model" in str(panel.query_one("#ds-tokenizer").render())
        await wait_until(pilot, lambda: panel.query_one("#ds-files").option_count > 0)
        await pilot.press("enter")
        await wait_until(pilot, lambda: panel.source is not None and panel.rows)
        await wait_until(pilot, lambda: "rows" in str(panel.query_one("#ds-info").render())
                         and "counting" not in str(panel.query_one("#ds-info").render()), what="the total row count")
        total = len((DATA / "sft-messages.jsonl").read_text().splitlines())
        assert f"{total:,} rows" in str(panel.query_one("#ds-info").render())
        await pilot.press("c")
        await pilot.pause(0.2)
        await pilot.press("enter")  # the only config
        await wait_until(pilot, lambda: panel.tokenizer_choice.config is not None, timeout=60)
        line = str(panel.query_one("#ds-tokenizer").render())
        assert "from short.toml" in line and "max_length 128" in line
        await pilot.press("s")
        await wait_until(pilot, lambda: panel.stats_state == "done", timeout=120, what="stats")
        stats = str(panel.query_one("#ds-stats").render())
        assert "over max_length 128" in stats and "config short.toml" in stats
        # the full row viewer
        await pilot.press("shift+tab")
        rows = panel.query_one("#ds-rows")
        rows.focus()
        await pilot.press("enter")
        from workbench.tui.screens.rowview import RowScreen

        viewer = await wait_until(pilot, lambda: isinstance(app.screen, RowScreen) and app.screen)
        first = json.loads((DATA / "sft-messages.jsonl").read_text().splitlines()[0])
        body = str(viewer.query_one("#row-body").render())
        assert json.dumps(first, ensure_ascii=False, indent=2) == body
        await pilot.press("n")
        assert viewer.number == 2
        await pilot.press("escape")


async def test_stats_show_progress_and_cancel(ws):
    (ws / "data").mkdir()
    row = (DATA / "sft-messages.jsonl").read_text().splitlines()[0]
    (ws / "data" / "big.jsonl").write_text((row + "\n") * 20000)
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("3")
        panel = await wait_until(pilot, lambda: app.screen.query("DatasetsPanel") and app.screen.query_one("DatasetsPanel"))
        await wait_until(pilot, lambda: panel.query_one("#ds-files").option_count > 0)
        await pilot.press("enter")
        await wait_until(pilot, lambda: panel.source is not None and panel.source.known_rows == 20000, timeout=30)
        await pilot.press("s")
        bar = panel.query_one("#ds-stats-progress")
        await wait_until(pilot, lambda: (bar.progress or 0) > 0, timeout=120, what="progress")
        assert bar.total == 20000
        await pilot.press("x")
        await wait_until(pilot, lambda: panel.stats_state == "cancelled", timeout=30)
        assert "cancelled after" in str(panel.query_one("#ds-stats").render())


async def test_a_long_history_shows_tail_and_skeleton_first_then_every_row(ws, monkeypatch):
    from workbench.tui import history
    from workbench.tui.screens.detail import RunDetailScreen

    monkeypatch.setattr(history, "BIG", 64 << 10)
    monkeypatch.setattr(history, "TAIL_BYTES", 16 << 10)
    monkeypatch.setattr(history, "SKELETON_LINES", 200)
    monkeypatch.setattr(history, "CHUNK", 32 << 10)
    n = 6000
    run_dir = make_run(ws, "20250101-000001-long", steps=n, logged=0)
    rows = [{"step": s, "time": 1000.0 + s, "kind": "train", "loss": 2 + 1 / s, "epoch": s / n} for s in range(1, n + 1)]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    seen = []
    real = RunDetailScreen._show_first

    def first(self, table, moved):
        seen.append((table.rows, moved))
        return real(self, table, moved)

    monkeypatch.setattr(RunDetailScreen, "_show_first", first)
    app = app_for(ws, select_run=run_dir.name)
    async with app.run_test(size=SIZE) as pilot:
        screen = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen)
        await wait_until(pilot, lambda: screen.history_state == "full", timeout=30, what="the full history")
        (skeleton_rows, moved), = seen
        assert moved and 0 < skeleton_rows < n / 5  # the first chart came from far fewer rows
        write_rows(run_dir, "metrics.jsonl", [{"step": n + 1, "time": 9e3, "kind": "train", "loss": 1.5}])
        await wait_until(pilot, lambda: len(screen.chart.series("loss") or []) == n + 1, what="every row, then the new one")
        assert list(screen.chart.series("loss").x) == [float(s) for s in range(1, n + 2)]

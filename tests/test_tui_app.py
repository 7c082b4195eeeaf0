"""The app driven by keys through Textual's Pilot at 80x24, on fabricated run dirs."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.test_tui_support import fail_with_oom, make_run, metric_row, write_rows
from workbench import numbers
from workbench.testing import wait_until  # noqa: F401 - the other TUI tests import it from here
from workbench.tui.app import WorkbenchApp
from workbench.tui.widgets.runs_table import RunsTable

SIZE = (80, 24)


@pytest.fixture
def ws(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    monkeypatch.delenv("WORKBENCH_FAKE_GPUS", raising=False)
    import workbench.plugin_manager as pm

    monkeypatch.setattr(pm, "_REGISTRY", None)
    return tmp_path


def app_for(ws, **kw) -> WorkbenchApp:
    return WorkbenchApp(workspace=ws, runs_poll=0.2, **kw)


def table_of(app) -> RunsTable:
    return app.screen_stack[0].query_one(RunsTable)


async def test_empty_workspace_says_how_to_start(ws):
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        empty = await wait_until(pilot, lambda: app.screen.query_one("#runs-empty").display and
                                 "workbench run" in str(app.screen.query_one("#runs-empty").render()))
        assert empty
        assert app.sub_title == str(ws)


async def test_table_lists_runs_newest_first_and_shows_progress(ws):
    make_run(ws, "20250101-000001-old", created=1000.0)
    make_run(ws, "20250101-000002-live", created=2000.0, status="running", steps=40, logged=10)
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        await wait_until(pilot, lambda: table.row_count == 2, what="two rows")
        assert table.current_id == "20250101-000002-live"
        row = table.get_row("20250101-000002-live")
        text = " ".join(str(c) for c in row)
        assert "running" in text and "10/40" in text and "25%" in text
        assert "completed" in " ".join(str(c) for c in table.get_row("20250101-000001-old"))


async def test_a_long_run_name_gives_way_before_its_start_time(ws):
    make_run(ws, "20250101-093000-eval-of-a-rather-long-named-lora-run", status="running", steps=20000, logged=40)
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        await wait_until(pilot, lambda: table.row_count == 1)
        run = str(table.get_row("20250101-093000-eval-of-a-rather-long-named-lora-run")[1])
        assert "…" in run and run.endswith("… 01/09:30") and run.startswith("eval-of-a"), run


async def test_new_rows_and_new_runs_appear_live(ws):
    run_dir = make_run(ws, "20250101-000002-live", status="running", steps=40, logged=5)
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        await wait_until(pilot, lambda: table.row_count == 1)
        write_rows(run_dir, "metrics.jsonl", [metric_row(s, 40, time.time()) for s in range(6, 13)])
        await wait_until(pilot, lambda: "12/40" in str(table.get_row(table.current_id)), what="step 12 in table")
        make_run(ws, "20250101-000003-new", created=time.time())
        await wait_until(pilot, lambda: table.row_count == 2, timeout=3, what="new run within a second or so")
        assert list(table.summaries)[0] == "20250101-000003-new"


async def test_open_run_switch_metric_axis_smoothing_log(ws):
    make_run(ws, "r1", steps=40)
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: table_of(app).row_count == 1)
        await pilot.press("enter")
        from workbench.tui.screens.detail import RunDetailScreen

        screen = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen)
        chart = screen.chart
        await wait_until(pilot, lambda: chart.keys == ["loss", "eval_loss"], what="loss + eval_loss")
        assert len(chart.series("loss")) == 40 and len(chart.series("eval_loss")) == 4
        await pilot.press("m")
        assert screen.metric == "learning_rate" and chart.keys == ["learning_rate"]
        await pilot.press("M")
        assert chart.keys == ["loss", "eval_loss"]
        await pilot.press("a")
        assert chart.x_mode == "epoch" and chart.series("loss").x[-1] == pytest.approx(0.8)
        await pilot.press("a", "a")
        assert chart.x_mode == "tokens" and chart.series("loss").x[-1] == 8000.0
        assert chart.smoothing == pytest.approx(0.6)
        await pilot.press("s")
        assert chart.smoothing == 0.0
        await pilot.press("right_square_bracket")
        assert chart.smoothing == pytest.approx(0.8)
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert chart.smoothing == pytest.approx(0.3)
        await pilot.press("l")
        assert chart.log_y
        state = str(screen.query_one("#chart-state").render())
        assert "x tokens" in state and "ema 0.3" in state and "log y" in state
        events = str(screen.query_one("#run-events").lines)
        assert "checkpoint" in events and "train_begin" in events
        await pilot.press("escape")
        assert app.screen is app.screen_stack[0]


async def test_detail_follows_a_live_run_and_a_rewritten_metrics_file(ws):
    run_dir = make_run(ws, "r1", status="running", steps=40, logged=10)
    app = app_for(ws, select_run="r1")
    async with app.run_test(size=SIZE) as pilot:
        from workbench.tui.screens.detail import RunDetailScreen

        screen = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen)
        await wait_until(pilot, lambda: screen.chart.series("loss") is not None and len(screen.chart.series("loss")) == 10)
        write_rows(run_dir, "metrics.jsonl", [metric_row(s, 40, time.time()) for s in range(11, 16)])
        await wait_until(pilot, lambda: len(screen.chart.series("loss")) == 15, what="5 new points")
        assert screen.table.rows == 15 + 1  # one eval row at step 10
        # resume from checkpoint 5: the supervisor rewrites metrics.jsonl up to step 5
        (run_dir / "metrics.jsonl").write_text("".join(json.dumps(metric_row(s, 40, 0.0)) + "\n" for s in range(1, 6)))
        await wait_until(pilot, lambda: len(screen.chart.series("loss")) == 5, what="reset to 5 points")
        assert "step 5/40" in str(screen.query_one("#run-summary").render())


async def test_detail_names_a_damaged_metrics_line_instead_of_skipping_it_silently(ws):
    run_dir = make_run(ws, "r1", steps=40, eval_every=0)
    lines = (run_dir / "metrics.jsonl").read_text().splitlines(keepends=True)
    lines[19] = '{"step": 20, "loss": 5.1, "kind": "tr\x00ain"}\n'  # a control character: invalid JSON
    (run_dir / "metrics.jsonl").write_text("".join(lines))
    app = app_for(ws, select_run="r1")
    async with app.run_test(size=SIZE) as pilot:
        from workbench.tui.screens.detail import RunDetailScreen

        screen = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen)
        await wait_until(pilot, lambda: screen.chart.series("loss") is not None and len(screen.chart.series("loss")) == 39)
        events = screen.query_one("#run-events")
        said = await wait_until(pilot, lambda: [ln for ln in events.lines if "damaged" in ln])
        assert len(said) == 1 and "metrics.jsonl line 20: invalid JSON" in said[0] and "skipped" in said[0]
        notes = [n.message for n in app._notifications]
        assert any("metrics.jsonl line 20" in m for m in notes), notes


async def test_a_run_deleted_while_shown_keeps_its_numbers_and_says_why(ws):
    import shutil

    run_dir = make_run(ws, "r1", steps=40)
    app = app_for(ws, select_run="r1")
    async with app.run_test(size=SIZE) as pilot:
        from workbench.tui.screens.detail import RunDetailScreen

        screen = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen)
        summary = screen.query_one("#run-summary")
        await wait_until(pilot, lambda: "step 40/40" in str(summary.render()))
        loss = f"loss {numbers.num(screen.table.last('loss'))}"
        assert loss in str(summary.render())
        shutil.rmtree(run_dir)
        await wait_until(pilot, lambda: "lost" in str(summary.render()), what="shown as lost")
        text = str(summary.render())
        assert "step 40/40" in text and loss in text, text
        box = str(screen.query_one("#run-failure").render())
        assert "run directory was deleted" in box and "supervisor" not in box, box


async def test_failed_run_shows_why_at_a_glance(ws):
    run_dir = make_run(ws, "r1", status="running", steps=40, logged=10)
    fail_with_oom(run_dir)
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: table_of(app).row_count == 1)
        info = app.screen.query_one("#run-info")
        await wait_until(pilot, lambda: "exit code 1" in str(info.render()))
        assert info.has_class("-failed")
        await pilot.press("enter")
        box = await wait_until(pilot, lambda: app.screen.query("#run-failure") and
                               app.screen.query_one("#run-failure").display and app.screen.query_one("#run-failure"))
        text = str(box.render())
        assert "FAILED - exit code 1" in text
        assert "torch.OutOfMemoryError: CUDA out of memory" in text
        assert "hint: lower per_device_train_batch_size" in text


async def test_compare_two_marked_runs(ws):
    make_run(ws, "20250101-000001-a", name="a", lr=0.001, created=1.0, steps=40)
    make_run(ws, "20250101-000002-b", name="b", lr=0.003, created=2.0, steps=30, loss0=5.0)
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        await wait_until(pilot, lambda: table.row_count == 2)
        await pilot.press("space", "space")
        assert table.marked == {"20250101-000001-a", "20250101-000002-b"}
        await pilot.press("c")
        from workbench.tui.screens.compare import CompareScreen

        screen = await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen)
        chart = screen.chart
        await wait_until(pilot, lambda: sorted(chart.keys) == ["20250101-000001-a", "20250101-000002-b"]
                         and len(chart.series("20250101-000002-b") or []) == 30)
        assert len(chart.series("20250101-000001-a")) == 40
        diff = screen.query_one("#compare-diff")
        await wait_until(pilot, lambda: diff.row_count > 0, what="config diff")
        keys = [str(diff.get_row_at(i)[0]) for i in range(diff.row_count)]
        assert "trainer.args.learning_rate" in keys and "trainer.args.max_steps" in keys and "run.name" in keys
        assert "run.seed" not in keys and "model.path" not in keys
        assert diff.get_row("trainer.args.learning_rate")[1:] == ["0.001", "0.003"]
        await pilot.press("a")
        assert chart.x_mode == "epoch"
        await pilot.press("a", "a")
        assert chart.x_mode == "tokens" and chart.series("20250101-000002-b").x[-1] == 6000.0
        await pilot.press("m")
        assert screen.metric == "eval_loss" and len(chart.series("20250101-000001-a")) == 4


async def test_compare_needs_two_runs(ws):
    make_run(ws, "r1")
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: table_of(app).row_count == 1)
        await pilot.press("c")
        assert app.screen is app.screen_stack[0]


async def test_stop_asks_first_then_requests_a_graceful_stop(ws):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        from workbench.runs.store import process_start_time

        time.sleep(0.2)
        run_dir = make_run(ws, "r1", status="running", logged=5, supervisor_pid=sleeper.pid,
                           supervisor_start=process_start_time(sleeper.pid))
        app = app_for(ws)
        async with app.run_test(size=SIZE) as pilot:
            await wait_until(pilot, lambda: table_of(app).row_count == 1)
            await pilot.press("x")
            from workbench.tui.screens.dialogs import ConfirmScreen

            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            assert not (run_dir / "stop.request").exists()
            await pilot.press("x", "y")
            await wait_until(pilot, lambda: (run_dir / "stop.request").exists(), what="stop request")
            assert json.loads((run_dir / "stop.request").read_text())["now"] is False
            assert any(e.get("event") == "stop_requested" for e in map(json.loads, (run_dir / "events.jsonl").read_text().splitlines()))
            assert sleeper.poll() is None  # graceful: no signal
            await pilot.press("X", "y")
            await wait_until(pilot, lambda: sleeper.poll() is not None, what="SIGTERM to the supervisor")
    finally:
        sleeper.kill()
        sleeper.wait()


async def test_duplicate_config_and_log_screen(ws):
    make_run(ws, "r1", name="alpha")
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: table_of(app).row_count == 1)
        await pilot.press("d")
        assert (ws / "configs" / "alpha-copy.toml").exists()
        await pilot.press("o")
        from textual.widgets import Log

        from workbench.tui.screens.logs import LogScreen

        screen = await wait_until(pilot, lambda: isinstance(app.screen, LogScreen) and app.screen)
        log = screen.query_one(Log)
        await wait_until(pilot, lambda: log.line_count >= 40)
        await pilot.press("f")
        assert not screen.follow
        await pilot.press("escape")
        assert app.screen is app.screen_stack[0]


async def test_tabs_help_and_plugins(ws):
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        main = app.screen
        for key, tab in zip("23451", ("gpus", "datasets", "configs", "plugins", "runs")):
            await pilot.press(key)
            assert main.active_tab == tab
        await pilot.press("5")
        table = app.screen.query_one("#plugins-table")
        await wait_until(pilot, lambda: app.registry is not None and table.row_count == len(app.registry.plugins))
        assert table.row_count > 0
        await pilot.press("question_mark")
        from workbench.tui.screens.dialogs import HelpScreen

        assert isinstance(app.screen, HelpScreen)
        assert [t for t, _ in app.screen.sections][:1] == ["Plugins"]
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_broken_plugin_shows_its_error(ws, monkeypatch):
    plugdir = ws / "myplugins"
    plugdir.mkdir()
    (plugdir / "kaput.py").write_text("raise RuntimeError('kaput on import')\n")
    monkeypatch.setenv("WORKBENCH_PLUGINS_DIR", str(plugdir))
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("5")
        table = app.screen.query_one("#plugins-table")
        await wait_until(pilot, lambda: table.row_count > 0)
        names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        row = names.index("kaput")
        assert "BROKEN" in str(table.get_row_at(row)[2])
        table.move_cursor(row=row)
        await pilot.pause(0.1)
        assert "kaput on import" in str(app.screen.query_one("#plugin-error").render())


async def test_command_palette_opens_a_run(ws):
    make_run(ws, "20250101-000001-alpha")
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: table_of(app).row_count == 1)
        titles = [t for t, _, _ in app.palette_commands()]
        assert "Open run 20250101-000001-alpha" in titles and "Tab: Gpus" in titles
        await pilot.press("ctrl+p")
        await pilot.pause(0.2)
        await pilot.press(*"open run alpha")
        await pilot.pause(0.5)
        await pilot.press("enter")
        from workbench.tui.screens.detail import RunDetailScreen

        await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen), what="detail from palette")
        assert app.screen.source.id == "20250101-000001-alpha"


async def test_missing_panel_falls_back_to_a_file_list(ws, monkeypatch):
    from workbench.tui import panels

    (ws / "configs").mkdir()
    (ws / "configs" / "a.toml").write_text("[run]\n")
    (ws / "runs").mkdir()
    (ws / "runs" / "job.toml").write_text("")  # runs/ is not listed
    monkeypatch.setitem(panels.PANELS, "configs", ("workbench.tui.panels.no_such_panel", "X"))
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        fallback = await wait_until(pilot, lambda: app.screen.query(panels.WorkspaceFiles))
        table = fallback.first().query_one("DataTable")
        await wait_until(pilot, lambda: table.row_count == 1)
        assert str(table.get_row_at(0)[0]) == "configs/a.toml"


async def test_no_color_still_reads(ws, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    make_run(ws, "r1", status="failed", reason="boom")
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: table_of(app).row_count == 1)
        assert app.no_color
        assert "✗ failed" in str(table_of(app).get_row("r1")[2])


async def test_watch_a_trainer_output_dir(tmp_path, ws):
    out = tmp_path / "hf-out"
    (out / "checkpoint-10").mkdir(parents=True)
    history = [{"step": s, "epoch": s / 10, "loss": 3.0 - s * 0.1, "learning_rate": 1e-4, "grad_norm": 1.0}
               for s in range(1, 11)]
    (out / "checkpoint-10" / "trainer_state.json").write_text(json.dumps(
        {"global_step": 10, "max_steps": 20, "epoch": 1.0, "log_history": history}))
    app = app_for(ws, watch=out)
    async with app.run_test(size=SIZE) as pilot:
        from workbench.tui.screens.detail import RunDetailScreen

        screen = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen)
        await wait_until(pilot, lambda: screen.chart.series("loss") is not None and len(screen.chart.series("loss")) == 10)
        (out / "checkpoint-20").mkdir()
        history += [{"step": s, "epoch": s / 10, "loss": 2.0 - s * 0.01} for s in range(11, 21)]
        history.append({"step": 20, "eval_loss": 1.9, "epoch": 2.0})
        (out / "checkpoint-20" / "trainer_state.json").write_text(json.dumps(
            {"global_step": 20, "max_steps": 20, "epoch": 2.0, "log_history": history}))
        await wait_until(pilot, lambda: len(screen.chart.series("loss")) == 20, what="rows of the new checkpoint")
        assert screen.chart.keys == ["loss", "eval_loss"]
        assert "step 20/20" in str(screen.query_one("#run-summary").render())
        assert "checkpoint-20" in str(screen.query_one("#run-events").lines)
        await pilot.press("x")  # read-only: nothing to stop
        assert isinstance(app.screen, RunDetailScreen)

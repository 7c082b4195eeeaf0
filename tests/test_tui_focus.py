"""The focus model, driven by keys only: a first focus per tab, arrows and enter on arrival,
tab-switch digits never typed away, escape leaves inputs, q quits everywhere, ? lists this screen's keys."""

from __future__ import annotations

import pytest
from textual.widgets import DataTable, Input, OptionList

from tests.conftest import DATA
from tests.test_tui_app import app_for, table_of, wait_until, ws  # noqa: F401 - fixture
from tests.test_tui_support import make_run
from tests.tui_screen import screen_text

SIZE = (80, 24)


def focused(app):
    return app.screen.focused


async def open_tab(pilot, app, key: str, tab: str):
    await pilot.press(key)
    main = app.screen_stack[0]
    assert main.active_tab == tab
    return await wait_until(pilot, lambda: focused(app) is not None and focused(app).is_attached
                            and main.query_one(f"#{tab}") in focused(app).ancestors and focused(app),
                            what=f"focus inside the {tab} tab")


async def help_titles(pilot, app) -> list[str]:
    await pilot.press("question_mark")
    from workbench.tui.screens.dialogs import HelpScreen

    screen = await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen)
    titles = [t for t, _ in screen.sections]
    await pilot.press("escape")
    await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen))
    return titles


async def quits(pilot, app) -> None:
    await pilot.press("q")
    await wait_until(pilot, lambda: app._exit_renderables is not None or not app.is_running or app.return_code is not None,
                     what="the app to quit")


async def test_runs_tab_arrows_enter_and_q_from_detail(ws):
    make_run(ws, "20250101-000001-a", created=1.0)
    make_run(ws, "20250101-000002-b", created=2.0)
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        await wait_until(pilot, lambda: table.row_count == 2)
        assert focused(app) is table
        await pilot.press("down")
        assert table.current_id == "20250101-000001-a"
        assert (await help_titles(pilot, app))[0] == "Runs"
        await pilot.press("enter")
        from workbench.tui.screens.detail import RunDetailScreen

        await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert "Run detail" in await help_titles(pilot, app)
        await quits(pilot, app)


async def test_runs_filter_takes_digits_and_escape_leaves_it(ws):
    make_run(ws, "20250101-000001-lr3000", created=1.0)
    make_run(ws, "20250101-000002-other", created=2.0)
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        await wait_until(pilot, lambda: table.row_count == 2)
        await pilot.press("slash", *"3000")
        main = app.screen_stack[0]
        assert main.active_tab == "runs" and isinstance(focused(app), Input)
        await wait_until(pilot, lambda: table.row_count == 1)
        assert table.current_id == "20250101-000001-lr3000"
        assert "1/2 runs" in str(main.query_one("#run-info").render())
        await pilot.press("escape")
        assert focused(app) is table
        await pilot.press("2")
        assert main.active_tab == "gpus"


async def test_gpus_tab_first_focus_is_the_gpu_list(ws, monkeypatch):
    monkeypatch.setenv("WORKBENCH_FAKE_GPUS", "8")
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        target = await open_tab(pilot, app, "2", "gpus")
        assert isinstance(target, DataTable) and target.id == "gpu-procs"
        await wait_until(pilot, lambda: target.row_count > 1, what="GPU processes")
        await pilot.press("down")
        assert target.cursor_row == 1
        assert (await help_titles(pilot, app))[0] == "GPUs"
        await quits(pilot, app)


async def test_datasets_tab_enter_opens_a_file_and_keys_survive_the_mask(ws):
    (ws / "data").mkdir()
    (ws / "data" / "chat.jsonl").write_text((DATA / "sft-messages.jsonl").read_text())
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        files = await open_tab(pilot, app, "3", "datasets")
        assert isinstance(files, OptionList) and files.id == "ds-files"
        await wait_until(pilot, lambda: files.option_count > 0)
        await pilot.press("enter")  # the highlighted (first) file
        panel = app.screen_stack[0].query_one("DatasetsPanel")
        rows = panel.query_one("#ds-rows", DataTable)
        await wait_until(pilot, lambda: rows.row_count > 0 and focused(app) is rows, what="rows focused")
        await pilot.press("down")
        assert rows.cursor_row == 1
        await pilot.press("m")
        await wait_until(pilot, lambda: panel.mask_rendered is not None, timeout=60, what="the loss mask")
        assert panel in focused(app).ancestors, "focus stays in the panel after m"
        await pilot.press("v")
        assert panel.query_one("#ds-tabs").active == "ds-tab-check"
        await pilot.press("s")
        assert panel.query_one("#ds-tabs").active == "ds-tab-stats"
        assert (await help_titles(pilot, app))[0] == "Datasets"
        await quits(pilot, app)


async def test_configs_filter_then_tab_takes_3000_as_text(ws):
    (ws / "configs").mkdir()
    (ws / "configs" / "sft.toml").write_text((DATA.parent / "configs" / "sft.toml").read_text())
    app = app_for(ws)
    async with app.run_test(size=(100, 30)) as pilot:
        lst = await open_tab(pilot, app, "4", "configs")
        assert isinstance(lst, OptionList) and lst.id == "cfg-list"
        panel = app.screen_stack[0].query_one("ConfigsPanel")
        await wait_until(pilot, lambda: lst.option_count > 0)
        await pilot.press("enter")
        await wait_until(pilot, lambda: panel.form is not None, timeout=60, what="the config to open")
        await wait_until(pilot, lambda: panel.query("#f-trainer--args--max_steps"), timeout=60, what="max_steps field")
        await pilot.press("ctrl+f", *"max_steps", "tab")
        await pilot.press(*"3000")
        main = app.screen_stack[0]
        assert main.active_tab == "configs", "digits typed in the editor never switch tabs"
        await pilot.press("escape")
        assert focused(app) is lst
        assert (await help_titles(pilot, app))[0] == "Configs"
        await pilot.press("1")
        assert main.active_tab == "runs"


async def test_plugins_tab_arrows_work_on_arrival(ws):
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        table = await open_tab(pilot, app, "5", "plugins")
        assert isinstance(table, DataTable) and table.id == "plugins-table"
        await wait_until(pilot, lambda: table.row_count > 1, timeout=30)
        await pilot.press("down")
        assert table.cursor_row == 1
        assert (await help_titles(pilot, app))[0] == "Plugins"
        await quits(pilot, app)


async def test_q_quits_from_log_and_compare(ws):
    make_run(ws, "20250101-000001-a", created=1.0)
    make_run(ws, "20250101-000002-b", created=2.0)
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: table_of(app).row_count == 2)
        await pilot.press("o")
        from workbench.tui.screens.logs import LogScreen

        await wait_until(pilot, lambda: isinstance(app.screen, LogScreen))
        assert "Log" in await help_titles(pilot, app)
        await quits(pilot, app)


@pytest.mark.parametrize("size", [(60, 20), (80, 24)])
async def test_nothing_behind_the_help_shows_through(ws, size):
    make_run(ws, "20250101-000001-zzqqrun", created=1.0)
    app = app_for(ws)
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: table_of(app).row_count == 1)
        assert "zzqqrun" in screen_text(app)
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        text = screen_text(app)
        assert "zzqqrun" not in text and ws.name not in text and "Palette" not in text
        assert "Runs" in text
        from tests.tui_screen import screen_lines

        for line in screen_lines(app):  # outside the help box: blank, never the screen behind
            inside = line.strip()
            assert inside.startswith("█") and inside.endswith("█"), line

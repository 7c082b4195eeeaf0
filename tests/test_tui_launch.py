"""Launching from the Configs tab of the real app lands on the new run's detail screen."""

from __future__ import annotations

import asyncio
import time

import pytest
from textual.widgets import Input

from tests.test_config_panel import open_preset_by_keyboard, settled, type_into, until
from workbench.tui.app import WorkbenchApp
from workbench.tui.panels.configs import ConfigsPanel


class RecordingApp(WorkbenchApp):
    """The real app, also recording validation results for the shared test helpers."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.checks: list[tuple[bool, str]] = []

    def on_configs_panel_validated(self, message: ConfigsPanel.Validated) -> None:
        self.checks.append((message.ok, message.message))


@pytest.mark.slow
async def test_launch_from_configs_tab_lands_on_the_run(workspace):
    from workbench.runs.store import list_runs
    from workbench.tui.screens.detail import RunDetailScreen

    app = RecordingApp(workspace=workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")  # Configs tab
        await until(pilot, lambda: app.screen.query(ConfigsPanel), what="configs panel")
        panel = app.screen.query_one(ConfigsPanel)
        await open_preset_by_keyboard(pilot, panel, "sft")
        before = len(app.checks)
        await type_into(pilot, panel.query_one("#f-trainer--args--max_steps", Input), "3")
        ok, message = await settled(pilot, app, panel, before)
        assert ok, message
        await pilot.press("ctrl+r")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen), timeout=90, what="run detail screen")
        runs = list_runs(workspace)
        assert len(runs) == 1
        assert runs[0].id in app.screen.source.title
        run = runs[0]
        deadline = time.monotonic() + 240
        while run.status()["status"] not in ("completed", "failed", "stopped", "lost") and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        assert run.status()["status"] == "completed"

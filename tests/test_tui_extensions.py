"""TUI extension points under Textual's Pilot: run panels, tabs, palette commands and keys, themes, settings."""

from __future__ import annotations

import sys
import types

import pytest

from workbench.hookspecs import hookimpl
from workbench.specs import PaletteCommandSpec, RunPanelSpec, TabSpec, ThemeSpec
from workbench.testing import fake_run, open_run_panel, run_palette_command, show_run_panel, tui, wait_until

PANELS_MODULE = '''
from textual.widgets import Static


class RewardPanel(Static):
    """Shows the last reward the run logged; counts the updates it got."""

    def __init__(self, ctx):
        super().__init__(f"rewards of {ctx.run.id} ({ctx.run.trainer})", id="reward-panel")
        self.ctx = ctx
        self.updates = 0

    def on_run_update(self, update):
        self.updates += 1


def broken_panel(ctx):
    raise RuntimeError("panel bug")


class TeamTab(Static):
    def __init__(self, api):
        super().__init__(f"team tab of {api.workspace.name}", id="team-tab")
'''


@pytest.fixture
def panels_module(tmp_path, monkeypatch):
    folder = tmp_path / "impl"
    folder.mkdir()
    (folder / "wb_test_panels.py").write_text(PANELS_MODULE)
    monkeypatch.syspath_prepend(str(folder))
    yield "wb_test_panels"
    sys.modules.pop("wb_test_panels", None)


def plugin(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook, fn in hooks.items():
        fn.__name__ = hook
        setattr(module, hook, hookimpl(fn))
    return module


def panel_plugin(mod: str):
    return plugin("reward_panels", register_run_panels=lambda: [
        RunPanelSpec("rewards", "Rewards", f"{mod}:RewardPanel", trainers=("grpo",)),
        RunPanelSpec("by_metric", "Margins", f"{mod}:RewardPanel", metrics=("rewards/margins",)),
        RunPanelSpec("by_tag", "Tagged", f"{mod}:RewardPanel", tags=("nightly",)),
        RunPanelSpec("dpo_only", "DPO", f"{mod}:RewardPanel", trainers=("dpo",)),
        RunPanelSpec("broken", "Broken", f"{mod}:broken_panel", trainers=("grpo",)),
    ])


async def test_run_panel_appears_in_run_detail_for_the_runs_it_matches(workspace, panels_module):
    from textual.widgets import TabbedContent

    fake_run(workspace, "20250101-000001-grpo", trainer="grpo",
             metrics=[{"step": 1, "loss": 1.0, "rewards/margins": 0.5}])
    fake_run(workspace, "20250101-000002-sft", trainer="sft", metrics=[{"step": 1, "loss": 2.0}], tags=["nightly"])
    async with tui(workspace, [panel_plugin(panels_module)]) as pilot:
        widget = await open_run_panel(pilot, "20250101-000001-grpo", "rewards")
        assert widget.ctx.run.id == "20250101-000001-grpo" and widget.ctx.run.trainer == "grpo"
        screen = pilot.app.screen
        state = screen._plugin_panels
        await open_run_panel(pilot, "20250101-000001-grpo", "by_metric")
        assert "dpo_only" not in state.shown and "by_tag" not in state.shown
        assert "broken" in state.failed  # reported, the others still shown
        tabs = screen.query_one(TabbedContent)
        assert tabs.get_pane("plugin-panel-rewards") is not None
        assert widget.updates >= 1  # it is fed the run's updates
        await pilot.press("escape")
        await pilot.pause(0.1)
        await open_run_panel(pilot, "20250101-000002-sft", "by_tag")
        assert set(pilot.app.screen._plugin_panels.shown) == {"by_tag"}


async def test_run_panels_are_reached_by_a_key(workspace, panels_module):
    from textual.widgets import TabbedContent

    fake_run(workspace, "20250101-000001-grpo", trainer="grpo",
             metrics=[{"step": 1, "loss": 1.0, "rewards/margins": 0.5}])
    async with tui(workspace, [panel_plugin(panels_module)]) as pilot:
        pilot.app.open_run("20250101-000001-grpo")
        def both_shown():
            state = getattr(pilot.app.screen, "_plugin_panels", None)
            return pilot.app.screen if state is not None and len(state.shown) == 2 else None

        screen = await wait_until(pilot, both_shown, 10, "both run panels")
        tabs = screen.query_one("#run-bottom", TabbedContent)
        seen = []
        for _ in range(5):
            await pilot.press("n")
            seen.append(tabs.active)
        assert seen == ["events", "gpu", "plugin-panel-rewards", "plugin-panel-by_metric", "console"]
        await pilot.press("n", "n", "n")
        await pilot.pause(0.1)
        assert screen.query_one("#reward-panel").region.height > 0   # on screen, not just mounted


def test_show_run_panel_is_usable_from_a_plain_test(tmp_path, panels_module):
    widget = show_run_panel(panel_plugin(panels_module), "rewards", tmp_path, trainer="grpo")
    assert widget.ctx.run.trainer == "grpo"


async def test_plugin_tab_and_palette_command_with_a_key_and_the_app_api(workspace, panels_module):
    calls = []

    def record(api):
        run = api.selected_run()
        calls.append((api.version, api.workspace, run.id if run else None, [r.id for r in api.runs()]))
        api.notify("recorded")

    def fails(api):
        raise ValueError("command bug")

    ext = plugin("team", register_tabs=lambda: [TabSpec("team", "Team", f"{panels_module}:TeamTab")],
                 register_palette_commands=lambda: [
                     PaletteCommandSpec("record-run", "Record selected run", record, "records", key="ctrl+k"),
                     PaletteCommandSpec("explode", "Explode now", fails)])
    fake_run(workspace, "20250101-000003-one")
    async with tui(workspace, [ext]) as pilot:
        app = pilot.app
        await pilot.pause(0.5)  # the runs table fills
        await pilot.press("ctrl+k")
        await pilot.pause(0.2)
        assert calls and calls[-1][0] == 1 and calls[-1][1] == workspace.resolve()
        assert calls[-1][2] == "20250101-000003-one" and calls[-1][3] == ["20250101-000003-one"]
        app.open_run("20250101-000003-one")
        await pilot.pause(0.3)
        await run_palette_command(pilot, "Record selected run")
        assert len(calls) == 2 and calls[-1][2] == "20250101-000003-one"
        await run_palette_command(pilot, "Explode now")
        assert any("plugin team: command 'Explode now' failed: ValueError: command bug" in n.message
                   for n in app._notifications), [n.message for n in app._notifications]
        app.show_tab("runs")
        await pilot.pause(0.1)
        await pilot.press("6")  # the sixth tab: the plugin's
        await pilot.pause(0.3)
        assert "team tab of" in str(app.main_screen.query_one("#team-tab").render())


THEME_FILE = """
name = "plugin-sunset"
dark = true
[colors]
primary = "#ff8700"
background = "#3a0000"
[variables]
status-failed = "#ff00ff"
"""


async def test_theme_switch_from_the_palette_changes_colours_and_persists(workspace, tmp_path, monkeypatch):
    from workbench.settings import load_settings, user_settings_path

    async with tui(workspace) as pilot:
        app = pilot.app
        assert app.theme == "workbench-dark"
        assert app.screen.styles.background.hex.lower() == "#121212"
        assert "#121212" in app.export_screenshot()
        await run_palette_command(pilot, "Theme: workbench-light")
        assert app.theme == "workbench-light"
        await pilot.pause(0.2)
        assert app.screen.styles.background.hex.lower() == "#f5f5f5"  # what the screen is painted with
        assert "#f5f5f5" in app.export_screenshot()
        assert app.get_css_variables()["status-failed"] == "#d70000"
    assert 'theme = "workbench-light"' in user_settings_path().read_text()
    assert load_settings(workspace).theme == "workbench-light"
    async with tui(workspace) as pilot:  # a restart
        assert pilot.app.theme == "workbench-light"
        assert pilot.app.screen.styles.background.hex.lower() == "#f5f5f5"


async def test_plugin_and_user_themes_and_the_high_contrast_one(workspace, tmp_path):
    from workbench.settings import config_dir

    theme_path = tmp_path / "sunset.toml"
    theme_path.write_text(THEME_FILE)
    user_themes = config_dir() / "themes"
    user_themes.mkdir(parents=True)
    (user_themes / "mine.toml").write_text(THEME_FILE.replace("plugin-sunset", "mine"))
    (user_themes / "bad.toml").write_text('name = "bad"\n[colors]\nprimary = "orange"\n')
    (config_dir() / "settings.toml").write_text('theme = "plugin-sunset"\n')
    ext = plugin("sunset", register_themes=lambda: [ThemeSpec("sunset", str(theme_path))])
    async with tui(workspace, [ext]) as pilot:
        app = pilot.app
        assert app.theme == "plugin-sunset"  # saved before the plugin's theme was registered
        variables = app.get_css_variables()
        assert variables["status-failed"] == "#ff00ff" and variables["chart-1"] == "#5fafff"  # defaults filled in
        assert "mine" in app.available_themes and "bad" not in app.available_themes
        await wait_until(pilot, lambda: any("bad.toml: colors.primary: expected a colour" in n.message
                                            for n in app._notifications), 10, "the bad theme's notification")
        app.theme = "workbench-high-contrast"
        # Under load the repaint can take longer than a fixed pause: wait for it.
        await wait_until(pilot, lambda: "#000000" in app.export_screenshot(), 10, "the high-contrast repaint")
        assert app.get_css_variables()["status-failed"] == "#ff0000"


async def test_settings_refresh_rates_and_key_bindings(workspace):
    from workbench.settings import config_dir

    config_dir().mkdir(parents=True)
    (config_dir() / "settings.toml").write_text('[refresh]\nruns = 2.5\n[keys]\nhelp = "f2"\nnope = "f3"\n')
    async with tui(workspace, runs_poll=None) as pilot:  # the rate from the settings
        app = pilot.app
        assert app.runs_poll_s == 2.5
        assert any("[keys] nope: no such command" in n.message for n in app._notifications)
        await pilot.press("f2")
        await pilot.pause(0.2)
        from workbench.tui.screens.dialogs import HelpScreen

        assert isinstance(app.screen, HelpScreen)


async def test_plugins_tab_counts_plugins_in_conflict(workspace, monkeypatch):
    import workbench.plugin_manager as pm
    from textual.widgets import Static

    from workbench.testing import registry_with
    from workbench.tui.app import WorkbenchApp

    def themes():
        return [ThemeSpec("twin-theme", str(workspace / "twin.toml"))]

    (workspace / "twin.toml").write_text('name = "twin-theme"\n[colors]\nprimary = "#123456"\n')
    monkeypatch.setattr(pm, "_REGISTRY", registry_with(plugin("first_themes", register_themes=themes),
                                                       plugin("second_themes", register_themes=themes), strict=False))
    app = WorkbenchApp(workspace=workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.registry is not None, 20, "the plugin registry")
        await pilot.press("5")

        def note():
            found = app.screen.query("#plugins-note")
            text = str(found.first(Static).content) if found else ""
            return text if "plugins ·" in text else None

        assert "1 in conflict (select one to see its error)" in await wait_until(pilot, note, 10, "the plugins note")

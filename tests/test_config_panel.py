"""Headless tests of the Configs panel at 80x24: open a preset, edit, validate, save, TOML view, launch."""

from __future__ import annotations

import asyncio
import difflib
import time
from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Input, OptionList, Switch, TextArea

from workbench.config.presets import materialize
from workbench.paths import sample_data_dir
from workbench.tui.panels.configs import ConfigsPanel, FieldRow, find_configs


class HostApp(App):
    """A bare app mounting the panel, recording the messages it posts."""

    def __init__(self, workspace: Path):
        super().__init__()
        self.workspace = workspace
        self.launched: list[ConfigsPanel.RunLaunched] = []
        self.checks: list[tuple[bool, str]] = []

    def compose(self) -> ComposeResult:
        yield ConfigsPanel(workspace=self.workspace)

    def on_configs_panel_run_launched(self, message: ConfigsPanel.RunLaunched) -> None:
        self.launched.append(message)

    def on_configs_panel_validated(self, message: ConfigsPanel.Validated) -> None:
        self.checks.append((message.ok, message.message))


async def until(pilot, predicate, timeout: float = 90.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await pilot.pause(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def settled(pilot, app: HostApp, panel: ConfigsPanel, before: int) -> tuple[bool, str]:
    """The validation result after the edit made since `len(app.checks) == before`."""
    await pilot.pause()
    await until(pilot, lambda: len(app.checks) > before and not panel.pending, what="validation")
    return app.checks[-1]


async def open_preset_by_keyboard(pilot, panel: ConfigsPanel, name: str) -> None:
    await until(pilot, lambda: any(e.kind == "preset" for e in panel.entries), what="preset list")
    option_list = panel.query_one("#cfg-list", OptionList)
    option_list.focus()
    await pilot.pause()
    for _ in range(option_list.option_count + 1):
        option = option_list.highlighted_option
        if option is not None and str(option.prompt) == f"+ {name}":
            break
        await pilot.press("down")
    await pilot.press("enter")
    await until(pilot, lambda: panel.form is not None and panel.form.has_trainer_fields, what="trainer fields")
    await until(pilot, lambda: any(r.spec.path[:2] == ("trainer", "args") for r in panel.query(FieldRow)),
                what="trainer.args rows")
    await until(pilot, lambda: panel.last_check is not None and not panel.pending, what="first validation")


async def type_into(pilot, widget: Input, text: str) -> None:
    widget.focus()
    await pilot.pause()
    widget.value = ""
    await pilot.press(*text) if text else None
    await pilot.pause()


async def test_preset_edit_validate_save_keeps_comments(tmp_path):
    app = HostApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(ConfigsPanel)
        await open_preset_by_keyboard(pilot, panel, "sft")
        assert panel.is_new and panel.form.doc.path == tmp_path / "configs" / "sft.toml"
        assert panel.last_check == (True, "ok")
        assert "VRAM/GPU" in panel.last_estimate or panel.last_estimate == ""

        steps = panel.query_one("#f-trainer--args--max_steps", Input)
        assert steps.value == "40"  # the preset's value, shown in the form
        before = len(app.checks)
        await type_into(pilot, steps, "abc")
        ok, message = await settled(pilot, app, panel, before)
        assert not ok and message == "trainer.args.max_steps: expected an integer, got 'abc'"
        assert steps.parent.has_class("-invalid")

        before = len(app.checks)
        await type_into(pilot, steps, "5")
        ok, message = await settled(pilot, app, panel, before)
        assert ok, message
        assert not steps.parent.has_class("-invalid")

        # An error only the core validator knows: missing data file, named with file:line.
        train = panel.query_one("#f-data--train", Input)
        good = train.value
        before = len(app.checks)
        await type_into(pilot, train, "missing.jsonl")
        ok, message = await settled(pilot, app, panel, before)
        assert not ok and "data.train: file not found" in message and "sft.toml:" in message
        before = len(app.checks)
        train.value = good
        ok, message = await settled(pilot, app, panel, before)
        assert ok, message

        await pilot.press("ctrl+s")
        await pilot.pause()
        saved = tmp_path / "configs" / "sft.toml"
        assert saved.is_file() and not panel.dirty
        original = materialize(sample_data_dir() / "configs" / "sft.toml").splitlines()
        diff = [d for d in difflib.ndiff(original, saved.read_text().splitlines()) if d[:1] in "+-"]
        assert diff == ["- max_steps = 40", "+ max_steps = 5"]
        assert saved.read_text().startswith("# Full supervised fine-tuning")
        await until(pilot, lambda: any(e.kind == "file" and e.path == saved for e in panel.entries),
                    what="saved file listed")


async def test_switch_and_default_round_trip_on_existing_file(tmp_path):
    src = materialize(sample_data_dir() / "configs" / "sft.toml").replace(
        "max_length = 128", "max_length = 128  # tokens per example")
    path = tmp_path / "job.toml"
    path.write_text(src)
    assert find_configs(tmp_path) == [path]
    app = HostApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(ConfigsPanel)
        await until(pilot, lambda: panel.entries, what="list")
        panel.open_path(path)
        await until(pilot, lambda: panel.form.has_trainer_fields, what="fields")
        await until(pilot, lambda: panel.query("#f-trainer--args--packing"), what="packing row")
        packing = panel.query_one("#f-trainer--args--packing", Switch)
        assert packing.value is False
        packing.focus()
        await pilot.press("enter")  # toggles the switch
        await pilot.pause()
        assert packing.value is True and panel.dirty
        # Setting the learning rate back to SFTConfig's own default removes the key.
        lr = panel.query_one("#f-trainer--args--learning_rate", Input)
        from trl import SFTConfig

        await type_into(pilot, lr, str(SFTConfig.learning_rate))
        await pilot.press("ctrl+s")
        await pilot.pause()
        text = path.read_text()
        assert "packing = true" in text and "learning_rate" not in text
        assert "max_length = 128  # tokens per example" in text
        changed = [d for d in difflib.ndiff(src.splitlines(), text.splitlines()) if d[:1] in "+-"]
        assert sorted(changed) == sorted(["- learning_rate = 3e-3", "+ packing = true"])


async def test_toml_view_validates_and_feeds_the_form(tmp_path):
    app = HostApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(ConfigsPanel)
        await open_preset_by_keyboard(pilot, panel, "sft-lora")
        await pilot.press("ctrl+t")
        area = panel.query_one("#cfg-toml", TextArea)
        assert panel.view == "cfg-toml" and area.text == panel.form.doc.text
        before = len(app.checks)
        area.load_text(area.text.replace("[peft]\n", "[peft]\nrank = 8\n"))
        ok, message = await settled(pilot, app, panel, before)
        assert not ok and "peft.rank: unknown key" in message
        before = len(app.checks)
        area.load_text(area.text.replace("rank = 8\n", "").replace("r = 16", "r = 8"))
        ok, message = await settled(pilot, app, panel, before)
        assert ok, message
        area.load_text("[run\n")
        await pilot.pause(0.2)
        assert "invalid TOML" in str(panel.query_one("#cfg-status").render())
        await pilot.press("ctrl+t")  # refused: the form needs text that parses
        assert panel.view == "cfg-toml"
        area.load_text(panel.form.doc.text)
        await pilot.pause(0.1)
        await pilot.press("ctrl+t")
        await until(pilot, lambda: panel.query("#f-peft--r"), what="form rows")
        assert panel.view == "cfg-form"
        assert panel.query_one("#f-peft--r", Input).value == "8"


async def test_filter_finds_any_trainer_arg(tmp_path):
    app = HostApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(ConfigsPanel)
        await open_preset_by_keyboard(pilot, panel, "sft")
        assert not panel.query("#f-trainer--args--neftune_noise_alpha")  # not common, not set
        await pilot.press("ctrl+f")
        await pilot.press(*"neftune")
        await until(pilot, lambda: panel.query("#f-trainer--args--neftune_noise_alpha"), what="filtered row")
        assert not panel.query("#f-model--path")


async def test_duplicate_and_new_from_preset_dialog(tmp_path):
    app = HostApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(ConfigsPanel)
        await until(pilot, lambda: panel.registry is not None, what="registry")
        await pilot.press("ctrl+n")
        await pilot.pause()
        picker = app.screen.query_one("#preset-options", OptionList)
        names = [picker.get_option_at_index(i).id for i in range(picker.option_count)]
        picker.highlighted = names.index("sft-qlora")
        await pilot.press("enter")
        await until(pilot, lambda: panel.form is not None and panel.is_new, what="preset opened")
        assert panel.form.doc.path == tmp_path / "configs" / "sft-qlora.toml"
        await pilot.press("ctrl+s")
        await pilot.press("f3")
        await pilot.pause()
        copy = tmp_path / "configs" / "sft-qlora-copy.toml"
        assert copy.read_text() == (tmp_path / "configs" / "sft-qlora.toml").read_text()
        assert panel.form.doc.path == copy


@pytest.mark.slow
async def test_launch_starts_a_real_run(workspace):
    from workbench.runs.store import Run

    app = HostApp(workspace)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(ConfigsPanel)
        await open_preset_by_keyboard(pilot, panel, "sft")
        before = len(app.checks)
        await type_into(pilot, panel.query_one("#f-trainer--args--max_steps", Input), "3")
        await type_into(pilot, panel.query_one("#f-trainer--args--save_steps", Input), "3")
        ok, message = await settled(pilot, app, panel, before)
        assert ok, message
        await pilot.press("ctrl+r")
        await until(pilot, lambda: app.launched, timeout=60, what="RunLaunched")
        message = app.launched[0]
        run = Run(Path(message.run_dir))
        assert run.id == message.run_id and run.dir.parent == workspace / "runs"
        assert (workspace / "configs" / "sft.toml").is_file()  # saved before launch
        assert run.status()["status"] not in ("failed", "lost")
    deadline = time.monotonic() + 240
    while run.status()["status"] not in ("completed", "failed", "stopped", "lost") and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
    assert run.status()["status"] == "completed", (run.dir / "console.log").read_text()[-2000:]
    assert run.config()["trainer"]["args"]["max_steps"] == 3

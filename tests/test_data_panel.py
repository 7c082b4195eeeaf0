"""The Datasets panel headless at 80x24: open a file, page, validate and jump to a bad row, mask view."""

from __future__ import annotations

import json
import subprocess
import sys

from textual.app import App, ComposeResult
from textual.widgets import DataTable, OptionList

from workbench.data.samples import BAD_LINES
from workbench.paths import sample_data_dir
from workbench.tui.panels.datasets import PAGE, DatasetsPanel, TRAINED_STYLE


class Host(App):
    def compose(self) -> ComposeResult:
        yield DatasetsPanel()


async def test_the_header_counts_rows_as_check_does_not_blank_lines(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    row = json.dumps({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "chat.jsonl").write_text("\n".join([row] * 5 + ["", "  "] + [row] * 5) + "\n\n")
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(DatasetsPanel)
        files = app.query_one("#ds-files", OptionList)
        files.focus()
        files.highlighted = 0
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        header = str(app.query_one("#ds-info").render())
        await pilot.press("v")
        await app.workers.wait_for_complete()
        await pilot.pause()
        check = str(app.query_one("#ds-check-summary").render())
        assert "10 rows" in header and check.startswith("10 rows"), (header, check)


async def test_open_page_validate_jump_and_mask(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(1, 181)]
    rows[122]["messages"][1]["role"] = "bot"   # line 123 is bad
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "chat.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(DatasetsPanel)
        files = app.query_one("#ds-files", OptionList)
        assert files.get_option_at_index(0).prompt == "data/chat.jsonl"
        files.focus()
        files.highlighted = 0
        await pilot.press("enter")
        await pilot.pause()
        table = app.query_one("#ds-rows", DataTable)
        assert table.row_count == PAGE and table.get_row_at(0)[0] == "1"
        await app.workers.wait_for_complete()
        table.focus()
        await pilot.press("n")
        assert table.get_row_at(0)[0] == str(PAGE + 1)
        await pilot.press("p")
        assert table.get_row_at(0)[0] == "1"
        await pilot.press("v")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [b.number for b in panel.bad_rows] == [123]
        bad = app.query_one("#ds-bad", OptionList)
        bad.focus()
        bad.highlighted = 0
        await pilot.press("enter")
        await pilot.pause()
        assert panel.highlighted_row().number == 123
        assert "bot" in str(table.get_row_at(table.cursor_row)[1])
        table.move_cursor(row=table.cursor_row - 1)  # line 122 is fine: show its loss mask
        await pilot.pause()
        await pilot.press("m")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = panel.mask_rendered
        trained = "".join(text.plain[s.start:s.end] for s in text.spans if str(s.style) == TRAINED_STYLE)
        assert trained == "a122<|end|>", (text.plain, text.spans[:5])


async def test_first_page_of_a_big_file_needs_no_scan(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    path = tmp_path / "big.jsonl"
    line = json.dumps({"text": "x" * 200}) + "\n"
    path.write_text(line * 200_000)  # ~40 MB
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(DatasetsPanel)
        panel.open_file(path)
        assert panel.source.index.progress < 1  # the page is up before the index is built
        assert app.query_one("#ds-rows", DataTable).row_count == PAGE
        panel.workers.cancel_group(panel, "file")
        await pilot.pause()


async def test_bad_sample_file_in_panel(monkeypatch, tmp_path):
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(DatasetsPanel)
        panel.open_file(sample_data_dir() / "data" / "sft-messages-bad.jsonl")
        panel.action_validate()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert {b.number for b in panel.bad_rows} == set(BAD_LINES["sft-messages-bad.jsonl"])


def test_panel_import_keeps_heavy_libraries_out():
    code = ("import sys, workbench.tui.panels.datasets; "
            "print([m for m in ('torch','transformers','datasets','trl') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


async def test_mask_view_shows_what_the_configs_trainer_trains(tmp_path, monkeypatch):
    """Was: the mask view always highlighted the assistant turns and ignored max_length, whatever the
    chosen config said (TRL's SFT default assistant_only_loss = false trains every token; truncation cuts)."""
    from workbench.data.tokens import load_tokenizer
    from workbench.tui.panels.datasets import TokenizerChoice

    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    model = sample_data_dir() / "models" / "tiny-llama"
    messages = [{"role": "user", "content": "hello there"}, {"role": "assistant", "content": "fine thanks"}]
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "chat.jsonl").write_text(json.dumps({"messages": messages}) + "\n")
    config = tmp_path / "job.toml"
    config.write_text(f'[model]\npath = "{model}"\n[data]\ntrain = "data/chat.jsonl"\n[trainer]\nname = "sft"\n'
                      "[trainer.args]\nmax_length = 8\n")
    tok = load_tokenizer(str(model))
    ids = tok.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(DatasetsPanel)
        panel.open_file(tmp_path / "data" / "chat.jsonl")
        await app.workers.wait_for_complete()
        panel._set_choice(TokenizerChoice.from_config(config))
        app.query_one("#ds-rows", DataTable).focus()
        await pilot.press("m")
        await app.workers.wait_for_complete()
        await pilot.pause()
        text = panel.mask_rendered
        trained = "".join(text.plain[s.start:s.end] for s in text.spans if str(s.style) == TRAINED_STYLE)
        assert trained.replace("⏎", "") == tok.decode(ids[:8]), text.plain
        assert f"{len(ids)} tokens ({len(ids) - 8} cut by max_length 8" in text.plain


async def test_save_to_disk_folders_are_listed_and_open_as_one_dataset(tmp_path, monkeypatch):
    """Was: the list showed a save_to_disk folder's dataset_info.json and state.json as data files (they open
    as nothing useful), and not the folder itself, which data check and runs read."""
    from datasets import Dataset, DatasetDict

    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    rows = [{"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(7)]
    Dataset.from_list(rows).save_to_disk(str(tmp_path / "data" / "saved"))
    DatasetDict(train=Dataset.from_list(rows[:3])).save_to_disk(str(tmp_path / "data" / "splits"))
    (tmp_path / "data" / "notes.json").write_text("[]")
    app = Host()
    async with app.run_test(size=(80, 24)) as pilot:
        panel = app.query_one(DatasetsPanel)
        files = app.query_one("#ds-files", OptionList)
        listed = [str(files.get_option_at_index(i).prompt) for i in range(files.option_count)]
        ours = [name for name in listed if not name.startswith("sample/")]
        assert ours == ["data/notes.json", "data/saved", "data/splits"], listed
        files.focus()
        files.highlighted = 1
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.query_one("#ds-rows", DataTable).row_count == 7
        assert panel.format is not None and panel.format.name == "messages"


def test_mask_of_a_huge_row_renders_the_kept_window_not_every_token():
    """Was: the mask view decoded and drew every token of the row (a 5 MB row: millions of pieces, minutes
    of a frozen view); now the tokens max_length keeps, a few cut ones beside them, and a count of the rest."""
    from workbench.data.tokens import Encoded, load_tokenizer
    from workbench.tui.panels.datasets import CUT_SHOWN, mask_text

    tok = load_tokenizer(str(sample_data_dir() / "models" / "tiny-llama"))
    ids = tok("x " * 5000, add_special_tokens=False)["input_ids"]
    text = mask_text(tok, [Encoded(ids, [1] * len(ids))], "language_modeling", 1, max_length=64)
    drawn = text.plain.count("│")
    assert 64 <= drawn <= 64 + CUT_SHOWN
    assert f"… {len(ids) - 64 - CUT_SHOWN:,} more tokens cut …" in text.plain
    assert f"{len(ids)} tokens ({len(ids) - 64} cut by max_length 64" in text.plain

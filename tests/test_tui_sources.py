"""Other tools' runs in the Runs tab: added to the workspace, listed read-only and live, opened in detail,
compared with workbench runs (a fraction-of-run x axis for runs of very different lengths)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.conftest import cli
from tests.test_tui_app import app_for, table_of, wait_until, ws  # noqa: F401 - fixture
from tests.test_tui_support import make_run
from workbench import numbers

SIZE = (80, 24)


def write_tfevents(folder, steps, evals=(), start: int = 1) -> list[tuple[int, str, float]]:
    """Scalars as transformers' TensorBoardCallback writes them (train/loss, eval/loss), with tensorboard's writer.

    Returns (step, tag, value as stored: float32)."""
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    folder.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(folder), filename_suffix=f".{start}")
    out = []
    for step in range(start, steps + 1):
        values = [("train/loss", 3.0 - math.log(step) / 4), ("train/learning_rate", 1e-4 * (1 - step / 200))]
        if step in evals:
            values.append(("eval/loss", 3.1 - math.log(step) / 4))
        for tag, value in values:
            writer.add_event(Event(wall_time=1_700_000_000.0 + step, step=step,
                                   summary=Summary(value=[Summary.Value(tag=tag, simple_value=value)])))
            out.append((step, tag, float(np.float32(value))))
    writer.close()
    return out


def write_llamafactory(folder, total: int, every: int) -> list[dict]:
    """trainer_log.jsonl lines as LLaMA-Factory's LogCallback writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [{"current_steps": s, "total_steps": total, "loss": round(2.5 - s / (2 * total), 4), "lr": 5e-5,
              "epoch": round(s / total, 4), "percentage": round(100 * s / total, 2), "elapsed_time": "0:01:00",
              "remaining_time": "0:00:00"} for s in range(every, total + 1, every)]
    (folder / "trainer_log.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return lines


async def cursor_to(pilot, table, rid: str) -> None:
    """Move the Runs table's cursor to a row with arrow keys."""
    for _ in range(20):
        if table.current_id == rid:
            return
        here, there = table.shown_ids.index(table.current_id), table.shown_ids.index(rid)
        await pilot.press("down" if there > here else "up")
    raise AssertionError(f"cursor never reached {rid}")


def notices(app) -> list[str]:
    return [n.message for n in app._notifications]


async def test_added_tensorboard_and_llamafactory_runs_are_rows_open_in_detail_and_compare(ws, tmp_path_factory):
    make_run(ws, "20250101-000001-ours", name="ours", steps=40, created=1.0)
    tb = tmp_path_factory.mktemp("elsewhere") / "tb-qwen"  # outside the workspace: stored absolute
    scalars = write_tfevents(tb, 60, evals=(20, 40, 60))
    lf_lines = write_llamafactory(ws / "saves" / "llama", total=3000, every=10)
    added = cli("watch", str(tb), "--add")
    assert added.returncode == 0, added.stderr
    assert "(tensorboard)" in added.stdout and "Runs tab" in added.stdout
    tb_id, lf_id = f"src:{tb}", "src:saves/llama"

    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        await wait_until(pilot, lambda: table.row_count == 2 and tb_id in table.shown_ids, what="the TensorBoard row")
        # it came after the first paint and sorts first: the untouched cursor is on the first row still
        assert table.current_id == table.shown_ids[0] == tb_id
        # the LLaMA-Factory folder, added with keys only (relative to the workspace)
        await pilot.press("a", *"saves/llama", "enter")
        await wait_until(pilot, lambda: table.row_count == 3, what="the LLaMA-Factory row")
        settings = (ws / ".workbench" / "settings.toml").read_text()
        assert str(tb) in settings and '"saves/llama"' in settings

        # rows: the kind marks them, numbers are the files' last ones
        tb_loss = [v for s, tag, v in scalars if tag == "train/loss"]
        tb_row, lf_row = table.row_text(tb_id), table.row_text(lf_id)
        assert tb_row["run"] == "tb-qwen (tensorboard)" and tb_row["step"] == "60"
        assert tb_row["loss"] == numbers.num(tb_loss[-1]) and tb_row["trainer"] == "tensorboard"
        assert tb_row["best"] == f"{numbers.num(min(v for _, t, v in scalars if t == 'eval/loss'))} loss"
        assert lf_row["run"] == "llama (llamafactory)" and lf_row["step"] == "3000/3000"
        assert lf_row["loss"] == numbers.num(lf_lines[-1]["loss"]) and lf_row["status"] == "✓ completed"

        # read-only: stop / resume / duplicate / logs say so, nothing is asked or started
        await cursor_to(pilot, table, tb_id)
        assert "read-only" in str(app.screen.query_one("#run-info").render())
        for key in ("x", "X", "r", "d", "o", "e"):
            await pilot.press(key)
            assert app.screen is app.screen_stack[0], key
        assert sum("read-only tensorboard run" in n for n in notices(app)) >= 4, notices(app)

        # detail: the curves are the event file's scalars
        from workbench.tui.screens.detail import RunDetailScreen

        await pilot.press("enter")
        detail = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen)
        await wait_until(pilot, lambda: len(detail.chart.series("loss") or []) == 60, what="tb loss curve")
        loss = detail.chart.series("loss")
        assert list(loss.x) == list(range(1, 61)) and list(loss.raw.values) == tb_loss
        assert list(detail.chart.series("eval_loss").x) == [20, 40, 60]
        await pilot.press("x", "r", "d")
        assert app.screen is detail
        assert any("read-only view" in n for n in notices(app))
        await pilot.press("escape")

        await cursor_to(pilot, table, lf_id)
        await pilot.press("enter")
        detail = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen)
        await wait_until(pilot, lambda: len(detail.chart.series("loss") or []) == 300, what="lf loss curve")
        assert list(detail.chart.series("loss").raw.values) == [x["loss"] for x in lf_lines]
        assert "step 3000/3000" in str(detail.query_one("#run-summary").render())
        await pilot.press("escape")

        # live, and cheap: no source is read while its files stay as they are
        poller = app.added_poller
        reads, rounds = poller.reads, app.runs_poll.rounds
        await wait_until(pilot, lambda: app.runs_poll.rounds >= rounds + 4, what="idle polls")
        assert poller.reads == reads
        more = write_tfevents(tb, 80, start=61)
        await wait_until(pilot, lambda: table.row_text(tb_id)["step"] == "80", what="the new TensorBoard steps")
        assert table.row_text(tb_id)["loss"] == numbers.num(more[-2][2])

        # compare a workbench run, a TensorBoard run and a LLaMA-Factory log
        from workbench.tui.screens.compare import CompareScreen

        await cursor_to(pilot, table, table.shown_ids[0])
        await pilot.press("space", "space", "space", "c")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, CompareScreen) and app.screen)
        chart = screen.chart
        await wait_until(pilot, lambda: [len(chart.series(k) or []) for k in ("20250101-000001-ours", "tb-qwen", "llama")]
                         == [40, 80, 300], what="three curves")
        assert list(chart.series("tb-qwen").raw.values)[:60] == tb_loss
        assert list(chart.series("llama").raw.values) == [x["loss"] for x in lf_lines]
        assert {screen.labels["tb-qwen"], screen.labels["llama"]} == {"tb-qwen (tensorboard)", "llama (llamafactory)"}
        # fraction of run: a 40-step, an 80-step and a 3000-step run each span 0..100%
        await pilot.press("a", "a", "a", "a")
        assert chart.x_mode == "fraction"
        for key, steps in (("20250101-000001-ours", 40), ("tb-qwen", 80), ("llama", 3000)):
            xs = list(chart.series(key).x)
            assert xs[-1] == pytest.approx(1.0) and xs[0] == pytest.approx(xs and (10 if key == "llama" else 1) / steps)
        await pilot.press("z", *"0:50%", "enter")
        assert chart.x_range == (0.0, 0.5)
        await pilot.press("x")  # no run actions here: the key does nothing
        assert app.screen is screen


async def test_a_folder_that_goes_away_is_a_row_that_says_so(ws, tmp_path_factory):
    lf = tmp_path_factory.mktemp("lf") / "run"
    write_llamafactory(lf, total=100, every=10)
    from workbench.sources.added import add_path

    add_path(ws, lf)
    (lf / "trainer_log.jsonl").rename(lf / "moved.jsonl")
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        await wait_until(pilot, lambda: table.row_count == 1)
        row = table.row_text(f"src:{lf}")
        assert row["status"] == "✗ unreadable"
        assert "no run source reads this folder" in str(app.screen.query_one("#run-info").render())
        await pilot.press("enter")  # opening it says why instead of a traceback
        assert app.screen is app.screen_stack[0]
        assert any("no run source reads this folder" in n for n in notices(app)), notices(app)
        # the palette's "Remove source": gone from the table and the settings, files untouched
        remove = next(run for name, _, run in app.palette_commands() if name == f"Remove source {lf}")
        remove()
        await wait_until(pilot, lambda: table.row_count == 0, what="the row removed")
        from workbench.settings import load_settings

        assert load_settings(ws).sources == () and (lf / "moved.jsonl").exists()


def test_watch_add_remove_list_from_the_cli(ws):
    lf = ws / "saves" / "llama"
    write_llamafactory(lf, total=20, every=10)
    assert cli("watch", "saves/llama", "--add", cwd=ws).returncode == 0
    again = cli("watch", str(lf), "--add", cwd=ws)  # the same folder twice: listed once
    assert again.returncode == 0
    from workbench.settings import load_settings

    assert load_settings(ws).sources == ("saves/llama",)
    listed = cli("watch", "--list", cwd=ws)
    assert listed.stdout.strip() == "saves/llama\tllamafactory"
    (ws / "empty").mkdir()
    bad = cli("watch", "empty", "--add", cwd=ws)
    assert bad.returncode != 0 and "not a run folder of a known tool" in bad.stderr
    assert "Traceback" not in bad.stderr and "tensorboard" in bad.stderr
    missing = cli("watch", "nope", "--remove", cwd=ws)
    assert missing.returncode != 0 and "not an added source" in missing.stderr and "saves/llama" in missing.stderr
    removed = cli("watch", "saves/llama", "--remove", cwd=ws)
    assert removed.returncode == 0 and "files are untouched" in removed.stdout
    assert load_settings(ws).sources == () and (lf / "trainer_log.jsonl").exists()


def test_sources_paths_are_checked(ws):
    from workbench.errors import ConfigError
    from workbench.settings import load_settings

    (ws / ".workbench").mkdir()
    (ws / ".workbench" / "settings.toml").write_text('theme = "workbench-dark"\n[sources]\npaths = "tb"\n')
    with pytest.raises(ConfigError, match=r"settings.toml:3.*sources.paths: expected a list of folder paths"):
        load_settings(ws)


async def test_keys_typed_right_after_z_slash_or_a_land_in_the_new_prompt(ws):
    """A burst (keys queued before the prompt has mounted) goes to the prompt, not to run detail behind it."""
    from textual import events

    from workbench.tui.screens.detail import RunDetailScreen

    make_run(ws, "20250101-000001-r", steps=400)
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: table_of(app).row_count == 1)
        await pilot.press("enter")
        detail = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen)
        await wait_until(pilot, lambda: len(detail.chart.series("loss") or []) == 400)

        def burst(keys: list[str]) -> None:
            for key in keys:
                app.post_message(events.Key(key, key if len(key) == 1 else None))

        burst(["z", *"100:200", "enter"])
        await wait_until(pilot, lambda: app.screen is detail and detail.window is not None, what="the x range")
        assert detail.window == ("range", 100.0, 200.0) and detail.metric == "loss"
        burst(["slash", *"grad", "enter"])
        await wait_until(pilot, lambda: app.screen is detail and detail.metric == "grad_norm", what="the metric")
        assert detail.window == ("range", 100.0, 200.0)  # "0" of the burst never reached the chart
        # `a` in the Runs tab: the path typed at once goes into its prompt (not to the table: `s`, `a`, `v`...)
        write_llamafactory(ws / "saves" / "llama", total=20, every=10)
        await pilot.press("escape")
        burst(["a", *"saves/llama", "enter"])
        await wait_until(pilot, lambda: table_of(app).row_count == 2, what="the added row")
        assert app.screen is app.screen_stack[0] and table_of(app).sort_key == "created"


def test_one_tui_writes_the_gpu_history(tmp_path):
    """Two TUIs on one workspace: only the lock holder appends; the other takes over when it closes."""
    from workbench.telemetry import open_backend
    from workbench.tui.gpu_history import HistoryWriter, read_history

    path = tmp_path / ".workbench" / "gpu.jsonl"
    backend = open_backend("fake:2")
    first, second = HistoryWriter(path), HistoryWriter(path)
    for _ in range(3):
        samples = backend.sample()
        assert first.append(samples) and not second.append(samples)
    assert [len(h) for h in read_history(path, 100).values()] == [3, 3]
    first.close()
    assert second.append(backend.sample())
    assert [len(h) for h in read_history(path, 100).values()] == [4, 4]
    assert not first.append(backend.sample())  # closed: a sample still in flight is dropped
    second.close()


def test_a_broken_settings_file_keeps_the_rows_and_says_why(ws):
    from workbench.sources.added import add_path
    from workbench.tui.added_poll import AddedRunsPoller

    write_llamafactory(ws / "saves" / "llama", total=20, every=10)
    add_path(ws, ws / "saves" / "llama")
    poller = AddedRunsPoller(ws)
    rows, changed = poller.poll()
    assert changed and [r["id"] for r in rows] == ["src:saves/llama"] and rows[0]["step"] == 20
    (ws / ".workbench" / "settings.toml").write_text("[sources]\npaths = [\n")  # being edited, half written
    again, changed = poller.poll()
    assert not changed and again == rows and "settings.toml" in poller.error
    assert poller.reads == 1  # nothing changed in the folder: not read again


def test_a_narrow_run_column_keeps_the_kind_of_another_tools_run():
    from workbench.tui.widgets.runs_table import RunsTable

    table = RunsTable()
    s = {"read_only": True, "source": "tensorboard"}
    assert table._cell("run", "sft-lora 01/11:49 (tensorboard)", "idle", 40, s) == "sft-lora 01/11:49 (tensorboard)"
    assert table._cell("run", "sft-lora 01/11:49 (tensorboard)", "idle", 22, s) == "sft-lora 01/11:49 (tb)"
    assert table._cell("run", "sft-lora 01/11:49 (tensorboard)", "idle", 14, s) == "sft-lora… (tb)"
    assert table._cell("run", "sft-lora 01/11:49", "idle", 14, {}) == "sft-lora 01/1…"


TRACKIO_WRITER = """
import sys, trackio
trackio.init(project="demo", name="run-a", config={"max_steps": 30})
for s in range(1, 31):
    trackio.log({"train/loss": 3 - s / 20, "train/global_step": s})
trackio.finish()
"""


async def test_a_trackio_project_opens_in_detail(ws, tmp_path_factory):
    """trackio's own writer; the source's `run` is a run name there, not a workbench Run (detail crashed on it)."""
    import subprocess
    import sys

    store = tmp_path_factory.mktemp("trackio")
    done = subprocess.run([sys.executable, "-c", TRACKIO_WRITER], capture_output=True, text=True, timeout=120,
                          env={**__import__("os").environ, "TRACKIO_DIR": str(store)}, cwd=store)
    assert done.returncode == 0, done.stderr
    from workbench.sources.added import add_path

    assert add_path(ws, store).kind == "trackio"
    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        await wait_until(pilot, lambda: table.row_count == 1)
        row = table.row_text(f"src:{store}")
        assert row["run"] == "run-a (trackio)" and row["step"] == "30/30" and row["loss"] == numbers.num(1.5)
        from workbench.tui.screens.detail import RunDetailScreen

        await pilot.press("enter")
        detail = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen)
        await wait_until(pilot, lambda: len(detail.chart.series("loss") or []) == 30, what="the trackio curve")
        assert list(detail.chart.series("loss").raw.values) == [3 - s / 20 for s in range(1, 31)]
        await pilot.press("x")
        assert app.screen is detail and any("read-only view" in n for n in notices(app))
        assert app.api.selected_run() is None  # not a workbench run: plugins see none

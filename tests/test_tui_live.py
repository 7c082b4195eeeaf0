"""End to end: real tiny training runs watched and steered from the TUI (CPU)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys

import psutil
import pytest

from tests.conftest import CONFIGS, cli, metric_rows, wait_for
from tests.test_tui_app import app_for, table_of, wait_until, ws  # noqa: F401 - fixture
from workbench.runs.store import Run, list_runs

pytestmark = pytest.mark.slow
SIZE = (80, 24)


def events_of(run_dir) -> list[dict]:
    path = run_dir / "events.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()] if path.exists() else []


async def test_stop_a_live_run_from_the_tui(ws):
    from workbench.cli.commands.run import start
    from workbench.tui.screens.detail import RunDetailScreen
    from workbench.tui.screens.dialogs import ConfirmScreen

    run = start(str(CONFIGS / "sft.toml"), overrides=["trainer.args.max_steps=400", "trainer.args.save_steps=1000"],
                quiet=True)
    try:
        app = app_for(ws)
        async with app.run_test(size=SIZE) as pilot:
            table = table_of(app)
            await wait_until(pilot, lambda: (table.summaries.get(run.id) or {}).get("step", 0) >= 3, timeout=240,
                             what="the run's first steps in the table")
            await pilot.press("enter")
            screen = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen)
            await wait_until(pilot, lambda: screen.chart.series("loss") is not None and len(screen.chart.series("loss")) >= 3,
                             what="loss points in the chart")
            await pilot.press("x")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await wait_until(pilot, lambda: Run(run.dir).status()["status"] == "stopped", timeout=240,
                             what="status stopped")
            await wait_until(pilot, lambda: "■ stopped" in str(screen.query_one("#run-summary").render()), timeout=5)
            await wait_until(pilot, lambda: "checkpoint" in str(screen.query_one("#run-events").lines), timeout=5)
            stopped_events = events_of(run.dir)
            await pilot.press("r")  # resume from that checkpoint
            await wait_until(pilot, lambda: any(e["event"] == "resumed" for e in events_of(run.dir)), timeout=60,
                             what="resumed event")
            await wait_until(pilot, lambda: Run(run.dir).status()["status"] in ("starting", "running"), timeout=30)
    finally:
        if Run(run.dir).status()["status"] in ("running", "starting", "stopping"):
            cli("stop", run.id, "--now")
    events = stopped_events
    names = [e["event"] for e in events]
    assert "stop_requested" in names and "checkpoint" in names
    ckpt = [e for e in events if e["event"] == "checkpoint"][-1]
    steps = [r["step"] for r in metric_rows(run.dir)]
    assert 3 <= ckpt["step"] < 400 and steps[-1] <= ckpt["step"] + 1
    assert Run(run.dir).checkpoints(), "a checkpoint to resume from"


async def test_a_run_started_from_the_cli_shows_up_live(ws):
    from workbench.tui.screens.detail import RunDetailScreen

    app = app_for(ws)
    async with app.run_test(size=SIZE) as pilot:
        table = table_of(app)
        assert table.row_count == 0
        proc = subprocess.run([sys.executable, "-m", "workbench", "run", str(CONFIGS / "sft.toml"), "--detach",
                               "--set", "trainer.args.max_steps=25"], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
        run_id = proc.stdout.strip().splitlines()[-1]
        await wait_until(pilot, lambda: run_id in table.summaries, timeout=3, what="the new run in the table")
        table.move_cursor(row=table.get_row_index(run_id))
        await pilot.press("enter")
        screen = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen)
        run_dir = ws / "runs" / run_id
        # Freeze the job after its first steps: the view must show those rows while the run is mid-way
        # (deterministic under any load: the job cannot finish while we look).
        await wait_until(pilot, lambda: len(metric_rows(run_dir)) >= 2, timeout=240, what="first steps written")
        pgid = Run(run_dir).raw_status["job_pgid"]
        os.killpg(pgid, signal.SIGSTOP)
        try:
            written = len(metric_rows(run_dir))
            assert written < 25, "stopped mid-run"
            await wait_until(pilot, lambda: screen.chart.series("loss") is not None
                             and len(screen.chart.series("loss")) == written, timeout=30,
                             what="the rows written so far in the chart")
            assert screen.status.get("status") == "running"
        finally:
            os.killpg(pgid, signal.SIGCONT)
        await wait_until(pilot, lambda: screen.status.get("status") == "completed", timeout=240)
        await wait_until(pilot, lambda: len(screen.chart.series("loss")) == 25, timeout=5)
        assert list(screen.chart.series("loss").x) == [float(s) for s in range(1, 26)]
        # Back on the tabs, the table shows what its poll saw meanwhile (a hidden table never repaints).
        await pilot.press("escape")
        await wait_until(pilot, lambda: "completed" in str(table.get_row(run_id)[2]), timeout=10,
                         what="the table row to show completed")


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_killing_the_tui_mid_run_leaves_the_run_to_finish(workspace):
    sock = f"wbtest-{os.getpid()}"
    tmux = ["tmux", "-L", sock]
    env_cmd = f"env WORKBENCH_WORKSPACE={workspace} {sys.executable} -m workbench tui"
    subprocess.run([*tmux, "new-session", "-d", "-s", "tui", "-x", "80", "-y", "24", env_cmd], check=True)
    try:
        pane_pid = int(subprocess.run([*tmux, "display", "-p", "-t", "tui", "#{pane_pid}"], capture_output=True,
                                      text=True, check=True).stdout.strip())
        root = psutil.Process(pane_pid)
        tui = next(p for p in [root, *root.children(recursive=True)] if "tui" in " ".join(p.cmdline()))
        result = cli("run", str(CONFIGS / "sft.toml"), "--detach", "--set", "trainer.args.max_steps=60",
                     "--set", "trainer.args.save_steps=1000")
        assert result.returncode == 0, result.stderr
        run_id = result.stdout.strip().splitlines()[-1]
        run_dir = workspace / "runs" / run_id

        def screen() -> str:
            return subprocess.run([*tmux, "capture-pane", "-p", "-t", "tui"], capture_output=True, text=True).stdout

        # the Runs table names a run by its name and start time (sft 01/10:46), the id is for the CLI
        wait_for(lambda: "sft " in screen() and "running" in screen(), timeout=240, what="the run in the real TUI")
        wait_for(lambda: len(metric_rows(run_dir)) >= 5, timeout=240, what="five steps")
        os.kill(tui.pid, signal.SIGKILL)
        wait_for(lambda: not tui.is_running() or tui.status() == psutil.STATUS_ZOMBIE, timeout=10, what="TUI gone")
        assert len(metric_rows(run_dir)) < 60, "killed mid-run"
        wait_for(lambda: Run(run_dir).status()["status"] in ("completed", "failed", "lost"), timeout=300,
                 what="the run to end")
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    assert Run(run_dir).status()["status"] == "completed"
    assert [r["step"] for r in metric_rows(run_dir)] == list(range(1, 61))
    assert [r for r in list_runs(workspace) if r.id == run_id]

"""Issue 9: no fault loses a line, doubles a job or leaks a secret.

Each test injects one fault the issue names into real processes (kill -9, a deleted or
truncated file, a concurrent second command, a full disk, a read-only directory) and
checks what survives.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import CONFIGS, WORKBENCH, cli, leaky_trainer, metric_rows, status_of, wait_for
from workbench.runs.store import FINAL, Run, list_runs, running_time, step_rate

ONE_THREAD = {"OMP_NUM_THREADS": "1"}


# --- helpers ---------------------------------------------------------------------------------
def only_run(workspace: Path) -> Path:
    runs = list_runs(workspace)
    assert len(runs) == 1, [r.id for r in runs]
    return runs[0].dir


def start_run(workspace: Path, steps: int, *sets: str, env: dict | None = None, config: Path | None = None) -> Path:
    args = ["run", str(config or CONFIGS / "sft.toml"), "--detach", "--set", f"trainer.args.max_steps={steps}"]
    for item in sets:
        args += ["--set", item]
    result = cli(*args, env={**ONE_THREAD, **(env or {})})
    assert result.returncode == 0, result.stdout + result.stderr
    return workspace / "runs" / result.stdout.strip().splitlines()[-1]


def wait_rows(run_dir: Path, n: int, timeout: float = 240) -> None:
    wait_for(lambda: len(metric_rows(run_dir)) >= n, timeout=timeout, what=f"{n} metric rows")


def wait_final(run_dir: Path, timeout: float = 300) -> dict:
    return wait_for(lambda: (s := status_of(run_dir))["status"] in FINAL and s, timeout=timeout, what="final status")


def events_of(run_dir: Path) -> list[dict]:
    return Run(run_dir).events()


def group_gone(pgid: int) -> bool:
    from workbench.supervisor import group_members

    return not group_members(pgid)  # zombies (an init that never reaps) do not count


def kill_group(pgid: int | None) -> None:
    if pgid:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def fake_run(workspace: Path, name: str = "fake", status: str = "completed", **extra) -> Path:
    """A run directory as a finished job leaves it, without training."""
    run_dir = workspace / "runs" / f"20260101-000000-{name}"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "job.toml").write_text('[trainer]\nname = "sft"\n[trainer.args]\nmax_steps = 10\n'
                                      '[launch]\nnum_processes = 1\n[run]\nname = "fake"\n')
    (run_dir / "status.json").write_text(json.dumps({"status": status, "created": 1.0, "attempt": 1, "started": 1.0,
                                                     "ended": 2.0, "trainer": "sft", **extra}))
    (run_dir / "console.log").write_text("done\n")
    return run_dir


def one_line(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("error: "), result.stderr
    return lines[0]


# --- damaged run files never break a viewer ----------------------------------------------------
def test_bad_metric_lines_break_neither_ls_nor_show(workspace):
    """Was: a metrics.jsonl line that is a bare value, or ends in invalid UTF-8, broke `ls` for the workspace."""
    run_dir = fake_run(workspace)
    (run_dir / "metrics.jsonl").write_bytes(b'{"step": 1, "loss": 2.0}\n5\n{"step": 2, "loss": 1.5}\n{"step": 3\xff}\n')
    fake_run(workspace, name="healthy")
    listed = cli("ls", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["id"]: r for r in json.loads(listed.stdout)}
    assert rows[run_dir.name]["step"] == 2 and rows[run_dir.name]["loss"] == 1.5
    assert len(rows) == 2
    assert cli("ls").returncode == 0
    shown = cli("show", run_dir.name)
    assert shown.returncode == 0, shown.stderr
    damaged = next(line for line in shown.stdout.splitlines() if "damaged" in line)
    assert "metrics.jsonl" in damaged and "line 2" in damaged and "line 4" in damaged, damaged
    data = json.loads(cli("show", "--json", run_dir.name).stdout)
    assert data["damaged_lines"]["metrics.jsonl"][0].startswith("line 2: not a JSON object")


def chattr(path: Path, flag: str) -> bool:
    try:
        return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


def test_stop_on_a_read_only_run_directory_is_one_line(workspace):
    """Was: `workbench stop` on a run whose directory went read-only printed a 19-line traceback."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        run_dir = fake_run(workspace, status="running", supervisor_pid=sleeper.pid,
                           supervisor_start=psutil.Process(sleeper.pid).create_time(), ended=None)
        if not chattr(run_dir, "+i"):
            pytest.skip("chattr +i is not permitted here (no CAP_LINUX_IMMUTABLE)")
        try:
            line = one_line(cli("stop", run_dir.name))
        finally:
            chattr(run_dir, "-i")
        assert run_dir.name in line and "refuses the stop request" in line, line
    finally:
        sleeper.kill()
        sleeper.wait()


# --- the terminal follower ----------------------------------------------------------------------
def test_the_follower_never_repeats_or_skips_a_line(workspace):
    """Was: lines printed twice (blocks of 50) and, after metrics.jsonl was truncated, 99 lines skipped."""
    from workbench.cli.follow import follow

    run_dir = fake_run(workspace, status="running", supervisor_pid=os.getpid(),
                       supervisor_start=psutil.Process().create_time(), ended=None)
    metrics = run_dir / "metrics.jsonl"
    metrics.touch()

    def write():
        with open(metrics, "a") as f:
            for i in range(1, 3001):
                f.write(json.dumps({"step": i, "kind": "train", "loss": 1.0, "time": i}) + "\n")
                if i % 50 == 0:
                    f.flush()
                    time.sleep(0.001)
        time.sleep(0.3)
        with open(metrics, "w") as f:  # truncated in place, then longer than before
            for i in range(5000, 8500):
                f.write(json.dumps({"step": i, "kind": "train", "loss": 1.0, "time": i}) + "\n")
        time.sleep(0.3)
        st = json.loads((run_dir / "status.json").read_text())
        (run_dir / "status.json").write_text(json.dumps({**st, "status": "completed"}))

    out = io.StringIO()
    writer = threading.Thread(target=write)
    writer.start()
    code = follow(Run(run_dir), out=out, poll_s=0.01)
    writer.join()
    steps = [int(line.split()[1].split("/")[0]) for line in out.getvalue().splitlines() if line.startswith("step ")]
    assert steps == list(range(1, 3001)) + list(range(5000, 8500))
    assert code == 0


def test_the_follower_shows_a_new_runs_events_written_before_it_started(workspace):
    """Was: `workbench run` skipped events.jsonl as it was when following began, so a raising run_started
    hook (called by the supervisor right after the spawn) was never shown; a resume still skips old events."""
    from workbench.cli.follow import follow

    run_dir = fake_run(workspace)
    (run_dir / "events.jsonl").write_text(json.dumps(
        {"time": 1.0, "event": "plugin_error", "plugin": "faq", "hook": "run_started",
         "message": "plugin faq: run_started raised KeyError: 'journal' (plugin.py:57)"}) + "\n")
    out = io.StringIO()
    follow(Run(run_dir), out=out, poll_s=0.01)
    assert "plugin error in run_started: plugin faq: run_started raised KeyError" in out.getvalue()
    resumed = io.StringIO()
    follow(Run(run_dir), out=resumed, poll_s=0.01, skip_existing=True)
    assert "plugin error" not in resumed.getvalue()


# --- timing -------------------------------------------------------------------------------------
def test_elapsed_is_the_time_spent_running_and_eta_the_current_rate():
    """Was: ELAPSED counted the time a run sat stopped; the ETA after a resume read 3d19h instead of 20m."""
    st = {"started": 1000.0, "ended": 5000.0,
          "attempts": [{"started": 1000.0, "ended": 1600.0}, {"started": 4600.0, "ended": 5000.0}]}
    elapsed, wall = running_time(st)
    assert (elapsed, wall) == (1000.0, 4000.0)
    # 100 steps in 600 s before the stop; the resumed attempt has logged nothing yet
    rows = [{"step": s, "time": 1000.0 + 6 * s, "kind": "train"} for s in range(1, 101)]
    assert step_rate(rows, since=4600.0) == pytest.approx(1 / 6)
    # the first steps after the resume are slow (warm-up): the settled rate before the stop still counts
    rows += [{"step": 100 + s, "time": 4600.0 + 12 * s, "kind": "train"} for s in range(1, 3)]
    assert step_rate(rows, since=4600.0) == pytest.approx(1 / 6)
    rows += [{"step": 102 + s, "time": 4624.0 + 3 * s, "kind": "train"} for s in range(1, 30)]
    assert step_rate(rows, since=4600.0) == pytest.approx(1 / 3)  # settled: the current attempt, never the gap


# --- kill -9 of the supervisor: the job trains on and is adopted ------------------------------------
@pytest.mark.slow
def test_a_supervisor_killed_mid_run_leaves_the_job_training_and_resume_adopts_it(workspace):
    """Was: the job's output went through a pipe to the supervisor, so a supervisor crash killed training."""
    max_steps = 400
    run_dir = start_run(workspace, max_steps, "trainer.args.save_steps=100000")
    wait_rows(run_dir, 3)
    st = status_of(run_dir)
    pgid = st["job_pgid"]
    try:
        os.kill(st["supervisor_pid"], signal.SIGKILL)
        seen = len(metric_rows(run_dir))
        wait_for(lambda: len(metric_rows(run_dir)) > seen + 5, timeout=120, what="training to go on")
        assert status_of(run_dir)["status"] == "lost"
        resumed = cli("resume", "--detach", run_dir.name)
        assert resumed.returncode == 0, resumed.stderr
        assert "adopted the running job" in resumed.stderr
        assert status_of(run_dir)["status"] in ("running", "stopping", "completed")
        st = wait_final(run_dir)
        assert st["status"] == "completed", st
        assert [r["step"] for r in metric_rows(run_dir)] == list(range(1, max_steps + 1))
        assert any(e["event"] == "adopted" for e in events_of(run_dir))
    finally:
        kill_group(pgid)


# --- concurrent resumes ------------------------------------------------------------------------------
@pytest.fixture
def stopped_run(workspace):
    """A real run stopped mid-way with a checkpoint (a fresh one per test: tests damage it)."""
    run_dir = start_run(workspace, 400, "trainer.args.save_steps=100000")
    wait_rows(run_dir, 3)
    assert cli("stop", "--wait", run_dir.name).returncode == 0
    st = status_of(run_dir)
    assert st["status"] == "stopped", st
    return run_dir


@pytest.mark.slow
def test_two_resumes_at_the_same_moment_start_one_job(stopped_run):
    """Was: two `resume` at once started two jobs in one directory (800 duplicated rows, 681 out of order)."""
    run_dir = stopped_run
    procs = [subprocess.Popen([*WORKBENCH, "resume", "--detach", run_dir.name], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=dict(os.environ, **ONE_THREAD))
             for _ in range(2)]
    results = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    refused = next(err for code, err in results if code == 2)
    assert refused.startswith("error: ") and len(refused.strip().splitlines()) == 1, refused
    assert "another supervisor" in refused or "changed meanwhile" in refused, refused
    st = wait_final(run_dir)
    assert st["status"] == "completed", st
    steps = [r["step"] for r in metric_rows(run_dir)]
    assert steps == list(range(1, 401))
    assert st["attempt"] == 2 and len(st["attempts"]) == 2
    elapsed, wall = running_time(st)
    gap = st["attempts"][1]["started"] - st["attempts"][0]["ended"]
    assert gap > 0 and elapsed == pytest.approx(wall - gap, abs=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_resume_with_a_damaged_status_json_continues_the_run(stopped_run, damage):
    """Was: `supervisor error: 'argv'`, status.json rewritten without trainer and world size, old steps
    reprinted as new, and the run stranded."""
    run_dir = stopped_run
    stopped_at = metric_rows(run_dir)[-1]["step"]
    text = (run_dir / "status.json").read_text()
    (run_dir / "status.json").write_text(text[: len(text) // 2] if damage == "truncated" else "")
    listed = cli("ls", "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout)[0]["status"] == "unknown"
    resumed = cli("resume", run_dir.name, env=ONE_THREAD)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    printed = [int(ln.split()[1].split("/")[0]) for ln in resumed.stdout.splitlines() if ln.startswith("step ")]
    assert printed and min(printed) > stopped_at, printed[:5]
    st = status_of(run_dir)
    assert st["status"] == "completed" and st["trainer"] == "sft" and st["world_size"] == 1, st
    assert [r["step"] for r in metric_rows(run_dir)] == list(range(1, 401))


# --- checkpoints ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_a_damaged_last_checkpoint_falls_back_to_the_previous_one(workspace):
    """Was: a checkpoint without its weights was picked on every resume (the run could never resume);
    one without optimizer.pt resumed silently with a fresh optimizer."""
    run_dir = start_run(workspace, 400, "trainer.args.save_steps=10")
    wait_for(lambda: len(Run(run_dir).checkpoints()) >= 3, timeout=240, what="three checkpoints")
    assert cli("stop", "--now", "--wait", run_dir.name).returncode == 0
    checks = Run(run_dir).checkpoint_checks()
    complete = [c for c in checks if c.complete]
    good, no_optimizer, no_weights = complete[-3:]
    for newer in [c for c in checks if c.step > no_weights.step]:
        shutil.rmtree(newer.path)
    (no_optimizer.path / "optimizer.pt").unlink()
    (no_weights.path / "model.safetensors").unlink()
    shown = cli("show", run_dir.name).stdout
    assert f"unusable  {no_weights.path.name}: missing model.safetensors" in shown, shown
    resumed = cli("resume", "--detach", run_dir.name, env=ONE_THREAD)
    assert resumed.returncode == 0, resumed.stderr
    assert f"from {good.path.name}" in resumed.stderr
    skipped = {e["checkpoint"]: e["problem"] for e in events_of(run_dir) if e["event"] == "checkpoint_skipped"}
    assert skipped == {no_optimizer.path.name: "missing optimizer.pt", no_weights.path.name: "missing model.safetensors"}
    wait_rows(run_dir, good.step + 3)
    assert [r["step"] for r in metric_rows(run_dir)][: good.step + 3] == list(range(1, good.step + 4))
    cli("stop", "--now", "--wait", run_dir.name)


def test_checkpoint_verification_names_what_is_missing(tmp_path):
    from workbench.runs.checkpoints import seal, verify

    ck = tmp_path / "checkpoint-5"
    ck.mkdir()
    for name, size in (("model.safetensors", 100), ("optimizer.pt", 50), ("trainer_state.json", 10)):
        (ck / name).write_bytes(b"x" * size)
    assert verify(ck).startswith("never sealed")
    seal(ck)
    assert verify(ck) is None
    (ck / "optimizer.pt").write_bytes(b"x" * 20)
    assert verify(ck) == "wrong size: optimizer.pt (20 of 50 bytes)"
    (ck / "model.safetensors").unlink()
    assert verify(ck) == "missing model.safetensors"


# --- disk full --------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1200k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.slow
def test_disk_full_during_a_checkpoint_is_named_and_the_partial_checkpoint_removed(small_disk, monkeypatch):
    """Was: the error read `unexpected pos`, the status stayed "running", the half checkpoint stayed."""
    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(small_disk))
    run_dir = start_run(small_disk, 20, "trainer.args.save_steps=5")
    st = wait_final(run_dir)
    assert st["status"] == "failed", st
    assert st["reason"].startswith("no space left on tmpfs"), st["reason"]
    assert " MB free" in st["reason"] and "checkpoint needs" in st["reason"], st["reason"]
    assert not [p for p in (run_dir / "checkpoints").glob("checkpoint-*")], "the partial checkpoint stays"
    assert any(e["event"] == "no_space" for e in events_of(run_dir))


# --- files deleted under the job -------------------------------------------------------------------
@pytest.mark.slow
def test_metrics_deleted_mid_run_stops_the_job_with_a_checkpoint_and_an_event(workspace):
    """Was: the job appended to the unlinked file, 300 lines lost, `show` said `completed 0/400`."""
    run_dir = start_run(workspace, 3000, "trainer.args.save_steps=100000")
    wait_rows(run_dir, 3)
    pgid = status_of(run_dir)["job_pgid"]
    try:
        (run_dir / "metrics.jsonl").unlink()
        st = wait_final(run_dir)
        assert st["status"] == "failed" and "metrics.jsonl was deleted" in st["reason"], st
        lost = [e for e in events_of(run_dir) if e["event"] == "run_files_lost"]
        assert lost and "metrics.jsonl" in lost[0]["reason"]
        assert Run(run_dir).checkpoints(), "no checkpoint saved before stopping"
    finally:
        kill_group(pgid)


@pytest.mark.slow
def test_a_run_directory_deleted_mid_run_ends_the_job_and_leaves_no_ghost(workspace):
    """Was: the job trained on, then a ghost runs/ID/ reappeared."""
    run_dir = start_run(workspace, 3000, "trainer.args.save_steps=20")
    wait_rows(run_dir, 3)
    pgid = status_of(run_dir)["job_pgid"]
    try:
        # like `rm -rf` typed again: a file the job was creating at that moment can make one pass fail
        wait_for(lambda: shutil.rmtree(run_dir, ignore_errors=True) or not run_dir.exists(), timeout=30,
                 what="the run directory to be deleted")
        wait_for(lambda: group_gone(pgid), timeout=120, what="the job to end")
        assert not run_dir.exists(), sorted(p.name for p in run_dir.rglob("*"))
    finally:
        kill_group(pgid)


@pytest.mark.slow
def test_a_run_directory_made_immutable_mid_run_still_gets_its_final_status(workspace):
    """Was: a run whose directory turned read-only after training was reported `lost`."""
    run_dir = start_run(workspace, 60, "trainer.args.save_steps=100000")
    wait_rows(run_dir, 3)
    if not chattr(run_dir, "+i"):
        pytest.skip("chattr +i is not permitted here")
    try:
        st = wait_final(run_dir)
    finally:
        chattr(run_dir, "-i")
    assert st["status"] == "completed", st


# --- secrets -----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_secrets_printed_by_plugins_or_raised_in_errors_reach_no_file_and_no_output(workspace):
    """Was: supervisor.log held HF_TOKEN and OPENAI_API_KEY (0644) when a plugin printed its environment;
    an exception message with a secret landed in events.jsonl and status.json's reason, and show/ls printed it."""
    hf, openai = "hf_TopSecretValue1234567890abcdefgh", "sk-proj-AnotherSecret0123456789"
    config, plugin_dir = leaky_trainer(
        workspace,
        build="    print('token is', os.environ['HF_TOKEN'], flush=True)\n"
              "    raise RuntimeError('hub said 401 for token ' + os.environ['HF_TOKEN'])\n",
        hooks="@hookimpl\n"
              "def run_finished(run):\n"
              "    print(dict(os.environ))\n"
              "    print('stderr', os.environ.get('OPENAI_API_KEY'), file=sys.stderr)\n")
    env = {"HF_TOKEN": hf, "OPENAI_API_KEY": openai, "PYTHONPATH": str(plugin_dir)}
    result = cli("run", str(config), env=env)
    assert result.returncode == 1
    run_dir = only_run(workspace)
    wait_for(lambda: "ended" in [e["event"] for e in events_of(run_dir)], timeout=60, what="ended event")
    log = (run_dir / "supervisor.log").read_text()
    assert "***" in log and "HF_TOKEN" in log, log[-2000:]  # the hook did print the environment
    for path in run_dir.rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert hf not in text and openai not in text, path
    st = status_of(run_dir)
    assert "401 for token ***" in st["reason"], st["reason"]
    for output in (cli("show", run_dir.name).stdout, cli("ls", "--json").stdout, cli("show", "--json", run_dir.name).stdout,
                   result.stdout, result.stderr):
        assert hf not in output and openai not in output


@pytest.mark.slow
def test_a_private_run_is_readable_by_its_owner_only(workspace):
    run_dir = start_run(workspace, 5, "trainer.args.save_steps=5", "run.private=true")
    assert wait_final(run_dir)["status"] == "completed"
    assert os.stat(run_dir).st_mode & 0o077 == 0
    leaky = [str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if os.stat(p).st_mode & 0o077]
    assert not leaky, leaky


def test_a_new_run_whose_supervisor_cannot_start_ends_failed_not_lost(workspace, monkeypatch):
    """Was: a run whose supervisor refused it (or could not start) sat `queued`, then read `lost`."""
    from workbench.errors import RunError
    from workbench.supervisor import spawn

    run_dir = fake_run(workspace, status="queued", ended=None, started=None, attempt=0)
    (run_dir / "launch.json").write_text("{damaged")
    (run_dir / "status.json").write_text(json.dumps({"status": "queued", "created": time.time(), "attempt": 0,
                                                     "trainer": "sft"}))
    with pytest.raises(RunError, match="launch.json"):
        spawn(Run(run_dir))
    st = status_of(run_dir)
    assert st["status"] == "failed" and "launch.json" in st["reason"], st

"""Faults in the run's own processes (beyond tests/test_hardening.py): a killed console writer,
a job that ends while no supervisor watches it, a plugin hook that hangs, a secret in a
config value. Each injects the fault into real processes and checks what survives."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import CONFIGS, cli, metric_rows, status_of, wait_for
from tests.test_hardening import events_of, fake_run, group_gone, kill_group, start_run, wait_final, wait_rows
from workbench.runs.store import Run


def console_writers(run_dir: Path) -> list[psutil.Process]:
    out = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        if "workbench.console_writer" in cmd and str(run_dir / "console.log") in cmd:
            out.append(proc)
    return out


# --- the console writer ----------------------------------------------------------------------
@pytest.mark.slow
def test_a_console_writer_killed_mid_run_is_replaced_and_the_run_completes(workspace):
    """Was: kill -9 of the job's console writer broke the job's stdout pipe: the run failed at
    step ~50 of 300 with `BrokenPipeError: [Errno 32] Broken pipe`."""
    run_dir = start_run(workspace, 300, "trainer.args.save_steps=100000")
    wait_rows(run_dir, 3)
    pgid = status_of(run_dir)["job_pgid"]
    try:
        writers = console_writers(run_dir)
        assert len(writers) == 1, writers
        writers[0].kill()
        st = wait_final(run_dir)
        assert st["status"] == "completed", st
        assert [r["step"] for r in metric_rows(run_dir)] == list(range(1, 301))
        console = (run_dir / "console.log").read_text()
        assert "the console writer died (killed by SIGKILL)" in console
        assert "train_runtime" in console, console[-2000:]  # the job's output after the kill still arrives
        assert any(e["event"] == "console_writer_restarted" for e in events_of(run_dir))
    finally:
        kill_group(pgid)


# --- a job that ends while no supervisor watches it -------------------------------------------
@pytest.mark.slow
def test_a_job_that_completes_after_its_supervisor_died_shows_completed_and_is_not_retrained(workspace):
    """Was: listed `lost` forever (200/200, result.json `completed`), and `resume` started a second
    attempt that reloaded the model and retrained from the last checkpoint."""
    run_dir = start_run(workspace, 200, "trainer.args.save_steps=50")
    wait_rows(run_dir, 3)
    st = status_of(run_dir)
    try:
        os.kill(st["supervisor_pid"], signal.SIGKILL)
        wait_for(lambda: group_gone(st["job_pgid"]), timeout=240, what="the job to end on its own")
        st = status_of(run_dir)
        assert st["status"] == "completed", st
        assert "no supervisor watched it" in st["reason"]
        listed = json.loads(cli("ls", "--json").stdout)
        assert listed[0]["status"] == "completed" and listed[0]["step"] == 200, listed
        resumed = cli("resume", "--detach", run_dir.name)
        assert resumed.returncode == 2 and "is completed: nothing to resume" in resumed.stderr, resumed.stderr
        assert status_of(run_dir)["attempt"] == 1
        assert [r["step"] for r in metric_rows(run_dir)] == list(range(1, 201))
    finally:
        kill_group(st.get("job_pgid"))


def dead_pid() -> tuple[int, float]:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    started = psutil.Process(proc.pid).create_time()
    proc.wait()
    return proc.pid, started


def test_a_run_whose_unwatched_job_stopped_shows_stopped_and_an_earlier_attempts_result_does_not_count(workspace):
    """Was: a supervisor killed right after `workbench stop` left the run `lost` although its job
    saved a checkpoint and wrote `stopped` in result.json."""
    pid, started = dead_pid()
    begun = time.time() - 60
    run_dir = fake_run(workspace, status="stopping", supervisor_pid=pid, supervisor_start=started, ended=None,
                       attempt=2, attempts=[{"started": 1.0, "ended": 2.0}, {"started": begun, "ended": None}])
    (run_dir / "result.json").write_text(json.dumps({"outcome": "stopped", "reason": None}))
    st = Run(run_dir).status()
    assert st["status"] == "stopped" and "no supervisor watched it" in st["reason"], st
    os.utime(run_dir / "result.json", (begun - 10, begun - 10))  # written by the attempt before this one
    assert Run(run_dir).status()["status"] == "lost"


# --- a plugin hook that hangs -----------------------------------------------------------------
HANGING_PLUGIN = """
import os, time
from pathlib import Path
from workbench.hookspecs import hookimpl

@hookimpl
def run_event(run, event):
    (Path(run.run_dir) / 'hook-called').touch()
    while not (Path(run.run_dir) / 'release-hooks').exists():
        time.sleep(0.05)
"""

EVENTFUL_JOB = """
import json, time
i = 0
while True:  # a burst of events at every poll of the supervisor: each one a call of the hung hook
    with open('events.jsonl', 'a') as f:
        for _ in range(5):
            f.write(json.dumps({'time': time.time(), 'event': 'tick', 'i': i}) + '\\n')
            i += 1
    time.sleep(0.1)
"""


def test_a_hanging_run_event_hook_holds_up_neither_stop_now_nor_the_supervisors_exit(workspace):
    """Was: the watcher called run_event itself, waiting 30 s per event for a hung plugin: `stop --now`
    took 57 s on a real run (the job trained on from step 120 to 2044), and the supervisor lingered
    for minutes after the job ended, holding supervisor.lock."""
    from workbench.supervisor import spawn

    plugins = workspace / ".workbench" / "plugins"
    plugins.mkdir(parents=True)
    (plugins / "hang.py").write_text(HANGING_PLUGIN)
    run_dir = fake_run(workspace, status="queued", ended=None, started=None, attempt=0)
    (run_dir / "status.json").write_text(json.dumps({"status": "queued", "created": time.time(), "attempt": 0,
                                                     "trainer": "sft"}))
    (run_dir / "launch.json").write_text(json.dumps({"argv": [sys.executable, "-c", EVENTFUL_JOB], "env": {}}))
    assert spawn(Run(run_dir)).startswith("started")
    st = wait_for(lambda: (s := status_of(run_dir))["status"] == "running" and s.get("job_pgid") and s,
                  what="the job to run")
    try:
        wait_for(lambda: any(e["event"] == "tick" for e in events_of(run_dir)), what="the job's events")
        wait_for(lambda: (run_dir / "hook-called").exists(), what="the hook to hang")
        assert cli("stop", "--now", run_dir.name).returncode == 0
        wait_for(lambda: group_gone(st["job_pgid"]), timeout=60, what="stop --now to end the job")
        final = wait_final(run_dir, timeout=60)
        assert final["status"] == "stopped", final
        wait_for(lambda: not psutil.pid_exists(st["supervisor_pid"])
                 or psutil.Process(st["supervisor_pid"]).status() == psutil.STATUS_ZOMBIE,
                 timeout=60, what="the supervisor to exit")
        assert not (run_dir / "release-hooks").exists()  # all of it while the hook still hung
    finally:
        (run_dir / "release-hooks").touch()
        kill_group(st["job_pgid"])
        try:
            os.kill(st["supervisor_pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass


# --- secrets in config values --------------------------------------------------------------------
HF = "hf_ValueInTheConfig0123456789abcdefghij"
WANDB = "wandbkey0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("override, keypath, what", [
    (f"run.tags=['a', '{HF}']", "run.tags[1]", "looks like an access token"),
    (f"launch.env={{OTHER = '{WANDB}'}}", "launch.env.OTHER", "holds $WANDB_API_KEY's value"),
    (f"run.name='x-{WANDB}'", "run.name", "holds $WANDB_API_KEY's value"),
])
def test_a_secret_anywhere_in_the_config_is_refused_before_the_run_directory_exists(workspace, override,
                                                                                      keypath, what):
    """Was: a token in run.tags, or WANDB_API_KEY's value under an innocent launch.env name or in
    run.name, was copied into job.toml, command.sh, launch.json, status.json and the run's folder name."""
    env = {"HF_TOKEN": "hf_" + "z" * 34, "WANDB_API_KEY": WANDB}
    done = cli("run", str(CONFIGS / "sft.toml"), "--detach", "--set", override, env=env)
    assert done.returncode == 2, done.stdout + done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and f"{keypath}: the value {what}" in line, line
    assert HF not in done.stderr and WANDB not in done.stderr
    assert not (workspace / "runs").exists() or not list((workspace / "runs").iterdir())


def test_a_secret_in_the_run_name_option_is_refused(workspace):
    """Was: `run --name` with a secret in it named the run directory and status.json after it."""
    named = cli("run", str(CONFIGS / "sft.toml"), "--detach", "--name", f"n-{WANDB}", env={"WANDB_API_KEY": WANDB})
    assert named.returncode == 2, named.stdout + named.stderr
    assert "run name: the value holds $WANDB_API_KEY's value" in named.stderr and WANDB not in named.stderr
    assert not (workspace / "runs").exists() or not list((workspace / "runs").iterdir())

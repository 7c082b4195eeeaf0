"""The Slurm launcher against a real one-node Slurm cluster (started by scripts/slurm_local.py).

Every job goes the way a user's does: `workbench run` with launch.launcher = "slurm", the
detached supervisor driving the SlurmJob handle (start, live, poll, stop, attached), and
`workbench show` / `stop` / `resume` on the run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import CONFIGS, REPO, cli, leaky_trainer, metric_rows, status_of, wait_for
from workbench.config import load_config
from workbench.errors import ConfigError
from workbench.runs.store import FINAL, Run
from workbench_plugins.launch_slurm.states import final_state

ONE_THREAD = {"OMP_NUM_THREADS": "1"}


@pytest.fixture(scope="module")
def slurm_cluster():
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "slurm_local.py"), "up"], capture_output=True,
                          text=True, timeout=1200)
    if proc.returncode == 3:
        pytest.skip(proc.stdout.strip())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


def slurm_run(workspace, *overrides: str) -> Run:
    """`workbench run --detach` of the sample SFT config on Slurm."""
    args = ["run", str(CONFIGS / "sft.toml"), "--detach", "--set", "launch.launcher='slurm'"]
    for item in overrides:
        args += ["--set", item]
    result = cli(*args, env=ONE_THREAD)
    assert result.returncode == 0, result.stdout + result.stderr
    return Run(workspace / "runs" / result.stdout.strip().splitlines()[-1])


def watch(run: Run, until, timeout: float = 300, what: str = "condition") -> list[tuple]:
    """Poll status.json (as a viewer does) until `until(status)`; returns the (status, slurm_state,
    queue_reason) sequence seen."""
    seen: list[tuple] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        st = status_of(run.dir)
        now = (st.get("status"), st.get("slurm_state"), st.get("queue_reason"))
        if not seen or seen[-1] != now:
            seen.append(now)
        if until(st):
            return seen
        time.sleep(0.2)
    job = run.raw_status.get("slurm_job_id")
    if job:
        subprocess.run(["scancel", str(job)])
    raise AssertionError(f"timed out after {timeout}s waiting for {what}: {seen}")


def final(run: Run, timeout: float = 300) -> dict:
    watch(run, lambda st: st["status"] in FINAL, timeout, "the final status")
    return status_of(run.dir)


def steps(run: Run) -> list[int]:
    return [r["step"] for r in metric_rows(run.dir)]


def events(run: Run, name: str) -> list[dict]:
    return [e for e in run.events() if e.get("event") == name]


def cancel_all(run: Run) -> None:
    for job in run.raw_status.get("slurm_job_ids") or []:
        subprocess.run(["scancel", str(job)], capture_output=True)


@pytest.mark.slow
def test_held_job_shows_its_reason_then_runs_and_completes(slurm_cluster, workspace):
    """Was: the supervisor failed every Slurm run at submission (`update_status() got multiple values for
    keyword argument 'status'`), leaving the submitted job running unwatched."""
    run = slurm_run(workspace, "trainer.args.max_steps=4", "launch.num_processes=2",
                    "launch.slurm.sbatch_lines=['--hold']", "launch.slurm.cpus_per_task=2")
    try:
        script = run.path("slurm.sbatch").read_text()
        assert "#SBATCH --hold" in script and "#SBATCH --cpus-per-task=2" in script
        watch(run, lambda st: st.get("queue_reason") == "JobHeldUser", 60, "the pending reason")
        st = status_of(run.dir)
        assert st["status"] == "queued" and st["slurm_state"] == "PENDING" and st["slurm_job_id"].isdigit()
        shown = cli("show", run.id)
        assert shown.stdout.splitlines()[0] == f"{run.id}  queued (pending: JobHeldUser)", shown.stdout
        assert f"slurm     job {st['slurm_job_id']}  PENDING" in shown.stdout
        subprocess.run(["scontrol", "release", st["slurm_job_id"]], check=True)
        seen = watch(run, lambda s: s["status"] in FINAL, 300, "the run to end")
        statuses = [s for s, _, _ in seen]
        assert "running" in statuses and statuses[-1] == "completed", seen      # queued -> running -> completed
        st = status_of(run.dir)
        assert st["exit_code"] == 0 and st["slurm_state"] == "COMPLETED" and st["queue_reason"] is None, st
        assert steps(run) == [1, 2, 3, 4]                     # one metrics stream from two ranks
        begin = events(run, "train_begin")
        assert len(begin) == 1 and begin[0]["world_size"] == 2
        assert (run.dir / "checkpoints" / "final" / "model.safetensors").exists()
        assert cli("show", run.id).stdout.splitlines()[0] == f"{run.id}  completed"
    finally:
        cancel_all(run)


@pytest.mark.slow
def test_stopping_a_pending_job_cancels_it_at_once(slurm_cluster, workspace):
    """Was: a stop sent `scancel --batch --signal=USR2`, which Slurm refuses for a pending job ("Job can
    not be altered now"), so the run stayed queued until the stop grace ran out."""
    run = slurm_run(workspace, "trainer.args.max_steps=4", "launch.slurm.sbatch_lines=['--hold']",
                    "run.stop_grace_seconds=3600")
    try:
        watch(run, lambda st: st.get("queue_reason") == "JobHeldUser", 60, "the pending reason")
        stopped = cli("stop", "--wait", run.id, timeout=120)
        assert stopped.returncode == 0 and stopped.stdout.strip().splitlines()[-1] == "stopped", stopped.stdout
        st = status_of(run.dir)
        assert "scancel" in st["reason"] and st["slurm_state"] == "CANCELLED" and not steps(run), st
    finally:
        cancel_all(run)


@pytest.mark.slow
def test_stop_checkpoints_then_resume_continues_and_a_new_supervisor_reattaches(slurm_cluster, workspace):
    run = slurm_run(workspace, "trainer.args.max_steps=5000", "trainer.args.save_steps=100000")
    try:
        wait_for(lambda: len(steps(run)) >= 3, timeout=300, what="3 steps")
        assert cli("stop", "--wait", run.id).returncode == 0         # scancel --batch --signal=USR2
        st = final(run)
        assert st["status"] == "stopped" and st["reason"] == "on request", st
        assert run.checkpoints(), "the graceful stop saves a checkpoint"
        stopped_at = int(run.checkpoints()[-1].name.split("-")[-1])
        assert events(run, "stopping") and steps(run) == list(range(1, stopped_at + 1))

        resumed = cli("resume", "--detach", run.id, env=ONE_THREAD)
        assert resumed.returncode == 0 and f"from checkpoint-{stopped_at}" in resumed.stderr, resumed.stderr
        wait_for(lambda: max(steps(run), default=0) >= stopped_at + 2, timeout=300, what="steps after the resume")
        st = status_of(run.dir)
        assert len(st["slurm_job_ids"]) == 2 and st["status"] == "running", st

        os.kill(st["supervisor_pid"], signal.SIGKILL)                # the supervisor dies; the batch job does not
        wait_for(lambda: status_of(run.dir)["status"] == "lost", timeout=30, what="the run to show lost")
        again = cli("resume", "--detach", run.id, env=ONE_THREAD)
        assert again.returncode == 0 and "re-attached to the running job" in again.stderr, again.stderr
        seen = len(steps(run))
        wait_for(lambda: len(steps(run)) > seen + 2, timeout=300, what="training to go on under the new supervisor")
        assert len(status_of(run.dir)["slurm_job_ids"]) == 2           # nothing submitted twice

        assert cli("stop", "--now", "--wait", run.id).returncode == 0   # scancel
        st = final(run)
        assert st["status"] == "stopped" and "scancel" in st["reason"], st
        got = steps(run)
        assert got == list(range(1, len(got) + 1)), got      # continuous across the two jobs
        assert [e["step"] for e in events(run, "resumed")] == [stopped_at]
        assert events(run, "adopted")
    finally:
        cancel_all(run)


@pytest.mark.slow
def test_time_limit_checkpoints_and_resubmits_by_itself(slurm_cluster, workspace):
    """Was: the supervisor answered the batch script's own time-limit stop request with a user stop
    (scancel --batch), so the run ended `stopped on request` and was never resubmitted.

    Each job gets 1 minute and the time-limit signal 40 s before it: job 1 checkpoints and stops,
    is resubmitted once (resubmit = 1) from that checkpoint, and job 2 does the same, then the run
    ends stopped (no resubmission left), resumable by hand."""
    run = slurm_run(workspace, "trainer.args.max_steps=100000", "trainer.args.save_steps=100000",
                    "launch.slurm.time='1'", "launch.slurm.signal_seconds=40", "launch.slurm.resubmit=1")
    try:
        first = status_of(run.dir)["slurm_job_id"]
        st = final(run, 400)
        resubmitted = events(run, "slurm_resubmitted")
        assert len(resubmitted) == 1, (st, resubmitted)
        assert resubmitted[0]["previous_job_id"] == first and resubmitted[0]["job_id"] == st["slurm_job_id"] != first
        assert "time limit" in resubmitted[0]["reason"]
        at = int(resubmitted[0]["checkpoint"].split("-")[-1])
        assert st["status"] == "stopped" and "time limit" in st["reason"], st
        assert st["attempt"] == 2 and len(st["attempts"]) == 2 and st["slurm_resubmits"] == 1
        got = steps(run)
        assert got == list(range(1, len(got) + 1)) and got[-1] > at, got   # job 2 went on from job 1's checkpoint
        assert [e["step"] for e in events(run, "resumed")] == [at]
        assert int(run.checkpoints()[-1].name.split("-")[-1]) == got[-1]  # and left its own to resume from
    finally:
        cancel_all(run)



@pytest.mark.slow
def test_a_secret_the_job_prints_under_slurm_reaches_console_log_redacted(slurm_cluster, workspace):
    """Was: sbatch --output wrote the job's stdout/stderr straight into console.log, past the redacting
    writer every local job goes through, so a printed HF_TOKEN landed in the run directory."""
    secret = "hf_SlurmSecretValue1234567890abcdefgh"
    config, plugin_dir = leaky_trainer(workspace, build="    print('token is', os.environ['HF_TOKEN'], flush=True)\n"
                                                         "    print('again', os.environ['HF_TOKEN'], file=sys.stderr)\n"
                                                         "    raise SystemExit(0)\n")
    result = cli("run", str(config), "--detach", "--set", "launch.launcher='slurm'",
                 env={**ONE_THREAD, "HF_TOKEN": secret, "PYTHONPATH": str(plugin_dir)})
    assert result.returncode == 0, result.stdout + result.stderr
    run = Run(workspace / "runs" / result.stdout.strip().splitlines()[-1])
    try:
        final(run, 300)
        log = run.path("console.log").read_text()
        assert "token is ***" in log and "again ***" in log, log[-2000:]
        for path in run.dir.rglob("*"):
            if path.is_file():
                assert secret not in path.read_text(errors="replace"), path
    finally:
        cancel_all(run)

def test_slurm_states_map_to_run_states():
    done = {"outcome": "completed"}
    stopped = {"outcome": "stopped"}
    cases = [
        ("COMPLETED", "0:0", done, False, False, ("completed", False)),
        ("COMPLETED", "0:0", stopped, True, False, ("stopped", False)),
        ("COMPLETED", "0:0", stopped, False, True, ("stopped", True)),       # checkpointed before the limit
        ("COMPLETED", "0:0", None, False, False, ("failed", False)),
        ("FAILED", "1:0", None, False, False, ("failed", False)),
        ("CANCELLED by 0", "0:15", None, True, False, ("stopped", False)),
        ("TIMEOUT", "0:1", None, False, False, ("failed", True)),
        ("PREEMPTED", "0:0", None, False, False, ("failed", True)),
        ("NODE_FAIL", "0:0", None, False, False, ("failed", True)),
        ("OUT_OF_MEMORY", "0:125", None, False, False, ("failed", False)),
    ]
    for state, code, result, stop, mark, (status, again) in cases:
        out = final_state(state, {"ExitCode": code}, result, stop, mark)
        assert (out["status"], out["resubmittable"]) == (status, again), (state, out)
    assert final_state("NODE_FAIL", {}, None, False, False)["reason"] == "node failure"
    assert final_state("FAILED", {"ExitCode": "1:0"}, None, False, False)["exit_code"] == 1
    assert final_state("CANCELLED", {"ExitCode": "0:15"}, None, False, False)["signal"] == "SIGTERM"


def test_slurm_options_are_checked_and_written(tmp_path):
    config = load_config(CONFIGS / "sft.toml", [
        "launch.launcher='slurm'", "launch.slurm.partition='gpu'", "launch.slurm.time='1-02:00:00'",
        "launch.slurm.nodes=2", "launch.slurm.gpus_per_node=4", "launch.num_processes=4", "launch.slurm.mem='64G'",
        "launch.slurm.account='proj'", "launch.slurm.qos='high'", "launch.slurm.sbatch_lines=['--exclusive']"]).data
    assert config["launch"]["num_machines"] == 2
    from workbench_plugins.launch_slurm.launcher import SlurmLauncher

    plan = SlurmLauncher().plan(tmp_path / "run", config)
    script = plan.files["slurm.sbatch"]
    for line in ("--partition=gpu", "--time=1-02:00:00", "--nodes=2", "--gpus-per-node=4", "--mem=64G",
                 "--account=proj", "--qos=high", "--exclusive", "--signal=B:USR1@120"):
        assert f"#SBATCH {line}\n" in script
    assert '--machine_rank "$SLURM_NODEID"' in script and 'head -n 1' in script
    assert plan.argv[0] == "sbatch" and plan.job.endswith(":SlurmJob")
    import yaml

    assert yaml.safe_load(plan.files["accelerate.yaml"])["num_processes"] == 8
    for bad, expected in ((["launch.slurm.time='2 hours'"], "is not a Slurm time"),
                          (["launch.slurm.partiton='gpu'"], "did you mean 'partition'"),
                          (["launch.machine_rank=0", "launch.main_process_ip='1.2.3.4'"], "set by Slurm"),
                          (["launch.num_machines=3", "launch.slurm.nodes=2"], "disagree")):
        with pytest.raises(ConfigError) as info:
            load_config(CONFIGS / "sft.toml", ["launch.launcher='slurm'", *bad])
        assert expected in str(info.value)

"""The Slurm launcher against a real one-node Slurm cluster (started by scripts/slurm_local.py).

The job handle is driven here the way the supervisor drives it: start(), then live()/poll()
until poll() returns the final state.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from tests.conftest import CONFIGS, REPO, metric_rows, wait_for
from workbench.config import load_config
from workbench.errors import ConfigError
from workbench.launching import LaunchPlan
from workbench.runs.store import Run, create_run
from workbench_plugins.launch_slurm.job import SlurmJob
from workbench_plugins.launch_slurm.states import final_state


@pytest.fixture(scope="module")
def slurm_cluster():
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "slurm_local.py"), "up"], capture_output=True,
                          text=True, timeout=1200)
    if proc.returncode == 3:
        pytest.skip(proc.stdout.strip())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


def slurm_run(workspace, *overrides: str) -> tuple[Run, SlurmJob]:
    config = load_config(CONFIGS / "sft.toml", ["launch.launcher='slurm'", *overrides])
    run = create_run(config, workspace)
    st = run.raw_status
    plan = LaunchPlan(argv=st["argv"], env=st["env"], job=st["job"])
    return run, handle(run, plan)


def handle(run: Run, plan: LaunchPlan, **extra_env: str) -> SlurmJob:
    env = dict(os.environ, **plan.env, PYTHONUNBUFFERED="1", WORKBENCH_RUN_DIR=str(run.dir),
               WORKBENCH_WORKSPACE=str(run.dir.parent.parent), OMP_NUM_THREADS="1", **extra_env)
    return SlurmJob(run, plan, env)


def supervise(run: Run, job: SlurmJob, timeout: float = 300, until=None):
    """Poll like the supervisor; returns (final, the (state, reason) sequence seen)."""
    seen: list[tuple[str, str | None]] = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        final = job.poll()
        if final is not None:
            run.update_status(**final)
            return final, seen
        live = job.live()
        run.update_status(**live)
        pair = (live["slurm_state"], live.get("queue_reason"))
        if not seen or seen[-1] != pair:
            seen.append(pair)
        if until is not None and until(run, seen):
            return None, seen
        time.sleep(0.3)
    subprocess.run(["scancel", str(job.job_id)])
    raise AssertionError(f"Slurm job {job.job_id} did not finish in {timeout}s: {seen}")


def steps(run: Run) -> list[int]:
    return [r["step"] for r in metric_rows(run.dir)]


def events(run: Run, name: str) -> list[dict]:
    return [e for e in run.events() if e.get("event") == name]


@pytest.mark.slow
def test_held_job_shows_its_reason_then_runs_and_completes(slurm_cluster, workspace):
    run, job = slurm_run(workspace, "trainer.args.max_steps=4", "launch.num_processes=2",
                         "launch.slurm.sbatch_lines=['--hold']", "launch.slurm.cpus_per_task=2")
    script = run.path("slurm.sbatch").read_text()
    assert "#SBATCH --hold" in script and "#SBATCH --cpus-per-task=2" in script
    fields = job.start()
    run.update_status(**fields)
    assert fields["slurm_job_id"].isdigit() and run.raw_status["slurm_job_id"] == fields["slurm_job_id"]
    live = wait_for(lambda: (f := job.live())["queue_reason"] and f, timeout=30, what="a pending reason")
    assert live["status"] == "queued" and live["slurm_state"] == "PENDING" and live["queue_reason"] == "JobHeldUser"
    subprocess.run(["scontrol", "release", job.job_id], check=True)
    final, seen = supervise(run, job)
    states = ["PENDING"] + [s for s, _ in seen]
    assert "RUNNING" in states and states.index("RUNNING") > 0, states      # pending -> running -> completed
    assert final["status"] == "completed" and final["exit_code"] == 0, final
    assert steps(run) == [1, 2, 3, 4]                     # one metrics stream from two ranks
    begin = events(run, "train_begin")
    assert len(begin) == 1 and begin[0]["world_size"] == 2
    assert (run.dir / "checkpoints" / "final" / "model.safetensors").exists()


@pytest.mark.slow
def test_stop_checkpoints_every_rank_then_resume_continues(slurm_cluster, workspace):
    run, job = slurm_run(workspace, "trainer.args.max_steps=5000", "trainer.args.save_steps=100000")
    run.update_status(**job.start())
    supervise(run, job, until=lambda r, seen: len(steps(r)) >= 3)
    job.stop(now=False)                                  # scancel --batch --signal=USR2
    final, _ = supervise(run, job)
    assert final["status"] == "stopped", final
    assert run.checkpoints(), "the graceful stop saves a checkpoint"
    stopped_at = int(run.checkpoints()[-1].name.split("-")[-1])
    assert events(run, "stopping")

    from workbench.supervisor import prepare_resume

    st = run.raw_status
    resumed = handle(run, LaunchPlan(argv=st["argv"], env=st["env"], job=st["job"]),
                     WORKBENCH_RESUME=prepare_resume(run))
    run.update_status(**resumed.start())
    supervise(run, resumed, until=lambda r, seen: max(steps(r), default=0) >= stopped_at + 3)
    resumed.stop(now=True)                               # scancel
    final, _ = supervise(run, resumed)
    assert final["status"] == "stopped" and "scancel" in final["reason"], final
    got = steps(run)
    assert got == list(range(1, len(got) + 1)), got      # continuous across the two jobs
    assert len(run.raw_status["slurm_job_ids"]) == 2


@pytest.mark.slow
def test_time_limit_checkpoints_and_resubmits_by_itself(slurm_cluster, workspace):
    run, job = slurm_run(workspace, "trainer.args.max_steps=100000", "trainer.args.save_steps=100000",
                         "launch.slurm.time='1'", "launch.slurm.signal_seconds=45", "launch.slurm.resubmit=1")
    run.update_status(**job.start())
    first = job.job_id
    supervise(run, job, timeout=240, until=lambda r, seen: events(r, "slurm_resubmitted"))
    resubmitted = events(run, "slurm_resubmitted")[0]
    assert resubmitted["previous_job_id"] == first and resubmitted["job_id"] == job.job_id != first
    assert "time limit" in resubmitted["reason"]
    at = int(resubmitted["checkpoint"].split("-")[-1])
    supervise(run, job, timeout=120, until=lambda r, seen: max(steps(r), default=0) >= at + 3)
    job.stop(now=True)
    supervise(run, job)
    got = steps(run)
    assert got == list(range(1, len(got) + 1)) and got[-1] > at
    assert [e["step"] for e in events(run, "resumed")] == [at]


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

"""Per-machine status of a multi-machine run, and a dead machine failing its peers."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.conftest import wait_for
from workbench.launching.machines import machine_argv, peer_failure, read_machines, write_machine


def test_machine_rank_is_passed_to_accelerate_launch():
    argv = ["/venv/bin/accelerate", "launch", "--config_file", "a.yaml", "-m", "workbench.worker", "RUN"]
    assert machine_argv(argv, 0) == argv
    assert machine_argv(argv, 2) == ["/venv/bin/accelerate", "launch", "--machine_rank", "2", "--config_file",
                                     "a.yaml", "-m", "workbench.worker", "RUN"]


def test_a_failed_or_silent_machine_fails_its_peers(tmp_path):
    assert [m["status"] for m in read_machines(tmp_path, 2)] == ["waiting", "waiting"]
    write_machine(tmp_path, 0, status="running")
    write_machine(tmp_path, 1, status="running")
    assert peer_failure(tmp_path, 0, 2) is None
    write_machine(tmp_path, 1, status="failed", reason="killed by SIGKILL")
    assert "machine 1" in peer_failure(tmp_path, 0, 2) and "SIGKILL" in peer_failure(tmp_path, 0, 2)
    write_machine(tmp_path, 1, status="running")
    assert peer_failure(tmp_path, 0, 2, now=time.time() + 30) .startswith("machine 1")   # no heartbeat
    write_machine(tmp_path, 1, status="completed")
    assert peer_failure(tmp_path, 0, 2, now=time.time() + 30) is None                    # finished is fine


@pytest.mark.slow
def test_two_machine_run_on_localhost_has_one_metrics_stream(workspace):
    """Machine 0 through `workbench run`; machine 1 runs the run's own command with --machine_rank 1 (gloo)."""
    from tests.conftest import CONFIGS, cli, metric_rows, status_of
    from workbench.runs.store import list_runs

    from workbench.launching.accelerate_config import free_port

    result = cli("run", str(CONFIGS / "sft.toml"), "--detach", "--set", "launch.num_machines=2",
                 "--set", f"launch.main_process_port={free_port()}",
                 "--set", "launch.main_process_ip='127.0.0.1'", "--set", "trainer.args.max_steps=6")
    assert result.returncode == 0, result.stderr
    run = list_runs(workspace)[0]
    argv = machine_argv(run.launch_plan()["argv"], 1)
    env = dict(os.environ, **run.launch_plan()["env"], WORKBENCH_RUN_DIR=str(run.dir), OMP_NUM_THREADS="1")
    second = subprocess.run(argv, cwd=run.dir, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    st = wait_for(lambda: (s := status_of(run.dir))["status"] in ("completed", "failed") and s, timeout=120,
                  what="machine 0 finishes")
    assert st["status"] == "completed" and st["world_size"] == 2
    assert [r["step"] for r in metric_rows(run.dir)] == list(range(1, 7))
    assert [e["world_size"] for e in run.events() if e["event"] == "train_begin"] == [2]

"""A run on several machines: one supervisor per machine, per-machine status, a dead machine
failing its peers, stop and resume across machines.

The end-to-end tests run two "machines" on localhost (two supervised launches, ranks 0 and 1,
gloo over 127.0.0.1, a free main_process_port), both on the same run directory, as two hosts
on a shared filesystem would.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.conftest import CONFIGS, cli, metric_rows, status_of, wait_for
from workbench.launching.machines import (PeerWatch, claim, machine_argv, peer_failure, per_machine, read_machines,
                                          run_verdict, write_machine)
from workbench.runs.store import FINAL, Run

ONE_THREAD = {"OMP_NUM_THREADS": "1"}


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


def test_a_machine_file_of_an_earlier_attempt_does_not_fail_a_resumed_run(tmp_path):
    """A machine that failed in attempt 1 must not fail attempt 2 before it has even joined."""
    write_machine(tmp_path, 1, status="failed", reason="killed by SIGKILL", attempt=1)
    write_machine(tmp_path, 0, status="running", attempt=2)
    watch = PeerWatch(tmp_path, 0, 2, attempt=2)
    assert watch.failure() is None and watch.machines()[1]["status"] == "waiting"
    assert "SIGKILL" in PeerWatch(tmp_path, 0, 2, attempt=1).failure()


def test_silence_is_judged_on_this_machines_clock(tmp_path):
    """A peer whose clock is an hour behind still counts as alive while its heartbeat changes."""
    write_machine(tmp_path, 0, status="running", attempt=1)
    write_machine(tmp_path, 1, status="running", attempt=1, heartbeat=time.time() - 3600)
    watch = PeerWatch(tmp_path, 0, 2, attempt=1, stale_s=10)
    assert watch.failure(now=100.0) is None            # first sight: not silent, however old its clock
    assert watch.failure(now=105.0) is None
    assert "stopped answering (no heartbeat for 11 s)" in watch.failure(now=111.0)
    write_machine(tmp_path, 1, status="running")       # a new heartbeat: alive again
    assert watch.failure(now=112.0) is None


def test_the_run_names_the_first_machine_that_failed_on_its_own():
    machines = [
        {"rank": 0, "host": "a", "status": "failed", "reason": "machine 1 (b) failed: killed by SIGKILL",
         "peer_caused": True, "ended": 10.0, "exit_code": -15, "signal": "SIGTERM"},
        {"rank": 1, "host": "b", "status": "failed", "reason": "killed by SIGKILL", "ended": 11.0, "exit_code": -9,
         "signal": "SIGKILL"},
        {"rank": 2, "host": "c", "status": "failed", "reason": "exit code 1", "ended": 12.0, "exit_code": 1},
    ]
    verdict = run_verdict(machines)
    assert verdict["status"] == "failed" and verdict["failed_machine"] == 1
    assert verdict["reason"] == "machine 1 (b) failed: killed by SIGKILL" and verdict["signal"] == "SIGKILL"
    assert run_verdict([{"rank": 0, "status": "completed"}, {"rank": 1, "status": "completed"}]) == {}
    # a machine that went silent only after the run completed does not fail it
    assert run_verdict([{"rank": 0, "status": "completed"}, {"rank": 1, "status": "lost"}]) == {}
    assert run_verdict([{"rank": 0, "status": "stopped"}, {"rank": 1, "status": "lost", "host": "b",
                                                           "reason": "did not report"}])["failed_machine"] == 1



def test_a_machine_whose_job_died_of_the_first_failure_on_its_own_is_listed_as_caused_by_it():
    """Was (a race seen in CI): machine 0's rank died of gloo's 'Connection closed by peer' before its
    supervisor saw machine 1 fail, and status.json's machines listed that error as machine 0's own cause."""
    from workbench.launching.machines import attributed

    machines = [
        {"rank": 0, "host": "a", "status": "failed", "reason": "RuntimeError: Connection closed by peer",
         "ended": 11.5, "exit_code": 1},
        {"rank": 1, "host": "b", "status": "failed", "reason": "killed by SIGKILL", "ended": 11.0, "exit_code": -9},
        {"rank": 2, "host": "c", "status": "completed", "ended": 12.0, "exit_code": 0},
    ]
    listed = attributed(machines)
    assert listed[0]["peer_caused"] and listed[0]["reason"] == (
        "machine 1 (b) failed: killed by SIGKILL; its job: RuntimeError: Connection closed by peer")
    assert listed[1] == machines[1] and listed[2] == machines[2]      # the cause and a healthy machine as they were
    assert run_verdict(listed) == run_verdict(machines)              # the run's verdict does not change
    earlier = attributed([{**machines[0], "ended": 10.0}, machines[1]])  # machine 0 failed first: its own cause
    assert earlier[0]["reason"] == "RuntimeError: Connection closed by peer" and not earlier[0].get("peer_caused")
    assert earlier[1]["reason"].startswith("machine 0 (a) failed: RuntimeError") and earlier[1]["peer_caused"]

def test_one_machine_rank_per_attempt_across_hosts(tmp_path):
    """flock does not work across NFS clients: the claim is an exclusive create."""
    assert claim(tmp_path, 1, 1, {"host": "b", "pid": 7}) is None
    assert claim(tmp_path, 1, 1, {"host": "c", "pid": 8}) == {"host": "b", "pid": 7}
    assert claim(tmp_path, 1, 2, {"host": "c", "pid": 8}) is None       # the next attempt is free again
    assert per_machine("supervisor.lock", 0) == "supervisor.lock"
    assert [per_machine(n, 2) for n in ("supervisor.lock", "job.lock", "supervisor.log", "gpu.jsonl")] == [
        "supervisor.2.lock", "job.2.lock", "supervisor.2.log", "gpu.2.jsonl"]


def test_join_refuses_runs_it_cannot_join(workspace):
    one = cli("run", str(CONFIGS / "sft.toml"), "--machine-rank", "1")
    assert one.returncode == 2 and "launch.num_machines = 1" in one.stderr, one.stderr
    two = cli("run", str(CONFIGS / "sft.toml"), "--machine-rank", "1", "--join-wait", "0",
              "--set", "launch.num_machines=2", "--set", "launch.main_process_ip='127.0.0.1'")
    assert two.returncode == 2 and "no run of" in two.stderr and "waiting for machine 1" in two.stderr, two.stderr
    assert len(two.stderr.strip().splitlines()) <= 3 and "Traceback" not in two.stderr


# --- two machines on localhost ---------------------------------------------------------------------
def machine_sets(port: int, steps: int, *extra: str) -> list[str]:
    out = []
    for item in ("launch.num_machines=2", "launch.main_process_ip='127.0.0.1'", f"launch.main_process_port={port}",
                 f"trainer.args.max_steps={steps}", *extra):
        out += ["--set", item]
    return out


def start_two(workspace, steps: int, *extra: str) -> Run:
    """Machine 0 by `workbench run`, machine 1 by `workbench join RUN --machine-rank 1`."""
    from workbench.launching.accelerate_config import free_port

    sets = machine_sets(free_port(), steps, *extra)
    first = cli("run", str(CONFIGS / "sft.toml"), "--detach", *sets, env=ONE_THREAD)
    assert first.returncode == 0, first.stderr
    run = Run(workspace / "runs" / first.stdout.strip().splitlines()[-1])
    second = cli("join", run.id, "--machine-rank", "1", "--detach", env=ONE_THREAD)
    assert second.returncode == 0, second.stderr
    assert f"machine 1 joined {run.id}" in second.stderr
    return run


def machine(run: Run, rank: int) -> dict:
    return json.loads(run.path(f"machines/{rank}.json").read_text())


def steps(run: Run) -> list[int]:
    return [r["step"] for r in metric_rows(run.dir)]


def wait_final(run: Run, timeout: float = 300) -> dict:
    return wait_for(lambda: (s := status_of(run.dir))["status"] in FINAL and s, timeout=timeout, what="final status")


def stop_all(run: Run) -> None:
    from workbench.supervisor import group_members

    for rank in (0, 1):
        try:
            pgid = machine(run, rank).get("job_pgid")
        except (OSError, ValueError):
            continue
        for pid in group_members(pgid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.mark.slow
def test_two_machine_run_on_localhost_has_one_metrics_stream(workspace):
    """Was: machine 1 had no supervisor (a bare `accelerate launch --machine_rank 1` by hand): nobody
    watched it, and the run directory did not know it existed."""
    from workbench.launching.accelerate_config import free_port

    sets = machine_sets(free_port(), 6)
    first = cli("run", str(CONFIGS / "sft.toml"), "--detach", *sets, env=ONE_THREAD)
    assert first.returncode == 0, first.stderr
    run = Run(workspace / "runs" / first.stdout.strip().splitlines()[-1])
    # machine 1: the same config and --machine-rank 1 finds the run machine 0 started, and follows it
    second = cli("run", str(CONFIGS / "sft.toml"), "--machine-rank", "1", *sets, env=ONE_THREAD)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"machine 1 joined {run.id}" in second.stderr and "step 6/6" in second.stdout
    st = wait_final(run, 120)
    assert st["status"] == "completed" and st["world_size"] == 2, st
    assert steps(run) == list(range(1, 7))                               # one stream, from global rank 0
    assert [e["world_size"] for e in run.events() if e["event"] == "train_begin"] == [2]
    assert [(m["rank"], m["status"], m["exit_code"]) for m in st["machines"]] == [(0, "completed", 0),
                                                                                  (1, "completed", 0)]
    m1 = machine(run, 1)
    assert m1["pid"] != st["supervisor_pid"] and m1["attempt"] == 1 and m1["job_pid"]
    assert st["supervisor_pid"] == machine(run, 0)["pid"]                # status.json is machine 0's alone
    assert run.path("console.1.log").stat().st_size > 0                  # machine 1's output, apart
    assert run.path("supervisor.1.log").exists() and run.path("supervisor.1.lock").exists()
    shown = cli("show", run.id)
    assert shown.returncode == 0
    lines = [ln.strip() for ln in shown.stdout.splitlines()]
    assert any(ln.startswith("machine 0 ") and "completed" in ln for ln in lines), shown.stdout
    assert any(ln.startswith("machine 1 ") and "completed" in ln for ln in lines), shown.stdout
    again = cli("join", run.id, "--machine-rank", "1")
    assert again.returncode == 2 and "is completed" in again.stderr, again.stderr


@pytest.mark.slow
def test_stop_and_resume_across_both_machines_keeps_steps_continuous(workspace):
    run = start_two(workspace, 400, "trainer.args.save_steps=100000")
    try:
        refused = cli("join", run.id, "--machine-rank", "1")
        assert refused.returncode == 2 and "already" in refused.stderr, refused.stderr   # one machine 1 per attempt
        wait_for(lambda: len(steps(run)) >= 3, timeout=240, what="3 steps")
        assert cli("stop", "--wait", run.id).returncode == 0
        st = wait_final(run)
        assert st["status"] == "stopped", st
        assert [m["status"] for m in st["machines"]] == ["stopped", "stopped"], st["machines"]
        stopped_at = int(run.checkpoints()[-1].name.split("-")[-1])
        assert steps(run) == list(range(1, stopped_at + 1))

        resumed = cli("resume", "--detach", run.id, env=ONE_THREAD)
        assert resumed.returncode == 0, resumed.stderr
        joined = cli("join", run.id, "--detach", env=ONE_THREAD)       # the lowest rank not joined yet: 1
        assert joined.returncode == 0 and f"machine 1 joined {run.id} from checkpoint-{stopped_at}" in joined.stderr
        wait_for(lambda: max(steps(run), default=0) >= stopped_at + 3, timeout=240, what="steps after the resume")
        assert machine(run, 0)["resume_checkpoint"] == machine(run, 1)["resume_checkpoint"]
        assert machine(run, 1)["resume_checkpoint"].endswith(f"checkpoint-{stopped_at}")
        assert cli("stop", "--wait", run.id).returncode == 0
        st = wait_final(run)
        assert st["status"] == "stopped" and st["attempt"] == 2, st
        assert [(m["status"], m["attempt"]) for m in st["machines"]] == [("stopped", 2), ("stopped", 2)]
        got = steps(run)
        assert got == list(range(1, len(got) + 1)) and got[-1] > stopped_at + 2, got
        assert [e["step"] for e in run.events() if e["event"] == "resumed"] == [stopped_at]
    finally:
        stop_all(run)


def alive(pids: list[int]) -> list[int]:
    import psutil

    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.Error:
            continue
    return out


@pytest.mark.slow
def test_a_killed_machine_fails_the_run_on_every_machine_within_seconds(workspace):
    """Was: nothing watched machine 1; machine 0's ranks waited in a collective for its timeout (30 min).
    And a launcher killed by SIGKILL left its rank training: torch's launcher starts each rank in a
    session of its own, out of the process group the supervisor kills."""
    run = start_two(workspace, 400, "trainer.args.save_steps=100000")
    try:
        wait_for(lambda: len(steps(run)) >= 3, timeout=240, what="3 steps")
        wait_for(lambda: len(machine(run, 1).get("job_pids") or []) >= 2 and len(status_of(run.dir)["job_pids"]) >= 2,
                 timeout=30, what="each machine's launcher and rank in its file")
        every = machine(run, 1)["job_pids"] + status_of(run.dir)["job_pids"]
        os.killpg(machine(run, 1)["job_pgid"], signal.SIGKILL)        # machine 1's launcher dies
        st = wait_for(lambda: (s := status_of(run.dir))["status"] in FINAL and s, timeout=60,
                      what="machine 0 to fail the run")
        assert st["status"] == "failed", st
        assert st["reason"].startswith("machine 1 ") and "killed by SIGKILL" in st["reason"], st["reason"]
        assert st["signal"] == "SIGKILL"
        by_rank = {m["rank"]: m for m in st["machines"]}
        assert by_rank[1]["status"] == "failed" and by_rank[1]["signal"] == "SIGKILL"
        assert by_rank[0]["status"] == "failed" and "machine 1" in by_rank[0]["reason"]
        assert not alive(every), "a rank of either machine outlived the run"
        ended = [e for e in run.events() if e["event"] == "ended"]
        assert ended and ended[-1]["status"] == "failed"
    finally:
        stop_all(run)

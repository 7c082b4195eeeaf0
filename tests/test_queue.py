"""The GPU queue: queued runs on a (fake) one-GPU box start one after another, in order."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CONFIGS, cli, metric_rows, status_of, wait_for
from workbench.runs.store import list_runs


@pytest.fixture
def one_gpu_box(workspace, tmp_path, monkeypatch):
    spec = tmp_path / "one-gpu.json"
    spec.write_text(json.dumps({"gpus": [{"name": "NVIDIA H100 80GB HBM3", "mem_used_bytes": 0,
                                          "util_percent": 0, "processes": []}]}))
    monkeypatch.setenv("WORKBENCH_FAKE_GPUS", str(spec))
    return workspace


def run_named(workspace, name):
    return next(r.dir for r in list_runs(workspace) if r.raw_status.get("name") == name)


@pytest.mark.slow
def test_queued_runs_start_one_after_another_in_order_and_a_cancelled_one_never_starts(one_gpu_box):
    ws = one_gpu_box
    # A run already on GPU 0 (not queued): the queue must wait for it.
    busy = cli("run", str(CONFIGS / "sft.toml"), "--detach", "--name", "busy", "--set", "trainer.args.max_steps=3000",
               "--set", "trainer.args.save_steps=100000")
    assert busy.returncode == 0, busy.stderr
    for name in ("a", "b", "c", "d"):
        result = cli("run", str(CONFIGS / "sft.toml"), "--queue", "--detach", "--name", name,
                     "--set", "trainer.args.max_steps=3")
        assert result.returncode == 0, result.stderr
    wait_for(lambda: all(status_of(run_named(ws, n)).get("supervisor_pid") for n in "abcd"), what="supervisors")
    listed = json.loads(cli("queue", "--json").stdout)
    assert [r["name"] for r in listed] == ["a", "b", "c", "d"] and listed[0]["gpus"] == "any 1"
    assert all(status_of(run_named(ws, n))["status"] == "queued" for n in "abcd")

    assert cli("queue", "top", run_named(ws, "d").name).returncode == 0
    assert cli("queue", "cancel", run_named(ws, "c").name).returncode == 0
    names = [r["name"] for r in json.loads(cli("queue", "--json").stdout)]
    # c is listed last until its supervisor has taken the cancel (how soon depends on the machine's load)
    assert names[:3] == ["d", "a", "b"] and names[3:] in ([], ["c"]), names
    assert all(status_of(run_named(ws, n))["status"] == "queued" for n in "abd")   # still waiting for GPU 0

    stop = cli("stop", "--now", run_named(ws, "busy").name)
    assert stop.returncode == 0, stop.stderr
    final = {}
    for name in "dab":
        final[name] = wait_for(lambda: (s := status_of(run_named(ws, name)))["status"] in
                               ("completed", "failed", "stopped", "lost") and s, timeout=300, what=f"run {name}")
    assert all(final[n]["status"] == "completed" for n in "dab"), final
    order = sorted("dab", key=lambda n: final[n]["started"])
    assert order == ["d", "a", "b"]
    for first, then in zip(order, order[1:]):          # one after another: never two on the GPU
        assert final[then]["started"] >= final[first]["ended"], (first, then)
    assert all(final[n]["queue_gpus"] == [0] and final[n]["cuda_visible_devices"] == "0" for n in "dab")

    cancelled = wait_for(lambda: (s := status_of(run_named(ws, "c")))["status"] != "queued" and s, what="c ends")
    assert cancelled["status"] == "stopped" and cancelled["reason"] == "cancelled while queued"
    assert not cancelled.get("job_pid") and not cancelled.get("started")
    assert metric_rows(run_named(ws, "c")) == []
    assert json.loads(cli("queue", "--json").stdout) == []


def test_queue_list_writes_waiting_times_with_the_one_duration_formatter(workspace):
    """Was: `workbench queue` printed '3725s' where ls/show/the TUI write durations as 1h02m."""
    import os
    import time

    from workbench.runs.store import process_start_time

    run_dir = workspace / "runs" / "20250101-000000-waiting"
    run_dir.mkdir(parents=True)
    (run_dir / "job.toml").write_text('[launch]\nnum_processes = 1\ngpu_ids = "all"\n')
    (run_dir / "status.json").write_text(json.dumps({
        "id": run_dir.name, "status": "queued", "queue": True, "queue_order": 1.0, "created": time.time() - 3725,
        "supervisor_pid": os.getpid(), "supervisor_start": process_start_time(os.getpid())}))
    out = cli("queue").stdout.splitlines()
    assert out[1].split() == ["0", run_dir.name, "any", "1", "1h02m"], out

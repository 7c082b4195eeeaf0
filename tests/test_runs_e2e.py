"""End-to-end runs through the real CLI, supervisor, accelerate launch and TRL (CPU)."""

from __future__ import annotations

import json
import os
import signal

import psutil
import pytest

from tests.conftest import CONFIGS, cli, leaky_trainer, metric_rows, status_of, wait_for
from workbench.runs.store import list_runs

pytestmark = pytest.mark.slow


def only_run(workspace):
    runs = list_runs(workspace)
    assert len(runs) == 1, [r.id for r in runs]
    return runs[0].dir


def assert_steps_continuous(run_dir, max_steps):
    steps = [r["step"] for r in metric_rows(run_dir)]
    assert steps == list(range(1, max_steps + 1)), steps


def test_demo_headless_completes_and_loss_falls(workspace):
    result = cli("demo", "--headless")
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = only_run(workspace)
    assert status_of(run_dir)["status"] == "completed"
    losses = [r["loss"] for r in metric_rows(run_dir)]
    assert len(losses) >= 20
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first * 0.7, (first, last)
    assert "completed" in result.stdout


@pytest.mark.parametrize("preset", ["sft", "sft-lora", "sft-qlora"])
def test_sft_presets_complete(workspace, preset):
    result = cli("run", str(CONFIGS / f"{preset}.toml"), "--set", "trainer.args.max_steps=8")
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = only_run(workspace)
    st = status_of(run_dir)
    assert st["status"] == "completed" and st["exit_code"] == 0
    assert [r["step"] for r in metric_rows(run_dir)] == list(range(1, 9))
    final = run_dir / "checkpoints" / "final"
    if preset == "sft":
        assert (final / "model.safetensors").exists()
    else:
        assert (final / "adapter_model.safetensors").exists()
        assert not (final / "model.safetensors").exists()
    job = (run_dir / "job.toml").read_text()
    assert "trust_remote_code = false" in job


def test_lora_adapter_loads_back_and_changes_outputs(workspace):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.conftest import MODEL

    result = cli("run", str(CONFIGS / "sft-lora.toml"), "--set", "trainer.args.max_steps=10")
    assert result.returncode == 0, result.stderr
    adapter = only_run(workspace) / "checkpoints" / "final"
    base = AutoModelForCausalLM.from_pretrained(MODEL)
    tok = AutoTokenizer.from_pretrained(MODEL)
    ids = tok("What is 2 plus 3?", return_tensors="pt").input_ids
    with torch.no_grad():
        before = base(ids).logits
        model = PeftModel.from_pretrained(base, adapter)
        after = model(ids).logits
    assert model.peft_config["default"].r == 16
    assert not torch.allclose(before, after), "the trained adapter must change the model's outputs"


def test_two_process_run_records_world_size_and_no_duplicate_metrics(workspace):
    result = cli("run", str(CONFIGS / "sft.toml"), "--set", "launch.num_processes=2", "--set", "trainer.args.max_steps=6")
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = only_run(workspace)
    st = status_of(run_dir)
    assert st["status"] == "completed" and st["world_size"] == 2
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    begin = [e for e in events if e["event"] == "train_begin"]
    assert len(begin) == 1 and begin[0]["world_size"] == 2
    assert_steps_continuous(run_dir, 6)
    assert "MULTI_GPU" in (run_dir / "accelerate.yaml").read_text()


def start_long_run(workspace, steps=3000, extra=()):
    result = cli("run", str(CONFIGS / "sft.toml"), "--detach", "--set", f"trainer.args.max_steps={steps}",
                 "--set", "trainer.args.save_steps=100000", *extra)
    assert result.returncode == 0, result.stderr
    run_dir = only_run(workspace)
    wait_for(lambda: len(metric_rows(run_dir)) >= 3, timeout=180, what="training to start")
    return run_dir


def worker_pid(run_dir) -> int:
    for pid in status_of(run_dir).get("job_pids", []):
        try:
            if "workbench.worker" in " ".join(psutil.Process(pid).cmdline()):
                return pid
        except psutil.Error:
            continue
    raise AssertionError("no worker process found")


def test_kill_9_of_worker_is_failed_with_signal(workspace):
    run_dir = start_long_run(workspace)
    wait_for(lambda: worker_pid(run_dir), what="worker pid in status.json")
    os.kill(worker_pid(run_dir), signal.SIGKILL)
    # The supervisor notices at once; the bound is generous so a loaded CI box cannot flake it.
    st = wait_for(lambda: (s := status_of(run_dir))["status"] in ("failed", "completed") and s, timeout=60,
                  what="final status")
    assert st["status"] == "failed"
    assert st["signal"] == "SIGKILL"


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_kill_9_of_supervisor_is_lost(workspace):
    run_dir = start_long_run(workspace)
    sup = status_of(run_dir)["supervisor_pid"]
    job = status_of(run_dir)["job_pgid"]
    os.kill(sup, signal.SIGKILL)
    try:
        st = wait_for(lambda: (s := status_of(run_dir))["status"] == "lost" and s, timeout=15, what="lost")
        assert st["reason"]
        assert json.loads((run_dir / "status.json").read_text())["status"] in ("running", "stopping")
        listed = json.loads(cli("ls", "--json").stdout)
        assert listed[0]["status"] == "lost"
        # The job outlived its supervisor; `stop --now` still reaches it through its process group.
        assert "terminated the job" in cli("stop", run_dir.name, "--now").stdout
        wait_for(lambda: not any(alive(p) for p in status_of(run_dir).get("job_pids", [])), timeout=30,
                 what="job gone")
    finally:
        try:
            os.killpg(job, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_stop_then_resume_is_continuous(workspace):
    max_steps = 400
    run_dir = start_long_run(workspace, steps=max_steps)
    stop = cli("stop", run_dir.name, "--wait")
    assert stop.returncode == 0, stop.stderr
    st = status_of(run_dir)
    assert st["status"] == "stopped", st
    rows = metric_rows(run_dir)
    stopped_at = rows[-1]["step"]
    assert stopped_at < max_steps
    assert (run_dir / "checkpoints" / f"checkpoint-{stopped_at}").is_dir()
    events = [json.loads(line)["event"] for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert "checkpoint" in events and "stop_requested" in events

    resumed = cli("resume", run_dir.name)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert status_of(run_dir)["status"] == "completed"
    assert_steps_continuous(run_dir, max_steps)
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    assert any(e["event"] == "resumed" and e["step"] == stopped_at for e in events)


def test_secrets_never_land_in_the_run_directory(workspace):
    secret = "hf_TopSecretValue123456"
    config, plugin_dir = leaky_trainer(workspace, build="    print('token is', os.environ['HF_TOKEN'], flush=True)\n"
                                                         "    raise SystemExit(0)\n")
    result = cli("run", str(config), env={"HF_TOKEN": secret, "PYTHONPATH": str(plugin_dir)})
    run_dir = only_run(workspace)
    assert "token is ***" in (run_dir / "console.log").read_text()
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path
    assert result.returncode != 0  # the leaky trainer never trains


@pytest.mark.slow
def test_gpu_samples_are_of_the_jobs_own_gpus(workspace):
    """Was: the supervisor sampled the GPUs named by its own CUDA_VISIBLE_DEVICES, not the job's, so a
    run given GPU 1 by launch.env (or by the GPU queue) recorded every GPU of the machine in gpu.jsonl."""
    result = cli("run", str(CONFIGS / "sft.toml"), "--set", "trainer.args.max_steps=3",
                 "--set", "launch.env={CUDA_VISIBLE_DEVICES = \"1\"}",
                 env={"WORKBENCH_FAKE_GPUS": "2", "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in (only_run(workspace) / "gpu.jsonl").read_text().splitlines()]
    assert rows and {r["index"] for r in rows} == {1}, rows[:3]


@pytest.mark.slow
def test_a_secret_plugin_setting_from_the_environment_never_lands_in_the_run_directory(workspace):
    """Was: only secret-*named* variables were redacted, so the docs' own `webhook = "$env:SLACK_WEBHOOK"`
    reached events.jsonl, console.log and supervisor.log in clear when the plugin's request failed."""
    hook = "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXX"
    (workspace / ".workbench").mkdir(parents=True, exist_ok=True)
    (workspace / ".workbench" / "settings.toml").write_text('[plugin.leaky]\nwebhook = "$env:SLACK_WEBHOOK"\n')
    config, plugin_dir = leaky_trainer(
        workspace,
        build="    from workbench.settings import plugin_settings\n"
              "    print('posting to', plugin_settings('leaky')['webhook'], flush=True)\n"
              "    raise SystemExit(0)\n",
        hooks="@hookimpl\n"
              "def run_finished(run):\n"
              "    from workbench.settings import plugin_settings\n"
              "    url = plugin_settings('leaky')['webhook']\n"
              "    print('notifying', url)\n"
              "    raise RuntimeError('404 Client Error for url: ' + url)\n")
    cli("run", str(config), env={"SLACK_WEBHOOK": hook, "PYTHONPATH": str(plugin_dir)})
    run_dir = only_run(workspace)
    wait_for(lambda: any(e.get("event") == "plugin_error" for e in
                         (json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines())),
             timeout=60, what="the hook's plugin_error event")
    assert "posting to ***" in (run_dir / "console.log").read_text()
    assert "404 Client Error for url: ***" in (run_dir / "events.jsonl").read_text()
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert hook not in path.read_text(errors="replace"), path


@pytest.mark.slow
def test_a_stop_now_request_file_alone_ends_the_job_at_once(workspace):
    """`stop --now` from another machine can only write stop.request {"now": true} (it cannot signal
    the supervisor). Was: machine 0's supervisor read that as a graceful stop."""
    from workbench.runs.store import Run

    run_dir = start_long_run(workspace, extra=("--set", "run.stop_grace_seconds=3600"))
    assert Run(run_dir).write_stop_request(now=True) is None
    st = wait_for(lambda: (s := status_of(run_dir))["status"] in ("stopped", "failed", "completed") and s,
                  timeout=120, what="final status")
    assert st["status"] == "stopped" and st["reason"] == "on request, killed", st

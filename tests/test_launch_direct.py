"""One-process jobs run the worker directly with the environment `accelerate launch` would set."""

from __future__ import annotations

import json
import os
import shlex
import sys

import pytest
import yaml

from tests.conftest import CONFIGS, cli, metric_rows, status_of
from workbench.config import load_config
from workbench.launching.accelerate_config import launch_files
from workbench.launching.direct import direct_argv, direct_env
from workbench.runs.store import Run, list_runs


def accelerate_simple_launch(yaml_path, run_dir):
    """cmd and the variables accelerate's own simple launcher sets (from os.environ and the config file)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_simple_launcher_cmd_env

    args = launch_command_parser().parse_args(["--config_file", str(yaml_path), "-m", "workbench.worker", str(run_dir)])
    args, _, _ = _validate_launch_command(args)
    assert not (args.multi_gpu or args.use_fsdp or args.use_deepspeed)   # the simple launcher's case
    cmd, env = prepare_simple_launcher_cmd_env(args)
    changed = {k: v for k, v in env.items() if os.environ.get(k) != v}
    return cmd, {**changed, "OMP_NUM_THREADS": env["OMP_NUM_THREADS"]}   # set even when it equals the caller's


@pytest.mark.parametrize("overrides, environ", [
    ([], {}),
    (["launch.mixed_precision='bf16'", "launch.gpu_ids='1'"], {"OMP_NUM_THREADS": "3"}),
    (["launch.mixed_precision='fp16'", "launch.gpu_ids='2,0'"], {}),
])
def test_direct_env_is_what_accelerate_launch_sets(tmp_path, monkeypatch, overrides, environ):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    # bf16/fp16 on this CPU machine: the env is what matters here, not whether SFTConfig would train
    config = load_config(CONFIGS / "sft.toml", overrides, deep=False).data
    run = tmp_path / "run"
    run.mkdir()
    files = launch_files(config, run)
    (run / "accelerate.yaml").write_text(files["accelerate.yaml"])
    cmd, expected = accelerate_simple_launch(run / "accelerate.yaml", run)
    ours = direct_env(yaml.safe_load(files["accelerate.yaml"]))
    assert ours == expected
    assert cmd == direct_argv(run) == [sys.executable, "-m", "workbench.worker", str(run)]



def test_direct_plan_keeps_the_thread_count_set_in_launch_env(tmp_path, monkeypatch):
    """`accelerate launch` takes OMP_NUM_THREADS from the job's environment, launch.env included.
    Was: the direct plan computed it from the shell's environment only and overrode launch.env's."""
    from workbench_plugins.launch_local.launcher import LocalLauncher

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    config = load_config(CONFIGS / "sft.toml", ["launch.env={OMP_NUM_THREADS = \"3\"}"], deep=False).data
    plan = LocalLauncher().plan(tmp_path / "run", config)
    assert plan.argv[:3] == [sys.executable, "-m", "workbench.worker"] and plan.env["OMP_NUM_THREADS"] == "3"

@pytest.mark.slow
def test_direct_run_trains_exactly_like_accelerate_launch(workspace):
    steps = "trainer.args.max_steps=6"
    direct = cli("run", str(CONFIGS / "sft.toml"), "--set", steps, "--name", "direct")
    assert direct.returncode == 0, direct.stderr
    # Extra accelerate arguments keep `accelerate launch` (the same accelerate.yaml).
    launched = cli("run", str(CONFIGS / "sft.toml"), "--set", steps, "--set", "launch.accelerate_args=['--quiet']",
                   "--name", "launched")
    assert launched.returncode == 0, launched.stderr
    runs = {r.raw_status["name"]: r.dir for r in list_runs(workspace)}
    a, b = runs["direct"], runs["launched"]
    assert Run(a).launch_plan()["argv"][:3] == [sys.executable, "-m", "workbench.worker"]
    assert os.path.basename(Run(b).launch_plan()["argv"][0]) == "accelerate"
    script = (a / "command.sh").read_text()
    assert f"exec {shlex.join([sys.executable, '-m', 'workbench.worker', str(a)])}" in script
    assert "export ACCELERATE_MIXED_PRECISION=no" in script and "export ACCELERATE_USE_CPU=False" in script

    loss_a = [(r["step"], r["loss"]) for r in metric_rows(a)]
    loss_b = [(r["step"], r["loss"]) for r in metric_rows(b)]
    assert len(loss_a) == 6 and loss_a == loss_b        # identical, step by step

    def placement(run_dir):
        events = [json.loads(x) for x in (run_dir / "events.jsonl").read_text().splitlines()]
        ready = next(e for e in events if e["event"] == "data_ready")
        dist = next(e for e in events if e["event"] == "distributed")
        return ready["mixed_precision"], ready["device"], ready["world_size"], dist["effective"]

    assert placement(a) == placement(b)
    assert status_of(a)["status"] == status_of(b)["status"] == "completed"

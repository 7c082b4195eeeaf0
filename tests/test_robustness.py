"""Abuse of the CLI and the run lifecycle: every failure is one clear line, nothing half-made on disk."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import CONFIGS, DATA, MODEL, cli


def sft_config(folder: Path, **replace: str) -> Path:
    """The sft preset written into `folder`, with its relative paths pointing at the bundled files."""
    text = (CONFIGS / "sft.toml").read_text().replace("../models/tiny-llama", str(MODEL)).replace("../data", str(DATA))
    for old, new in replace.items():
        text = text.replace(old, new)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "job.toml"
    path.write_text(text)
    return path


def one_error_line(result) -> str:
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


# --- a runs folder holding things that are not runs ---------------------------------------------

@pytest.mark.parametrize("content", ["[1, 2]", '"text"', "{bad json", '{"status": "running", "created": "yesterday"}'])
def test_ls_and_show_survive_a_damaged_status_json(workspace, content):
    damaged = workspace / "runs" / "damaged"
    damaged.mkdir(parents=True)
    (damaged / "status.json").write_text(content)
    (workspace / "runs" / "stray.txt").write_text("not a run")
    good = workspace / "runs" / "20260101-000000-good"
    good.mkdir()
    (good / "status.json").write_text(json.dumps({"status": "completed", "created": 1.0, "trainer": "sft"}))

    listed = cli("ls")
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    assert "damaged" in listed.stdout and "20260101-000000-good" in listed.stdout
    shown = cli("show", "damaged")
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
    assert cli("show", "good").returncode == 0


# --- model paths -------------------------------------------------------------------------------

def test_hub_model_id_with_a_dot_stays_a_hub_id(workspace, tmp_path):
    from workbench.config import load_config

    config = sft_config(tmp_path / "cfg")
    cfg = load_config(config, ['model.path="Qwen/Qwen2.5-0.5B-Instruct"'], check_data=False)
    assert cfg.data["model"]["path"] == "Qwen/Qwen2.5-0.5B-Instruct"


def broken_model(tmp_path: Path, remove: str) -> Path:
    folder = tmp_path / "mödel dir" / remove
    shutil.copytree(MODEL, folder)
    for p in list(folder.glob(remove + "*")):
        p.unlink()
    return folder


@pytest.mark.parametrize("remove,expect", [("tokenizer", "tokenizer"), ("config.json", "config.json")])
def test_validate_names_a_model_folder_missing_files(workspace, tmp_path, remove, expect):
    folder = broken_model(tmp_path, remove)
    config = sft_config(tmp_path / "cfg", **{str(MODEL): str(folder)})
    line = one_error_line(cli("validate", str(config)))
    assert "model.path" in line and str(folder) in line and expect in line, line
    assert "job.toml:" in line


@pytest.mark.parametrize("key,value", [("model.path", '"./no-such-model"'), ("model.tokenizer", '"./no-such-tok"'),
                                       ("model.chat_template", '"missing.jinja"'), ("model.adapter", '"./no-adapter"')])
def test_validate_rejects_local_model_paths_that_do_not_exist(workspace, tmp_path, key, value):
    config = sft_config(tmp_path / "cfg")
    line = one_error_line(cli("validate", str(config), "--set", f"{key}={value}"))
    assert key in line and "not found" in line, line


@pytest.mark.parametrize("remove,expect", [("tokenizer", "tokenizer"), ("model.safetensors", "weights")])
def test_worker_names_a_broken_model_folder_in_one_line(tmp_path, remove, expect):
    """A folder that broke after launch (or a resume after a clean-up) fails with the path, not a stack trace."""
    from workbench.errors import ConfigError
    from workbench.training.models import load_model, load_tokenizer

    folder = broken_model(tmp_path, remove)
    config = {"model": {"path": str(folder), "dtype": "auto"}}
    with pytest.raises(ConfigError) as info:
        load_tokenizer(config) if remove == "tokenizer" else load_model(config)
    assert str(folder) in info.value.one_line() and expect in info.value.one_line()


@pytest.mark.parametrize("override", ['model.path=""', 'data.train=""', 'data.train="  "'])
def test_empty_required_paths_are_rejected(workspace, tmp_path, override):
    config = sft_config(tmp_path / "cfg")
    line = one_error_line(cli("validate", str(config), "--set", override))
    assert override.split("=")[0] in line and "empty" in line, line


@pytest.mark.slow
def test_model_folder_broken_after_launch_fails_the_run_with_its_path(workspace, tmp_path):
    from tests.conftest import status_of, wait_for
    from workbench.config import load_config
    from workbench.runs.store import FINAL, create_run
    from workbench.supervisor import spawn

    folder = tmp_path / "models" / "tiny ü"
    shutil.copytree(MODEL, folder)
    config = sft_config(tmp_path / "cfg", **{str(MODEL): str(folder), "max_steps = 40": "max_steps = 2"})
    run = create_run(load_config(config))
    for p in folder.glob("tokenizer*"):
        p.unlink()
    spawn(run)
    st = wait_for(lambda: status_of(run.dir)["status"] in FINAL and status_of(run.dir), timeout=180, what="end")
    assert st["status"] == "failed"
    assert str(folder) in st["reason"] and "tokenizer" in st["reason"] and "\n" not in st["reason"], st["reason"]
    shown = cli("show", run.id)
    assert shown.returncode == 0 and str(folder) in shown.stdout.splitlines()[0]


# --- run ids -----------------------------------------------------------------------------------

def test_a_run_id_taken_by_another_process_mid_creation_gets_the_next_id(workspace, tmp_path, monkeypatch):
    """Two `workbench run` in the same second: the one that renames second must not fail nor clobber."""
    import workbench.runs.store as store
    from workbench.config import load_config

    config = load_config(sft_config(tmp_path / "cfg"))
    real_write = store.write_json_atomic
    rival: list[Path] = []

    def write_and_lose_the_race(path, data):
        real_write(path, data)
        if path.name == "status.json" and not rival:  # another process renames its run into place now
            other = workspace / "runs" / data["id"]
            other.mkdir()
            (other / "status.json").write_text(json.dumps({"status": "queued", "id": data["id"], "rival": True}))
            rival.append(other)

    monkeypatch.setattr(store, "write_json_atomic", write_and_lose_the_race)
    run = store.create_run(config)
    assert rival and run.dir != rival[0]
    assert json.loads((rival[0] / "status.json").read_text())["rival"] is True
    assert run.raw_status["id"] == run.id and f"cd {run.dir}" in (run.dir / "command.sh").read_text()
    assert not [p for p in (workspace / "runs").iterdir() if p.name.startswith(".staging")]


def test_a_workspace_where_no_run_can_be_made_is_one_line(tmp_path):
    """Root ignores read-only modes, so a workspace that is a file stands in for an unwritable one."""
    not_a_dir = tmp_path / "ws-file"
    not_a_dir.write_text("")
    config = sft_config(tmp_path / "cfg")
    line = one_error_line(cli("-w", str(not_a_dir), "run", "-d", str(config)))
    assert "cannot create a run directory" in line and str(not_a_dir) in line, line


# --- lifecycle commands on runs in the wrong state ---------------------------------------------

def finished_run(workspace: Path, status: str) -> Path:
    """A run directory as a finished job leaves it (a complete checkpoint included), without training."""
    run_dir = workspace / "runs" / f"20260101-000000-{status}"
    (run_dir / "checkpoints" / "checkpoint-4").mkdir(parents=True)
    (run_dir / "checkpoints" / "checkpoint-4" / "trainer_state.json").write_text("{}")
    (run_dir / "status.json").write_text(json.dumps({"status": status, "created": 1.0, "attempt": 1, "ended": 2.0,
                                                     "trainer": "sft", "argv": ["false"]}))
    (run_dir / "console.log").write_text("done\n")
    return run_dir


def test_resume_of_a_completed_run_is_refused_and_changes_nothing(workspace):
    run_dir = finished_run(workspace, "completed")
    before = (run_dir / "status.json").read_text()
    line = one_error_line(cli("resume", run_dir.name))
    assert run_dir.name in line and "completed" in line, line
    assert (run_dir / "status.json").read_text() == before
    assert not (run_dir / "events.jsonl").exists()


@pytest.mark.parametrize("status", ["completed", "failed", "stopped"])
def test_stop_and_logs_follow_on_a_finished_run(workspace, status):
    run_dir = finished_run(workspace, status)
    line = one_error_line(cli("stop", run_dir.name))
    assert run_dir.name in line and status in line
    logs = cli("logs", "-f", run_dir.name, timeout=20)  # returns at once: the run has ended
    assert logs.returncode == 0 and logs.stdout == "done\n"


# --- values the job would only trip over minutes later -----------------------------------------

@pytest.mark.parametrize("override", ["data.eval_fraction=1.5", "data.max_rows=0", "run.seed=-1", "peft.r=0",
                                      "run.stop_grace_seconds=-5", "launch.num_processes=0",
                                      "launch.main_process_port=70000", "launch.env.FOO={a=1}"])
def test_out_of_range_values_are_rejected_before_launch(workspace, tmp_path, override):
    config = sft_config(tmp_path / "cfg")
    line = one_error_line(cli("run", "-d", str(config), "--set", override))
    assert override.split("=")[0] in line, line
    assert not (workspace / "runs").exists() or not any((workspace / "runs").iterdir())


def test_in_range_values_still_validate(workspace, tmp_path):
    config = sft_config(tmp_path / "cfg")
    ok = cli("validate", str(config), "--set", "data.eval_fraction=0.1", "--set", "run.seed=0",
             "--set", "launch.env.FOO=1", "--set", "data.max_rows=10")  # 1 row: nothing left after the hold-out
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize("override,suggestion", [('trainer.args.save_strategy="step"', "steps"),
                                                 ('trainer.args.lr_scheduler_type="cosin"', "cosine"),
                                                 ('trainer.args.optim="adamw_troch"', "adamw_torch")])
def test_trainer_arg_strings_outside_their_enum_are_rejected(workspace, tmp_path, override, suggestion):
    config = sft_config(tmp_path / "cfg")
    line = one_error_line(cli("validate", str(config), "--set", override))
    assert override.split("=")[0] in line and f"did you mean '{suggestion}'" in line and "job.toml (--set):" in line, line
    fine = override.split("=")[0] + f'="{suggestion}"'
    assert cli("validate", str(config), "--set", fine).returncode == 0


def test_logs_follow_of_a_run_that_never_wrote_a_console_log(workspace):
    """A run whose supervisor never started (or a copied run without its log) has no console.log."""
    run_dir = finished_run(workspace, "failed")
    (run_dir / "console.log").unlink()
    for args in (["-f"], ["-f", "-n", "5"], []):
        result = cli("logs", *args, run_dir.name, timeout=20)
        assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr


def test_resume_of_a_lost_run_whose_job_still_runs_is_refused(workspace):
    """The supervisor died but the job trains on: a second job in the same directory would corrupt it."""
    import subprocess
    import sys

    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        run_dir = finished_run(workspace, "running")
        st = json.loads((run_dir / "status.json").read_text())
        st.update(supervisor_pid=orphan.pid, supervisor_start=1.0, job_pgid=orphan.pid)  # start time: not the same process
        (run_dir / "status.json").write_text(json.dumps(st))
        line = one_error_line(cli("resume", run_dir.name))
        assert "lost" in line and "stop --now" in line, line
        assert json.loads((run_dir / "status.json").read_text()) == st
    finally:
        orphan.kill()
        orphan.wait()


def test_config_encoding_problems(workspace, tmp_path):
    body = sft_config(tmp_path / "cfg").read_bytes()
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b"# caf\xe9\n" + body)
    line = one_error_line(cli("validate", str(latin)))
    assert f"{latin}:1" in line and "UTF-8" in line, line
    bom = tmp_path / "bom.toml"  # what some Windows editors save
    bom.write_bytes(b"\xef\xbb\xbf" + body)
    assert cli("validate", str(bom)).returncode == 0


@pytest.mark.parametrize("command", [["logs", "-f"], ["stop", "--wait"]])
def test_followers_end_when_the_run_directory_is_deleted(workspace, command):
    """`logs -f` / `stop --wait` on a run someone rm -rf's must not wait forever."""
    import subprocess
    import time

    from tests.conftest import WORKBENCH

    run_dir = finished_run(workspace, "running")
    st = json.loads((run_dir / "status.json").read_text())
    st["created"] = time.time()  # freshly queued: not yet reported lost
    (run_dir / "status.json").write_text(json.dumps(st))
    proc = subprocess.Popen([*WORKBENCH, *command, run_dir.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    time.sleep(2.0)
    shutil.rmtree(run_dir)
    try:
        out, err = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"workbench {' '.join(command)} kept waiting on a deleted run")
    assert "Traceback" not in err, err


def test_set_takes_toml_key_paths(workspace, tmp_path):
    from workbench.config import load_config
    from workbench.config.loader import parse_overrides

    assert parse_overrides(['launch.env."MY.VAR"=1']) == [(["launch", "env", "MY.VAR"], 1)]
    assert parse_overrides([" trainer . args.max_steps = 5"]) == [(["trainer", "args", "max_steps"], 5)]
    cfg = load_config(sft_config(tmp_path / "cfg"), ['launch.env."MY.VAR"="x"'], check_data=False)
    assert cfg.data["launch"]["env"] == {"MY.VAR": "x"}
    line = one_error_line(cli("validate", str(tmp_path / "cfg" / "job.toml"), "--set", "trainer..args=1"))
    assert "--set" in line and "trainer..args" in line, line


def test_json_output_is_strict_json_when_the_loss_is_nan(workspace):
    """A NaN loss (run.stop_on_nan) must not make `show --json` / `ls --json` emit NaN, which jq and JS reject."""
    run_dir = finished_run(workspace, "failed")
    (run_dir / "metrics.jsonl").write_text('{"step": 1, "kind": "train", "loss": NaN, "grad_norm": Infinity}\n')

    def strict(text: str):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))

    shown = strict(cli("show", "--json", run_dir.name).stdout)
    assert shown["last_metrics"]["loss"] is None and shown["loss"] is None
    listed = strict(cli("ls", "--json").stdout)
    assert listed[0]["loss"] is None


def test_a_supervisor_that_cannot_start_is_a_one_line_run_error(tmp_path, monkeypatch):
    """Was: spawn() let CalledProcessError / FileNotFoundError escape as a traceback when the
    supervisor's interpreter could not run (a broken venv, no memory to fork)."""
    from workbench.errors import RunError
    from workbench.runs.store import Run
    from workbench import supervisor

    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    broken = tmp_path / "python"
    broken.write_text("#!/bin/sh\necho 'ImportError: no module named workbench' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setattr(supervisor.sys, "executable", str(broken))
    with pytest.raises(RunError, match=r"could not start \(exit code 1\): ImportError: no module named workbench"):
        supervisor.spawn(Run(run_dir))
    monkeypatch.setattr(supervisor.sys, "executable", str(tmp_path / "missing-python"))
    with pytest.raises(RunError, match="cannot start the supervisor of r1"):
        supervisor.spawn(Run(run_dir))


def test_stop_now_from_another_machine_signals_no_local_process(tmp_path):
    """Was: `stop --now` sent SIGTERM to status.json's supervisor_pid on *this* machine, whatever
    machine the supervisor ran on (a shared filesystem, a Slurm login node): it killed an unrelated
    local process that happened to have that pid."""
    import json
    import subprocess
    import sys

    from workbench.runs.control import request_stop
    from workbench.runs.store import Run

    # Answers one line on stdin; a SIGTERM sent before that line (default action) ends it first.
    victim = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.readline(); print('alive', flush=True)"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        run_dir = tmp_path / "runs" / "r1"
        run_dir.mkdir(parents=True)
        (run_dir / "status.json").write_text(json.dumps({
            "id": "r1", "status": "running", "host": "some-other-host", "supervisor_pid": victim.pid}))
        message = request_stop(Run(run_dir), now=True)
        victim.stdin.write("ping\n")
        victim.stdin.flush()
        assert victim.stdout.readline().strip() == "alive", "a local process was signalled"
        assert json.loads((run_dir / "stop.request").read_text())["now"] is True
        assert "some-other-host" in message
    finally:
        victim.kill()
        victim.wait()


def test_the_supervisors_own_console_lines_are_redacted(tmp_path, monkeypatch):
    """Was: 'workbench: cannot start job: ...' went into console.log unredacted (status.json's copy of the
    same reason was redacted), so a job handle's error quoting a token landed in the run directory."""
    from workbench.runs.store import Run
    from workbench.supervisor import Supervisor

    secret = "hf_SupervisorSecret1234567890abcdefghij"
    monkeypatch.setenv("HF_TOKEN", secret)
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    Supervisor(Run(run_dir), resume=False)._append_console(f"workbench: cannot start job: 401 for {secret}\n")
    assert (run_dir / "console.log").read_text() == "workbench: cannot start job: 401 for ***\n"

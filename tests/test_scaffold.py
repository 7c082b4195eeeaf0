"""`workbench plugin new`: each kind installs (as pip would record it) and its own tests pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import CONFIGS, MODEL, cli
from tests.test_plugins import install_fake_distribution

FAST_KINDS = ["data-format", "reward-function", "evaluator"]


def scaffold(tmp_path, kind: str, name: str):
    result = cli("plugin", "new", name, "--dir", str(tmp_path), "--kind", kind)
    assert result.returncode == 0, result.stderr
    return tmp_path / name


def installed_env(tmp_path, project, dist: str, module: str, entry: str) -> dict:
    """PYTHONPATH holding the project and a .dist-info with its entry point: what `pip install -e` leaves."""
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    install_fake_distribution(site, dist, f"{module}.plugin", "", entry_name=entry)
    (site / f"{module}.plugin.py").unlink()  # the module lives in the project, not in site
    return {"PYTHONPATH": os.pathsep.join([str(site), str(project)])}


def run_generated_tests(project, env: dict, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra], cwd=project,
                          capture_output=True, text=True, timeout=600, env=dict(os.environ, **env))


@pytest.mark.parametrize("kind", FAST_KINDS)
def test_scaffolded_plugin_is_listed_and_its_tests_pass(workspace, tmp_path, kind):
    name = f"workbench-demo-{kind}"
    module, short = name.replace("-", "_"), f"demo_{kind.replace('-', '_')}"
    project = scaffold(tmp_path, kind, name)
    pyproject = (project / "pyproject.toml").read_text()
    assert f'{short} = "{module}.plugin"' in pyproject
    env = installed_env(tmp_path, project, name, module, short)

    listing = cli("plugins", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    plugins = {p["name"]: p for p in json.loads(listing.stdout)}
    assert plugins[short]["status"] == "ok", plugins[short]
    table = {"data-format": "data_formats", "reward-function": "reward_functions", "evaluator": "evaluators"}[kind]
    assert plugins[short]["registers"] == {table: [short]}

    tests = run_generated_tests(project, env)
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and "failed" not in tests.stdout


@pytest.mark.slow
def test_scaffolded_trainer_trains_end_to_end(workspace, tmp_path):
    project = scaffold(tmp_path, "trainer", "workbench-looptrainer")
    env = installed_env(tmp_path, project, "workbench-looptrainer", "workbench_looptrainer", "looptrainer")
    listing = cli("plugins", "--json", env=env)
    plugins = {p["name"]: p for p in json.loads(listing.stdout)}
    assert plugins["looptrainer"]["registers"] == {"trainers": ["looptrainer"]}
    # Its own tests include a real run through the CLI, supervisor and worker.
    tests = run_generated_tests(project, env, "-rA")
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert "PASSED tests/test_workbench_looptrainer.py::test_trains_the_tiny_model_end_to_end" in tests.stdout


def test_refuses_to_overwrite_and_bad_names(workspace, tmp_path):
    project = scaffold(tmp_path, "data-format", "qa-format")
    marker = project / "qa_format" / "plugin.py"
    before = marker.read_text()
    again = cli("plugin", "new", "qa-format", "--dir", str(tmp_path), "--kind", "evaluator")
    assert again.returncode == 2 and "already exists" in again.stderr and "Traceback" not in again.stderr
    assert marker.read_text() == before
    bad = cli("plugin", "new", "9lives", "--dir", str(tmp_path))
    assert bad.returncode == 2 and "must start with a letter" in bad.stderr
    clash = cli("plugin", "new", "workbench-sft", "--dir", str(tmp_path), "--kind", "trainer")
    assert clash.returncode == 2 and "'sft' is already registered" in clash.stderr
    assert not (tmp_path / "workbench-sft").exists()


def test_names_and_files_of_each_kind():
    from workbench.scaffold import KINDS, Names, files_for

    names = Names.from_name("Workbench_Fancy-Thing")
    assert names == Names("workbench-fancy-thing", "workbench_fancy_thing", "fancy_thing")
    for kind in KINDS:
        files = files_for(names, kind)
        assert {"pyproject.toml", "README.md", "workbench_fancy_thing/__init__.py",
                "workbench_fancy_thing/plugin.py", "tests/test_workbench_fancy_thing.py"} <= set(files)
        for path, text in files.items():
            import re

            leftover = re.findall(r"\$(?!env:|status-|chart-)[A-Za-z_{]", text)  # $env: and CSS variables are meant
            assert not leftover, (path, leftover)  # every placeholder filled
            if path.endswith(".py"):
                compile(text, path, "exec")
        assert "fancy_thing" in files["workbench_fancy_thing/plugin.py"]


# -- every kind, installed for real: pip install --no-deps --no-build-isolation --target ---------

ALL_KINDS = ["trainer", "data-format", "evaluator", "reward-function", "launcher", "preset", "run-panel", "tab",
             "cli-command", "lifecycle", "theme"]


def kind_names(kind: str) -> tuple[str, str, str]:
    """(distribution, module, short name) of the test plugin of one kind."""
    short = "k" + kind.replace("-", "")
    return f"workbench-{short}", f"workbench_{short}", short


@pytest.fixture(scope="module")
def installed_kinds(tmp_path_factory):
    """Every kind scaffolded and pip-installed (no network, no build isolation) into one target folder."""
    root = tmp_path_factory.mktemp("kinds")
    projects = {}
    for kind in ALL_KINDS:
        dist = kind_names(kind)[0]
        made = cli("plugin", "new", dist, "--dir", str(root), "--kind", kind)
        assert made.returncode == 0, made.stderr
        projects[kind] = root / dist
    target = root / "site"
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                          "--no-index", "--target", str(target), *map(str, projects.values())],
                         capture_output=True, text=True, timeout=600)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    return projects, {"PYTHONPATH": str(target), "WORKBENCH_CONFIG_DIR": str(root / "config")}


@pytest.mark.slow
def test_every_kind_installs_and_passes_the_check(installed_kinds, workspace):
    projects, env = installed_kinds
    listing = cli("plugins", "--json", env=env)
    plugins = {p["name"]: p for p in json.loads(listing.stdout)}
    for kind in ALL_KINDS:
        short = kind_names(kind)[2]
        assert plugins[short]["status"] == "ok" and plugins[short]["registers"], plugins.get(short)
        assert plugins[short]["source"] == f"entry point {kind_names(kind)[0]}"
    check = cli("plugins", "--check", env=env)
    assert check.returncode == 0, check.stdout[-3000:]
    assert "kclicommand" in cli("--help", env=env).stdout


@pytest.mark.slow
@pytest.mark.parametrize("kind", ALL_KINDS)
def test_generated_tests_of_each_kind_pass_installed(installed_kinds, kind):
    projects, env = installed_kinds
    tests = run_generated_tests(projects[kind], env, "-rA")
    assert tests.returncode == 0, tests.stdout[-4000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and "failed" not in tests.stdout and "SKIPPED" not in tests.stdout


@pytest.mark.slow
def test_a_job_uses_the_installed_format_evaluator_launcher_and_lifecycle_then_the_command_counts_it(
        installed_kinds, workspace):
    projects, env = installed_kinds
    data = workspace / "qa.jsonl"
    data.write_text("".join(json.dumps({"question": f"What is {i} plus {i}?", "answer": str(2 * i)}) + "\n"
                            for i in range(24)))
    config = workspace / "job.toml"
    config.write_text(f'''
[model]
path = "{MODEL}"
[data]
train = "{data}"
[trainer]
name = "sft"
[trainer.args]
max_steps = 3
max_length = 64
[launch]
launcher = "klauncher"
[eval]
evaluators = ["kevaluator"]
[eval.options.kevaluator]
max_rows = 4
''')
    run = cli("run", str(config), env=env, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    from workbench.runs.store import Run

    run_dir = sorted((workspace / "runs").iterdir())[-1]
    events = [json.loads(ln) for ln in (run_dir / "events.jsonl").read_text().splitlines()]
    names = [e["event"] for e in events]
    assert next(e for e in events if e["event"] == "data_ready")["format"] == "kdataformat"
    assert "evaluated" in names
    assert any(e["event"] == "klifecycle_step_time" for e in events), names
    assert "plugin_error" not in names
    assert "workbench.worker" in (run_dir / "command.sh").read_text() and "accelerate" not in \
        (run_dir / "command.sh").read_text().split("workbench.worker")[0].rsplit("\n", 1)[-1]
    log = (workspace / ".workbench" / "klifecycle.log").read_text()
    assert '"run_finished"' in log and '"completed"' in log
    assert Run(run_dir).status()["status"] == "completed"
    counted = cli("kclicommand", env=env)
    assert counted.returncode == 0 and counted.stdout.strip() == "1 completed", counted.stdout + counted.stderr


@pytest.mark.slow
def test_a_grpo_job_uses_the_installed_reward_function(installed_kinds, workspace):
    projects, env = installed_kinds
    config = workspace / "grpo.toml"
    config.write_text(f'''
[model]
path = "{MODEL}"
[data]
train = "{CONFIGS.parent / "data" / "prompts-answers.jsonl"}"
[trainer]
name = "grpo"
reward_functions = ["krewardfunction"]
[trainer.reward_options.krewardfunction]
keywords = ["is"]
[trainer.args]
max_steps = 2
per_device_train_batch_size = 4
num_generations = 4
max_completion_length = 8
logging_steps = 1
''')
    run = cli("run", str(config), env=env, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    run_dir = sorted((workspace / "runs").iterdir())[-1]
    rows = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert any("rewards/krewardfunction/mean" in r for r in rows), rows[-1]

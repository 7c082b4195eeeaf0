"""`workbench plugin new`: each kind installs (as pip would record it) and its own tests pass."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import cli
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
            assert "$" not in text.replace("$ ", ""), path  # every placeholder filled
            if path.endswith(".py"):
                compile(text, path, "exec")
        assert "fancy_thing" in files["workbench_fancy_thing/plugin.py"]

"""The warm checker (workbench.config.checker): a resident process that builds the trainer's real
config object for `validate` without an import of TRL per call. It must answer exactly what a
child process answers, carry each request's environment, live in a private folder, key itself
by everything its answers depend on, exit when idle, and never be needed for correctness."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import stat
import tempfile
from pathlib import Path

import psutil
import pytest

from tests.conftest import CONFIGS, cli
from workbench.config import checker, realargs

ANSWER = "workbench.config.realargs:answer"


@pytest.fixture
def runtime(workspace, monkeypatch):
    """A private runtime folder and an empty schema/verdict cache; every checker started is stopped after."""
    folder = Path(tempfile.mkdtemp(prefix="wbc-", dir="/tmp"))  # short: a socket path holds ~100 bytes
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(folder))
    monkeypatch.setenv("WORKBENCH_CACHE", str(workspace / "cache"))
    monkeypatch.delenv("WORKBENCH_CHECKER", raising=False)
    monkeypatch.delenv("WORKBENCH_CHECKER_IDLE", raising=False)
    yield folder / "workbench"
    for pid in checker.stop_all():
        _wait_gone(pid)
    shutil.rmtree(folder, ignore_errors=True)


def _wait_gone(pid: int, timeout: float = 60.0) -> None:
    try:
        psutil.Process(pid).wait(timeout)
    except psutil.NoSuchProcess:
        pass


def sft_request(**args) -> dict:
    """The request validate makes for the bundled sft preset, with some [trainer.args] changed."""
    from workbench.config.loader import load_config
    from workbench.plugin_manager import get_registry

    cfg = load_config(CONFIGS / "sft.toml", deep=False)
    request = realargs.request_of(cfg.data, get_registry().trainer("sft"))
    request = copy.deepcopy(request)
    request["config"]["trainer"]["args"].update(args)
    return request


def ask(request: dict, want_fields: bool = False, env: dict | None = None):
    pending = checker.submit(ANSWER, {"request": request, "want_fields": want_fields}, warm=["trl:SFTConfig"],
                             env=env)
    assert pending is not None, "the checker could not be reached"
    return pending.result()


def child_answer(request: dict, want_fields: bool = False, env: dict | None = None) -> dict:
    """What the child process answers (in `env`, as the checker's fork gets it)."""
    saved = dict(os.environ)
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        return realargs.probe(request, want_fields)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def test_the_checker_answers_exactly_what_the_child_answers(runtime):
    cases = [
        (sft_request(), True),                                          # ok, and the field schema
        (sft_request(learning_rate=1e-4), False),                       # ok
        (sft_request(lr_scheduler_type="nosuch"), False),               # the class's own check
        (sft_request(eval_strategy="steps", load_best_model_at_end=True, save_strategy="epoch"), False),
        (sft_request(pad_token="<|pad|>"), False),                      # a deprecation warning about a key set
    ]
    before = checker.control("ping")["served"]  # reading the preset built its field schema there (cold cache)
    answers = [(ask(request, want), child_answer(request, want)) for request, want in cases]
    for (request, want), (warm, cold) in zip(cases, answers):
        assert warm == cold, request["config"]["trainer"]["args"]
    verdicts = [cold["verdict"] for _, cold in answers]
    assert [v["ok"] for v in verdicts] == [True, True, False, False, True]
    assert "lr_scheduler_type" in verdicts[2]["error"] or "nosuch" in verdicts[2]["error"]
    assert any("pad_token" in w for w in verdicts[4]["warnings"])
    assert answers[0][0]["fields"]["learning_rate"]["form"]["kind"] == "float"
    status = checker.control("ping")
    assert status["served"] - before == len(cases)  # one resident process answered them all


def test_each_request_carries_its_environment_and_none_leaks_into_the_next(runtime):
    """The fork takes the request's environment whole; Accelerate's state and os.environ start fresh each time."""
    base = checker.check_env()
    envs = [base, {**base, "WORLD_SIZE": "2"}, base, {**base, "ACCELERATE_TORCH_DEVICE": "nosuch"}, base]
    request = sft_request()
    before = checker.control("ping")["served"]
    warm = [ask(request, env=env)["verdict"] for env in envs]
    assert warm == [child_answer(request, env=env)["verdict"] for env in envs]
    assert [v["ok"] for v in warm] == [True, False, True, False, True]
    assert "MASTER_ADDR" in warm[1]["error"] and "nosuch" in warm[3]["error"]
    assert checker.control("ping")["served"] - before == len(envs)


def test_validate_asks_one_warm_checker_for_each_changed_learning_rate(runtime):
    results = [cli("validate", str(CONFIGS / "sft.toml"), "--set", f"trainer.args.learning_rate={lr}")
               for lr in (1e-3, 2e-3, 3e-3)]
    assert [r.returncode for r in results] == [0, 0, 0], results[-1].stderr
    status = checker.control("ping")
    # cold: the field schema and the first verdict (one import); then one verdict per changed learning rate
    assert status is not None and status["served"] == 4
    bad = cli("validate", str(CONFIGS / "sft.toml"), "--set", "trainer.args.load_best_model_at_end=true",
              "--set", 'trainer.args.save_strategy="epoch"', "--set", 'trainer.args.eval_strategy="steps"')
    assert bad.returncode != 0 and "SFTConfig refuses it" in bad.stderr and "save and eval strategy" in bad.stderr
    again = checker.control("ping")
    assert again["pid"] == status["pid"] and again["served"] == 5


def test_a_verdict_is_cached_per_environment_that_building_reads(runtime):
    """An error that came from the environment (WORLD_SIZE without MASTER_ADDR) is not replayed without it."""
    first = cli("validate", str(CONFIGS / "sft.toml"), env={"WORLD_SIZE": "2"})
    assert first.returncode != 0 and "MASTER_ADDR" in first.stderr + first.stdout
    second = cli("validate", str(CONFIGS / "sft.toml"))
    assert second.returncode == 0, second.stderr


def test_validate_is_correct_without_a_checker(runtime, monkeypatch, workspace):
    """Off, or no usable runtime folder: a child process answers, with the same verdict."""
    monkeypatch.setenv("WORKBENCH_CHECKER", "0")
    bad = cli("validate", str(CONFIGS / "sft.toml"), "--set", "trainer.args.load_best_model_at_end=true",
              "--set", 'trainer.args.save_strategy="epoch"', "--set", 'trainer.args.eval_strategy="steps"')
    assert bad.returncode != 0 and "SFTConfig refuses it" in bad.stderr and "save and eval strategy" in bad.stderr
    assert not list(runtime.glob("checker-*.sock")) if runtime.exists() else True
    monkeypatch.delenv("WORKBENCH_CHECKER")
    deep = workspace / ("d" * 60) / ("e" * 60)  # a socket path longer than the system allows
    deep.mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    monkeypatch.setenv("WORKBENCH_CACHE", str(deep / "cache"))
    assert checker.submit(ANSWER, {"request": sft_request()}, warm=[]) is None
    ok = cli("validate", str(CONFIGS / "sft.toml"), "--set", "trainer.args.learning_rate=5e-4")
    assert ok.returncode == 0, ok.stderr


def test_a_killed_checker_is_replaced(runtime):
    assert ask(sft_request())["verdict"]["ok"]
    old = checker.control("ping")["pid"]
    os.kill(old, signal.SIGKILL)
    _wait_gone(old)
    assert list(runtime.glob("checker-*.sock"))  # its socket is left behind
    ok = cli("validate", str(CONFIGS / "sft.toml"), "--set", "trainer.args.learning_rate=7e-4")
    assert ok.returncode == 0, ok.stderr
    new = checker.control("ping")
    assert new is not None and new["pid"] != old and new["served"] == 1


def test_the_checker_exits_when_idle(runtime, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CHECKER_IDLE", "1")
    assert ask(sft_request())["verdict"]["ok"]
    pid = checker.control("ping")["pid"]
    _wait_gone(pid, timeout=120)
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not list(runtime.glob("checker-*.sock"))  # its name goes first, so no client reaches a closing checker


def test_the_runtime_folder_is_private(runtime, workspace, monkeypatch):
    assert ask(sft_request())["verdict"]["ok"]
    assert stat.S_IMODE(os.stat(runtime).st_mode) == 0o700
    (sock,) = runtime.glob("checker-*.sock")
    assert stat.S_IMODE(os.stat(sock).st_mode) & 0o077 == 0
    os.chmod(runtime, 0o755)
    assert checker.runtime_dir() == runtime and stat.S_IMODE(os.stat(runtime).st_mode) == 0o700
    # a symlink where the folder should be is not followed: the cache's run/ folder is used instead
    other = Path(tempfile.mkdtemp(prefix="wbc-", dir="/tmp"))
    try:
        os.chmod(other, 0o700)
        (other / "workbench").symlink_to(runtime)
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(other))
        assert checker.runtime_dir() == workspace / "cache" / "run"
        if os.getuid() == 0:  # a folder of another user (only root can make one here)
            (other / "workbench").unlink()
            (other / "workbench").mkdir(mode=0o700)
            os.chown(other / "workbench", 65534, 65534)
            assert checker.runtime_dir() == workspace / "cache" / "run"
    finally:
        shutil.rmtree(other, ignore_errors=True)


def test_the_key_covers_python_libraries_source_and_import_environment(tmp_path, monkeypatch):
    material = checker.key_material()
    assert material["python"] == os.path.realpath(os.sys.executable)
    assert set(material["libraries"]) == set(checker.LIBRARIES) and material["libraries"]["trl"]
    assert material["workbench"] == checker.source_hash(checker.source_roots())
    copy_root = tmp_path / "src"
    shutil.copytree(checker.source_roots()[0], copy_root)
    before = checker.source_hash([copy_root])
    (copy_root / "config" / "realargs.py").write_text((copy_root / "config" / "realargs.py").read_text() + "\n# x\n")
    assert checker.source_hash([copy_root]) != before  # an edited workbench gets a new checker
    key = checker.checker_key()
    monkeypatch.setenv("WORLD_SIZE", "4")  # read per request (sent with it): same checker
    assert checker.checker_key() == key
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # read at import: another checker
    assert checker.checker_key() != key


def test_validate_starts_the_check_before_scanning_data_rows(runtime, workspace):
    """The process that builds the object starts before the data rows are read (its import overlaps
    them), and builds it from the config as it is at the end."""
    text = (CONFIGS / "sft.toml").read_text().replace("../models", str(CONFIGS.parent / "models"))
    bad_data = workspace / "bad.jsonl"
    bad_data.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n' * 3 + "not json\n")
    config = workspace / "c.toml"
    config.write_text(text.replace("../data/sft-messages.jsonl", str(bad_data)).replace("3e-3", "4e-3"))
    config.with_name("good.toml").write_text(text.replace("../data", str(CONFIGS.parent / "data")))
    assert cli("validate", str(config.with_name("good.toml"))).returncode == 0  # the field schema is cached
    for pid in checker.stop_all():
        _wait_gone(pid)
    out = cli("validate", str(config))
    assert out.returncode != 0 and "bad.jsonl" in out.stderr + out.stdout
    status = checker.control("ping")
    assert status is not None and status["served"] == 0  # started (importing) before the rows failed

    from workbench.config.loader import load_config
    from workbench.plugin_manager import get_registry

    data = copy.deepcopy(load_config(CONFIGS / "sft.toml", deep=False).data)
    pending = realargs.Check(data, get_registry().trainer("sft"))
    data["trainer"]["args"]["lr_scheduler_type"] = "nosuch"
    verdict = pending.result(data)[1]
    assert not verdict["ok"] and "nosuch" in verdict["error"]
    assert json.dumps(verdict)  # plain data, as cached

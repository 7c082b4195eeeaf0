"""Plugin CLI commands, lifecycle hooks (run_started / run_event / run_finished) and trainer callbacks."""

from __future__ import annotations

import json
import threading

import pytest

from tests.conftest import CONFIGS, cli
from workbench.plugin_manager import notify
from workbench.testing import registry_with, run_job

COMMAND_PLUGIN = """
from workbench.hookspecs import hookimpl
from workbench.specs import CommandSpec

def configure(parser):
    parser.add_argument("who")
    parser.add_argument("--shout", action="store_true")

def hello(args):
    text = f"hello {args.who}"
    print(text.upper() if args.shout else text)
    return 7

def broken(args):
    return {}["missing"]

@hookimpl
def register_commands():
    return [CommandSpec("hello", "greet someone", hello, configure),
            CommandSpec("explode", "always fails", broken),
            CommandSpec("ls", "shadows a built-in", hello)]
"""


@pytest.fixture
def command_plugin(tmp_path) -> dict:
    folder = tmp_path / "plugdir"
    folder.mkdir()
    (folder / "greeter.py").write_text(COMMAND_PLUGIN)
    return {"WORKBENCH_PLUGINS_DIR": str(folder)}


def test_plugin_command_runs_with_its_arguments_and_exit_code(workspace, command_plugin):
    result = cli("hello", "ada", "--shout", env=command_plugin)
    assert result.stdout.strip() == "HELLO ADA" and result.returncode == 7, result.stderr
    helped = cli("--help", env=command_plugin)
    assert any(ln.split()[:1] == ["hello"] and "greet someone [plugin greeter]" in ln
               for ln in helped.stdout.splitlines()), helped.stdout


def test_failing_plugin_command_is_one_line_naming_the_plugin(workspace, command_plugin):
    result = cli("explode", env=command_plugin)
    assert result.returncode == 2
    line = COMMAND_PLUGIN.splitlines().index('    return {}["missing"]') + 1
    assert result.stderr.strip() == \
        f"error: plugin greeter: command 'explode' failed: KeyError: 'missing' (greeter.py:{line})", result.stderr


def test_plugin_command_cannot_shadow_a_builtin(workspace, command_plugin):
    assert cli("ls", env=command_plugin).stdout.startswith("no runs yet")  # the built-in `ls`
    listing = cli("plugins", env=command_plugin).stdout
    assert "command 'ls' is a built-in workbench command" in listing
    assert "commands: hello, explode" in listing


def test_builtin_commands_do_not_load_plugins(workspace, tmp_path):
    folder = tmp_path / "plugdir"
    folder.mkdir()
    (folder / "marker.py").write_text(f"open({str(tmp_path / 'loaded')!r}, 'w').write('x')\n")
    assert cli("ls", env={"WORKBENCH_PLUGINS_DIR": str(folder)}).returncode == 0
    assert not (tmp_path / "loaded").exists()


# -- notify ------------------------------------------------------------------------------------

def hook_module(name: str, **hooks):
    import types

    from workbench.hookspecs import hookimpl

    module = types.ModuleType(name)
    for hook, fn in hooks.items():
        fn.__name__ = hook
        setattr(module, hook, hookimpl(fn))
    return module


def test_notify_reports_raising_exiting_and_hanging_hooks_and_never_raises():
    seen = []

    def good(run):
        seen.append(run)

    def raising(run):
        raise ValueError("webhook down")

    def exiting(run):
        raise SystemExit(5)

    release = threading.Event()

    def hanging(run):
        release.wait(5)

    reg = registry_with(hook_module("good", run_finished=good), hook_module("bad", run_finished=raising),
                        hook_module("quits", run_finished=exiting), hook_module("slow", run_finished=hanging),
                        builtins=False)
    errors = notify("run_finished", timeout=0.3, registry=reg, run="RUN")
    release.set()
    assert seen == ["RUN"]
    assert any(e.startswith("plugin bad: run_finished raised ValueError: webhook down (") for e in errors), errors
    assert any(e.startswith("plugin quits: run_finished raised called sys.exit(5)") for e in errors), errors
    assert any(e.startswith("plugin slow: run_finished did not return within 0.3 s") for e in errors), errors
    assert len(errors) == 3
    assert notify("no_such_hook", registry=reg) == ["workbench: notify: unknown hook 'no_such_hook'"]


def test_run_hooks_feed_every_new_event_once_and_record_plugin_errors(tmp_path):
    from workbench.run_hooks import RunHooks
    from workbench.runs.store import Run

    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    (run_dir / "status.json").write_text(json.dumps({"status": "running", "trainer": "sft"}))
    events = run_dir / "events.jsonl"
    events.write_text(json.dumps({"event": "old"}) + "\n")  # before this attempt: not replayed
    got = []

    def on_event(run, event):
        got.append((run.trainer, event["event"]))
        if event["event"] == "nan":
            raise RuntimeError("pager failed")

    hooks = RunHooks(Run(run_dir), registry=registry_with(hook_module("pager", run_event=on_event), builtins=False))
    with open(events, "a") as f:
        f.write(json.dumps({"event": "checkpoint", "step": 2}) + "\n" + json.dumps({"event": "nan"}) + "\n")
    assert hooks.poll_events() == 2
    assert got == [("sft", "checkpoint"), ("sft", "nan")]
    rows = [json.loads(ln) for ln in events.read_text().splitlines()]
    errors = [r for r in rows if r.get("event") == "plugin_error"]
    assert len(errors) == 1 and errors[0]["plugin"] == "pager" and errors[0]["hook"] == "run_event"
    assert "plugin pager: run_event raised RuntimeError: pager failed" in errors[0]["message"]
    assert "pager failed" in (run_dir / "console.log").read_text()
    assert hooks.poll_events() == 0  # its own plugin_error is not fed back


# -- a real run --------------------------------------------------------------------------------

LIFECYCLE_PLUGIN = '''
"""Lifecycle hooks and trainer callbacks, recording into a file the test reads."""
import json, os
from workbench.hookspecs import hookimpl
from workbench.specs import CallbackSpec

LOG = os.environ["LIFECYCLE_LOG"]


def _log(**row):
    with open(LOG, "a") as f:
        f.write(json.dumps(row) + "\\n")


@hookimpl
def run_started(run):
    _log(hook="run_started", run=run.run_id, status=run.status)


@hookimpl
def run_event(run, event):
    _log(hook="run_event", event=event["event"])
    if event["event"] == "checkpoint":
        raise RuntimeError("notifier is down")


@hookimpl
def run_finished(run):
    from workbench.settings import plugin_settings

    token = plugin_settings("lifecycle")["token"]
    _log(hook="run_finished", status=run.status, trainer=run.trainer, token_length=len(token))


@hookimpl
def register_callbacks():
    return [CallbackSpec("step_counter", "lifecycle_callbacks:StepCounter"),
            CallbackSpec("fragile", "lifecycle_callbacks:fragile")]
'''

CALLBACKS = '''
import json, os
from transformers import TrainerCallback


class StepCounter(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        with open(os.environ["LIFECYCLE_LOG"], "a") as f:
            f.write(json.dumps({"hook": "callback", "step": state.global_step}) + "\\n")


class Fragile(TrainerCallback):
    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == 2:
            raise ValueError("callback bug")


def fragile(ctx):
    assert ctx.run_dir.is_dir()
    return Fragile()
'''


@pytest.mark.slow
def test_lifecycle_hooks_and_callbacks_in_a_real_run(workspace, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "lifecycle_plugin.py").write_text(LIFECYCLE_PLUGIN)
    (src / "lifecycle_callbacks.py").write_text(CALLBACKS)
    log = tmp_path / "lifecycle.jsonl"
    from workbench.settings import config_dir

    config_dir().mkdir(parents=True)
    (config_dir() / "settings.toml").write_text('[plugin.lifecycle]\ntoken = "$env:LIFECYCLE_TOKEN"\n')
    secret = "s3cr3t-lifecycle-token-value"
    result = run_job(CONFIGS / "sft.toml", workspace, plugins=[src / "lifecycle_plugin.py"],
                     overrides=["trainer.args.max_steps=4", "trainer.args.save_steps=2"],
                     env={"LIFECYCLE_LOG": str(log), "PYTHONPATH": str(src), "LIFECYCLE_TOKEN": secret})
    assert result.status == "completed", result.explain()
    rows = [json.loads(ln) for ln in log.read_text().splitlines()]
    hooks = [r["hook"] for r in rows]
    assert hooks[0] == "run_started" and hooks[-1] == "run_finished"
    assert rows[-1] == {"hook": "run_finished", "status": "completed", "trainer": "sft", "token_length": len(secret)}
    for path in result.run_dir.rglob("*"):  # the plugin's secret setting reached it, and no run file holds it
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert [r["step"] for r in rows if r["hook"] == "callback"] == [1, 2, 3, 4]
    seen_events = [r["event"] for r in rows if r["hook"] == "run_event"]
    assert {"train_begin", "checkpoint", "saved", "ended"} <= set(seen_events), seen_events
    assert "plugin_error" not in seen_events
    errors = [e for e in result.events if e.get("event") == "plugin_error"]
    assert any(e["hook"] == "run_event" and "notifier is down" in e["message"] for e in errors), errors
    assert any("callback 'fragile' raised in on_step_end: ValueError: callback bug" in e["message"]
               for e in errors), errors
    shown = cli("show", "last")
    assert "plugin_error" in shown.stdout
    assert "notifier is down" in result.console

"""Registration catches plugin authors' mistakes: each one is a one-line error naming the plugin."""

from __future__ import annotations

import importlib
import json
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import CONFIGS, cli
from workbench.errors import PluginError
from workbench.plugin_manager import build_registry

HEADER = """
from workbench.hookspecs import hookimpl
from workbench.specs import *
"""


def local_plugin(folder: Path, name: str, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(HEADER + textwrap.dedent(source))
    return path


@pytest.fixture
def plugdir(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "plugdir"
    folder.mkdir()
    monkeypatch.setenv("WORKBENCH_PLUGINS_DIR", str(folder))
    return folder


def registry_of(plugdir: Path, name: str, source: str, workspace=None):
    local_plugin(plugdir, name, source)
    return build_registry(workspace)


def errors_of(reg, name: str) -> list[str]:
    record = reg.plugin(name)
    assert record is not None, [p.name for p in reg.plugins]
    return record.errors


def one_line_naming(errors: list[str], plugin: str, *words: str) -> str:
    hits = [e for e in errors if all(w in e for w in words)]
    assert hits, errors
    line = hits[0]
    assert "\n" not in line and line.startswith(f"plugin {plugin}:"), line
    return line


def sft_config(tmp_path: Path, extra: str = "", trainer: str = "sft") -> Path:
    text = (CONFIGS / "sft.toml").read_text().replace("../", str(CONFIGS.parent) + "/")
    text = text.replace('[trainer]\nname = "sft"', f'[trainer]\nname = "{trainer}"')
    path = tmp_path / "job.toml"
    path.write_text(text + "\n" + extra)
    return path


# -- hooks -------------------------------------------------------------------------------------

def test_misspelled_hook_is_an_error_naming_the_closest_hook(workspace, plugdir):
    reg = registry_of(plugdir, "typo", """
        @hookimpl
        def register_trainer():
            return [TrainerSpec("typo", ("conversational",), "x:y")]
    """)
    line = one_line_naming(errors_of(reg, "typo"), "typo", "'register_trainer'", "did you mean 'register_trainers'")
    assert "typo.py:" in line
    assert reg.plugin("typo").status == "broken"


def test_hook_not_marked_hookimpl_is_an_error(workspace, plugdir):
    reg = registry_of(plugdir, "unmarked", """
        def register_trainers():
            return [TrainerSpec("unmarked", ("conversational",), "x:y")]
    """)
    one_line_naming(errors_of(reg, "unmarked"), "unmarked", "not marked @hookimpl")


def test_hook_argument_misspelled_is_one_line_naming_the_argument_and_the_others_still_register(workspace, plugdir):
    reg = registry_of(plugdir, "argtypo", """
        @hookimpl
        def run_finished(rn):
            pass

        @hookimpl
        def register_themes():
            return []

        @hookimpl
        def run_started(run):
            pass
    """)
    line = one_line_naming(errors_of(reg, "argtypo"), "argtypo", "'run_finished'", "'rn'",
                           "run_finished(run)", "did you mean 'run'", "argtypo.py:")
    assert "hookimpl definition" not in line
    assert reg.plugin("argtypo").status == "broken"
    assert reg.plugin("argtypo").hooks == ["register_themes", "run_started"]   # the well-formed hooks are kept


def test_deprecated_hook_warns_naming_its_replacement(workspace, plugdir):
    reg = registry_of(plugdir, "oldstyle", """
        @hookimpl
        def register_tui_commands():
            return [("Hello", "say hello", lambda api: api.notify("hello"))]
    """)
    record = reg.plugin("oldstyle")
    assert record.status == "ok", record.errors
    assert any("deprecated" in w and "register_palette_commands" in w for w in record.warnings), record.warnings
    assert reg.palette_commands["hello"].title == "Hello"


# -- spec fields -------------------------------------------------------------------------------

@pytest.mark.parametrize("spec, words", [
    ('TrainerSpec("orpo", ("preferences",), "pkg.mod:build")', ("data_kinds", "'preferences'", "did you mean 'preference'")),
    ('TrainerSpec("my trainer", ("preference",), "pkg.mod:build")', ("name 'my trainer'", "no spaces")),
    ('TrainerSpec("orpo", (), "pkg.mod:build")', ("data_kinds: empty",)),
    ('TrainerSpec("orpo", "preference", "pkg.mod:build")', ("data_kinds: expected a tuple", "str")),
    ('TrainerSpec("orpo", ("preference",), "pkg.mod.build")', ("factory: 'pkg.mod.build' is not an import path",)),
    ('TrainerSpec("orpo", ("preference",), "pkg.mod:build", config_class="trl ORPOConfig")', ("config_class",)),
    ('DataFormat("qa", "conversation", lambda rows: None, lambda row: row)', ("kind: 'conversation'", "conversational")),
    ('EvaluatorSpec("acc", "pkg:evaluate", "model")', ("needs: expected a tuple", "str")),
])
def test_spec_fields_are_checked_at_registration(workspace, plugdir, spec, words):
    hook = {"T": "register_trainers", "D": "register_data_formats", "E": "register_evaluators"}[spec[0]]
    reg = registry_of(plugdir, "badspec", f"""
        @hookimpl
        def {hook}():
            return [{spec}]
    """)
    one_line_naming(errors_of(reg, "badspec"), "badspec", *words)
    assert "orpo" not in reg.trainers and "qa" not in reg.data_formats


def test_wrong_return_types_are_named_as_they_are_and_located_in_the_plugin(workspace, plugdir):
    path = local_plugin(plugdir, "wrongtype", """
        @hookimpl
        def register_trainers():
            return {"name": "orpo"}

        @hookimpl
        def register_evaluators():
            return EvaluatorSpec("acc", "pkg.mod:evaluate")

        @hookimpl
        def register_presets():
            return ["orpo.toml"]
    """)
    reg = build_registry(workspace)
    errors = errors_of(reg, "wrongtype")
    line = one_line_naming(errors, "wrongtype", "register_trainers() returned a dict", "expected a list of TrainerSpec")
    hook_line = path.read_text().splitlines().index("@hookimpl") + 1
    assert f"(wrongtype.py:{hook_line})" in line
    one_line_naming(errors, "wrongtype", "register_evaluators() returned a single EvaluatorSpec", "return a list")
    one_line_naming(errors, "wrongtype", "register_presets() item 0 is a str", "expected PresetSpec")


def test_malformed_palette_entries_are_reported(workspace, plugdir):
    reg = registry_of(plugdir, "badpalette", """
        @hookimpl
        def register_tui_commands():
            return [("Only a title",), ("Good", "fine", lambda api: None)]
    """)
    one_line_naming(errors_of(reg, "badpalette"), "badpalette", "item 0 is tuple", "(title, help, fn)")
    assert "good" in reg.palette_commands  # the good entry is kept


# -- imports that exit or get interrupted --------------------------------------------------------

@pytest.mark.parametrize("statement, words", [
    ("import sys; sys.exit(3)", ("called sys.exit(3) at import", "exits.py:")),
    ("raise KeyboardInterrupt", ("KeyboardInterrupt", "exits.py:")),
])
def test_exit_or_interrupt_at_import_is_contained(workspace, tmp_path, statement, words):
    folder = tmp_path / "plugdir"
    local_plugin(folder, "exits", statement + "\n")
    env = {"WORKBENCH_PLUGINS_DIR": str(folder)}
    listing = cli("plugins", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    exits = {p["name"]: p for p in json.loads(listing.stdout)}["exits"]
    assert exits["status"] == "broken"
    one_line_naming(exits["errors"], "exits", *words)
    validated = cli("validate", str(CONFIGS / "sft.toml"), env=env)
    assert validated.returncode == 0 and "ok" in validated.stdout, validated.stdout + validated.stderr
    check = cli("plugins", "--check", env=env)
    assert check.returncode == 1 and "exits" in check.stdout


# -- names: built-ins, conflicts, overrides ------------------------------------------------------

def test_local_plugin_named_like_a_builtin_is_namespaced(workspace, plugdir):
    reg = registry_of(plugdir, "sft", """
        @hookimpl
        def register_trainers():
            return [TrainerSpec("mysft", ("conversational",), "pkg.mod:build")]
    """)
    record = reg.plugin("local:sft")
    assert record is not None and record.status == "ok", record and record.errors
    assert record.registers == {"trainers": ["mysft"]}
    assert reg.plugin("sft").builtin and reg.plugin("sft").status == "ok"
    assert reg.owner[("trainers", "sft")] == "sft"


def test_trainer_named_like_a_builtin_keeps_the_builtin_and_the_plugins_other_registrations(workspace, plugdir):
    reg = registry_of(plugdir, "clasher", """
        @hookimpl
        def register_trainers():
            return [TrainerSpec("sft", ("conversational",), "pkg.mod:build"),
                    TrainerSpec("dpo", ("preference",), "pkg.mod:build"),
                    TrainerSpec("fresh", ("preference",), "pkg.mod:build")]

        @hookimpl
        def register_evaluators():
            return [EvaluatorSpec("perplexity", "pkg.mod:evaluate"), EvaluatorSpec("mine", "pkg.mod:evaluate")]
    """)
    errors = errors_of(reg, "clasher")
    for what in ("trainer 'sft'", "trainer 'dpo'", "evaluator 'perplexity'"):
        one_line_naming(errors, "clasher", what, "built-in plugin", "override=True")
    assert reg.plugin("clasher").status == "conflict"
    assert reg.trainer("sft").factory == "workbench_plugins.sft.trainer:build"  # the built-in still works
    assert reg.owner[("trainers", "fresh")] == "clasher" and "mine" in reg.evaluators
    assert reg.plugin("clasher").registers == {"trainers": ["fresh"], "evaluators": ["mine"]}


def test_override_replaces_a_builtin_on_purpose(workspace, plugdir):
    reg = registry_of(plugdir, "better_sft", """
        @hookimpl
        def register_trainers():
            return [TrainerSpec("sft", ("conversational",), "pkg.mod:build", override=True)]

        @hookimpl(tryfirst=True)
        def register_evaluators():
            return [EvaluatorSpec("perplexity", "pkg.mod:evaluate")]
    """)
    record = reg.plugin("better_sft")
    assert record.status == "ok", record.errors
    assert reg.trainer("sft").factory == "pkg.mod:build" and reg.owner[("trainers", "sft")] == "better_sft"
    assert reg.get("evaluators", "perplexity").factory == "pkg.mod:evaluate"
    assert any("overrides" in w for w in record.warnings)
    assert "sft" not in reg.plugin("sft").registers.get("trainers", [])


def test_two_plugins_on_one_name_list_every_conflict(workspace, plugdir):
    for name in ("first", "second", "third"):
        local_plugin(plugdir, name, """
            @hookimpl
            def register_trainers():
                return [TrainerSpec("fancy", ("conversational",), "pkg.mod:build"),
                        TrainerSpec("fancy2", ("conversational",), "pkg.mod:build")]
        """)
    reg = build_registry(workspace)
    with pytest.raises(PluginError) as err:
        reg.trainer("fancy")
    assert all(n in str(err.value) for n in ("first", "second", "third"))
    for name in ("second", "third"):
        assert len([e for e in errors_of(reg, name) if "also registered" in e or "already registered" in e]) == 2


def test_data_format_two_plugins_claim_is_refused_by_validate_and_data_check_naming_both(workspace, plugdir, tmp_path):
    for name in ("first", "second"):
        local_plugin(plugdir, name, """
            def detect(rows):
                return DetectResult(0.0, "never")

            def convert(row):
                return {"messages": row["messages"]}

            @hookimpl
            def register_data_formats():
                return [DataFormat("twin", "conversational", detect, convert)]
        """)
    reg = build_registry(workspace)
    assert "twin" not in reg.data_formats          # neither plugin's converter is used silently
    with pytest.raises(PluginError, match="first and second"):
        reg.data_format("twin")
    config = sft_config(tmp_path)
    config.write_text(config.read_text().replace('format = "auto"', 'format = "twin"'))
    result = cli("validate", str(config))
    assert result.returncode == 2, result.stdout
    first = result.stderr.strip().splitlines()[0]
    assert "data.format" in first and "more than one plugin: first and second" in first, first
    check = cli("data", "check", str(CONFIGS.parent / "data" / "sft-messages.jsonl"), "--format", "twin")
    assert check.returncode == 2 and "more than one plugin: first and second" in check.stderr, check.stderr


def test_command_two_plugins_claim_says_so_when_run(workspace, plugdir):
    for name in ("first", "second"):
        local_plugin(plugdir, name, f"""
            def run(args):
                print("ran {name}")
                return 0

            @hookimpl
            def register_commands():
                return [CommandSpec("twin-cmd", "a command two plugins add", run)]
        """)
    result = cli("twin-cmd", "-n", "3")
    assert result.returncode == 2 and "ran " not in result.stdout, result.stdout
    assert "more than one plugin: first and second" in result.stderr.strip().splitlines()[0], result.stderr
    assert "registered by first and second" in cli("--help").stdout


# -- hook spec versions --------------------------------------------------------------------------

def test_declared_hookspec_range_is_checked(workspace, plugdir):
    reg = registry_of(plugdir, "future", """
        WORKBENCH_HOOKSPEC = ">=2,<3"

        @hookimpl
        def register_trainers():
            return [TrainerSpec("future", ("conversational",), "pkg.mod:build")]
    """)
    one_line_naming(errors_of(reg, "future"), "future", "supports hook spec >=2,<3", "hook spec 1")
    assert "future" not in reg.trainers
    reg = registry_of(plugdir, "present", 'WORKBENCH_HOOKSPEC = ">=1,<2"\n')
    assert reg.plugin("present").status == "ok"


# -- resolution: validate and plugins --check -------------------------------------------------

def test_factory_that_does_not_resolve_fails_validate_naming_trainer_and_plugin(workspace, plugdir, tmp_path):
    local_plugin(plugdir, "wb_orpo", """
        @hookimpl
        def register_trainers():
            return [TrainerSpec("orpo", ("conversational",), "wb_orpo_impl_missing:build")]
    """)
    result = cli("validate", str(sft_config(tmp_path, trainer="orpo")))
    assert result.returncode == 2
    first = result.stderr.strip().splitlines()[0]
    assert "job.toml:" in first and "trainer 'orpo' (plugin wb_orpo)" in first
    assert "no module named 'wb_orpo_impl_missing'" in first and "Traceback" not in result.stderr


def test_factory_attribute_missing_is_found_without_importing_the_module(workspace, plugdir, tmp_path):
    (plugdir / "heavy_impl.py").write_text("raise RuntimeError('importing me is slow')\ndef bulid(ctx):\n    pass\n")
    local_plugin(plugdir, "wb_heavy", """
        import sys, os
        sys.path.insert(0, os.path.dirname(__file__))

        @hookimpl
        def register_trainers():
            return [TrainerSpec("heavy", ("conversational",), "heavy_impl:build")]
    """)
    result = cli("validate", str(sft_config(tmp_path, trainer="heavy")))
    assert result.returncode == 2
    first = result.stderr.strip().splitlines()[0]
    assert "heavy_impl.py defines no 'build'; did you mean 'bulid'?" in first, first
    assert "importing me is slow" not in result.stderr  # found in the source, not by running it


def test_evaluator_options_are_checked_against_its_signature_before_launch(workspace, tmp_path):
    result = cli("validate", str(sft_config(tmp_path, '[eval]\nevaluators = ["perplexity"]\n'
                                            '[eval.options.perplexity]\nmax_rowz = 1\n')))
    assert result.returncode == 2
    first = result.stderr.strip().splitlines()[0]
    assert "eval.options.perplexity.max_rowz" in first and "(plugin evaluators)" in first
    assert "did you mean 'max_rows'" in first
    wrong_type = cli("validate", str(sft_config(tmp_path, '[eval]\nevaluators = ["perplexity"]\n'
                                                '[eval.options.perplexity]\nmax_length = "many"\n')))
    assert wrong_type.returncode == 2 and "expected int" in wrong_type.stderr, wrong_type.stderr
    good = cli("validate", str(sft_config(tmp_path, '[eval]\nevaluators = ["perplexity"]\n'
                                          '[eval.options.perplexity]\nmax_rows = 4\n')))
    assert good.returncode == 0, good.stderr


@pytest.mark.parametrize("imported", [False, True])
def test_option_types_follow_the_annotation_over_the_default(tmp_path, monkeypatch, imported):
    from workbench.plugin_checks import option_problems

    (tmp_path / "annotated_eval.py").write_text(textwrap.dedent("""
        from typing import Optional

        def evaluate(ctx, threshold: float = 1, level: int | None = None, tag: Optional[str] = None,
                     names: list[str] = (), plain=8):
            return {}
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    if imported:  # an imported module is read with inspect, not from its source
        monkeypatch.setitem(sys.modules, "annotated_eval", importlib.import_module("annotated_eval"))

    def problems(**options):
        return [why for _, why in option_problems("annotated_eval:evaluate", options, skip=1)]

    assert problems(threshold=0.5, level=3, tag="x", names=["a"], plain=2) == []
    assert problems(threshold=2) == []                        # an int is a float
    assert problems(level="3") == ["option 'level': expected int (default None), got str '3'"]
    assert problems(tag=1) == ["option 'tag': expected str (default None), got int 1"]
    assert problems(threshold="high") == ["option 'threshold': expected float (default 1), got str 'high'"]
    assert problems(level=True) == ["option 'level': expected int (default None), got bool True"]
    assert problems(names="a") == ["option 'names': expected list (default ()), got str 'a'"]
    assert problems(plain="x") == ["option 'plain': expected int (default 8), got str 'x'"]   # no annotation


def test_plugins_check_exits_nonzero_and_times_each_import(workspace, plugdir):
    local_plugin(plugdir, "slowpoke", "import torch\n")
    local_plugin(plugdir, "dangling", """
        @hookimpl
        def register_evaluators():
            return [EvaluatorSpec("dangling", "workbench.plugin_checks:no_such_function")]
    """)
    result = cli("plugins", "--check")
    assert result.returncode == 1, result.stdout
    lines = result.stdout.splitlines()
    slow = next(ln for ln in lines if ln.startswith("slowpoke"))
    assert "imports torch at import" in slow
    assert "slowest slowpoke" in lines[-1] and "torch" in lines[-1]
    assert any("plugin dangling: evaluator 'dangling'" in ln and "no_such_function" in ln for ln in lines)
    listed = cli("plugins")
    assert listed.returncode == 0  # listing alone stays 0


def test_builtins_pass_the_check(workspace):
    result = cli("plugins", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "BROKEN" not in result.stdout and "CONFLICT" not in result.stdout


def test_palette_commands_are_listed_by_plugins(workspace, plugdir):
    local_plugin(plugdir, "dash", """
        @hookimpl
        def register_palette_commands():
            return [PaletteCommandSpec("team-dashboard", "Team dashboard", lambda api: None, "open it", key="ctrl+d")]
    """)
    result = cli("plugins")
    assert "palette_commands: Team dashboard (ctrl+d)" in result.stdout, result.stdout


# -- the job: a raising or ill-typed evaluator is named -------------------------------------------

def _registry_with_evaluator(plugdir, monkeypatch, module: str, body: str):
    impl = plugdir.parent / "impl"
    impl.mkdir(exist_ok=True)
    (impl / f"{module}.py").write_text(textwrap.dedent(body))
    monkeypatch.syspath_prepend(str(impl))
    return registry_of(plugdir, "wb_eval", f"""
        @hookimpl
        def register_evaluators():
            return [EvaluatorSpec("acc", "{module}:evaluate")]
    """)


def test_raising_evaluator_is_named_with_its_plugin_and_line(workspace, plugdir, monkeypatch):
    from workbench.plugin_runtime import call_evaluator

    reg = _registry_with_evaluator(plugdir, monkeypatch, "raising_impl", """
        def evaluate(ctx, max_rows=2):
            return {"acc": 1 / 0}
    """)
    with pytest.raises(PluginError) as err:
        call_evaluator(reg, "acc", ctx=None, options={})
    line = err.value.one_line()
    assert line.startswith("plugin wb_eval: evaluator 'acc' failed: ZeroDivisionError") and "raising_impl.py:" in line


def test_evaluator_returning_a_non_dict_is_named(workspace, plugdir, monkeypatch):
    from workbench.plugin_runtime import call_evaluator

    reg = _registry_with_evaluator(plugdir, monkeypatch, "float_impl", """
        def evaluate(ctx):
            return 0.5
    """)
    with pytest.raises(PluginError, match=r"plugin wb_eval: evaluator 'acc' returned a float, expected a dict"):
        call_evaluator(reg, "acc", ctx=None, options={})


def test_launcher_and_reward_function_factories_are_resolved_by_validate(workspace, plugdir, tmp_path):
    local_plugin(plugdir, "wb_extras", """
        @hookimpl
        def register_launchers():
            return [LauncherSpec("srun", "wb_extras_missing.launch:Srun")]

        @hookimpl
        def register_reward_functions():
            return [RewardFunctionSpec("brevity", "workbench.plugin_checks:no_such_reward")]
    """)
    launcher = cli("validate", str(sft_config(tmp_path, '[launch]\nlauncher = "srun"\n')))
    assert launcher.returncode == 2
    first = launcher.stderr.strip().splitlines()[0]
    assert "launch.launcher: launcher 'srun' (plugin wb_extras)" in first and "wb_extras_missing" in first
    grpo = tmp_path / "grpo.toml"
    grpo.write_text((CONFIGS / "grpo.toml").read_text().replace("../", str(CONFIGS.parent) + "/")
                    .replace('reward_functions = ["exact_answer", "regex", "length"]', 'reward_functions = ["brevity"]'))
    reward = cli("validate", str(grpo))
    assert reward.returncode == 2, reward.stdout
    first = reward.stderr.strip().splitlines()[0]
    assert "reward function 'brevity' (plugin wb_extras)" in first and "no_such_reward" in first, first
    assert "Traceback" not in reward.stderr


def test_a_local_plugin_names_its_own_functions_by_its_module_name(plugdir):
    """docs/plugins.md: a local plugin file names its own functions as f"{__name__}:fn"."""
    from workbench.plugin_manager import check_registry
    from workbench.plugin_runtime import load_spec_object

    reg = registry_of(plugdir, "selfref", """
        def evaluate(ctx, **options):
            return {"answer": 42.0}

        @hookimpl
        def register_evaluators():
            return [EvaluatorSpec("selfref", f"{__name__}:evaluate", ("model",))]
    """)
    assert errors_of(reg, "selfref") == []
    assert "selfref" not in [p.name for p in check_registry(reg, full=True).failed]  # its factory resolves
    assert load_spec_object(reg, "evaluators", "selfref")(None) == {"answer": 42.0}

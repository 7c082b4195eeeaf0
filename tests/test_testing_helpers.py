"""workbench.testing: the helpers plugin authors use in their own tests."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import types

import pytest

from workbench.errors import DataError, PluginError
from workbench.hookspecs import hookimpl
from workbench.specs import DataFormat, DetectResult, TrainerSpec
from workbench.testing import check_data_format, registry_with, run_job, sample_data, tiny_model_path


def plugin_module(name: str, **hooks) -> types.ModuleType:
    module = types.ModuleType(name)
    for hook, fn in hooks.items():
        fn.__name__ = hook
        setattr(module, hook, hookimpl(fn))
    return module


def qa_detect(rows):
    hits = sum("q" in r and "a" in r for r in rows)
    return DetectResult(hits / max(1, len(rows)))


def qa_convert(row):
    for key in ("q", "a"):
        if not isinstance(row.get(key), str):
            raise DataError("must be a string", where=key)
    return {"messages": [{"role": "user", "content": row["q"]}, {"role": "assistant", "content": row["a"]}]}


QA = DataFormat("qa", "conversational", qa_detect, qa_convert, columns=("q", "a"))


def test_registry_with_registers_given_plugins_next_to_builtins():
    mod = plugin_module("my_plugin", register_data_formats=lambda: [QA])
    reg = registry_with(mod)
    assert reg.data_format("qa") is QA
    assert reg.owner[("data_formats", "qa")] == "my_plugin"
    assert "sft" in reg.trainers
    assert set(registry_with(mod, builtins=False).data_formats) == {"qa"}


def test_registry_with_raises_for_broken_and_conflicting_plugins():
    def boom():
        raise RuntimeError("no GPU here")

    broken = plugin_module("broken_plugin", register_trainers=boom)
    with pytest.raises(PluginError, match="broken_plugin.*no GPU here"):
        registry_with(broken)
    assert registry_with(broken, strict=False).plugin("broken_plugin").status == "broken"

    clash = plugin_module("clash_plugin", register_trainers=lambda: [TrainerSpec("sft", ("conversational",), "x:y")])
    with pytest.raises(PluginError, match="trainer 'sft' is already registered by built-in plugin sft"):
        registry_with(clash)
    wrong_type = plugin_module("wrong_plugin", register_trainers=lambda: ["sft"])
    with pytest.raises(PluginError, match="item 0 is a str, expected TrainerSpec"):
        registry_with(wrong_type)


def test_registry_with_a_builtin_module_tests_that_builtin():
    import workbench_plugins.sft.plugin as sft

    reg = registry_with(sft)
    assert [p.name for p in reg.plugins].count("sft") == 1 and reg.plugin("sft").status == "ok"


def test_check_data_format_accepts_a_correct_format():
    check = check_data_format(
        QA, good_rows=[({"q": "hi", "a": "yo"}, {"messages": [{"role": "user", "content": "hi"},
                                                             {"role": "assistant", "content": "yo"}]})],
        bad_rows=[({"q": "hi"}, "a"), ({"q": 3, "a": "x"}, "q", "string")])
    assert check.confidence == 1.0 and check.scores["qa"] == 1.0
    assert check.converted[0]["messages"][1]["content"] == "yo"
    # Built-in formats pass through the same checks.
    reg = registry_with()
    check_data_format("messages", [json.loads(line) for line in sample_data("sft-messages").read_text().splitlines()[:5]],
                      [({"messages": "hello"}, "messages")], registry=reg)


@pytest.mark.parametrize("fmt, good, bad, message", [
    # a converter that raises KeyError instead of DataError
    (DataFormat("sloppy", "conversational", qa_detect, lambda r: {"messages": [r["q"], r["a"]]}),
     [{"q": "x", "a": "y"}], [({"q": "x"}, "a")], "raised KeyError"),
    # a DataError naming the wrong field
    (QA, [{"q": "x", "a": "y"}], [({"q": "x"}, "q")], "names field 'a', expected 'q'"),
    # a bad row that is accepted
    (QA, [{"q": "x", "a": "y"}], [({"q": "x", "a": "y", "extra": 1}, "extra")], "was accepted"),
    # output missing the canonical field of its kind
    (DataFormat("lossy", "conversational", qa_detect, lambda r: {"text": r["q"]}), [{"q": "x", "a": "y"}], [],
     "lacks messages"),
    # expected canonical output differs
    (QA, [({"q": "x", "a": "y"}, {"messages": []})], [], "expected {'messages': []}"),
    # rows that a built-in format claims more strongly
    (DataFormat("weak", "language_modeling", lambda rows: DetectResult(0.6), lambda r: {"text": r["text"]}),
     [{"text": "plain"}], [], "detected as 'text'"),
    # not confident about its own rows
    (DataFormat("shy", "language_modeling", lambda rows: DetectResult(0.1, "unsure"), lambda r: {"text": "t"}),
     [{"x": 1}], [], "not confident"),
])
def test_check_data_format_pinpoints_what_is_wrong(fmt, good, bad, message):
    with pytest.raises(AssertionError, match=message.replace("(", r"\(").replace("[", r"\[").replace("{", r"\{")):
        check_data_format(fmt, good, bad)


def test_bundled_assets_and_light_import():
    assert (tiny_model_path() / "config.json").is_file()
    assert sample_data("preference").name == "preference.jsonl"
    assert sample_data("sft-alpaca.csv").suffix == ".csv"
    with pytest.raises(FileNotFoundError, match="known: .*sft-messages.jsonl"):
        sample_data("nope")
    code = ("import sys, workbench.testing; "
            "print([m for m in ('torch', 'transformers', 'datasets', 'trl') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


TINY_TRAINER = '''
"""A minimal own trainer: SGD on the tiny model's causal-LM loss, logged through the reporter."""
import json
from pathlib import Path

from workbench.hookspecs import hookimpl
from workbench.specs import TrainerSpec


@hookimpl
def register_trainers():
    return [TrainerSpec("tinyloop", ("language_modeling",), "tinyloop:build")]


@hookimpl
def run_finished(run):
    Path(run.run_dir, "notified.json").write_text(json.dumps({"status": run.status, "trainer": run.trainer}))


class Runner:
    def __init__(self, ctx):
        self.ctx = ctx

    def train(self, resume_from_checkpoint=None):
        import torch

        ctx = self.ctx
        self.tok, self.model = ctx.load_tokenizer(), ctx.load_model()
        opt = torch.optim.SGD(self.model.parameters(), lr=float(ctx.trainer_args.get("lr", 0.5)))
        batch = self.tok([r["text"] for r in ctx.train_dataset][:8], return_tensors="pt", padding=True)
        labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
        for step in range(1, int(ctx.trainer_args.get("steps", 6)) + 1):
            loss = self.model(**batch, labels=labels).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
            ctx.reporter.log({"loss": loss.item()}, step=step)

    def save_model(self, output_dir=None):
        self.model.save_pretrained(output_dir)


def build(ctx):
    return Runner(ctx)
'''


@pytest.mark.slow
def test_run_job_runs_a_plugin_trainer_end_to_end(workspace, tmp_path):
    plugin = tmp_path / "src" / "tinyloop.py"
    plugin.parent.mkdir()
    plugin.write_text(textwrap.dedent(TINY_TRAINER))
    config = {"model": {"path": str(tiny_model_path())}, "data": {"train": str(sample_data("sft-text"))},
              "trainer": {"name": "tinyloop", "args": {"steps": 6}}}
    result = run_job(config, tmp_path / "ws", plugins=[plugin])
    assert result.status == "completed", result.explain()
    losses = result.values("loss")
    assert len(losses) == 6 and losses[-1] < losses[0]
    assert {"data_ready", "saved"} <= set(result.event_names())
    assert (result.run_dir / "checkpoints" / "final" / "config.json").is_file()
    # The plugin's run_finished hook ran in the supervisor, once the run had ended.
    assert json.loads((result.run_dir / "notified.json").read_text()) == {"status": "completed", "trainer": "tinyloop"}

    # A config the plugin's trainer cannot take never starts: the one-line error comes back.
    rejected = run_job({**config, "data": {"train": str(sample_data("preference"))}}, tmp_path / "ws", plugins=[plugin])
    assert rejected.status == "rejected" and rejected.run_dir is None
    assert "needs language_modeling data" in rejected.stderr

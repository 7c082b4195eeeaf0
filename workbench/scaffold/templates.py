'''The files of a new plugin package, as string.Template texts (see workbench.scaffold).'''

PYPROJECT = '''\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "$dist"
version = "0.1.0"
description = "A Workbench plugin: $title ($kind)"
readme = "README.md"
requires-python = ">=3.10"
dependencies = ["workbench"]

# Workbench finds plugins through this entry-point group; "$short" is the plugin's name
# in `workbench plugins` and in WORKBENCH_PLUGINS_ALLOW / WORKBENCH_PLUGINS_DENY.
[project.entry-points.workbench]
$short = "$module.plugin"

[project.optional-dependencies]
test = ["pytest>=8"]

[tool.setuptools]
packages = ["$module"]

[tool.pytest.ini_options]
testpaths = ["tests"]
pythonpath = ["."]
markers = ["slow: end-to-end runs that train the tiny model (seconds on CPU)"]
'''

INIT = '''\
"""$title: a Workbench plugin ($kind)."""

__version__ = "0.1.0"
'''

README_COMMON = '''\
# $dist

A Workbench plugin ($kind), written against hook spec version
$hookspec_version.

    pip install -e .            # or: pip install -e '.[test]'
    workbench plugins           # lists "$short" with what it registers
    pytest                      # its tests (use workbench.testing)

The hooks live in `$module/plugin.py`; they only build spec objects, so listing plugins
stays fast. Heavy code (torch, transformers) is imported inside the functions the specs
name by import path.

'''

README_KIND = {
    "trainer": '''\
## Use

```toml
[trainer]
name = "$short"

[trainer.args]            # fields of $module.trainer:Args, checked before launch
max_steps = 20
learning_rate = 1e-3
```

The trainer is a plain PyTorch loop under Accelerate (one process or DDP). It writes
metrics through `ctx.reporter`, honours `workbench stop` (checkpoint, then exit) and resumes
from `checkpoints/checkpoint-N`.
''',
    "data-format": '''\
## Use

Rows with `question` and `answer` (and an optional `system`) become conversations, so any
trainer taking conversational data (sft, ...) can use them. `data.format = "auto"` picks
the format up; `data.format = "$short"` forces it.
''',
    "evaluator": '''\
## Use

```toml
[eval]
evaluators = ["$short"]

[eval.options.$short]
max_rows = 32
```

Scores next-token top-1 accuracy of the trained model on the evaluation rows (data.eval,
data.eval_fraction, else the last training rows): `eval/$short/accuracy`.
''',
    "reward-function": '''\
## Use

```toml
[trainer]
name = "grpo"
reward_functions = ["$short"]

[trainer.reward_options.$short]
keywords = ["because", "therefore"]
```

Rewards the share of `keywords` each completion contains (0..1).
''',
}

TRAINER_PLUGIN = '''\
"""Registers the "$short" trainer. Imports nothing heavy: specs and import paths only."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import ModelUse, TrainerSpec


@hookimpl
def register_trainers() -> list[TrainerSpec]:
    return [
        TrainerSpec(
            name="$short",
            data_kinds=("language_modeling", "conversational", "prompt_completion"),
            factory="$module.trainer:build",
            config_class="$module.trainer:Args",
            description="causal-LM fine-tuning with a plain PyTorch loop",
            # What it holds in memory, for `workbench estimate`: one trainable policy.
            models=(ModelUse("policy", trainable=True),),
        )
    ]
'''

TRAINER_IMPL = '''\
"""The "$short" trainer: causal-LM fine-tuning in a plain PyTorch loop under Accelerate."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from workbench.training import TrainContext


@dataclass
class Args:
    """[trainer.args] of "$short"; Workbench checks keys and types against these fields before launch."""

    max_steps: int = 20
    learning_rate: float = 1e-3
    per_device_train_batch_size: int = 4
    max_length: int = 128
    logging_steps: int = 1
    save_steps: int = 0          # 0: checkpoint only when a stop is requested


def build(ctx: TrainContext) -> "Runner":
    """The trainer factory named in the TrainerSpec."""
    return Runner(ctx)


def render(tokenizer, row: dict) -> str:
    """One canonical row as training text."""
    if row.get("text") is not None:
        return row["text"]
    if row.get("messages"):
        return tokenizer.apply_chat_template(row["messages"], tokenize=False)
    prompt, completion = row.get("prompt"), row.get("completion")
    if isinstance(prompt, list):
        return tokenizer.apply_chat_template(prompt + completion, tokenize=False)
    return f"{prompt}{completion}"


class Runner:
    """What the worker drives: train(resume_from_checkpoint) then save_model(dir)."""

    def __init__(self, ctx: TrainContext):
        self.ctx = ctx
        self.args = Args(**ctx.trainer_args)
        self.stopped = False
        self.step = 0

    def _checkpoint(self, accelerator) -> None:
        path = self.ctx.output_dir / f"checkpoint-{self.step}"
        accelerator.save_state(str(path))
        if accelerator.is_main_process:
            (path / "trainer_state.json").write_text(json.dumps({"step": self.step}))
        self.ctx.reporter.event("checkpoint", step=self.step, path=path.name)

    def train(self, resume_from_checkpoint: str | None = None) -> None:
        import torch
        from accelerate import Accelerator

        args, ctx = self.args, self.ctx
        accelerator = Accelerator()
        self.accelerator = accelerator
        self.tokenizer = tokenizer = ctx.load_tokenizer()
        model = ctx.load_model("policy")
        texts = [render(tokenizer, dict(row)) for row in ctx.train_dataset]
        loader = torch.utils.data.DataLoader(texts, batch_size=args.per_device_train_batch_size, shuffle=True,
                                             generator=torch.Generator().manual_seed(ctx.config["run"]["seed"]))
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.learning_rate)
        model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
        self.model = model
        if resume_from_checkpoint:
            accelerator.load_state(resume_from_checkpoint)
            self.step = json.loads((Path(resume_from_checkpoint) / "trainer_state.json").read_text())["step"]
            ctx.reporter.event("resumed", step=self.step, path=Path(resume_from_checkpoint).name)
        ctx.reporter.event("train_begin", step=self.step, max_steps=args.max_steps,
                           world_size=accelerator.num_processes)
        model.train()
        while self.step < args.max_steps:
            for batch in loader:
                enc = tokenizer(list(batch), return_tensors="pt", padding=True, truncation=True,
                                max_length=args.max_length).to(accelerator.device)
                labels = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
                loss = model(**enc, labels=labels).loss
                accelerator.backward(loss)
                optimizer.step()
                optimizer.zero_grad()
                self.step += 1
                if self.step % args.logging_steps == 0:
                    ctx.reporter.log({"loss": accelerator.reduce(loss.detach(), "mean").item(),
                                      "learning_rate": args.learning_rate}, step=self.step)
                if args.save_steps and self.step % args.save_steps == 0:
                    self._checkpoint(accelerator)
                if ctx.reporter.stop_requested():
                    ctx.reporter.event("stopping", step=self.step, reason="stop requested")
                    self._checkpoint(accelerator)
                    self.stopped = True
                    return
                if self.step >= args.max_steps:
                    break
        ctx.reporter.event("train_end", step=self.step)

    def save_model(self, output_dir: str | None = None) -> None:
        target = output_dir or str(self.ctx.output_dir / "final")
        self.accelerator.wait_for_everyone()
        model = self.accelerator.unwrap_model(self.model)
        model.save_pretrained(target, is_main_process=self.accelerator.is_main_process)
        if self.accelerator.is_main_process:
            self.tokenizer.save_pretrained(target)
'''

TRAINER_TEST = '''\
"""Tests of the "$short" trainer, with the helpers of workbench.testing."""

import pytest

from workbench.testing import registry_with, run_job, sample_data, tiny_model_path

import $module.plugin as plugin


def test_registers_the_trainer_without_conflicts():
    reg = registry_with(plugin)          # raises if the plugin is broken or clashes with a built-in
    spec = reg.trainer("$short")
    assert "conversational" in spec.data_kinds
    assert spec.config_class == "$module.trainer:Args"


@pytest.mark.slow
def test_trains_the_tiny_model_end_to_end(tmp_path):
    config = {
        "model": {"path": str(tiny_model_path())},
        "data": {"train": str(sample_data("sft-messages"))},
        "trainer": {"name": "$short", "args": {"max_steps": 12, "learning_rate": 3e-3}},
    }
    result = run_job(config, tmp_path, plugins=[plugin])
    assert result.status == "completed", result.explain()
    losses = result.values("loss")
    assert len(losses) == 12
    assert sum(losses[-3:]) < sum(losses[:3])          # it learns
    assert (result.run_dir / "checkpoints" / "final" / "config.json").is_file()
'''

FORMAT_PLUGIN = '''\
"""Registers the "$short" data format: question/answer rows as conversations."""

from __future__ import annotations

from workbench.errors import DataError
from workbench.hookspecs import hookimpl
from workbench.specs import DataFormat, DetectResult


def detect(rows: list[dict]) -> DetectResult:
    """Confidence = share of sample rows with string `question` and `answer`."""
    if not rows:
        return DetectResult(0.0, "no rows")
    hits = sum(isinstance(r.get("question"), str) and isinstance(r.get("answer"), str) for r in rows)
    return DetectResult(hits / len(rows), f"{hits}/{len(rows)} rows have question and answer")


def _text(row: dict, name: str, required: bool = True) -> str | None:
    value = row.get(name)
    if value is None and not required:
        return None
    if value is None:
        raise DataError("missing", where=name)
    if not isinstance(value, str):
        raise DataError(f"must be a string, got {type(value).__name__}", where=name)
    if not value.strip():
        raise DataError("is empty", where=name)
    return value


def convert(row: dict) -> dict:
    """A canonical conversational row, or a DataError naming the field at fault."""
    messages = []
    system = _text(row, "system", required=False)
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": _text(row, "question")})
    messages.append({"role": "assistant", "content": _text(row, "answer")})
    return {"messages": messages}


@hookimpl
def register_data_formats() -> list[DataFormat]:
    return [DataFormat("$short", "conversational", detect, convert,
                       "`question` and `answer` (optional `system`) as a two-turn conversation",
                       ("question", "answer", "system"))]
'''

FORMAT_TEST = '''\
"""Tests of the "$short" data format, with the helpers of workbench.testing."""

from workbench.testing import check_data_format, registry_with

import $module.plugin as plugin


def test_detects_converts_and_rejects_precisely():
    reg = registry_with(plugin)
    check_data_format(
        "$short",
        good_rows=[
            ({"question": "2+2?", "answer": "4"},
             {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}),
            {"question": "Capital of France?", "answer": "Paris", "system": "Be brief."},
        ],
        bad_rows=[
            ({"question": "2+2?"}, "answer", "missing"),
            ({"question": 7, "answer": "7"}, "question", "string"),
            ({"question": "hi", "answer": "  "}, "answer"),
        ],
        registry=reg,                    # it must win detection against the built-in formats
    )
'''

EVALUATOR_PLUGIN = '''\
"""Registers the "$short" evaluator (next-token accuracy)."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import EvaluatorSpec


@hookimpl
def register_evaluators() -> list[EvaluatorSpec]:
    return [EvaluatorSpec("$short", "$module.evaluator:evaluate", ("model", "eval_data"),
                          "next-token top-1 accuracy of the trained model; options: max_rows, max_length")]
'''

EVALUATOR_IMPL = '''\
"""Next-token top-1 accuracy of the trained model on evaluation rows."""

from __future__ import annotations

from workbench.errors import ConfigError
from workbench.training import TrainContext


def _text(tokenizer, row: dict) -> str:
    if row.get("text") is not None:
        return row["text"]
    if row.get("messages"):
        return tokenizer.apply_chat_template(row["messages"], tokenize=False)
    return f"{row.get('prompt', '')}{row.get('completion', '')}"


def evaluate(ctx: TrainContext, max_rows: int = 32, max_length: int = 256) -> dict[str, float]:
    """Scores checkpoints/final (or [model].path before training) on data.eval, else the train rows."""
    import torch

    for name, value in (("max_rows", max_rows), ("max_length", max_length)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"must be a positive integer, got {value!r}", where=f"eval.options.$short.{name}")
    data = ctx.eval_dataset if ctx.eval_dataset is not None and len(ctx.eval_dataset) else ctx.train_dataset
    if data is None or not len(data):
        raise ConfigError("no rows to evaluate on", where="eval.evaluators")
    final = ctx.output_dir / "final"
    model = ctx.load_model("policy", path=str(final) if (final / "config.json").is_file() else None).eval()
    tokenizer = ctx.load_tokenizer()
    correct = total = 0
    with torch.no_grad():
        for row in data.select(range(min(max_rows, len(data)))):
            ids = tokenizer(_text(tokenizer, dict(row)), return_tensors="pt", truncation=True,
                            max_length=max_length)["input_ids"].to(model.device)
            if ids.shape[1] < 2:
                continue
            predicted = model(input_ids=ids).logits[0, :-1].argmax(-1)
            correct += int((predicted == ids[0, 1:]).sum())
            total += ids.shape[1] - 1
    if total == 0:
        raise ConfigError("the evaluation rows hold no tokens to score", where="eval.evaluators")
    return {"accuracy": correct / total, "tokens": float(total)}
'''

EVALUATOR_TEST = '''\
"""Tests of the "$short" evaluator, with the helpers of workbench.testing."""

import pytest

from workbench.errors import ConfigError
from workbench.testing import make_context, registry_with

import $module.plugin as plugin
from $module.evaluator import evaluate

ROWS = [{"text": "the quick brown fox jumps over the lazy dog"}, {"text": "hello world, hello workbench"}]


def test_registers_the_evaluator():
    reg = registry_with(plugin)
    assert reg.get("evaluators", "$short").factory == "$module.evaluator:evaluate"


def test_scores_the_tiny_model(tmp_path):
    scores = evaluate(make_context(tmp_path, train_rows=ROWS), max_rows=2)
    assert 0.0 <= scores["accuracy"] <= 1.0
    assert scores["tokens"] > 10


def test_rejects_bad_options(tmp_path):
    with pytest.raises(ConfigError, match="max_rows"):
        evaluate(make_context(tmp_path, train_rows=ROWS), max_rows=0)
'''

REWARD_PLUGIN = '''\
"""Registers the "$short" reward function for GRPO, RLOO and PPO."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import RewardFunctionSpec


@hookimpl
def register_reward_functions() -> list[RewardFunctionSpec]:
    return [RewardFunctionSpec("$short", "$module.rewards:keywords",
                               "share of `keywords` each completion contains (options: keywords, case_sensitive)")]
'''

REWARD_IMPL = '''\
"""A keyword reward: the share of the wanted keywords that a completion contains (as whole words)."""

from __future__ import annotations

import re

from workbench.errors import ConfigError
from workbench.training.rewards import completion_text


def keywords(keywords: list[str], case_sensitive: bool = False):
    """Factory: options come from [trainer.reward_options.$short]; returns fn(prompts, completions, **kw)."""
    if not isinstance(keywords, list) or not keywords or not all(isinstance(k, str) and k for k in keywords):
        raise ConfigError("must be a non-empty list of non-empty strings",
                          where="trainer.reward_options.$short.keywords")
    flags = 0 if case_sensitive else re.IGNORECASE
    patterns = [re.compile(rf"(?<!\\w){re.escape(k)}(?!\\w)", flags) for k in keywords]

    def reward(prompts, completions, **kwargs) -> list[float]:
        texts = [completion_text(c) for c in completions]
        return [sum(bool(p.search(t)) for p in patterns) / len(patterns) for t in texts]

    return reward
'''

REWARD_TEST = '''\
"""Tests of the "$short" reward function, with the helpers of workbench.testing."""

import pytest

from workbench.errors import ConfigError
from workbench.testing import registry_with
from workbench.training.rewards import build_reward_function

import $module.plugin as plugin


def test_scores_string_and_chat_completions():
    reg = registry_with(plugin)
    fn = build_reward_function("$short", {"keywords": ["because", "so"]}, registry=reg)
    scores = fn(["q"] * 3, ["Because it rains, so wet.", "no reason",
                            [{"role": "assistant", "content": "because"}]])
    assert scores == [1.0, 0.0, 0.5]


def test_unknown_option_and_bad_keywords_are_config_errors():
    reg = registry_with(plugin)
    with pytest.raises(ConfigError):
        build_reward_function("$short", {"keyword": ["x"]}, registry=reg)
    with pytest.raises(ConfigError, match="keywords"):
        build_reward_function("$short", {"keywords": []}, registry=reg)
'''

KIND_FILES = {
    "trainer": {"$module/plugin.py": TRAINER_PLUGIN, "$module/trainer.py": TRAINER_IMPL,
                "tests/test_$module.py": TRAINER_TEST},
    "data-format": {"$module/plugin.py": FORMAT_PLUGIN, "tests/test_$module.py": FORMAT_TEST},
    "evaluator": {"$module/plugin.py": EVALUATOR_PLUGIN, "$module/evaluator.py": EVALUATOR_IMPL,
                  "tests/test_$module.py": EVALUATOR_TEST},
    "reward-function": {"$module/plugin.py": REWARD_PLUGIN, "$module/rewards.py": REWARD_IMPL,
                        "tests/test_$module.py": REWARD_TEST},
}

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

[tool.setuptools.package-data]
"$module" = ["presets/*.toml", "themes/*.toml"]

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
    "launcher": '''\
## Use

```toml
[launch]
launcher = "$short"
```

Runs the job as one plain `python -m workbench.worker` process (no `accelerate launch`).
`$module/launcher.py` is the place to build an `srun`, `torchrun` or container command instead.
''',
    "preset": '''\
## Use

    workbench new --list                  # lists "$short"
    workbench new $short job.toml         # then edit model.path and data.train

The preset is `$module/presets/$short.toml` (shipped as package data).
''',
    "run-panel": '''\
## Use

Open a run in the TUI (`workbench`, enter on a run): runs that log a `loss` get a "$title" tab
in run detail with their lowest and last loss. `$module/panel.py` is a Textual widget; its
`on_run_update(update)` receives each poll's new metrics, events and status.
''',
    "tab": '''\
## Use

The TUI's main screen gets a "$title" tab (its number key, or ctrl+o / "Open $title" in the
command palette) counting the workspace's runs by status through the documented app API
(`workbench.tui.app_api.AppAPI`).
''',
    "cli-command": '''\
## Use

    workbench $cli_name            # "3 completed, 1 failed"
    workbench $cli_name --json

Listed in `workbench --help`.
''',
    "lifecycle": '''\
## Use

Installed, it writes a line per run start, checkpoint, NaN/OOM/error event and end to
`<workspace>/.workbench/$short.log` (or `log = "..."` under `[plugin.$short]` in the settings),
and adds a TrainerCallback to every trainer that records a `${short}_step_time` event. A
raising hook never fails a run: it becomes a `plugin_error` event (`workbench show`).
''',
    "theme": '''\
## Use

In the TUI's command palette: "Theme: $theme_name" (the choice is saved), or
`theme = "$theme_name"` in the settings file. The colours are `$module/themes/$theme_name.toml`.
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
    """Scores the trained model (ctx.load_trained_model()) on data.eval, else the train rows."""
    import torch

    for name, value in (("max_rows", max_rows), ("max_length", max_length)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"must be a positive integer, got {value!r}", where=f"eval.options.$short.{name}")
    data = ctx.eval_dataset if ctx.eval_dataset is not None and len(ctx.eval_dataset) else ctx.train_dataset
    if data is None or not len(data):
        raise ConfigError("no rows to evaluate on", where="eval.evaluators")
    # The trained model: checkpoints/final with a LoRA adapter applied to its base, a full final model,
    # or [model] (+ model.adapter) in `workbench eval`; eval mode, on the job's device.
    model = ctx.load_trained_model()
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
from workbench.testing import check_plugin, make_context, registry_with

import $module.plugin as plugin
from $module.evaluator import evaluate

ROWS = [{"text": "the quick brown fox jumps over the lazy dog"}, {"text": "hello world, hello workbench"}]


def test_registers_the_evaluator_and_passes_the_checks():
    reg = registry_with(plugin)
    assert reg.get("evaluators", "$short").factory == "$module.evaluator:evaluate"
    check_plugin(plugin)                 # what `workbench plugins --check` does: fields, import paths


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

LAUNCHER_PLUGIN = '''\
"""Registers the "$short" launcher: `launch.launcher = "$short"`."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import LauncherSpec


@hookimpl
def register_launchers() -> list[LauncherSpec]:
    return [LauncherSpec("$short", "$module.launcher:Launcher",
                         "one process, `python -m workbench.worker` without accelerate launch")]
'''

LAUNCHER_IMPL = '''\
"""A launcher that runs the job as one plain Python process (no `accelerate launch`)."""

from __future__ import annotations

import sys
from pathlib import Path

from workbench.errors import ConfigError
from workbench.launching import LaunchPlan


class Launcher:
    """plan() builds the command the supervisor runs in the run directory (recorded in command.sh)."""

    def plan(self, run_dir: Path, config: dict) -> LaunchPlan:
        if config["launch"]["num_processes"] != 1:
            raise ConfigError("the $short launcher runs one process; set launch.num_processes = 1",
                              where="launch.num_processes")
        return LaunchPlan(argv=[sys.executable, "-m", "workbench.worker", str(run_dir)],
                          env={"${short_upper}_LAUNCHER": "1"})
'''

LAUNCHER_TEST = '''\
"""Tests of the "$short" launcher, with the helpers of workbench.testing."""

import pytest

from workbench.testing import check_plugin, run_job, sample_data, tiny_model_path

import $module.plugin as plugin
from $module.launcher import Launcher


def test_plan_runs_the_worker_in_one_process(tmp_path):
    check_plugin(plugin)
    plan = Launcher().plan(tmp_path, {"launch": {"num_processes": 1}})
    assert plan.argv[-3:] == ["-m", "workbench.worker", str(tmp_path)]


@pytest.mark.slow
def test_a_run_through_the_launcher_completes(tmp_path):
    config = {"model": {"path": str(tiny_model_path())}, "data": {"train": str(sample_data("sft-messages"))},
              "trainer": {"name": "sft", "args": {"max_steps": 3}}, "launch": {"launcher": "$short"}}
    result = run_job(config, tmp_path, plugins=[plugin])
    assert result.status == "completed", result.explain()
    assert "workbench.worker" in (result.run_dir / "command.sh").read_text()
'''

PRESET_PLUGIN = '''\
"""Registers the "$short" preset: `workbench new $short job.toml`."""

from __future__ import annotations

from pathlib import Path

from workbench.hookspecs import hookimpl
from workbench.specs import PresetSpec

PRESETS = Path(__file__).parent / "presets"


@hookimpl
def register_presets() -> list[PresetSpec]:
    return [PresetSpec("$short", str(PRESETS / "$short.toml"), "SFT with LoRA on a chat dataset")]
'''

PRESET_TOML = '''\
# SFT with LoRA on a chat dataset. Relative paths are relative to this file; `workbench new`
# makes them absolute. Replace model.path and data.train with yours (or use --set).
[run]
name = "$short"

[model]
path = "Qwen/Qwen2.5-0.5B-Instruct"

[data]
train = "data/train.jsonl"

[trainer]
name = "sft"

[trainer.args]
max_steps = 200
learning_rate = 2e-4
per_device_train_batch_size = 8
max_length = 1024
assistant_only_loss = true

[peft]
r = 16
lora_alpha = 32
'''

PRESET_TEST = '''\
"""Tests of the "$short" preset, with the helpers of workbench.testing."""

import json
import tomllib

import pytest

from workbench.testing import check_plugin, registry_with, run_job, sample_data, tiny_model_path

import $module.plugin as plugin


def on_the_tiny_model() -> list[str]:
    """--set overrides that train the preset on the bundled tiny model in seconds."""
    return [f"model.path={json.dumps(str(tiny_model_path()))}", f"data.train={json.dumps(str(sample_data('sft-messages')))}",
            "trainer.args.max_steps=3", "trainer.args.max_length=128"]


def test_the_preset_file_ships_and_parses():
    check_plugin(plugin)                 # the preset file exists, the spec's fields are fine
    spec = registry_with(plugin).presets["$short"]
    with open(spec.path, "rb") as f:
        assert tomllib.load(f)["trainer"]["name"] == "sft"


@pytest.mark.slow
def test_the_preset_trains_on_the_tiny_model(tmp_path):
    spec = registry_with(plugin).presets["$short"]
    result = run_job(spec.path, tmp_path, plugins=[plugin], overrides=on_the_tiny_model())
    assert result.status == "completed", result.explain()
'''

RUN_PANEL_PLUGIN = '''\
"""Registers the "$short" run panel: a tab in run detail for every run that logs a loss."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import RunPanelSpec


@hookimpl
def register_run_panels() -> list[RunPanelSpec]:
    # Shown for runs that logged a metric starting with "loss"; `trainers=("grpo",)` or
    # `tags=("nightly",)` select runs by trainer or run.tags instead.
    return [RunPanelSpec("$short", "$title", "$module.panel:Panel", metrics=("loss",),
                         description="lowest and last loss of the run")]
'''

RUN_PANEL_IMPL = '''\
"""The "$short" run panel: a Textual widget fed every update of the run."""

from __future__ import annotations

from textual.widgets import Static

from workbench.tui.app_api import RunPanelContext


class Panel(Static):
    """Lowest and last training loss; `on_run_update` gets each poll's new rows."""

    def __init__(self, ctx: RunPanelContext):
        super().__init__("waiting for metrics ...")
        self.ctx = ctx
        self.best: float | None = None
        self.last: float | None = None
        self.text = ""

    def on_run_update(self, update) -> None:
        for row in update.metrics:
            loss = row.get("loss")
            if isinstance(loss, (int, float)):
                self.last = float(loss)
                self.best = self.last if self.best is None else min(self.best, self.last)
        if self.last is not None:
            self.text = f"{self.ctx.run.id}: lowest loss {self.best:.4f}, last {self.last:.4f}"
            self.update(self.text)
'''

RUN_PANEL_TEST = '''\
"""Tests of the "$short" run panel under Textual's Pilot (workbench.testing)."""

from workbench.testing import check_plugin, show_run_panel

import $module.plugin as plugin


def test_panel_shows_lowest_and_last_loss(tmp_path):
    check_plugin(plugin)
    widget = show_run_panel(plugin, "$short", tmp_path,
                            metrics=[{"step": 1, "loss": 2.5}, {"step": 2, "loss": 1.25}, {"step": 3, "loss": 1.5}])
    assert widget.text.endswith("lowest loss 1.2500, last 1.5000"), widget.text
'''

TAB_PLUGIN = '''\
"""Registers the "$short" tab of the TUI's main screen (and a palette command that opens it)."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import PaletteCommandSpec, TabSpec


def open_tab(api) -> None:
    api.app.show_tab("plugin-tab-$short")


@hookimpl
def register_tabs() -> list[TabSpec]:
    return [TabSpec("$short", "$title", "$module.tab:Tab", "runs of the workspace by status")]


@hookimpl
def register_palette_commands() -> list[PaletteCommandSpec]:
    return [PaletteCommandSpec("$cli_name-open", "Open $title", open_tab, "the $title tab", key="ctrl+o")]
'''

TAB_IMPL = '''\
"""The "$short" tab: how many runs of the workspace are in each status."""

from __future__ import annotations

from collections import Counter

from textual.widgets import Static

from workbench.tui.app_api import AppAPI


class Tab(Static):
    def __init__(self, api: AppAPI):
        super().__init__("")
        self.api = api
        self.text = ""

    def on_mount(self) -> None:
        self.refresh_counts()
        self.set_interval(2.0, self.refresh_counts)

    def refresh_counts(self) -> None:
        counts = Counter(run.status for run in self.api.runs())
        self.text = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no runs yet"
        self.update(self.text)
'''

TAB_TEST = '''\
"""Tests of the "$short" tab and its palette command under Textual's Pilot (workbench.testing)."""

from workbench.testing import check_plugin, fake_run, open_tab, run_palette_command, run_tui

import $module.plugin as plugin


def test_tab_counts_runs_by_status(tmp_path):
    check_plugin(plugin)
    fake_run(tmp_path, "20250101-000001-a", status="completed")
    fake_run(tmp_path, "20250101-000002-b", status="failed")

    async def steps(pilot):
        await pilot.pause(0.5)                       # the runs table fills
        await run_palette_command(pilot, "Open $title")
        widget = await open_tab(pilot, "$short")
        widget.refresh_counts()
        return widget.text

    assert run_tui(tmp_path, [plugin], steps) == "1 completed, 1 failed"
'''

COMMAND_PLUGIN = '''\
"""Plugin "$short": registers `workbench $cli_name`, a summary of the workspace's runs."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import CommandSpec


@hookimpl
def register_commands() -> list[CommandSpec]:
    return [CommandSpec("$cli_name", "count the workspace's runs by status", run="$module.command:run",
                        configure="$module.command:configure")]
'''

COMMAND_IMPL = '''\
"""`workbench $cli_name [--json]`: how many runs of the workspace are in each status."""

from __future__ import annotations

import json
from collections import Counter


def configure(parser) -> None:
    """Arguments of the command (an argparse parser)."""
    parser.add_argument("--json", action="store_true", help="print a JSON object")


def counts() -> dict[str, int]:
    from workbench.paths import runs_dir

    statuses: Counter = Counter()
    folder = runs_dir()
    for status_file in sorted(folder.glob("*/status.json")) if folder.is_dir() else []:
        try:
            statuses[json.loads(status_file.read_text(encoding="utf-8")).get("status", "unknown")] += 1
        except (OSError, ValueError):
            statuses["unreadable"] += 1
    return dict(sorted(statuses.items()))


def run(args) -> int:
    """The command; its return value is the exit code."""
    found = counts()
    if args.json:
        print(json.dumps(found))
    else:
        print(", ".join(f"{n} {status}" for status, n in found.items()) or "no runs")
    return 0
'''

COMMAND_TEST = '''\
"""Tests of `workbench $cli_name`, with the helpers of workbench.testing."""

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from workbench.testing import check_plugin, fake_run, registry_with

import $module.plugin as plugin

INSTALLED = any(ep.value == "$module.plugin" for ep in entry_points(group="workbench"))


def test_registers_the_command():
    check_plugin(plugin)
    assert registry_with(plugin).commands["$cli_name"].help


def test_counts_runs_by_status(tmp_path, capsys, monkeypatch):
    from $module.command import run

    monkeypatch.setenv("WORKBENCH_WORKSPACE", str(tmp_path))
    fake_run(tmp_path, "20250101-000001-a", status="completed")
    fake_run(tmp_path, "20250101-000002-b", status="completed")

    class Args:
        json = True

    assert run(Args()) == 0
    assert json.loads(capsys.readouterr().out) == {"completed": 2}


@pytest.mark.skipif(not INSTALLED, reason="the entry point exists once installed: pip install -e .")
def test_the_installed_command_runs(tmp_path):
    out = subprocess.run([sys.executable, "-m", "workbench", "$cli_name"], capture_output=True, text=True,
                         env=dict(os.environ, WORKBENCH_WORKSPACE=str(tmp_path)))
    assert out.returncode == 0 and out.stdout.strip() == "no runs", out.stderr
'''

LIFECYCLE_PLUGIN = '''\
"""Lifecycle hooks of "$short": a line per run start, notable event and end; step timing in every trainer."""

from __future__ import annotations

import json
import time
from pathlib import Path

from workbench.hookspecs import hookimpl
from workbench.specs import CallbackSpec, RunInfo


def log_path(run: RunInfo) -> Path:
    """[plugin.$short] log in the settings, else <workspace>/.workbench/$short.log."""
    from workbench.settings import plugin_settings

    configured = plugin_settings("$short").get("log")
    return Path(configured) if configured else Path(run.run_dir).parent.parent / ".workbench" / "$short.log"


def _write(run: RunInfo, **fields) -> None:
    path = log_path(run)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps({"time": round(time.time(), 3), "run": run.run_id, **fields}) + "\\n")


@hookimpl
def run_started(run: RunInfo) -> None:
    _write(run, hook="run_started")


@hookimpl
def run_event(run: RunInfo, event: dict) -> None:
    if event.get("event") in ("nan", "oom", "error", "checkpoint"):
        _write(run, hook="run_event", event=event.get("event"), step=event.get("step"))


@hookimpl
def run_finished(run: RunInfo) -> None:
    # A real notifier posts to a chat webhook here: plugin_settings("$short")["webhook"], with
    # webhook = "$$env:MY_WEBHOOK" in the settings so that the secret stays in the environment.
    _write(run, hook="run_finished", status=run.status, trainer=run.trainer, reason=run.reason)


@hookimpl
def register_callbacks() -> list[CallbackSpec]:
    return [CallbackSpec("$cli_name-step-timer", "$module.callbacks:StepTimer", "mean seconds per optimizer step")]
'''

LIFECYCLE_CALLBACKS = '''\
"""A transformers TrainerCallback added to every trainer (register_callbacks)."""

from __future__ import annotations

import time

from transformers import TrainerCallback


class StepTimer(TrainerCallback):
    """Times optimizer steps; at the end writes a `${short}_step_time` event into the run."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.started = None
        self.seconds: list[float] = []

    def on_step_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self.started is not None:
            self.seconds.append(time.perf_counter() - self.started)

    def on_train_end(self, args, state, control, **kwargs):
        if self.seconds:
            self.ctx.reporter.event("${short}_step_time", steps=len(self.seconds),
                                    mean_seconds=sum(self.seconds) / len(self.seconds))
'''

LIFECYCLE_TEST = '''\
"""Tests of the "$short" lifecycle hooks, with the helpers of workbench.testing."""

import json

import pytest

from workbench.specs import RunInfo
from workbench.testing import check_plugin, run_job, sample_data, tiny_model_path

import $module.plugin as plugin


def test_run_finished_writes_a_line(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CONFIG_DIR", str(tmp_path / "config"))   # no user settings
    check_plugin(plugin)
    run_dir = tmp_path / "runs" / "r1"
    run_dir.mkdir(parents=True)
    plugin.run_finished(RunInfo("r1", str(run_dir), "failed", "sft", 1, None, "loss became NaN"))
    line = json.loads((tmp_path / ".workbench" / "$short.log").read_text())
    assert (line["run"], line["status"], line["reason"]) == ("r1", "failed", "loss became NaN")


@pytest.mark.slow
def test_hooks_and_callback_in_a_real_run(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CONFIG_DIR", str(tmp_path / "config"))
    config = {"model": {"path": str(tiny_model_path())}, "data": {"train": str(sample_data("sft-messages"))},
              "trainer": {"name": "sft", "args": {"max_steps": 4, "save_steps": 2}}}
    result = run_job(config, tmp_path, plugins=[plugin])
    assert result.status == "completed", result.explain()
    lines = [json.loads(ln) for ln in (tmp_path / ".workbench" / "$short.log").read_text().splitlines()]
    assert lines[0]["hook"] == "run_started" and lines[-1]["status"] == "completed"
    assert any(ln.get("event") == "checkpoint" for ln in lines)
    timing = [e for e in result.events if e["event"] == "${short}_step_time"]
    assert timing and timing[0]["steps"] == 4
    assert "plugin_error" not in result.event_names()
'''

THEME_PLUGIN = '''\
"""Registers the "$theme_name" TUI theme (palette: "Theme: $theme_name"; settings: theme = "$theme_name")."""

from __future__ import annotations

from pathlib import Path

from workbench.hookspecs import hookimpl
from workbench.specs import ThemeSpec

THEMES = Path(__file__).parent / "themes"


@hookimpl
def register_themes() -> list[ThemeSpec]:
    return [ThemeSpec("$theme_name", str(THEMES / "$theme_name.toml"), "a warm dark theme")]
'''

THEME_TOML = '''\
# A Workbench theme: Textual colours plus the status and chart variables the app uses
# ($$status-failed, $$chart-1, ...; missing ones come from the built-in dark theme).
name = "$theme_name"
description = "a warm dark theme"
dark = true

[colors]
primary = "#ffaf5f"
secondary = "#d7875f"
accent = "#5fafd7"
warning = "#ffd75f"
error = "#ff5f5f"
success = "#afd75f"
foreground = "#e4e4e4"
background = "#1c1208"
surface = "#262018"
panel = "#303028"

[variables]
status-running = "#ffaf5f"
status-completed = "#afd75f"
status-failed = "#ff5f5f"
chart-1 = "#ffaf5f"
chart-2 = "#5fafd7"
'''

THEME_TEST = '''\
"""Tests of the "$theme_name" theme under Textual's Pilot (workbench.testing)."""

from workbench.testing import check_plugin, run_tui

import $module.plugin as plugin


def test_theme_loads_and_colours_the_app(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_CONFIG_DIR", str(tmp_path / "config"))   # the choice is saved there
    check_plugin(plugin)                    # the theme file exists

    async def steps(pilot):
        pilot.app.theme = "$theme_name"
        await pilot.pause(0.2)
        return pilot.app.screen.styles.background.hex.lower(), pilot.app.get_css_variables()["status-failed"]

    assert run_tui(tmp_path, [plugin], steps) == ("#1c1208", "#ff5f5f")
'''

KIND_FILES = {
    "trainer": {"$module/plugin.py": TRAINER_PLUGIN, "$module/trainer.py": TRAINER_IMPL,
                "tests/test_$module.py": TRAINER_TEST},
    "data-format": {"$module/plugin.py": FORMAT_PLUGIN, "tests/test_$module.py": FORMAT_TEST},
    "evaluator": {"$module/plugin.py": EVALUATOR_PLUGIN, "$module/evaluator.py": EVALUATOR_IMPL,
                  "tests/test_$module.py": EVALUATOR_TEST},
    "reward-function": {"$module/plugin.py": REWARD_PLUGIN, "$module/rewards.py": REWARD_IMPL,
                        "tests/test_$module.py": REWARD_TEST},
    "launcher": {"$module/plugin.py": LAUNCHER_PLUGIN, "$module/launcher.py": LAUNCHER_IMPL,
                 "tests/test_$module.py": LAUNCHER_TEST},
    "preset": {"$module/plugin.py": PRESET_PLUGIN, "$module/presets/$short.toml": PRESET_TOML,
               "tests/test_$module.py": PRESET_TEST},
    "run-panel": {"$module/plugin.py": RUN_PANEL_PLUGIN, "$module/panel.py": RUN_PANEL_IMPL,
                  "tests/test_$module.py": RUN_PANEL_TEST},
    "tab": {"$module/plugin.py": TAB_PLUGIN, "$module/tab.py": TAB_IMPL, "tests/test_$module.py": TAB_TEST},
    "cli-command": {"$module/plugin.py": COMMAND_PLUGIN, "$module/command.py": COMMAND_IMPL,
                    "tests/test_$module.py": COMMAND_TEST},
    "lifecycle": {"$module/plugin.py": LIFECYCLE_PLUGIN, "$module/callbacks.py": LIFECYCLE_CALLBACKS,
                  "tests/test_$module.py": LIFECYCLE_TEST},
    "theme": {"$module/plugin.py": THEME_PLUGIN, "$module/themes/$theme_name.toml": THEME_TOML,
              "tests/test_$module.py": THEME_TEST},
}

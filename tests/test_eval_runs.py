"""Evaluation runs: `workbench eval` resolves a run / model / config into an `evaluate` job that trains nothing."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CONFIGS, DATA, MODEL, cli, metric_rows, status_of, write_config
from workbench.errors import ConfigError, RunError
from workbench.runs.store import Run, find_run, list_runs

MESSAGES = DATA / "sft-messages.jsonl"


def fake_run(workspace, checkpoint: str = "final", adapter: bool = True, overrides: list[str] | None = None) -> Run:
    """A finished sft-lora run directory with a checkpoint folder (no training: only the files eval reads)."""
    from workbench.config import load_config
    from workbench.runs.store import create_run

    run = create_run(load_config(CONFIGS / "sft-lora.toml", overrides))
    folder = run.dir / "checkpoints" / checkpoint
    folder.mkdir(parents=True)
    if adapter:
        (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(MODEL)}))
    else:
        (folder / "config.json").write_text((MODEL / "config.json").read_text())
        (folder / "model.safetensors").write_bytes((MODEL / "model.safetensors").read_bytes())  # validate wants weights
    run.update_status(status="completed")
    return run


def resolve(*args, **kwargs):
    from workbench.cli.commands.eval import resolve as _resolve

    return _resolve(*args, **kwargs)


def test_a_run_is_evaluated_as_its_adapter_on_its_base_with_its_own_data_and_evaluators(workspace):
    run = fake_run(workspace, overrides=['eval.evaluators=["perplexity"]', "data.eval_fraction=0.1",
                                         "eval.options={perplexity = {max_rows = 8}}"])
    config, name = resolve(run.id[:15])
    model = config["model"]
    assert model["path"] == str(MODEL) and model["adapter"] == str(run.dir / "checkpoints" / "final")
    assert config.trainer_name == "evaluate" and "peft" not in config.data
    assert config["data"]["train"] == str(MESSAGES) and config["data"]["eval_fraction"] == 0.1
    assert config["run"]["seed"] == run.config()["run"]["seed"]
    assert config["eval"] == {"evaluators": ["perplexity"], "options": {"perplexity": {"max_rows": 8}},
                              "generation": {}, "at": "end"}
    assert name == "eval-sft-lora" and f"of:{run.id}" in config["run"]["tags"]
    # --data makes the file the evaluation rows; --evaluator replaces the list (options of dropped ones go)
    config, _ = resolve("last", data=str(DATA / "sft-text.jsonl"), evaluators=["generate"])
    assert config["data"]["train"] == config["data"]["eval"] == str(DATA / "sft-text.jsonl")
    assert config["eval"] == {"evaluators": ["generate"], "options": {}, "generation": {}, "at": "end"}
    # --set applies to the resolved evaluation config, checked like any config
    config, _ = resolve("last", overrides=["eval.options.perplexity.batch_size=2"])
    assert config["eval"]["options"]["perplexity"] == {"max_rows": 8, "batch_size": 2}


def test_a_full_model_run_is_evaluated_from_its_final_folder_with_the_base_tokenizer(workspace):
    run = fake_run(workspace, adapter=False)
    config, _ = resolve(str(run.dir))
    assert config["model"]["path"] == str(run.dir / "checkpoints" / "final")
    assert config["model"]["adapter"] is None and config["model"]["tokenizer"] == str(MODEL)
    assert config["eval"]["evaluators"] == ["perplexity", "generate"]  # the run listed none


def test_a_run_without_final_names_the_checkpoint_to_pick(workspace):
    run = fake_run(workspace, checkpoint="checkpoint-10")
    (run.dir / "checkpoints" / "checkpoint-10" / "trainer_state.json").write_text("{}")
    from workbench.runs.checkpoints import seal

    seal(run.dir / "checkpoints" / "checkpoint-10")  # a checkpoint counts once the job has sealed it
    with pytest.raises(RunError, match="no checkpoints/final; pick one with --checkpoint checkpoint-10"):
        resolve(run.id)
    config, name = resolve(run.id, checkpoint="checkpoint-10")
    assert config["model"]["adapter"].endswith("checkpoint-10") and name == "eval-sft-lora-checkpoint-10"


def test_a_model_target_needs_data_and_an_adapter_folder_names_its_base(workspace, tmp_path):
    with pytest.raises(ConfigError, match="--data FILE is required"):
        resolve(str(MODEL))
    config, name = resolve(str(MODEL), data=str(MESSAGES))
    assert config["model"]["path"] == str(MODEL) and name == "eval-tiny-llama"
    adapter = tmp_path / "my-adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(MODEL)}))
    config, name = resolve(str(adapter), data=str(MESSAGES))
    assert config["model"] == {**config["model"], "path": str(MODEL), "adapter": str(adapter)}
    assert name == "eval-my-adapter"
    config, _ = resolve("some-org/some-model", data=str(MESSAGES))  # a Hub id stays one (loaded by the job)
    assert config["model"]["path"] == "some-org/some-model"


def test_a_missing_folder_target_is_named_as_missing_before_asking_for_data(workspace, tmp_path):
    for target in (str(tmp_path / "nothere"), "./nothere"):
        with pytest.raises(ConfigError, match=r"is no run, model folder, job config or Hub id"):
            resolve(target)


def test_an_evaluation_config_is_checked_like_any_job_config(workspace, tmp_path):
    text = ('[model]\npath = "@MODEL@"\n[data]\ntrain = "@DATA@/sft-messages.jsonl"\n'
            '[trainer]\nname = "evaluate"\n[eval]\nevaluators = ["perplexity"]\n')
    cfg = write_config(tmp_path / "ev.toml", text)
    config, name = resolve(str(cfg), data=str(DATA / "prompts.jsonl"))  # any data kind: prompt-only here
    assert config["data"]["eval"] == str(DATA / "prompts.jsonl") and name == "eval-ev"
    with pytest.raises(ConfigError, match="trainer.args.max_steps: not a field of EvaluateArgs"):
        resolve(str(cfg), overrides=["trainer.args.max_steps=3"])
    with pytest.raises(ConfigError, match="options for 'generate', which is not in eval.evaluators"):
        resolve(str(cfg), overrides=["eval.options.generate.num_prompts=2"])
    with pytest.raises(ConfigError, match="not 'evaluate'"):
        resolve(str(CONFIGS / "sft.toml"))


def test_a_bad_evaluator_name_is_one_line_before_any_run_directory(workspace):
    result = cli("eval", str(MODEL), "--data", str(MESSAGES), "--evaluator", "perplexty")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and len([ln for ln in lines if ln.startswith("error:")]) == 1
    assert "eval.evaluators: no evaluator named 'perplexty'; did you mean 'perplexity'?" in lines[-1], result.stderr
    assert not (workspace / "runs").exists() or not any((workspace / "runs").iterdir())


def test_load_model_applies_model_adapter(tmp_path):
    torch = pytest.importorskip("torch")
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    from workbench.training.models import load_model

    lora = get_peft_model(AutoModelForCausalLM.from_pretrained(MODEL),
                          LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    lora.save_pretrained(tmp_path / "adapter")
    ids = torch.tensor([[1, 5, 9, 42, 7]])
    config = {"model": {"path": str(MODEL), "dtype": "float32", "adapter": str(tmp_path / "adapter")}}
    with torch.no_grad():
        base = AutoModelForCausalLM.from_pretrained(MODEL)(ids).logits
        expected = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(MODEL), tmp_path / "adapter")(ids).logits
        merged = load_model(config)
        got = merged(ids).logits
        other = load_model(config, path=str(MODEL))(ids).logits  # an explicit path is not [model]: no adapter
    assert not isinstance(merged, PeftModel)  # merged: a plain model any trainer can start from
    assert torch.allclose(got, expected, atol=1e-5) and not torch.allclose(got, base, atol=1e-3)
    assert torch.allclose(other, base)
    with pytest.raises(ConfigError, match="model.adapter"):
        load_model({"model": {"path": str(MODEL), "adapter": str(tmp_path)}})


def test_show_collects_evaluation_scores_by_evaluator():
    from workbench.cli.commands.show import evaluation_scores

    rows = [{"step": 3, "loss": 1.0}, {"step": -1, "kind": "evaluation", "eval/perplexity/perplexity": 9.5,
                                       "eval/perplexity/rows": 4.0},
            {"step": -1, "kind": "evaluation", "eval/generate/samples": 2.0}]
    assert evaluation_scores(rows) == {"perplexity": {"perplexity": 9.5, "rows": 4.0}, "generate": {"samples": 2.0}}


def evaluation_of(run_dir) -> dict:
    """The perplexity scores of an evaluation run, checked identical in metrics.jsonl, events and show --json."""
    (row,) = metric_rows(run_dir, kind="evaluation")
    (event,) = [e for e in Run(run_dir).events() if e["event"] == "evaluated"]
    shown = json.loads(cli("show", str(run_dir), "--json").stdout)["evaluation"]["perplexity"]
    from_metrics = {k.split("/", 2)[2]: v for k, v in row.items() if k.startswith("eval/perplexity/")}
    assert from_metrics == {k: v for k, v in event.items() if k not in ("event", "time", "evaluator")} == shown
    return shown


@pytest.mark.slow
def test_evaluating_a_lora_run_beats_its_base_and_reproduces_the_runs_own_score(workspace):
    env = {"OMP_NUM_THREADS": "1"}
    trained = cli("run", str(CONFIGS / "sft-lora.toml"), "--set", "trainer.args.max_steps=10",
                  "--set", 'eval.evaluators=["perplexity"]', env=env)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    (train_run,) = list_runs(workspace)
    (own,) = metric_rows(train_run.dir, kind="evaluation")

    again = cli("eval", train_run.id, env=env)  # defaults: the run's data and evaluators
    assert again.returncode == 0, again.stdout + again.stderr
    redo = find_run("last")
    assert redo.id != train_run.id and status_of(redo.dir)["trainer"] == "evaluate"
    scores = evaluation_of(redo.dir)
    assert scores["held_out"] == 0.0 and scores["rows"] == own["eval/perplexity/rows"]
    # the adapter merged into the base scores what the training run's own evaluator scored (PeftModel, unmerged)
    assert scores["perplexity"] == pytest.approx(own["eval/perplexity/perplexity"], rel=1e-4)
    assert f"perplexity: perplexity {scores['perplexity']:.4g}" in again.stdout and "completed" in again.stdout

    tuned = cli("eval", "--data", str(MESSAGES), "-e", "perplexity", train_run.id, env=env)
    base = cli("eval", str(MODEL), "--data", str(MESSAGES), "-e", "perplexity", env=env)
    assert tuned.returncode == 0 and base.returncode == 0, tuned.stderr + base.stderr
    tuned_run, base_run = list_runs(workspace)[-2:]
    assert tuned_run.config()["model"].get("adapter") and not base_run.config()["model"].get("adapter")
    tuned_scores, base_scores = evaluation_of(tuned_run.dir), evaluation_of(base_run.dir)
    assert tuned_scores["tokens"] == base_scores["tokens"] and tuned_scores["held_out"] == 1.0  # same rows
    assert tuned_scores["perplexity"] < base_scores["perplexity"] * 0.9, (tuned_scores, base_scores)
    for run in (redo, tuned_run, base_run):  # an evaluation trains and saves nothing
        events = [e["event"] for e in run.events()]
        assert "saved" not in events and "evaluation_begin" in events
        assert not (run.dir / "checkpoints" / "final").exists() and not metric_rows(run.dir)

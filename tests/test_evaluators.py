"""Built-in evaluators: perplexity matches the model's own loss; generate writes greedy samples."""

from __future__ import annotations

import json
import math

import pytest

from tests.conftest import CONFIGS, DATA, MODEL, cli, metric_rows, status_of
from workbench.errors import ConfigError
from workbench.runs.store import list_runs

torch = pytest.importorskip("torch")


def make_ctx(tmp_path, rows: list[dict], eval_rows: list[dict] | None = None):
    from datasets import Dataset

    from workbench.training import RunReporter, TrainContext

    config = {"model": {"path": str(MODEL), "dtype": "float32"}, "run": {"seed": 0}}
    return TrainContext(config=config, run_dir=tmp_path, trainer_args={}, options={},
                        reporter=RunReporter(tmp_path), train_dataset=Dataset.from_list(rows),
                        eval_dataset=Dataset.from_list(eval_rows) if eval_rows else None)


def sample_rows(n: int) -> list[dict]:
    return [json.loads(line) for line in (DATA / "sft-messages.jsonl").read_text().splitlines()[:n]]


def test_perplexity_equals_exp_of_the_models_token_loss(tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench_plugins.evaluators.perplexity import evaluate

    rows = sample_rows(6)
    ctx = make_ctx(tmp_path, rows[:2], eval_rows=rows[2:])
    scores = evaluate(ctx, batch_size=3)  # padded batches must not change the result
    model, tok = AutoModelForCausalLM.from_pretrained(MODEL).eval(), AutoTokenizer.from_pretrained(MODEL)
    nll, count = 0.0, 0
    with torch.no_grad():
        for row in rows[2:]:
            ids = tok(tok.apply_chat_template(row["messages"], tokenize=False), add_special_tokens=False,
                      return_tensors="pt").input_ids
            n = ids.shape[1] - 1
            nll += model(ids, labels=ids).loss.item() * n
            count += n
    assert scores["tokens"] == count and scores["rows"] == 4 and scores["held_out"] == 1.0
    assert scores["loss"] == pytest.approx(nll / count, rel=1e-4)
    assert scores["perplexity"] == pytest.approx(math.exp(nll / count), rel=1e-4)


def test_perplexity_falls_back_to_the_last_train_rows(tmp_path):
    from workbench_plugins.evaluators.perplexity import evaluate

    scores = evaluate(make_ctx(tmp_path, sample_rows(10)), max_rows=3)
    assert scores["rows"] == 3 and scores["held_out"] == 0.0
    with pytest.raises(ConfigError, match="max_rows"):
        evaluate(make_ctx(tmp_path, sample_rows(2)), max_rows=0)


def test_generate_writes_greedy_deterministic_samples(tmp_path):
    from workbench_plugins.evaluators.generate import OUTPUT, evaluate

    ctx = make_ctx(tmp_path, [{"prompt": [{"role": "user", "content": "What is 2 plus 2?"}], "answer": "4"}] * 3)
    scores = evaluate(ctx, num_prompts=2, max_new_tokens=5)
    records = [json.loads(line) for line in (tmp_path / OUTPUT).read_text().splitlines()]
    assert scores["samples"] == 2 == len(records)
    assert records[0]["completion"] == records[1]["completion"]  # greedy: same prompt, same text
    assert records[0]["reference"] == "4" and records[0]["prompt"][0]["content"] == "What is 2 plus 2?"
    assert all(1 <= r["new_tokens"] <= 5 or (r["new_tokens"] == 0 and r["stopped"]) for r in records)
    assert scores["mean_new_tokens"] == sum(r["new_tokens"] for r in records) / 2
    given = evaluate(ctx, prompts=["hello"], max_new_tokens=3)
    assert given["samples"] == 1 and given["mean_new_tokens"] <= 3


def test_evaluators_refuse_a_reward_model(tmp_path):
    from transformers import AutoModelForSequenceClassification

    from workbench_plugins.evaluators.perplexity import evaluate

    final = tmp_path / "checkpoints" / "final"
    AutoModelForSequenceClassification.from_pretrained(MODEL, num_labels=1).save_pretrained(final)
    with pytest.raises(ConfigError, match="needs a generative"):
        evaluate(make_ctx(tmp_path, sample_rows(2)))


@pytest.mark.slow
def test_evaluators_run_after_training_through_the_cli(workspace):
    result = cli("run", str(CONFIGS / "sft-lora.toml"), "--set", "trainer.args.max_steps=5",
                 "--set", "data.eval_fraction=0.05", "--set", 'eval.evaluators=["perplexity", "generate"]',
                 "--set", "eval.options={generate = {num_prompts = 3, max_new_tokens = 8}}",
                 env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = list_runs(workspace)
    assert status_of(run.dir)["status"] == "completed"
    rows = metric_rows(run.dir, kind="evaluation")  # one row per evaluator
    assert len(rows) == 2
    row = {k: v for r in rows for k, v in r.items()}
    assert row["eval/perplexity/held_out"] == 1.0 and row["eval/perplexity/rows"] == 20
    assert 1.0 < row["eval/perplexity/perplexity"] < 418  # better than uniform over the vocabulary
    assert row["eval/generate/samples"] == 3
    assert len((run.dir / "generations.jsonl").read_text().splitlines()) == 3

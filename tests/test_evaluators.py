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
    result = evaluate(ctx, batch_size=3)  # padded batches must not change the result
    scores = result.metrics
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
    assert [r["index"] for r in result.records] == [0, 1, 2, 3]  # one record per row, its own perplexity
    assert sum(r["detail"]["tokens"] for r in result.records) == count
    row_nll = sum(r["detail"]["loss"] * r["detail"]["tokens"] for r in result.records)
    assert row_nll / count == pytest.approx(nll / count, rel=1e-4)


def test_perplexity_falls_back_to_the_last_train_rows(tmp_path):
    from workbench_plugins.evaluators.perplexity import evaluate

    scores = evaluate(make_ctx(tmp_path, sample_rows(10)), max_rows=3).metrics
    assert scores["rows"] == 3 and scores["held_out"] == 0.0
    with pytest.raises(ConfigError, match="max_rows"):
        evaluate(make_ctx(tmp_path, sample_rows(2)), max_rows=0)
    # Was: a TypeError from the signature, reported as "evaluator 'perplexity' failed" after training.
    with pytest.raises(ConfigError, match="eval.options.perplexity.max_row: unknown option; did you mean 'max_rows'"):
        evaluate(make_ctx(tmp_path, sample_rows(2)), max_row=3)


def test_generate_writes_greedy_deterministic_samples(tmp_path):
    from workbench_plugins.evaluators.generate import OUTPUT, evaluate

    ctx = make_ctx(tmp_path, [{"prompt": [{"role": "user", "content": "What is 2 plus 2?"}], "answer": "4"}] * 3)
    scores = evaluate(ctx, num_prompts=2, max_new_tokens=5).metrics
    records = [json.loads(line) for line in (tmp_path / OUTPUT).read_text().splitlines()]
    assert scores["samples"] == 2 == len(records)
    assert records[0]["completion"] == records[1]["completion"]  # greedy: same prompt, same text
    assert records[0]["reference"] == "4" and records[0]["prompt"][0]["content"] == "What is 2 plus 2?"
    assert all(1 <= r["new_tokens"] <= 5 or (r["new_tokens"] == 0 and r["stopped"]) for r in records)
    assert scores["mean_new_tokens"] == sum(r["new_tokens"] for r in records) / 2
    given = evaluate(ctx, prompts=["hello"], max_new_tokens=3).metrics
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


def test_preference_accuracy_prefers_the_answer_without_extra_tokens(tmp_path):
    """Appending tokens to an answer only lowers its total log-probability: a known answer for any model."""
    from workbench.errors import DataError
    from workbench_plugins.evaluators.preference import evaluate

    pairs = [("Question: What is 2 plus 2? Answer:", " 4", " 4 zebra quantum ñandú 9"),
             ("Tell me a colour:", " blue", " blue and also some more words"),
             ("Unicode: ", "日本", "日本語のテキストです")]
    rows = [{"prompt": p, "chosen": c, "rejected": r} for p, c, r in pairs]
    chat = [{"prompt": [{"role": "user", "content": "What is 6 plus 6?"}],
             "chosen": [{"role": "assistant", "content": "12"}],
             "rejected": [{"role": "assistant", "content": "12, and then many more words follow"}]}]
    implicit = [{"chosen": "Q: 6 plus 6? A: 12", "rejected": "Q: 6 plus 6? A: 12 12 12 12"}]
    for data in (rows, chat, implicit):  # text prompts, chat prompts, implicit prompts
        result = evaluate(make_ctx(tmp_path, data, eval_rows=data))
        assert result.metrics["accuracy"] == 1.0 and result.metrics["rows"] == len(data)
        assert result.metrics["margin"] > 0
        assert all(r["passed"] and r["detail"]["chosen_logp"] > r["detail"]["rejected_logp"] for r in result.records)
        swapped = [{**r, "chosen": r["rejected"], "rejected": r["chosen"]} for r in data]
        assert evaluate(make_ctx(tmp_path, swapped, eval_rows=swapped)).metrics["accuracy"] == 0.0
    with pytest.raises(DataError, match=r"needs preference rows \(chosen and rejected\), but evaluation row 1 has messages"):
        evaluate(make_ctx(tmp_path, sample_rows(2), eval_rows=sample_rows(2)))
    with pytest.raises(ConfigError, match="eval.options.preference_accuracy.normalize: must be 'sum' or 'mean'"):
        evaluate(make_ctx(tmp_path, rows, eval_rows=rows), normalize="max")


def test_reward_model_scores_the_generations_it_made(tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from workbench_plugins.evaluators.reward import conversation_text, evaluate

    torch.manual_seed(0)
    folder = tmp_path / "rm"
    AutoModelForSequenceClassification.from_pretrained(MODEL, num_labels=1).save_pretrained(folder)
    AutoTokenizer.from_pretrained(MODEL).save_pretrained(folder)
    rows = [json.loads(line) for line in (DATA / "prompts-answers.jsonl").read_text().splitlines()[:5]]
    ctx = make_ctx(tmp_path, rows, eval_rows=rows)
    result = evaluate(ctx, model=str(folder), max_new_tokens=6, batch_size=2)
    rm = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():  # one text at a time: no padding involved
        direct = [rm(**tok(conversation_text(tok, r["prompt"], r["generation"]), return_tensors="pt",
                           add_special_tokens=False)).logits[0, 0].item() for r in result.records]
    assert [r["score"] for r in result.records] == pytest.approx(direct, abs=1e-5)
    assert result.metrics["reward"] == pytest.approx(sum(direct) / 5, abs=1e-5) and result.metrics["rows"] == 5
    assert result.settings["model"] == str(folder) and result.settings["generation"]["greedy"] is True
    with pytest.raises(ConfigError, match="reward_model.model: .* is a LlamaForCausalLM"):
        evaluate(make_ctx(tmp_path, rows), model=str(MODEL))
    with pytest.raises(ConfigError, match="eval.options.reward_model.model: set model"):
        evaluate(make_ctx(tmp_path, rows))


def test_generation_options_are_checked_and_recorded(tmp_path):
    from workbench.errors import DataError
    from workbench_plugins.evaluators.match import evaluate_exact_match, evaluate_regex

    rows = [json.loads(line) for line in (DATA / "prompts-answers.jsonl").read_text().splitlines()[:3]]
    ctx = make_ctx(tmp_path, rows, eval_rows=rows)
    with pytest.raises(ConfigError, match="eval.options.exact_match.max_new_token: unknown option; did you mean "
                                          "'max_new_tokens'"):
        evaluate_exact_match(ctx, max_new_token=4)
    with pytest.raises(ConfigError, match=r"eval.options.exact_match.top_p: must be a number > 0.0"):
        evaluate_exact_match(ctx, top_p=0)
    with pytest.raises(ConfigError, match="eval.options.regex.pattern: invalid regular expression"):
        evaluate_regex(ctx, pattern="(")
    ctx.config["eval"] = {"generation": {"max_new_tokens": 3, "stop": ["\n"]}}  # [eval] generation: shared defaults
    result = evaluate_exact_match(ctx, temperature=0.7, seed=5)
    assert result.settings["generation"] == {"max_new_tokens": 3, "temperature": 0.7, "top_p": 1.0, "seed": 5,
                                             "stop": ["\n"], "batch_size": 8, "greedy": False}
    assert all("\n" not in r["generation"] for r in result.records)
    again = evaluate_exact_match(make_ctx(tmp_path, rows, eval_rows=rows), temperature=0.7, seed=5,
                                 max_new_tokens=3, stop=["\n"])
    assert [r["generation"] for r in again.records] == [r["generation"] for r in result.records]  # same seed
    text_rows = [{"text": "no reference here"}]
    with pytest.raises(DataError, match="evaluator 'exact_match' compares generations with a reference answer, but "
                                        "evaluation row 1 has none"):
        evaluate_exact_match(make_ctx(tmp_path, text_rows, eval_rows=text_rows))


def test_stop_strings_cut_the_generation():
    from workbench.evaluation.generation import cut_at_stop

    assert cut_at_stop("12.\nQuestion: next", ("\n", "Question:")) == ("12.", True)
    assert cut_at_stop("abc", ("x",)) == ("abc", False) and cut_at_stop("", ("x",)) == ("", False)


def test_evaluators_with_different_max_rows_score_the_same_row_at_an_index(tmp_path):
    """Without evaluation rows, an index names one training row whatever an evaluator's max_rows.

    Was: each took the last max_rows train rows, so perplexity (max_rows 5) and exact_match
    (max_rows 3) put different rows under index 0 and samples.jsonl merged their scores.
    """
    from workbench_plugins.evaluators.model import prompt_of, rows_for_eval

    rows = sample_rows(10)
    ctx = make_ctx(tmp_path, rows)
    small, held_out = rows_for_eval(ctx, 3)
    large, _ = rows_for_eval(ctx, 5)
    assert held_out is False and len(small) == 3 and len(large) == 5
    assert [dict(r) for r in small] == [dict(r) for r in large][:3]
    assert prompt_of(dict(small[0])) == prompt_of(rows[-1])  # the last training row comes first
    assert len(rows_for_eval(ctx, 50)[0]) == 10

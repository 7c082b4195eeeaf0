"""Reward modelling end to end: held-out accuracy above chance; the final model loads as a reward model."""

from __future__ import annotations

import json

import pytest

from tests.conftest import CONFIGS, DATA, cli, metric_rows, status_of
from workbench.runs.store import list_runs

pytestmark = pytest.mark.slow


def test_reward_preset_learns_and_saves_a_loadable_sequence_classifier(workspace):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    result = cli("run", str(CONFIGS / "reward.toml"), env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = list_runs(workspace)
    assert status_of(run.dir)["status"] == "completed"
    train = metric_rows(run.dir)
    assert len(train) == 40 and all("accuracy" in r and "margin" in r for r in train)
    evals = metric_rows(run.dir, kind="eval")
    assert evals[-1]["eval_accuracy"] > 0.6, evals  # 40 held-out pairs (eval_fraction 0.1); chance is 0.5
    assert evals[-1]["eval_margin"] > 0

    final = run.dir / "checkpoints" / "final"
    assert not (final / "adapter_config.json").exists(), "LoRA must be merged into a standalone model"
    model = AutoModelForSequenceClassification.from_pretrained(final).eval()
    tokenizer = AutoTokenizer.from_pretrained(final)
    assert model.config.num_labels == 1 and model.config.pad_token_id == tokenizer.pad_token_id

    rows = [json.loads(line) for line in (DATA / "preference.jsonl").read_text().splitlines()[:120]]

    def scores(side: str) -> torch.Tensor:
        texts = [tokenizer.apply_chat_template(r["prompt"] + r[side], tokenize=False) for r in rows]
        enc = tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")
        with torch.no_grad():
            return model(**enc).logits[:, 0]

    chosen, rejected = scores("chosen"), scores("rejected")
    assert torch.isfinite(chosen).all()
    # A fresh (random) head would rank pairs at chance; the trained, merged model does better.
    assert (chosen > rejected).float().mean().item() > 0.6

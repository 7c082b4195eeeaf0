"""The tokens `data stats` and the TUI's loss-mask view call trained are the ones TRL's own trainers train on.

Each case builds the real trainer in process (no training) on a few rows and compares its
prepared dataset (SFT: `labels` other than -100; DPO: where `chosen_ids`/`rejected_ids`
start) with `workbench.data.stats.row_sequences` under a config with the same trainer args,
truncated the way TRL truncates (`truncation_mode`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import MODEL
from workbench.data import stats as backend

CHATS = [{"messages": [{"role": "user", "content": f"hello {i}"},
                       {"role": "assistant", "content": f"fine {i} and more words here"}]} for i in range(3)]
# The prompt's trailing space merges with the completion's first token: TRL starts the completion
# where the tokenized prompt and prompt+completion diverge, not after the tokenized prompt.
PAIRS = [{"prompt": "What is 2 plus 2? ", "completion": "4."}, {"prompt": "say wo", "completion": "rld now"}]


@pytest.fixture(scope="module")
def model():
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(MODEL))


def write(tmp_path: Path, rows: list[dict], args: str, trainer: str = "sft") -> tuple[Path, Path]:
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = tmp_path / "job.toml"
    config.write_text(f'[model]\npath = "{MODEL}"\n[data]\ntrain = "{data}"\n[trainer]\nname = "{trainer}"\n'
                      f"[trainer.args]\n{args}\n")
    return data, config


def expected_masks(data: Path, config: Path) -> list[list[int]]:
    """Per sequence: the mask the workbench shows, cut to what truncation keeps."""
    settings = backend.settings_for(str(data), config=str(config))
    limit = settings.max_length
    keep = slice(-limit, None) if "keep_end" in config.read_text() else slice(None, limit)
    return [enc.mask[keep] for line in data.read_text().splitlines()
            for enc in backend.row_sequences(settings, json.loads(line))]


def sft_trained(model, tmp_path: Path, rows: list[dict], **args) -> list[list[int]]:
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    tok = AutoTokenizer.from_pretrained(str(MODEL))
    trainer = SFTTrainer(model=model, processing_class=tok, train_dataset=Dataset.from_list(rows),
                         args=SFTConfig(output_dir=str(tmp_path / "out"), report_to="none", bf16=False, **args))
    return [[int(label != -100) for label in labels] for labels in trainer.train_dataset["labels"]]


@pytest.mark.parametrize("args", [
    {"max_length": 64, "assistant_only_loss": True},
    {"max_length": 64},                                           # TRL's default: every token of a conversation
    {"max_length": 16, "assistant_only_loss": True},              # truncated inside the answer
    {"max_length": 16, "assistant_only_loss": True, "truncation_mode": "keep_end"},
])
def test_conversation_masks_are_the_sft_trainers(model, tmp_path, args):
    toml = "\n".join(f"{k} = {json.dumps(v)}" for k, v in args.items())
    data, config = write(tmp_path, CHATS, toml)
    assert expected_masks(data, config) == sft_trained(model, tmp_path, CHATS, **args)


@pytest.mark.parametrize("args", [{"max_length": 64}, {"max_length": 64, "completion_only_loss": False}])
def test_prompt_completion_masks_are_the_sft_trainers(model, tmp_path, args):
    toml = "\n".join(f"{k} = {json.dumps(v)}" for k, v in args.items())
    data, config = write(tmp_path, PAIRS, toml)
    assert expected_masks(data, config) == sft_trained(model, tmp_path, PAIRS, **args)


@pytest.mark.parametrize("args", [
    {"max_length": 64},                                           # no assistant_only_loss: TRL trains every token
    {"max_length": 16, "assistant_only_loss": True, "truncation_mode": "keep_end"},
])
def test_stats_count_what_the_sft_trainer_trains(model, tmp_path, workspace, args):
    toml = "\n".join(f"{k} = {json.dumps(v)}" for k, v in args.items())
    data, config = write(tmp_path, CHATS, toml)
    settings = backend.settings_for(str(data), config=str(config))
    trained = sum(map(sum, sft_trained(model, tmp_path, CHATS, **args)))
    cold, warm = backend.compute_stats(settings), backend.compute_stats(settings)
    assert not cold.cached and warm.cached
    assert cold.stats.trained_tokens == warm.stats.trained_tokens == trained
    if "assistant_only_loss" not in args:
        assert cold.stats.trained_tokens == cold.stats.total_tokens
        assert "every token of conversations" in settings.describe()


def test_preference_prompt_ends_where_the_dpo_trainer_puts_it(model, tmp_path):
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    rows = [{"prompt": "say wo", "chosen": "rld now", "rejected": "rd now"},
            {"chosen": "The sky is blue", "rejected": "The sky is green"}]  # implicit prompt: TRL's extract_prompt
    data, config = write(tmp_path, rows[:1], "max_length = 64", trainer="dpo")
    tok = AutoTokenizer.from_pretrained(str(MODEL))
    for row in rows:
        data.write_text(json.dumps(row) + "\n")
        trainer = DPOTrainer(model=model, processing_class=tok, train_dataset=Dataset.from_list([row]),
                             args=DPOConfig(output_dir=str(tmp_path / "out"), report_to="none", bf16=False,
                                            max_length=64))
        prepared = trainer.train_dataset[0]
        prompt = len(prepared["prompt_ids"])
        want = [[0] * prompt + [1] * len(prepared[side]) for side in ("chosen_ids", "rejected_ids")]
        assert expected_masks(data, config) == want, row

"""Up-front checks of the TRL-based trainers: data kind, trainer options, args of their real config class."""

from __future__ import annotations

import pytest

from tests.conftest import CONFIGS, DATA, cli
from workbench.config.loader import load_config
from workbench.errors import ConfigError, DataError
from workbench.plugin_manager import get_registry

PRESETS = ["dpo", "kto", "reward", "grpo", "rloo"]


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_validate_and_declare_their_models(preset):
    config = load_config(CONFIGS / f"{preset}.toml")
    spec = get_registry().trainer(config.trainer_name)
    assert spec.name == preset
    assert spec.models[0].role == "policy" and spec.models[0].trainable
    if preset != "reward":
        assert [m.role for m in spec.models] == ["policy", "reference"] and spec.models[1].shares_base_with_lora


@pytest.mark.parametrize("trainer, data, kind", [
    ("dpo", "sft-messages.jsonl", "conversational"),
    ("reward", "kto.jsonl", "unpaired_preference"),
    ("kto", "preference.jsonl", "preference"),
    ("grpo", "sft-prompt-completion.jsonl", "prompt_completion"),
    ("rloo", "preference.jsonl", "preference"),
])
def test_wrong_data_kind_is_one_error_naming_both_kinds(trainer, data, kind):
    with pytest.raises(DataError) as exc:
        load_config(CONFIGS / f"{trainer}.toml", [f"data.train={str(DATA / data)!r}"])
    msg = exc.value.one_line()
    assert "\n" not in msg
    assert f"trainer '{trainer}' needs" in msg and f"is {kind}" in msg and data in msg
    assert msg.startswith(str(CONFIGS / f"{trainer}.toml") + " (--set): data.train: ")  # the override, not a line


def test_grpo_takes_plain_prompts_too():
    load_config(CONFIGS / "grpo.toml", [f"data.train={str(DATA / 'prompts.jsonl')!r}"])


def test_trainer_args_are_checked_against_trls_config_classes():
    with pytest.raises(ConfigError, match="not a field of DPOConfig; did you mean 'beta'"):
        load_config(CONFIGS / "dpo.toml", ["trainer.args.betta=0.2"])
    with pytest.raises(ConfigError, match="not a field of GRPOConfig"):
        load_config(CONFIGS / "grpo.toml", ["trainer.args.reward_functions=['length']"])
    with pytest.raises(ConfigError, match="unknown key for trainer 'dpo'"):
        load_config(CONFIGS / "dpo.toml", ["trainer.reward_functions=['length']"])


def test_cli_reports_a_wrong_kind_in_one_line(workspace):
    result = cli("validate", str(CONFIGS / "dpo.toml"), "--set", f"data.train={str(DATA / 'sft-messages.jsonl')!r}")
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "needs preference data" in errors[0] and "conversational" in errors[0]

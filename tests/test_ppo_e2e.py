"""PPO through `workbench run`: the preset raises its toy reward; LoRA; a reward model from the reward trainer."""

from __future__ import annotations

import statistics

import pytest

from tests.conftest import CONFIGS, cli, metric_rows
from workbench.runs.store import list_runs

pytestmark = pytest.mark.slow


def last_run(workspace):
    return list_runs(workspace)[-1]


def test_ppo_preset_raises_the_toy_reward(workspace):
    result = cli("run", str(CONFIGS / "ppo.toml"))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    run = last_run(workspace)
    rows = metric_rows(run.dir)
    assert [r["step"] for r in rows] == list(range(1, 41))
    for key in ("reward", "kl", "entropy", "policy_loss", "value_loss", "clipfrac", "approxkl", "response_length"):
        assert key in rows[-1], key
    first = [r["reward"] for r in rows[:10]]
    last = [r["reward"] for r in rows[-10:]]
    # The step-to-step spread of the early rewards sets the noise level the gain must clear.
    noise = statistics.stdev(first) / len(first) ** 0.5 + statistics.stdev(last) / len(last) ** 0.5
    gain = statistics.mean(last) - statistics.mean(first)
    assert gain > max(0.05, 4 * noise), (gain, noise)
    assert (run.dir / "checkpoints" / "final").is_dir()


def test_ppo_with_lora_saves_only_the_adapter(workspace):
    result = cli("run", str(CONFIGS / "ppo.toml"), "--set", "trainer.args.max_steps=4", "--set", "peft.r=8",
                 "--set", "peft.lora_dropout=0.0")
    assert result.returncode == 0, result.stderr[-2000:]
    final = last_run(workspace).dir / "checkpoints" / "final"
    assert (final / "adapter_model.safetensors").exists()
    assert not (final / "model.safetensors").exists()


def test_ppo_with_a_reward_model_trained_by_the_reward_trainer(workspace):
    trained = cli("run", str(CONFIGS / "reward.toml"), "--set", "trainer.args.max_steps=10")
    assert trained.returncode == 0, trained.stderr[-2000:]
    reward_model = last_run(workspace).dir / "checkpoints" / "final"
    config = workspace / "ppo-rm.toml"
    text = (CONFIGS / "ppo.toml").read_text().replace("../", str(CONFIGS.parent) + "/")
    text = text.replace('reward_function = "char_share"\n', f'reward_model = "{reward_model}"\n')
    text = text.replace('reward_function_kwargs = { chars = "0123456789" }\n', "")
    config.write_text(text)
    result = cli("run", str(config), "--set", "trainer.args.max_steps=3")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    run = last_run(workspace)
    assert run.config()["trainer"]["args"]["reward_model"] == str(reward_model)
    rows = metric_rows(run.dir)
    assert len(rows) == 3 and all(isinstance(r["reward"], float) for r in rows)

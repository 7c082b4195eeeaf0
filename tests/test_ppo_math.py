"""PPO maths against values computed by hand, config validation, reward resolution, plugin contract."""

from __future__ import annotations

import math
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from workbench.errors import ConfigError
from workbench_plugins.ppo import core
from workbench_plugins.ppo.config import PPOConfig
from workbench_plugins.ppo.rewards import call_reward_function, resolve_reward_function


def close(a: torch.Tensor, b, tol: float = 1e-5) -> bool:
    return torch.allclose(a, torch.as_tensor(b, dtype=a.dtype), atol=tol)


def test_masked_mean_var_whiten_ignore_padding():
    values = torch.tensor([[1.0, 2.0, 3.0, 100.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]])
    assert close(core.masked_mean(values, mask), 2.0)
    assert close(core.masked_var(values, mask), 1.0)  # (1 + 0 + 1) / (3 - 1)
    assert close(core.masked_var(values, mask, unbiased=False), 2 / 3)
    assert close(core.masked_whiten(values, mask), [[-1.0, 0.0, 1.0, 0.0]], tol=1e-4)
    # shift_mean=False keeps the mean: (x - 2) / 1 + 2
    assert close(core.masked_whiten(values, mask, shift_mean=False), [[1.0, 2.0, 3.0, 0.0]], tol=1e-4)


def test_gae_three_steps_by_hand():
    rewards = torch.tensor([[1.0, 0.0, 2.0]])
    values = torch.tensor([[0.5, 1.0, 1.5]])
    mask = torch.ones(1, 3)
    adv, ret = core.compute_gae(rewards, values, mask, gamma=0.9, lam=0.8)
    # t2: 2 - 1.5 = 0.5; t1: 0.9*1.5 - 1 + 0.72*0.5 = 0.71; t0: 1 + 0.9 - 0.5 + 0.72*0.71 = 1.9112
    assert close(adv, [[1.9112, 0.71, 0.5]])
    assert close(ret, [[2.4112, 1.71, 2.0]])


def test_gae_stops_at_the_end_of_the_response():
    rewards = torch.tensor([[1.0, 0.0, 2.0]])
    values = torch.tensor([[0.5, 1.0, 1.5]])
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    adv, ret = core.compute_gae(rewards, values, mask, gamma=0.9, lam=0.8)
    # t1 is the last real token: its next value is 0 -> delta = -1; t0: 1.4 + 0.72 * -1 = 0.68
    assert close(adv, [[0.68, -1.0, 0.0]])
    assert close(ret, [[1.18, 0.0, 0.0]])


def test_per_token_rewards_put_score_on_last_real_token():
    scores = torch.tensor([3.0, 1.0])
    logprobs = torch.tensor([[-1.0, -2.0, -3.0], [-1.0, -1.0, -1.0]])
    ref = torch.tensor([[-1.5, -1.5, -1.0], [-1.0, -1.0, -1.0]])
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    rewards, non_score, kl = core.per_token_rewards(scores, logprobs, ref, mask, kl_coef=0.1)
    assert close(kl, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]])
    assert close(non_score, [[-0.05, 0.05, 0.0], [0.0, 0.0, 0.0]])
    assert close(rewards, [[-0.05, 3.05, 0.0], [0.0, 0.0, 1.0]])


def test_k3_estimator_is_nonnegative_by_hand():
    kl = core.kl_per_token(torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -1.5]), "k3")
    expected = [math.exp(-0.5) - 1 + 0.5, math.exp(0.5) - 1 - 0.5]
    assert close(kl, expected)
    with pytest.raises(ValueError):
        core.kl_per_token(torch.zeros(1), torch.zeros(1), "k2")


def test_clipped_policy_loss_by_hand():
    new = torch.log(torch.tensor([[1.5, 0.5, 1.1]]))
    old = torch.zeros(1, 3)
    adv = torch.tensor([[1.0, -1.0, 2.0]])
    loss, stats = core.policy_loss(new, old, adv, torch.ones(1, 3), cliprange=0.2)
    # per token max(-A r, -A clip(r)): max(-1.5, -1.2) = -1.2; max(0.5, 0.8) = 0.8; -2.2 (inside the clip)
    assert close(loss, (-1.2 + 0.8 - 2.2) / 3)
    assert close(stats["clipfrac"], 2 / 3)
    assert close(stats["approxkl"], 0.5 * (math.log(1.5) ** 2 + math.log(0.5) ** 2 + math.log(1.1) ** 2) / 3)


def test_policy_loss_ignores_masked_tokens():
    new = torch.log(torch.tensor([[1.5, 9.0]]))
    loss, stats = core.policy_loss(new, torch.zeros(1, 2), torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, 0.0]]), 0.2)
    assert close(loss, -1.2)
    assert close(stats["clipfrac"], 1.0)


def test_clipped_value_loss_by_hand():
    new = torch.tensor([[2.0, 0.0]])
    old = torch.tensor([[1.0, 0.5]])
    returns = torch.tensor([[3.0, 0.4]])
    loss, stats = core.value_loss(new, old, returns, torch.ones(1, 2), cliprange_value=0.5)
    # clipped values 1.5 and 0.0; max((2-3)^2, (1.5-3)^2) = 2.25; max(0.16, 0.16) = 0.16
    assert close(loss, 0.5 * (2.25 + 0.16) / 2)
    assert close(stats["value_clipfrac"], 0.5)


def test_entropy_and_logprobs_from_logits():
    logits = torch.tensor([[[0.0, 0.0], [0.0, math.log(3.0)]]])
    assert close(core.entropy_from_logits(logits), [[math.log(2.0), -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))]])
    assert close(core.logprobs_from_logits(logits, torch.tensor([[1, 1]])), [[math.log(0.5), math.log(0.75)]])


def test_response_mask_truncates_after_stop_token():
    responses = torch.tensor([[5, 2, 7, 7], [5, 6, 7, 8], [2, 0, 0, 0]])
    assert close(core.response_mask(responses, 2, 0), [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]])
    assert close(core.response_mask(torch.tensor([[5, 6, 0, 0], [0, 0, 0, 0]]), None, 0), [[1, 1, 0, 0], [0, 0, 0, 0]])


def test_config_validation_names_the_field():
    with pytest.raises(ConfigError, match="trainer.args.num_mini_batches"):
        PPOConfig(rollout_batch_size=6, num_mini_batches=4)
    with pytest.raises(ConfigError, match="trainer.args.gradient_accumulation_steps"):
        PPOConfig(rollout_batch_size=8, num_mini_batches=2, gradient_accumulation_steps=3)
    with pytest.raises(ConfigError, match="trainer.args.temperature"):
        PPOConfig(temperature=0)
    with pytest.raises(ConfigError, match="did you mean 'kl_coef'"):
        PPOConfig.from_dict({"kl_coeff": 0.1})
    cfg = PPOConfig.from_dict({"rollout_batch_size": 8, "num_mini_batches": 2, "gradient_accumulation_steps": 2})
    assert (cfg.mini_batch_size, cfg.micro_batch_size) == (4, 2)


def test_every_config_field_has_help():
    from dataclasses import fields

    missing = [f.name for f in fields(PPOConfig) if not f.metadata.get("help")]
    assert missing == []


def count_a(prompts, completions, **kw):
    return [c.count("a") for c in completions]


def test_reward_function_resolution():
    assert resolve_reward_function(count_a) is count_a
    assert resolve_reward_function(f"{__name__}:count_a") is count_a
    spec = SimpleNamespace(name="const", factory=f"{__name__}:make_const")
    fn = resolve_reward_function(spec, {"value": 2.5})
    assert fn(["p"], ["c"]) == [2.5]
    with pytest.raises(ConfigError, match="cannot import"):
        resolve_reward_function("no_such_module_xyz:fn")
    with pytest.raises(ConfigError, match="non-callable"):
        resolve_reward_function(f"{__name__}:NOT_CALLABLE")


NOT_CALLABLE = 3


def make_const(value: float):
    return lambda prompts, completions, **kw: [value] * len(completions)


def test_call_reward_function_checks_its_answer():
    scores = call_reward_function(count_a, ["p", "q"], ["aa", "b"], [[1], [2]], {})
    assert scores.tolist() == [2.0, 0.0]
    chat = call_reward_function(lambda p, c, **kw: [len(c[0][0]["content"])], [[{"role": "user", "content": "x"}]], ["abc"], [[1]], {})
    assert chat.tolist() == [3.0]
    with pytest.raises(ConfigError, match="1 scores for 2 completions"):
        call_reward_function(lambda p, c, **kw: [1.0], ["p", "q"], ["a", "b"], [[1], [2]], {})
    with pytest.raises(ConfigError, match="NaN"):
        call_reward_function(lambda p, c, **kw: [float("nan")], ["p"], ["a"], [[1]], {})


def test_plugin_registers_ppo_without_importing_torch():
    code = (
        "import sys, workbench_plugins.ppo.plugin as p;"
        "spec = p.register_trainers()[0];"
        "print(spec.name, spec.data_kinds, [m.role for m in spec.models]);"
        "print(any(m in sys.modules for m in ('torch', 'transformers', 'accelerate')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == "ppo ('prompt_only',) ['policy', 'value', 'reference', 'reward']"
    assert out[1] == "False"

"""The trainable module of PPO: the policy causal LM, and a value function.

The value function is a scalar head on the last hidden state of either
- a separate critic ("separate", default for full fine-tuning): a trainable copy of the
  policy, as in TRL's last PPOTrainer and the N implementation details. On the toy task
  of bench/bench_ppo.py it reached 0.95 mean reward in 60 steps where the shared head
  reached 0.73, because the policy's features are not pulled two ways; or
- the policy itself ("shared", default with LoRA): one forward pass gives log-probs and
  values, and it costs `hidden_size + 1` weights instead of a second model (the older
  `AutoModelForCausalLMWithValueHead` design).
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn


class ValueHead(nn.Module):
    """Linear map from a hidden state to a scalar value, kept in float32.

    Zero-initialised: V starts at 0 everywhere, so the first advantages are the
    (KL-shaped) rewards themselves instead of noise from a random head.
    """

    def __init__(self, hidden_size: int):
        super().__init__()
        self.summary = nn.Linear(hidden_size, 1, dtype=torch.float32)
        nn.init.zeros_(self.summary.weight)
        nn.init.zeros_(self.summary.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.summary(hidden.to(self.summary.weight.dtype)).squeeze(-1)


def is_peft_model(model: nn.Module) -> bool:
    """True for a PEFT model whose adapters can be switched off (LoRA and friends)."""
    return hasattr(model, "disable_adapter") and hasattr(model, "peft_config")


def hidden_size_of(model: nn.Module) -> int:
    config = model.config
    get_text = getattr(config, "get_text_config", None)
    text_config = get_text() if callable(get_text) else config
    return int(getattr(text_config, "hidden_size", None) or getattr(text_config, "d_model"))


class PolicyWithValue(nn.Module):
    """Wraps a causal LM and its value head into the one module the optimizer/DDP sees."""

    def __init__(self, policy: nn.Module, value_head: ValueHead | None = None, critic: nn.Module | None = None):
        super().__init__()
        self.policy = policy
        self.critic = critic  # None: the value head reads the policy's own hidden states
        self.value_head = value_head or ValueHead(hidden_size_of(critic if critic is not None else policy))
        device = next(policy.parameters()).device
        self.value_head.to(device)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        response_len: int,
        with_values: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits and values at the positions that predict the last `response_len` tokens.

        Returns logits `[B, response_len, V]` and values `[B, response_len]` (None
        without `with_values`).
        """
        if self.critic is None:
            return policy_forward(self.policy, input_ids, attention_mask, response_len, self.value_head if with_values else None)
        logits, _ = policy_forward(self.policy, input_ids, attention_mask, response_len)
        values = None
        if with_values:
            _, values = policy_forward(self.critic, input_ids, attention_mask, response_len, self.value_head)
        return logits, values


def policy_forward(
    model: nn.Module,
    input_ids: torch.Tensor,
    attention_mask: torch.Tensor,
    response_len: int,
    value_head: ValueHead | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Run a causal LM on query+response (left-padded queries) and slice out the response part."""
    position_ids = (attention_mask.long().cumsum(1) - 1).clamp(min=0)
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids,
        output_hidden_states=value_head is not None,
        use_cache=False,
        logits_to_keep=response_len + 1,
    )
    logits = out.logits[:, -(response_len + 1) : -1]
    values = None
    if value_head is not None:
        hidden = out.hidden_states[-1][:, -(response_len + 1) : -1]
        values = value_head(hidden)
    return logits, values


@contextlib.contextmanager
def reference_mode(policy: nn.Module) -> Iterator[None]:
    """Within the block a PEFT policy runs as its frozen base (adapters disabled)."""
    with policy.disable_adapter():
        yield


def disable_dropout(model: nn.Module) -> None:
    """PPO's ratio needs rollout and update passes to agree: no dropout anywhere."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0

"""The PPO-for-RLHF maths as pure tensor functions (no model, no state).

Shapes: `[batch, T]` over response tokens; `mask` is 1 on real response tokens (up to
and including the stop token) and 0 on the padding after it. Follows "The N
Implementation Details of RLHF with PPO" (Huang et al.) and TRL's last PPOTrainer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def masked_sum(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Sum of `values` where `mask` is 1."""
    return (values * mask).sum() if dim is None else (values * mask).sum(dim)


def masked_mean(values: torch.Tensor, mask: torch.Tensor, dim: int | None = None) -> torch.Tensor:
    """Mean of `values` over the positions where `mask` is 1 (0 when the mask is empty)."""
    count = mask.sum() if dim is None else mask.sum(dim)
    return masked_sum(values, mask, dim) / count.clamp(min=1)


def masked_var(values: torch.Tensor, mask: torch.Tensor, unbiased: bool = True) -> torch.Tensor:
    """Variance of the masked values (Bessel-corrected by default, as in TRL)."""
    mean = masked_mean(values, mask)
    var = masked_mean((values - mean) ** 2, mask)
    if unbiased:
        n = mask.sum()
        if n > 1:
            var = var * n / (n - 1)
    return var


def masked_whiten(values: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    """Normalise to unit variance (and zero mean unless `shift_mean` is False) over the mask."""
    mean, var = masked_mean(values, mask), masked_var(values, mask)
    whitened = (values - mean) * torch.rsqrt(var + 1e-8)
    if not shift_mean:
        whitened = whitened + mean
    return whitened * mask


def kl_per_token(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: str = "k1") -> torch.Tensor:
    """Per-token KL(policy || reference) estimate from sampled-token log-probs.

    k1 = log p - log q (unbiased, can be negative); k3 = (r - 1) - log r with r = q/p
    (unbiased, always >= 0, lower variance).
    """
    logr = ref_logprobs - logprobs
    if estimator == "k1":
        return -logr
    if estimator == "k3":
        return torch.expm1(logr) - logr
    raise ValueError(f"unknown KL estimator {estimator!r} (use 'k1' or 'k3')")


def per_token_rewards(
    scores: torch.Tensor,
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    kl_coef: float,
    estimator: str = "k1",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rewards per response token: -kl_coef * KL everywhere, plus the score at the last real token.

    Returns (rewards, non_score_rewards, kl), all `[batch, T]` and zero on padding.
    """
    kl = kl_per_token(logprobs, ref_logprobs, estimator) * mask
    non_score = -kl_coef * kl
    rewards = non_score.clone()
    last = (mask.sum(1).long() - 1).clamp(min=0)
    rows = torch.arange(rewards.size(0), device=rewards.device)
    # A response with no real token (empty mask) gets no score: nothing produced it.
    has_tokens = (mask.sum(1) > 0).to(rewards.dtype)
    rewards[rows, last] += scores.to(rewards.dtype) * has_tokens
    return rewards, non_score, kl


def compute_gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over each response (the value after the end is 0).

    delta_t = r_t + gamma * V_{t+1} - V_t;  A_t = delta_t + gamma * lam * A_{t+1};
    returns = A + V. Both outputs are zero on padding.
    """
    rewards, values = rewards * mask, values * mask
    steps = rewards.size(1)
    advantages_reversed = []
    last_gae = torch.zeros_like(rewards[:, 0])
    for t in reversed(range(steps)):
        next_value = values[:, t + 1] if t + 1 < steps else torch.zeros_like(values[:, t])
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last_gae = (delta + gamma * lam * last_gae) * mask[:, t]
        advantages_reversed.append(last_gae)
    advantages = torch.stack(advantages_reversed[::-1], dim=1)
    returns = (advantages + values) * mask
    return advantages, returns


def policy_loss(
    new_logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    cliprange: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped surrogate loss: mean over tokens of max(-A r, -A clip(r, 1-c, 1+c)).

    Also returns clipfrac (share of tokens where the clip was active) and approxkl
    (0.5 * mean (log r)^2), both detached.
    """
    log_ratio = new_logprobs - old_logprobs
    ratio = torch.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * torch.clamp(ratio, 1.0 - cliprange, 1.0 + cliprange)
    loss = masked_mean(torch.max(unclipped, clipped), mask)
    with torch.no_grad():
        stats = {
            "clipfrac": masked_mean((clipped > unclipped).float(), mask),
            "approxkl": 0.5 * masked_mean(log_ratio**2, mask),
            "ratio": masked_mean(ratio, mask),
        }
    return loss, stats


def value_loss(
    new_values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    cliprange_value: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped value loss: 0.5 * mean over tokens of max((V - R)^2, (V_clipped - R)^2).

    V_clipped keeps the new value within `cliprange_value` of the rollout's value.
    """
    clipped_values = old_values + torch.clamp(new_values - old_values, -cliprange_value, cliprange_value)
    losses = (new_values - returns) ** 2
    losses_clipped = (clipped_values - returns) ** 2
    loss = 0.5 * masked_mean(torch.max(losses, losses_clipped), mask)
    with torch.no_grad():
        stats = {"value_clipfrac": masked_mean((losses_clipped > losses).float(), mask)}
    return loss, stats


def logprobs_from_logits(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Log-probability of each token in `tokens` under `logits` ([B, T, V] -> [B, T])."""
    logp = F.log_softmax(logits.float(), dim=-1)
    return torch.gather(logp, 2, tokens.unsqueeze(-1)).squeeze(-1)


def entropy_from_logits(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the categorical distribution at each position ([B, T, V] -> [B, T])."""
    logits = logits.float()
    probs = F.softmax(logits, dim=-1)
    return torch.logsumexp(logits, dim=-1) - (probs * logits).sum(-1)


def response_mask(responses: torch.Tensor, stop_token_id: int | None, pad_token_id: int) -> torch.Tensor:
    """1 on response tokens up to and including the first stop token, 0 after it.

    Without a stop token, every generated token counts except trailing `pad_token_id`
    that the generator emitted after finishing.
    """
    steps = responses.size(1)
    idx = torch.arange(steps, device=responses.device).unsqueeze(0)
    if stop_token_id is not None:
        is_stop = responses == stop_token_id
        first = torch.where(is_stop.any(1), is_stop.float().argmax(1), torch.full_like(is_stop[:, 0], steps, dtype=torch.long))
        return (idx <= first.unsqueeze(1)).to(torch.float32)
    not_pad = responses != pad_token_id
    # last non-pad position + 1 (0 when everything is padding)
    length = torch.where(not_pad.any(1), steps - not_pad.flip(1).float().argmax(1), torch.zeros_like(not_pad[:, 0], dtype=torch.long))
    return (idx < length.unsqueeze(1)).to(torch.float32)

"""Activation memory of a decoder-only transformer, per GPU.

Per token and decoder layer, training keeps the tensors autograd saves for backward
(bytes, with `a` the activation dtype size, h hidden, q/kv the query and key/value
widths, i the MLP width). The factor follows a Llama layer under SDPA
(flash / memory-efficient attention, so no seq x seq score matrix):

  each RMSNorm   (4 + a) * h    fp32 upcast of its input + normalized output
  attention      a * (3q + 2kv) rotated q and k, v, attention output, o_proj input
  MLP            a * 4i         gate output, SiLU output, up output, their product
  LoRA target    a * r          (+ (a + 1) * in_features with dropout: copy + mask)

For Llama-3-8B in bf16 that is ~47 h bytes per token per layer. With gradient
checkpointing only each layer's input (a * h) is kept, plus one layer's full set
while it is recomputed. The loss adds the logits: the model's output in dtype `a`,
its fp32 upcast and the fp32 log-softmax kept for backward, (a + 8) * vocab per token.
A working allowance of one layer's gradient buffers, a * (2h + 2i), covers backward.
"""

from __future__ import annotations

from dataclasses import dataclass

from workbench.estimate.modelshape import LINEAR, NORM, ModelShape


@dataclass(frozen=True)
class ActivationBytes:
    """Saved activations, loss-related tensors, and weight copies autocast keeps alive."""

    saved: int
    logits: int
    autocast_copies: int


def _norms_per_layer(shape: ModelShape) -> tuple[int, int]:
    """(hidden-size norms, q/k-norm elements) applied per layer and token."""
    hidden, qk = 0, 0
    for t in shape.tensors:
        if t.kind == NORM and t.count == shape.num_layers:
            if "q_norm" in t.name or "k_norm" in t.name:
                # per-head norms see every head's slice: q_dim or kv_dim elements per token
                qk += shape.q_dim if "q_norm" in t.name else shape.kv_dim
            else:
                hidden += 1
    return hidden, qk


def layer_bytes_per_token(shape: ModelShape, a: int, lora_targets: list[tuple[int, int]] | None = None,
                          lora_r: int = 0, lora_dropout: float = 0.0) -> int:
    """Bytes saved for backward by one decoder layer for one token (see module docstring)."""
    n_norms, qk = _norms_per_layer(shape)
    h, q, kv, i = shape.hidden_size, shape.q_dim, shape.kv_dim, shape.intermediate_size
    total = n_norms * (4 + a) * h + (4 + a) * qk + a * (3 * q + 2 * kv) + a * 4 * i
    for in_features, _out in lora_targets or ():
        total += a * lora_r
        if lora_dropout > 0:
            total += (a + 1) * in_features
    return total


def training_activations(shape: ModelShape, tokens: int, a: int, checkpointing: bool, *,
                         lora_targets: list[tuple[int, int]] | None = None, lora_r: int = 0,
                         lora_dropout: float = 0.0, autocast_weights: bool = False,
                         lm_logits: bool = True) -> ActivationBytes:
    """Activation bytes of a model being trained on `tokens` tokens per micro-batch.

    autocast_weights: fp32 weights run under bf16/fp16 autocast, whose half-precision
    weight copies stay referenced by autograd until each layer's backward.
    """
    h, i, L = shape.hidden_size, shape.intermediate_size, shape.num_layers
    per_layer = layer_bytes_per_token(shape, a, lora_targets, lora_r, lora_dropout)
    working = a * (2 * h + 2 * i)
    final_norm = (4 + a) * h
    if checkpointing:
        saved = tokens * (L * a * h + per_layer + working + final_norm)
    else:
        saved = tokens * (L * per_layer + working + final_norm)
    logits = tokens * shape.vocab_size * (a + 8) if lm_logits else tokens * 4 * 3
    copies = 0
    if autocast_weights:
        layer_linear = sum(t.numel for t in shape.tensors if t.kind == LINEAR)
        head = shape.vocab_size * h if lm_logits else h
        copies = 2 * ((layer_linear if checkpointing else layer_linear * L) + head)
    return ActivationBytes(saved=saved, logits=logits, autocast_copies=copies)


def inference_activations(shape: ModelShape, tokens: int, a: int, lm_logits: bool = True) -> int:
    """Transient bytes of a no-grad forward (reference / reward model): one layer plus log-probs."""
    h, i = shape.hidden_size, shape.intermediate_size
    layer = tokens * a * (2 * h + 2 * i + shape.q_dim + 2 * shape.kv_dim)
    return layer + (tokens * shape.vocab_size * (a + 4) if lm_logits else 0)

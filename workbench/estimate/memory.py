"""Bytes of weights, quantization state and optimizer state, tensor by tensor.

Sizes follow the libraries' own allocation rules so that they add up exactly to
the tensors a training step holds: bitsandbytes packs two 4-bit values per byte and
keeps one absmax per 64-value block (double quantization stores those as uint8 plus
a second-level fp32 absmax per 256 blocks), LLM.int8 keeps int8 weights plus one
fp32 scale per output row; bitsandbytes 8-bit optimizers keep uint8 states with one
fp32 absmax per 256 values and a 256-entry fp32 map, for tensors of at least 4096
values (smaller ones get fp32 states).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from workbench.estimate.modelshape import LINEAR, TensorSpec
from workbench.estimate.settings import QuantSettings

BNB_MIN_8BIT_SIZE = 4096
BNB_OPTIM_BLOCK = 256
BNB_QMAP = 256
NF4_CODE = 16           # entries of the 4-bit code book (fp32), one per quantized tensor
NESTED_BLOCK = 256      # double quantization: blocks per second-level absmax
NESTED_CODE = 256       # entries of the 8-bit code book of the nested absmax (fp32)


def weight_bytes(t: TensorSpec, load_bytes: int, quant: QuantSettings | None) -> tuple[int, int]:
    """(storage bytes, quantization-state bytes) of all copies of a tensor.

    bitsandbytes replaces only nn.Linear layers of the decoder; embeddings, norms,
    biases and the output head stay in the load dtype.
    """
    if quant is None or t.kind != LINEAR:
        return t.total * load_bytes, 0
    n = t.numel
    if quant.bits == 8:
        return n * t.count, t.shape[0] * 4 * t.count          # int8 + fp32 SCB per output row
    blocks = math.ceil(n / quant.blocksize)
    storage = math.ceil(n / 2)
    if quant.double_quant:
        state = blocks + 4 + math.ceil(blocks / NESTED_BLOCK) * 4 + NESTED_CODE * 4  # uint8 absmax, offset, nested absmax, code
    else:
        state = blocks * 4
    state += NF4_CODE * 4
    return storage * t.count, state * t.count


@dataclass(frozen=True)
class OptimizerModel:
    """How an optimizer stores state: `states` per parameter, in which form."""

    name: str
    states: int           # moment tensors per parameter
    kind: str             # "torch" (param dtype), "bnb32" (fp32), "bnb8" (blockwise uint8), "adafactor", "none"
    step_on_device: bool = False
    paged: bool = False
    known: bool = True


_OPTIMIZERS: dict[str, OptimizerModel] = {}


def _add(names: str, **kw) -> None:
    for n in names.split():
        _OPTIMIZERS[n] = OptimizerModel(name=n, **kw)


# Fused AdamW keeps its step counter on the device; the foreach/for-loop versions keep it on the CPU.
_add("adamw_torch_fused", states=2, kind="torch", step_on_device=True)
_add("adamw_torch adamw_hf adamw_torch_xla adamw_torch_npu_fused adamw_apex_fused", states=2, kind="torch")
_add("adamw_bnb_8bit adamw_8bit", states=2, kind="bnb8")
_add("paged_adamw_8bit", states=2, kind="bnb8", paged=True)
_add("paged_adamw_32bit", states=2, kind="bnb32", paged=True)
_add("lion_8bit", states=1, kind="bnb8")
_add("paged_lion_8bit", states=1, kind="bnb8", paged=True)
_add("lion_32bit", states=1, kind="bnb32")
_add("paged_lion_32bit", states=1, kind="bnb32", paged=True)
_add("rmsprop_bnb_8bit", states=1, kind="bnb8")
_add("rmsprop_bnb rmsprop_bnb_32bit", states=1, kind="bnb32")
_add("adagrad rmsprop", states=1, kind="torch")
_add("sgd", states=0, kind="none")        # the Trainer's SGD has no momentum: no state
_add("adafactor", states=1, kind="adafactor")


def optimizer_model(name: str) -> OptimizerModel:
    """The storage model of an optimizer name (TrainingArguments.optim); AdamW when unknown."""
    if name in _OPTIMIZERS:
        return _OPTIMIZERS[name]
    return OptimizerModel(name=name, states=2, kind="torch", known=False)


def is_8bit_optimizer(name: str) -> bool:
    """True for bitsandbytes 8-bit optimizers."""
    return optimizer_model(name).kind == "bnb8"


def optimizer_bytes(shape: tuple[int, ...], count: int, param_bytes: int, opt: OptimizerModel) -> int:
    """Optimizer-state bytes of `count` trainable tensors of one shape."""
    n = math.prod(shape)
    if opt.kind == "none":
        per = 0
    elif opt.kind == "torch":
        per = opt.states * n * param_bytes
    elif opt.kind == "bnb32" or (opt.kind == "bnb8" and n < BNB_MIN_8BIT_SIZE):
        per = opt.states * n * 4
    elif opt.kind == "bnb8":
        per = opt.states * (n + math.ceil(n / BNB_OPTIM_BLOCK) * 4 + BNB_QMAP * 4)
    else:  # adafactor: factored row/column second moments for matrices, in the gradient dtype,
        # plus its 0-dim fp32 RMS tensor
        if len(shape) >= 2:
            per = (math.prod(shape[:-1]) + math.prod(shape[:-2]) * shape[-1]) * param_bytes + 4
        else:
            per = n * param_bytes + 4
    if opt.step_on_device:
        per += 4
    return per * count

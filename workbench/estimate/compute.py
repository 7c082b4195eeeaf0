"""Per-GPU memory of a training job, from settings and model shapes (no weights loaded).

The result is a breakdown in bytes whose parts add up to the total:

  weights          every model's parameters as stored (load dtype, or 4/8-bit packed)
  quant_state      bitsandbytes absmax / code books / int8 row scales
  adapters         LoRA A/B matrices (fp32 by PEFT's default, bf16 for QLoRA as TRL casts them)
  gradients        one per trainable parameter, in its dtype
  optimizer_states per the optimizer's storage rule (see memory.py)
  master_weights   fp32 copies DeepSpeed keeps when training in bf16/fp16
  activations      tensors saved for backward (see activations.py), plus extra models' forwards
  logits           the output logits, their fp32 upcast and log-softmax
  autocast_copies  half-precision copies of fp32 weights held by autograd under autocast
  comm_buffers     DDP gradient buckets / FSDP and ZeRO gather and reduce buffers
  overlap          (negative) with one micro-batch per step, gradients appear while
                   activations are freed, so both are never fully resident at once
  cuda_overhead    CUDA context and caching-allocator slack

Division per rank: DDP replicates everything; FSDP full-shard divides parameters,
gradients and optimizer states by the world size; ZeRO-1 divides optimizer states
(with fp32 masters), ZeRO-2 also gradients, ZeRO-3 also parameters. Activations are
never divided.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from workbench.estimate.activations import inference_activations, training_activations
from workbench.estimate.memory import optimizer_bytes, optimizer_model, weight_bytes
from workbench.estimate.modelshape import EMBEDDING, HEAD, LINEAR, ModelShape, TensorSpec
from workbench.estimate.settings import DTYPE_BYTES, JobSettings, normalize_dtype
from workbench.errors import ConfigError

GiB = 1024**3
MiB = 1024**2
CUDA_CONTEXT_BYTES = 512 * MiB      # context + cuBLAS workspace, outside PyTorch's allocator
NCCL_BYTES = 256 * MiB              # communicator buffers per rank when world size > 1
ALLOCATOR_SLACK = 0.05              # caching-allocator fragmentation, share of tensor bytes
DEEPSPEED_BUCKET_ELEMENTS = 500_000_000   # DeepSpeed's default reduce/allgather bucket sizes

BREAKDOWN_KEYS = ("weights", "quant_state", "adapters", "gradients", "optimizer_states", "master_weights",
                  "activations", "logits", "autocast_copies", "comm_buffers", "overlap", "cuda_overhead")


@dataclass(frozen=True)
class ModelLoad:
    """One model the trainer holds: its shape and how it is used."""

    role: str
    shape: ModelShape
    trainable: bool
    shares_base: bool = False          # LoRA reference: the policy's base with adapters off
    quantized: bool = True             # whether the job's [quantization] applies to it


@dataclass
class ModelReport:
    """What one model costs, before division across ranks."""

    role: str
    params: int
    trainable_params: int
    weight_bytes: int
    note: str = ""


@dataclass
class Computed:
    """Breakdown (bytes per GPU) and the details behind it."""

    breakdown: dict[str, int]
    models: list[ModelReport]
    load_dtype: str
    param_dtype: str
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.breakdown.values())


def resolve_load_dtype(settings: JobSettings, shape: ModelShape) -> str:
    """The dtype weights are loaded in: the config's own for "auto" (transformers 5), else float32."""
    if settings.dtype != "auto":
        return settings.dtype
    try:
        return normalize_dtype(shape.config_dtype, "config.json dtype", allow_auto=False) if shape.config_dtype else "float32"
    except ConfigError:
        return "float32"


def lora_tensors(shape: ModelShape, settings: JobSettings) -> list[tuple[int, int, int]]:
    """(in_features, out_features, count) of every LoRA-adapted module.

    Each gets A (r, in) and B (out, r). "all-linear" is every nn.Linear except the
    output head (PEFT's rule); a list matches a module whose dotted path equals or
    ends with ".<name>". An adapted embedding has in = vocab, out = hidden.
    """
    lora = settings.lora
    assert lora is not None
    candidates = [t for t in shape.tensors if t.kind in (LINEAR, HEAD, EMBEDDING) and t.name.endswith(".weight")]
    if shape.tied:  # the tied lm_head is still an nn.Linear PEFT can adapt
        candidates.append(TensorSpec("lm_head.weight", (shape.vocab_size, shape.hidden_size), HEAD))
    if lora.targets == "all-linear":
        chosen = [t for t in candidates if t.kind == LINEAR]
    else:
        chosen = []
        for target in lora.targets:
            hits = [t for t in candidates if t.module == target or t.module.endswith("." + target)]
            if not hits:
                names = sorted({t.module.rsplit(".", 1)[-1] for t in candidates})
                raise ConfigError(f"'{target}' matches no linear layer of this {shape.model_type} model "
                                  f"(it has: {', '.join(names)})", where="[peft] target_modules")
            chosen.extend(h for h in hits if h not in chosen)
    out = []
    for t in chosen:
        if t.kind == EMBEDDING:
            out.append((t.shape[0], t.shape[1], t.count))
        else:
            out.append((t.shape[1], t.shape[0], t.count))
    return out


def _div(value: int, n: int) -> int:
    return math.ceil(value / n)


def compute(settings: JobSettings, models: list[ModelLoad]) -> Computed:
    """Per-GPU bytes for the job; `models[0]` is the policy."""
    policy = models[0].shape
    notes: list[str] = []
    load_dtype = resolve_load_dtype(settings, policy)
    load_b = DTYPE_BYTES[load_dtype]
    mp = settings.mixed_precision
    half = mp in ("bf16", "fp16")
    n = settings.num_processes
    dist, zero = settings.distributed, settings.zero_stage
    deepspeed_half = dist == "deepspeed" and half
    fsdp_upcast = dist == "fsdp" and half and load_b == 2
    if deepspeed_half:
        load_b = 2  # DeepSpeed casts the module to bf16/fp16 and keeps fp32 masters in the optimizer
        notes.append("DeepSpeed with mixed precision: half-precision weights, fp32 master weights and optimizer states")
    if fsdp_upcast:
        load_b = 4
        notes.append("FSDP with mixed precision: Accelerate upcasts half-precision weights to fp32 (computed in half)")
    act_b = 2 if half else load_b
    opt = optimizer_model(settings.optim)
    if not opt.known:
        notes.append(f"optimizer '{settings.optim}' is not modelled: sized as AdamW (2 states)")
    if opt.paged:
        notes.append(f"{settings.optim}: states of tensors >= 1e5 values are paged (unified memory) and can spill to CPU RAM")
    quant = settings.quant
    lora = settings.lora
    tokens = settings.batch_size * settings.seq_len * settings.sequences_per_example

    b = dict.fromkeys(BREAKDOWN_KEYS, 0)
    reports: list[ModelReport] = []
    train_dynamic = 0
    frozen_transient = 0
    head_grads = 0
    layer_gather = 0
    param_dtype = load_dtype

    for m in models:
        shape = m.shape
        q = quant if m.quantized else None
        if m.shares_base and lora is not None:
            reports.append(ModelReport(m.role, shape.param_count, 0, 0, "policy base with adapters disabled"))
            frozen_transient = max(frozen_transient, inference_activations(shape, tokens, act_b))
            continue
        w = s = 0
        for t in shape.tensors:
            tw, ts = weight_bytes(t, load_b, q)
            w, s = w + tw, s + ts
        trainable_params = 0
        grads = opt_b = master = adapters = 0
        lora_dims: list[tuple[int, int]] = []
        if m.trainable:
            if lora is not None:
                # PEFT upcasts adapters to fp32; TRL casts QLoRA adapters to bf16 and keeps base dtype under ZeRO-3.
                if q is not None:
                    pb = 2
                elif dist == "deepspeed" and zero == 3:
                    pb = load_b
                else:
                    pb = 4
                if deepspeed_half:
                    pb = 2
                r = lora.r
                for in_f, out_f, count in lora_tensors(shape, settings):
                    for tshape in ((r, in_f), (out_f, r)):
                        numel = math.prod(tshape) * count
                        trainable_params += numel
                        adapters += numel * pb
                        grads += numel * pb
                        opt_b += optimizer_bytes(tshape, count, 4 if deepspeed_half else pb, opt)
                    lora_dims.append((in_f, out_f))  # specs of layer modules: one layer's targets
                if deepspeed_half:
                    master += trainable_params * 4
                param_dtype = {4: "float32", 2: "bfloat16" if mp != "fp16" else "float16"}[pb]
            else:
                if q is not None:
                    raise ConfigError(f"{q.bits}-bit quantized weights cannot be fully fine-tuned: add a [peft] section",
                                      where="[quantization] bits")
                for t in shape.tensors:
                    trainable_params += t.total
                    grads += t.total * load_b
                    opt_b += optimizer_bytes(t.shape, t.count, 4 if deepspeed_half else load_b, opt)
                    if t.kind == HEAD:
                        head_grads += t.total * load_b
                if deepspeed_half:
                    master += trainable_params * 4
                param_dtype = {4: "float32", 2: load_dtype if load_dtype != "float32" else "bfloat16"}[load_b]
            autocast = half and load_b == 4 and not fsdp_upcast and q is None
            acts = training_activations(
                shape, tokens, act_b, settings.gradient_checkpointing,
                lora_targets=lora_dims, lora_r=lora.r if lora else 0,
                lora_dropout=lora.dropout if lora else 0.0, autocast_weights=autocast,
                lm_logits=m.role not in ("value", "reward"),
            )
            b["activations"] += acts.saved
            b["logits"] += acts.logits
            b["autocast_copies"] += acts.autocast_copies
            train_dynamic += acts.saved + acts.logits + acts.autocast_copies
            layer_gather += shape.layer_params()
        else:
            frozen_transient = max(frozen_transient, inference_activations(
                shape, tokens, act_b, lm_logits=m.role not in ("value", "reward")))
            if dist in ("fsdp",) or (dist == "deepspeed" and zero == 3):
                layer_gather = max(layer_gather, shape.layer_params())

        # division across ranks
        shard_params = dist == "fsdp" or (dist == "deepspeed" and zero == 3)
        shard_grads = dist == "fsdp" or (dist == "deepspeed" and zero >= 2)
        shard_opt = dist == "fsdp" or (dist == "deepspeed" and zero >= 1)
        b["weights"] += _div(w, n) if shard_params else w
        b["quant_state"] += _div(s, n) if shard_params else s
        b["adapters"] += _div(adapters, n) if shard_params else adapters
        b["gradients"] += _div(grads, n) if shard_grads else grads
        b["optimizer_states"] += _div(opt_b, n) if shard_opt else opt_b
        b["master_weights"] += _div(master, n) if shard_opt else master
        if dist == "ddp" and n > 1:
            b["comm_buffers"] += grads  # DDP's flat gradient buckets copy every gradient
        elif dist == "deepspeed" and zero in (1, 2) and n > 1:
            b["comm_buffers"] += 2 * 2 * min(DEEPSPEED_BUCKET_ELEMENTS, trainable_params)
        reports.append(ModelReport(m.role, shape.param_count, trainable_params, w + s + adapters,
                                   "quantized" if q is not None else ""))

    if (dist == "fsdp" or (dist == "deepspeed" and zero == 3)) and n > 1:
        # the layer being computed plus the prefetched one, gathered in compute dtype, and its full gradient
        b["comm_buffers"] += layer_gather * (2 * act_b + (4 if fsdp_upcast or load_b == 4 else load_b))

    # A frozen model's forward (reference log-probs) runs before the policy's: only an excess counts.
    b["activations"] += max(0, frozen_transient - train_dynamic)
    if settings.grad_accum == 1:
        b["overlap"] = -min(max(0, b["gradients"] - _div(head_grads, n if dist == "fsdp" or zero >= 2 else 1)),
                            train_dynamic)
    tensors = sum(b.values())
    b["cuda_overhead"] = CUDA_CONTEXT_BYTES + (NCCL_BYTES if n > 1 else 0) + int(ALLOCATOR_SLACK * tensors)
    if mp == "fp16" and load_b == 2 and dist != "deepspeed" and lora is None:
        notes.append("fp16 mixed precision on fp16 weights: the Trainer's grad scaler refuses half-precision gradients")
    return Computed(breakdown=b, models=reports, load_dtype=load_dtype, param_dtype=param_dtype, notes=notes)

"""The job settings that drive memory, read from a resolved job config dict.

Missing values take the trainer's documented defaults (TRL's for the built-in
trainers); every default taken is recorded in `assumptions` so the estimate says
what it assumed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from workbench.errors import ConfigError

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
_DTYPE_ALIASES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "half": "float16", "float": "float32"}

# TRL 1.16 configs: gradient checkpointing and bf16 on by default; batch 8 (TrainingArguments).
_TRL_TRAINERS = ("sft", "dpo", "grpo", "kto", "reward", "rloo", "ppo", "orpo", "distillation")
# Sequences one example becomes in a forward pass: DPO/reward concatenate chosen+rejected,
# KTO adds its KL batch.
_SEQUENCES_PER_EXAMPLE = {"dpo": 2, "reward": 2, "kto": 2, "orpo": 2}
_GENERATION_TRAINERS = ("grpo", "rloo", "ppo")
_ASSUMED_PROMPT_LENGTH = 512


@dataclass(frozen=True)
class LoraSettings:
    """[peft] method = "lora"."""

    r: int
    alpha: float
    targets: str | tuple[str, ...]   # "all-linear" or module names
    dropout: float = 0.0
    modules_to_save: tuple[str, ...] = ()


@dataclass(frozen=True)
class QuantSettings:
    """[quantization]: bitsandbytes 4-bit (NF4/FP4) or 8-bit (LLM.int8)."""

    bits: int
    quant_type: str = "nf4"
    double_quant: bool = False
    compute_dtype: str = "float32"
    blocksize: int = 64


@dataclass(frozen=True)
class JobSettings:
    """Everything the estimator needs besides the model shape and the GPUs."""

    model_path: str
    dtype: str                       # requested: "auto" or a concrete dtype
    trainer: str
    batch_size: int
    grad_accum: int
    seq_len: int
    gradient_checkpointing: bool
    optim: str
    mixed_precision: str             # "no" | "bf16" | "fp16"
    num_processes: int
    distributed: str                 # "none" | "ddp" | "fsdp" | "deepspeed"
    zero_stage: int
    lora: LoraSettings | None
    quant: QuantSettings | None
    sequences_per_example: int = 1
    assumptions: tuple[str, ...] = field(default=())

    def with_changes(self, **changes: Any) -> "JobSettings":
        """A copy with some fields replaced (used by the fit search)."""
        return replace(self, **changes)


def normalize_dtype(value: Any, where: str, allow_auto: bool = True) -> str:
    """'bf16' -> 'bfloat16', 'torch.float16' -> 'float16'; ConfigError otherwise."""
    text = str(value).strip().lower().removeprefix("torch.")
    text = _DTYPE_ALIASES.get(text, text)
    if text in DTYPE_BYTES or (allow_auto and text == "auto"):
        return text
    allowed = ("auto", *DTYPE_BYTES) if allow_auto else tuple(DTYPE_BYTES)
    raise ConfigError(f"unknown dtype {value!r} (expected one of {', '.join(allowed)})", where=where)


class _Reader:
    """Typed access to one config section with one-line errors naming the field."""

    def __init__(self, data: Any, section: str, source: str | None):
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(f"[{section}] must be a table", where=source)
        self.data, self.section, self.source = data, section, source

    def where(self, key: str) -> str:
        prefix = f"{self.source}: " if self.source else ""
        return f"{prefix}[{self.section}] {key}"

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def int(self, key: str, default: int, minimum: int = 1) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"must be an integer >= {minimum}, got {value!r}", where=self.where(key))
        return value

    def bool(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise ConfigError(f"must be true or false, got {value!r}", where=self.where(key))
        return value

    def choice(self, key: str, default: Any, choices: tuple) -> Any:
        value = self.data.get(key, default)
        if value not in choices:
            raise ConfigError(f"must be one of {', '.join(map(str, choices))}, got {value!r}", where=self.where(key))
        return value


def read_settings(config: Mapping[str, Any], source: str | None = None) -> JobSettings:
    """Parse the resolved job config dict into JobSettings."""
    notes: list[str] = []
    model = _Reader(config.get("model"), "model", source)
    path = model.get("path")
    if not path or not isinstance(path, str):
        raise ConfigError("is required (a folder with config.json or a Hub id)", where=model.where("path"))
    dtype = normalize_dtype(model.get("dtype", "auto"), model.where("dtype"))

    trainer = _Reader(config.get("trainer"), "trainer", source)
    name = trainer.get("name")
    if not name or not isinstance(name, str):
        raise ConfigError("is required", where=trainer.where("name"))
    args = _Reader(trainer.get("args"), "trainer.args", source)
    trl_like = name in _TRL_TRAINERS

    def default(key: str, value: Any) -> Any:
        if key not in args.data:
            notes.append(f"{key} not set: assumed {value!r}" + (f" ({name} default)" if trl_like else ""))
        return value

    batch = args.int("per_device_train_batch_size", default("per_device_train_batch_size", 8))
    accum = args.int("gradient_accumulation_steps", 1)
    if "max_length" in args.data:
        seq = args.int("max_length", 1024)
    elif name in _GENERATION_TRAINERS:
        completion = args.int("max_completion_length", 512)
        seq = completion + _ASSUMED_PROMPT_LENGTH
        notes.append(f"sequence length = max_completion_length {completion} + an assumed prompt of {_ASSUMED_PROMPT_LENGTH} tokens")
    else:
        seq = args.int("max_length", default("max_length", 1024))
    gc_key = next((k for k in ("gradient_checkpointing", "activation_checkpointing") if k in args.data), None)
    gc = args.bool(gc_key, False) if gc_key else default("gradient_checkpointing", trl_like)
    optim = str(args.get("optim", default("optim", "adamw_torch_fused")))

    launch = _Reader(config.get("launch"), "launch", source)
    procs = launch.int("num_processes", 1)
    distributed = launch.choice("distributed", "ddp" if procs > 1 else "none", ("none", "ddp", "fsdp", "deepspeed"))
    zero = launch.int("zero_stage", 0 if distributed != "deepspeed" else 2, minimum=0)
    if zero > 3:
        raise ConfigError(f"must be 0..3, got {zero}", where=launch.where("zero_stage"))
    if zero and distributed != "deepspeed":
        raise ConfigError("is only meaningful with distributed = \"deepspeed\"", where=launch.where("zero_stage"))

    bf16, fp16 = args.get("bf16"), args.get("fp16")
    for key, value in (("bf16", bf16), ("fp16", fp16)):
        if value is not None and not isinstance(value, bool):
            raise ConfigError(f"must be true or false, got {value!r}", where=args.where(key))
    if bf16 and fp16:
        raise ConfigError("bf16 and fp16 are both true", where=args.where("bf16"))
    if bf16:
        mixed = "bf16"
    elif fp16:
        mixed = "fp16"
    elif launch.data.get("mixed_precision", "auto") == "auto":
        # The worker picks bf16 on GPUs that support it; the estimate is for such a GPU.
        mixed = "bf16"
        notes.append("launch.mixed_precision = auto: assumed bf16 (a GPU with bf16 support)")
    else:
        mixed = launch.choice("mixed_precision", "no", ("auto", "no", "bf16", "fp16"))

    lora = _read_peft(config.get("peft"), source)
    quant = _read_quant(config.get("quantization"), source)
    if quant and quant.bits == 4 and lora is None:
        notes.append("4-bit weights without [peft]: only non-quantized parameters can train")

    return JobSettings(
        model_path=path, dtype=dtype, trainer=name, batch_size=batch, grad_accum=accum, seq_len=seq,
        gradient_checkpointing=gc, optim=optim, mixed_precision=mixed, num_processes=procs,
        distributed=distributed, zero_stage=zero, lora=lora, quant=quant,
        sequences_per_example=_SEQUENCES_PER_EXAMPLE.get(name, 1), assumptions=tuple(notes),
    )


def _read_peft(data: Any, source: str | None) -> LoraSettings | None:
    if not data:
        return None
    peft = _Reader(data, "peft", source)
    method = peft.get("method", "lora")
    if method != "lora":
        raise ConfigError(f"only method = \"lora\" is estimated, got {method!r}", where=peft.where("method"))
    r = peft.int("r", 8)
    alpha = peft.get("lora_alpha", 8)
    targets = peft.get("target_modules", "all-linear")
    if isinstance(targets, str):
        targets = "all-linear" if targets == "all-linear" else (targets,)
    elif isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets):
        targets = tuple(targets)
    else:
        raise ConfigError(f"must be \"all-linear\" or a list of module names, got {targets!r}",
                          where=peft.where("target_modules"))
    dropout = peft.get("lora_dropout", 0.0)
    if not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ConfigError(f"must be a number in [0, 1), got {dropout!r}", where=peft.where("lora_dropout"))
    save = peft.get("modules_to_save") or ()
    return LoraSettings(r=r, alpha=alpha, targets=targets, dropout=float(dropout), modules_to_save=tuple(save))


def _read_quant(data: Any, source: str | None) -> QuantSettings | None:
    if not data:
        return None
    q = _Reader(data, "quantization", source)
    bits = q.choice("bits", None, (4, 8))
    quant_type = q.choice("quant_type", "nf4", ("nf4", "fp4"))
    compute = normalize_dtype(q.get("compute_dtype", "float32"), q.where("compute_dtype"), allow_auto=False)
    return QuantSettings(bits=bits, quant_type=quant_type, double_quant=q.bool("double_quant", False),
                         compute_dtype=compute)

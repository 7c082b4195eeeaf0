"""Model, tokenizer, adapter and training-argument builders shared by trainer plugins."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from workbench.specs import load_object
from workbench.training.trackers import prepare_trackers

DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}
EVAL_STEPS = 10
"""eval_steps when the config has evaluation rows and [trainer.args] sets none."""


def _common_kwargs(model_cfg: dict) -> dict[str, Any]:
    kw: dict[str, Any] = {"trust_remote_code": bool(model_cfg.get("trust_remote_code", False))}
    if model_cfg.get("revision"):
        kw["revision"] = model_cfg["revision"]
    return kw


def _check_folder(path: str, what: str, weights: bool = True, tokenizer: bool = True) -> None:
    """A local folder that lost files since validation fails with its path, not a loader's stack trace."""
    from workbench.config.model_files import model_folder_problem
    from workbench.errors import ConfigError

    problem = model_folder_problem(path, config=weights, weights=weights, tokenizer=tokenizer)
    if problem:
        raise ConfigError(f"{what}: {problem}")


def load_tokenizer(config: dict):
    """The model's tokenizer (or [model].tokenizer), with a pad token and optional chat template file."""
    from transformers import AutoTokenizer

    model_cfg = config["model"]
    key = "tokenizer" if model_cfg.get("tokenizer") else "path"
    _check_folder(model_cfg[key], f"model.{key}", weights=False)
    tokenizer = AutoTokenizer.from_pretrained(model_cfg[key], **_common_kwargs(model_cfg))
    if model_cfg.get("chat_template"):
        tokenizer.chat_template = Path(model_cfg["chat_template"]).read_text(encoding="utf-8")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def quantization_config(config: dict):
    """A BitsAndBytesConfig from [quantization], or None."""
    q = config.get("quantization")
    if not q:
        return None
    import torch
    from transformers import BitsAndBytesConfig

    if q["bits"] == 8:
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=q["quant_type"],
        bnb_4bit_use_double_quant=q["double_quant"],
        bnb_4bit_compute_dtype=getattr(torch, q["compute_dtype"]),
        bnb_4bit_quant_storage=getattr(torch, q["compute_dtype"]),
    )


def model_load_kwargs(config: dict) -> dict[str, Any]:
    """Keyword arguments for from_pretrained honouring dtype, quantization and remote-code settings."""
    import torch

    model_cfg = config["model"]
    kw = _common_kwargs(model_cfg)
    dtype = model_cfg.get("dtype", "auto")
    kw["dtype"] = "auto" if dtype == "auto" else getattr(torch, DTYPES[dtype])
    if model_cfg.get("attn_implementation"):
        kw["attn_implementation"] = model_cfg["attn_implementation"]
    qc = quantization_config(config)
    if qc is not None:
        kw["quantization_config"] = qc
        if torch.cuda.is_available():
            from accelerate import PartialState

            kw["device_map"] = {"": PartialState().local_process_index}
    return kw


def load_model(config: dict, role: str = "policy", path: str | None = None, model_class: str | None = None,
               **extra: Any):
    """Load a model for `role` from `path` (default: [model].path).

    model_class: "module:Class", or the name of a transformers class (AutoModelForSequenceClassification);
    extra: more from_pretrained arguments (e.g. num_labels=1).
    """
    import transformers

    if not model_class:
        cls = transformers.AutoModelForCausalLM
    elif ":" in model_class:
        cls = load_object(model_class)
    else:
        cls = getattr(transformers, model_class)
    _check_folder(path or config["model"]["path"], f"{role} model" if path else "model.path", tokenizer=False)
    model = cls.from_pretrained(path or config["model"]["path"], **{**model_load_kwargs(config), **extra})
    adapter = config["model"].get("adapter")
    if adapter and path is None:  # [model] itself is base + adapter; other paths (a checkpoint, a reward model) are not
        model = apply_adapter(model, adapter, quantized=quantization_config(config) is not None)
    return model


def apply_adapter(model, adapter: str, quantized: bool = False):
    """`model` with the PEFT adapter at `adapter` applied: merged into the weights (a plain model any
    trainer can start from), or a frozen PeftModel on a quantized base, where merging would re-round."""
    from peft import PeftModel

    from workbench.errors import ConfigError

    if not (Path(adapter) / "adapter_config.json").is_file():
        raise ConfigError(f"not a PEFT adapter folder (no adapter_config.json): {adapter}", where="model.adapter")
    peft_model = PeftModel.from_pretrained(model, adapter, is_trainable=False)
    return peft_model if quantized else peft_model.merge_and_unload()


def peft_config(config: dict, task_type: str = "CAUSAL_LM"):
    """A peft.LoraConfig from [peft], or None for full fine-tuning."""
    p = config.get("peft")
    if not p:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=p["r"], lora_alpha=p["lora_alpha"], lora_dropout=p["lora_dropout"],
        target_modules=p["target_modules"], use_dora=p.get("use_dora", False), task_type=task_type,
    )


def build_training_args(ctx, config_class: Any, **overrides: Any):
    """The trainer's config object: workbench-managed fields, then [trainer.args], then overrides."""
    cls = load_object(config_class) if isinstance(config_class, str) else config_class
    fields = {f.name for f in dataclasses.fields(cls)}
    cfg = ctx.config
    base: dict[str, Any] = {
        "output_dir": str(ctx.output_dir),
        "report_to": "none",
        "logging_steps": 1,
        "save_strategy": "steps",
        "save_steps": 500,
        "save_total_limit": 3,
        "seed": cfg["run"]["seed"],
        "disable_tqdm": True,
        "bf16": cfg["launch"]["mixed_precision"] == "bf16",
        "fp16": cfg["launch"]["mixed_precision"] == "fp16",
        "dataloader_num_workers": 0,
    }
    from workbench.launching.options import DDP_TRAINER_ARGS

    for key, arg in DDP_TRAINER_ARGS.items():  # [launch.ddp] options the Trainer applies itself
        value = (cfg["launch"].get("ddp") or {}).get(key)
        if value is not None:
            base[arg] = value
    if ctx.eval_dataset is not None:
        base["eval_strategy"] = "steps"
        base["eval_steps"] = EVAL_STEPS
    merged = {k: v for k, v in base.items() if k in fields}
    merged.update(ctx.trainer_args)
    merged.update(overrides)
    merged["output_dir"] = str(ctx.output_dir)
    # report_to passes through to transformers' integrations; their local files go into the run
    defaults = prepare_trackers(ctx.run_dir, Path(ctx.run_dir).name, merged, fields)
    merged.update({k: v for k, v in defaults.items() if k not in ctx.trainer_args})
    return cls(**merged)

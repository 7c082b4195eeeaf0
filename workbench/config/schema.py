"""The sections and keys of a job config, with types, defaults and help.

[trainer.args] is not listed here: it is checked against the chosen trainer's own
config class (e.g. TRL's SFTConfig), so it never drifts from the library.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from workbench.errors import ConfigError

REQUIRED = object()


@dataclass(frozen=True)
class Key:
    type: str                       # str | int | float | bool | list | dict | str|list | str? | int?
    default: Any = None
    help: str = ""
    choices: tuple = ()
    low: float | None = None        # smallest allowed number
    below: float | None = None      # numbers must be smaller than this

    @property
    def required(self) -> bool:
        return self.default is REQUIRED



_TYPE_CHECKS = {
    "str": lambda v: isinstance(v, str),
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "bool": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "dict": lambda v: isinstance(v, dict),
    "str|list": lambda v: isinstance(v, (str, list)),
}


def type_ok(key: Key, value: Any) -> bool:
    """Whether `value` has the key's type (None only for an optional `T?` key)."""
    if value is None:
        return key.type.endswith("?")
    return _TYPE_CHECKS[key.type.rstrip("?")](value)


def check_value(key: Key, value: Any, keypath: str, where: Callable[[str], str]) -> None:
    """A one-line ConfigError naming `keypath` when `value` does not fit `key`: its type, range or choices."""
    if not type_ok(key, value):
        raise ConfigError(f"{keypath}: expected {key.type.rstrip('?')}, got {type(value).__name__} {value!r}",
                          where=where(keypath))
    if isinstance(value, (int, float)) and not isinstance(value, bool) and (
            (key.low is not None and value < key.low) or (key.below is not None and value >= key.below)):
        bounds = " and ".join(filter(None, [f">= {key.low}" if key.low is not None else "",
                                            f"< {key.below}" if key.below is not None else ""]))
        raise ConfigError(f"{keypath}: {value!r} out of range (must be {bounds})", where=where(keypath))
    if key.choices and value is not None and value not in key.choices:
        raise ConfigError(f"{keypath}: {value!r} is not one of {', '.join(map(repr, key.choices))}",
                          where=where(keypath))

SCHEMA: dict[str, dict[str, Key]] = {
    "run": {
        "name": Key("str?", None, "a short name, used in the run id"),
        "seed": Key("int", 42, "random seed of the job", low=0, below=2**32),
        "stop_on_nan": Key("bool", True, "stop the job (failed) when the loss becomes NaN or inf"),
        "tags": Key("list", [], "free-form labels shown in the run list"),
        "stop_grace_seconds": Key("float", 120.0, "how long a graceful stop may take before the job is killed", low=0),
        "early_stopping": Key("dict?", None, "stop training when an eval metric stops improving: {metric = "
                              "\"eval_loss\" or \"<evaluator>/<metric>\", patience = 3, threshold = 0.0, mode}"),
        "private": Key("bool", False, "make the run directory and every file in it readable by you only"),
    },
    "model": {
        "path": Key("str", REQUIRED, "a local folder or a Hugging Face Hub model id"),
        "adapter": Key("str?", None, "a PEFT (LoRA) adapter folder applied to the model at load "
                       "(merged in; kept separate under [quantization])"),
        "dtype": Key("str", "auto", "weights dtype", ("auto", "float32", "bfloat16", "float16")),
        "trust_remote_code": Key("bool", False, "run Python code shipped with the model (off unless you trust it)"),
        "revision": Key("str?", None, "Hub revision (branch, tag or commit)"),
        "tokenizer": Key("str?", None, "tokenizer folder or id, when not the model's own"),
        "chat_template": Key("str?", None, "a Jinja chat template file replacing the tokenizer's"),
        "attn_implementation": Key("str?", None, "eager, sdpa, flash_attention_2, ..."),
    },
    "data": {
        "train": Key("str", REQUIRED, "training data: .jsonl/.json/.csv/.parquet, a save_to_disk folder, or hub:NAME"),
        "eval": Key("str?", None, "evaluation data, same forms as train"),
        "format": Key("str", "auto", "a data format plugin's name, or auto to detect it"),
        "columns": Key("dict", {}, "map a format's field to the file's column: {messages = \"conversation\"}"),
        "split": Key("str", "train", "split of a Hub dataset or save_to_disk DatasetDict"),
        "on_invalid": Key("str", "fail", "what to do with invalid rows", ("fail", "skip")),
        "eval_fraction": Key("float", 0.0, "hold out this fraction of train rows for evaluation", low=0, below=1),
        "max_rows": Key("int?", None, "use at most this many rows", low=1),
    },
    "trainer": {
        "name": Key("str", REQUIRED, "a trainer plugin's name: sft, dpo, ppo, grpo, kto, reward, ..."),
        "args": Key("dict", {}, "arguments of the trainer's own config class (e.g. TRL's SFTConfig)"),
    },
    "peft": {
        "enabled": Key("bool", True, "train LoRA adapters instead of all weights"),
        "method": Key("str", "lora", "adapter method", ("lora",)),
        "r": Key("int", 16, "LoRA rank", low=1),
        "lora_alpha": Key("int", 32, "LoRA scaling numerator", low=1),
        "lora_dropout": Key("float", 0.05, "dropout on the LoRA path", low=0, below=1),
        "target_modules": Key("str|list", "all-linear", "modules to adapt: all-linear or a list of names"),
        "use_dora": Key("bool", False, "weight-decomposed LoRA"),
    },
    "quantization": {
        "bits": Key("int", 4, "load the base weights in 4 or 8 bits (bitsandbytes)", (4, 8)),
        "quant_type": Key("str", "nf4", "4-bit data type", ("nf4", "fp4")),
        "double_quant": Key("bool", True, "quantize the quantization constants too"),
        "compute_dtype": Key("str", "bfloat16", "dtype of the 4-bit matmuls", ("bfloat16", "float16", "float32")),
    },
    "launch": {
        "launcher": Key("str", "local", "a launcher plugin: local (accelerate launch), slurm, ..."),
        "num_processes": Key("int", 1, "processes (GPUs) on each machine; 2+ runs DDP (or FSDP/DeepSpeed)", low=1),
        "num_machines": Key("int", 1, "machines taking part", low=1),
        "machine_rank": Key("int", 0, "this machine's rank, 0 = the main one (or: workbench run --machine-rank K)",
                            low=0),
        "main_process_ip": Key("str?", None, "address of machine 0, reachable from every machine (several machines)"),
        "mixed_precision": Key("str", "auto", "autocast precision; auto = bf16 on GPUs that support it, else no",
                               ("auto", "no", "bf16", "fp16")),
        "gpu_ids": Key("str", "all", "which GPUs: all, or a list like 0,1"),
        "distributed": Key("str", "ddp", "how ranks share the model", ("ddp", "fsdp", "deepspeed")),
        "zero_stage": Key("int", 0, "DeepSpeed ZeRO stage: 1 optimizer states, 2 + gradients, 3 + parameters "
                          "(needed with distributed = deepspeed)", (0, 1, 2, 3)),
        "fsdp": Key("dict", {}, "[launch.fsdp]: version, sharding_strategy, auto_wrap_policy, layer_classes, "
                    "state_dict_type, cpu_ram_efficient_loading, activation_checkpointing, offload_params"),
        "deepspeed": Key("dict", {}, "[launch.deepspeed]: offload_optimizer, offload_params, nvme_path, zero3_init, "
                         "save_16bit_model, config_file"),
        "ddp": Key("dict", {}, "[launch.ddp]: backend, timeout, find_unused_parameters, bucket_cap_mb, "
                   "broadcast_buffers"),
        "slurm": Key("dict", {}, "[launch.slurm] (launcher = slurm): partition, time, nodes, gpus_per_node, "
                     "cpus_per_task, mem, account, qos, sbatch_lines, requeue"),
        "main_process_port": Key("int?", None, "rendezvous port (a free one is picked when unset)",
                                 low=1, below=65536),
        "accelerate_args": Key("list", [], "extra arguments for accelerate launch"),
        "env": Key("dict", {}, "environment variables for the job (no secrets: those stay in your environment)"),
    },
    "eval": {
        "evaluators": Key("list", [], "evaluator plugins to run after training"),
        "options": Key("dict", {}, "per-evaluator options: {name = {key = value}}"),
        "generation": Key("dict", {}, "generation settings shared by the generating evaluators: {max_new_tokens, "
                          "temperature (0 = greedy), top_p, seed, stop, batch_size, max_rows}"),
        "at": Key("str", "end", "when to evaluate: end (the final model) or checkpoints (each saved "
                  "checkpoint too, as it is saved)", ("end", "checkpoints")),
    },
}

# [peft] and [quantization] are optional sections: absent means off.
OPTIONAL_SECTIONS = ("peft", "quantization", "eval")

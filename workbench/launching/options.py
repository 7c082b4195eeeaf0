"""The [launch] sub-tables and the checks of launch combinations, run before anything starts.

`check_launch(data, where)` is called by the config loader on the validated config: it checks
[launch.fsdp], [launch.deepspeed] and [launch.ddp] key by key, fills the active table's
defaults (so job.toml records every setting the job ran with), and turns combinations that
would fail inside the job (FSDP on one process, QLoRA with FSDP or ZeRO-3 on mismatched
dtypes, DeepSpeed not installed, ...) into one-line errors naming the keys. Nothing here
imports torch.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
from pathlib import Path
from typing import Any, Callable

from workbench.config.schema import Key, check_value
from workbench.errors import ConfigError

Where = Callable[[str], str]

DEEPSPEED_EXTRA = "pip install 'workbench[deepspeed]'"

FSDP_KEYS: dict[str, Key] = {
    "version": Key("int", 2, "FSDP version: 2 (per-parameter sharding, torch's fully_shard) or 1", (1, 2)),
    "sharding_strategy": Key("str", "FULL_SHARD", "FULL_SHARD shards weights, gradients and optimizer states; "
                             "SHARD_GRAD_OP keeps weights gathered after forward; NO_SHARD / HYBRID_SHARD are FSDP1 only",
                             ("FULL_SHARD", "SHARD_GRAD_OP", "NO_SHARD", "HYBRID_SHARD")),
    "auto_wrap_policy": Key("str", "transformer", "what becomes one FSDP unit: each transformer layer, "
                            "blocks of min_num_params parameters, or the whole model", ("transformer", "size", "none")),
    "layer_classes": Key("list", [], "transformer layer classes to wrap (e.g. [\"LlamaDecoderLayer\"]); "
                         "empty: the model's own _no_split_modules"),
    "min_num_params": Key("int", 100_000_000, "parameters per unit with auto_wrap_policy = size", low=1),
    "state_dict_type": Key("str", "sharded", "how checkpoints are saved: sharded (one file per rank, fast) or full "
                           "(gathered on rank 0); the final model is always saved full", ("sharded", "full")),
    "cpu_ram_efficient_loading": Key("bool", True, "only rank 0 reads the weights, the others get them "
                                     "broadcast (one copy in CPU memory)"),
    "activation_checkpointing": Key("bool", False, "recompute each layer's activations in backward "
                                    "(FSDP's own; use instead of trainer.args.gradient_checkpointing)"),
    "offload_params": Key("bool", False, "keep parameters and gradients in CPU memory between uses"),
    "use_orig_params": Key("bool", True, "FSDP1: keep the original parameters visible (frozen and trainable "
                           "parameters in one unit, as LoRA needs)"),
}

DEEPSPEED_KEYS: dict[str, Key] = {
    "offload_optimizer": Key("str", "none", "where ZeRO keeps optimizer states", ("none", "cpu", "nvme")),
    "offload_params": Key("str", "none", "where ZeRO-3 keeps parameters", ("none", "cpu", "nvme")),
    "nvme_path": Key("str?", None, "folder on a fast local disk for nvme offload"),
    "zero3_init": Key("bool", True, "ZeRO-3: build the model already partitioned (deepspeed.zero.Init)"),
    "save_16bit_model": Key("bool", True, "ZeRO-3: gather the weights into one 16-bit file when saving the model"),
    "config_file": Key("str?", None, "your own DeepSpeed JSON, used instead of the generated one "
                       "(\"auto\" values still follow [trainer.args])"),
}

DDP_KEYS: dict[str, Key] = {
    "backend": Key("str?", None, "process group backend; unset: nccl on GPUs, gloo on CPU",
                   ("nccl", "gloo", "mpi", "ccl", "xccl")),
    "timeout": Key("int", 1800, "seconds a collective may wait before the job fails (a dead rank is noticed)",
                   low=1),
    "find_unused_parameters": Key("bool?", None, "look for parameters without gradients every step "
                                  "(needed by some models, slower)"),
    "bucket_cap_mb": Key("int?", None, "gradient bucket size for all-reduce (MB)", low=1),
    "broadcast_buffers": Key("bool?", None, "sync buffers (e.g. batch-norm statistics) from rank 0 each forward"),
}

TABLES: dict[str, dict[str, Key]] = {"fsdp": FSDP_KEYS, "deepspeed": DEEPSPEED_KEYS, "ddp": DDP_KEYS}
# [launch.ddp] keys that are also TrainingArguments fields (the trainer applies them).
DDP_TRAINER_ARGS = {"find_unused_parameters": "ddp_find_unused_parameters", "bucket_cap_mb": "ddp_bucket_cap_mb",
                    "broadcast_buffers": "ddp_broadcast_buffers", "timeout": "ddp_timeout", "backend": "ddp_backend"}


def check_table(table: Any, keys: dict[str, Key], prefix: str, where: Where) -> dict[str, Any]:
    """Check one sub-table key by key; return it with defaults filled in."""
    if not isinstance(table, dict):
        raise ConfigError(f"[{prefix}] must be a table", where=where(prefix))
    out: dict[str, Any] = {}
    for name, value in table.items():
        keypath = f"{prefix}.{name}"
        if name not in keys:
            close = difflib.get_close_matches(name, list(keys), n=1, cutoff=0.6)
            raise ConfigError(f"{keypath}: unknown key" + (f"; did you mean '{close[0]}'?" if close else
                                                           f" (known: {', '.join(keys)})"), where=where(keypath))
        check_value(keys[name], value, keypath, where)
        out[name] = value
    for name, key in keys.items():
        out.setdefault(name, key.default if not isinstance(key.default, (list, dict)) else type(key.default)())
    return out


def world_size(launch: dict) -> int:
    """Processes over all machines."""
    return launch["num_processes"] * launch["num_machines"]


def deepspeed_installed() -> bool:
    return importlib.util.find_spec("deepspeed") is not None


def check_launch(data: dict, where: Where, base: Path | None = None, registry=None) -> None:
    """Validate [launch] as a whole (in place: the active sub-table gets its defaults).

    base: the config file's folder, which relative paths (a DeepSpeed JSON) are relative to.
    registry: when given, the chosen launcher's own `check(config, where)` runs too.
    """
    launch = data["launch"]
    given = {name: launch.get(name) for name in TABLES if launch.get(name)}
    for name, table in given.items():  # inactive tables are kept (and still checked for typos)
        launch[name] = check_table(table, TABLES[name], f"launch.{name}", where)
    active = launch["distributed"]
    launch[active] = check_table(given.get(active, {}), TABLES[active], f"launch.{active}", where)
    for name in TABLES:
        if name != active and not launch.get(name):
            launch.pop(name, None)
    _check_processes(launch, where)
    if registry is not None:  # first: a launcher may settle keys (Slurm: num_machines = nodes)
        _check_launcher(data, where, registry)
    for item in launch["accelerate_args"]:
        if not isinstance(item, str):
            raise ConfigError(f"launch.accelerate_args: expected strings, got {type(item).__name__} {item!r}",
                              where=where("launch.accelerate_args"))
    if launch["zero_stage"] and active != "deepspeed":
        raise ConfigError(f"launch.zero_stage = {launch['zero_stage']} needs launch.distributed = \"deepspeed\" "
                          f"(it is \"{active}\")", where=where("launch.zero_stage"))
    if active == "fsdp":
        _check_fsdp(data, given.get("fsdp", {}), where)
    elif active == "deepspeed":
        _check_deepspeed(data, where, base or Path.cwd())
    else:
        _check_ddp(data, given.get("ddp", {}), where)


def _check_launcher(data: dict, where: Where, registry) -> None:
    from workbench.errors import PluginError
    from workbench.specs import load_object

    name = data["launch"]["launcher"]
    spec = registry.get("launchers", name)
    try:
        launcher = load_object(spec.factory)()
    except Exception as exc:  # noqa: BLE001 - a broken plugin is named, not a traceback
        raise PluginError(f"launcher '{name}' ({spec.factory}) cannot be loaded: {type(exc).__name__}: {exc}",
                          where=where("launch.launcher")) from None
    check = getattr(launcher, "check", None)
    if callable(check):
        check(data, where)


def _check_processes(launch: dict, where: Where) -> None:
    gpu_ids = str(launch["gpu_ids"]).replace(" ", "")
    if gpu_ids != "all":
        ids = gpu_ids.split(",")
        if not all(i.isdigit() for i in ids) or len(set(ids)) != len(ids):
            raise ConfigError(f"launch.gpu_ids: {launch['gpu_ids']!r} is not \"all\" or distinct GPU indices like "
                              "\"0,1\"", where=where("launch.gpu_ids"))
        if len(ids) < launch["num_processes"]:
            raise ConfigError(f"launch.gpu_ids lists {len(ids)} GPU(s) for launch.num_processes = "
                              f"{launch['num_processes']} (one process per GPU)", where=where("launch.gpu_ids"))
        launch["gpu_ids"] = gpu_ids
    if launch["machine_rank"] >= launch["num_machines"]:
        raise ConfigError(f"launch.machine_rank = {launch['machine_rank']} must be below launch.num_machines = "
                          f"{launch['num_machines']}", where=where("launch.machine_rank"))


def _quantized_dtype_check(data: dict, mode: str, where: Where) -> None:
    """QLoRA with sharding: the 4-bit storage dtype (= compute_dtype) must be the model's dtype."""
    quant = data.get("quantization")
    if not quant:
        return
    if quant["bits"] != 4:
        raise ConfigError(f"quantization.bits = 8 cannot be sharded with {mode}; use bits = 4 (QLoRA) or "
                          "launch.distributed = \"ddp\"", where=where("quantization.bits"))
    compute = quant["compute_dtype"]
    if data["model"]["dtype"] != compute:
        raise ConfigError(f"QLoRA with {mode}: model.dtype = \"{data['model']['dtype']}\" must equal "
                          f"quantization.compute_dtype = \"{compute}\" (the 4-bit weights are stored as {compute}, "
                          "bnb_4bit_quant_storage, and sharding needs one dtype for all parameters)",
                          where=where("model.dtype"))


def _check_fsdp(data: dict, explicit: dict, where: Where) -> None:
    launch, fsdp = data["launch"], data["launch"]["fsdp"]
    if world_size(launch) < 2:
        raise ConfigError("launch.distributed = \"fsdp\" needs launch.num_processes >= 2 (or several machines): "
                          "one process has nothing to shard with; use \"ddp\" for one GPU",
                          where=where("launch.num_processes" if "num_processes" in launch else "launch.distributed"))
    if fsdp["version"] == 2 and fsdp["sharding_strategy"] in ("NO_SHARD", "HYBRID_SHARD"):
        raise ConfigError(f"launch.fsdp.sharding_strategy = \"{fsdp['sharding_strategy']}\" is FSDP1 only; "
                          "set launch.fsdp.version = 1 or use FULL_SHARD / SHARD_GRAD_OP",
                          where=where("launch.fsdp.sharding_strategy"))
    if fsdp["version"] == 2 and "use_orig_params" in explicit:
        raise ConfigError("launch.fsdp.use_orig_params is FSDP1 only (FSDP2 always keeps the original parameters)",
                          where=where("launch.fsdp.use_orig_params"))
    if fsdp["layer_classes"] and fsdp["auto_wrap_policy"] != "transformer":
        raise ConfigError("launch.fsdp.layer_classes needs launch.fsdp.auto_wrap_policy = \"transformer\"",
                          where=where("launch.fsdp.layer_classes"))
    if not all(isinstance(c, str) and c.isidentifier() for c in fsdp["layer_classes"]):
        raise ConfigError(f"launch.fsdp.layer_classes: expected class names, got {fsdp['layer_classes']!r}",
                          where=where("launch.fsdp.layer_classes"))
    if fsdp["activation_checkpointing"] and data["trainer"]["args"].get("gradient_checkpointing"):
        raise ConfigError("launch.fsdp.activation_checkpointing and trainer.args.gradient_checkpointing are both "
                          "true; keep only FSDP's (launch.fsdp.activation_checkpointing)",
                          where=where("trainer.args.gradient_checkpointing"))
    _quantized_dtype_check(data, "FSDP", where)


def _check_deepspeed(data: dict, where: Where, base: Path) -> None:
    launch, ds = data["launch"], data["launch"]["deepspeed"]
    if not deepspeed_installed():
        raise ConfigError("launch.distributed = \"deepspeed\": DeepSpeed is not installed in this environment",
                          where=where("launch.distributed"), hint=DEEPSPEED_EXTRA)
    stage = launch["zero_stage"]
    if stage == 0:
        raise ConfigError("launch.distributed = \"deepspeed\" needs launch.zero_stage = 1, 2 or 3 "
                          "(1: optimizer states, 2: + gradients, 3: + parameters sharded)",
                          where=where("launch.zero_stage" if "zero_stage" in launch else "launch.distributed"))
    if ds["offload_params"] != "none" and stage != 3:
        raise ConfigError(f"launch.deepspeed.offload_params = \"{ds['offload_params']}\" needs launch.zero_stage = 3 "
                          f"(it is {stage})", where=where("launch.deepspeed.offload_params"))
    if "nvme" in (ds["offload_params"], ds["offload_optimizer"]) and not ds["nvme_path"]:
        raise ConfigError("launch.deepspeed: nvme offload needs launch.deepspeed.nvme_path (a folder on a local SSD)",
                          where=where("launch.deepspeed"))
    if ds["config_file"]:
        path = Path(ds["config_file"]).expanduser()
        if not path.is_absolute():
            path = base / path
        try:
            parsed = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"launch.deepspeed.config_file: cannot read {path}: {exc.strerror}",
                              where=where("launch.deepspeed.config_file")) from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"launch.deepspeed.config_file: {path.name}:{exc.lineno}: invalid JSON: {exc.msg}",
                              where=where("launch.deepspeed.config_file")) from None
        if not isinstance(parsed, dict):
            raise ConfigError(f"launch.deepspeed.config_file: {path.name} must hold a JSON object",
                              where=where("launch.deepspeed.config_file"))
        ds["config_file"] = str(path.resolve())
    if stage == 3 and data.get("quantization"):
        _quantized_dtype_check(data, "ZeRO-3", where)
        for key in ("zero3_init", "save_16bit_model"):
            if not ds[key]:
                raise ConfigError(f"QLoRA with ZeRO-3 needs launch.deepspeed.{key} = true (PEFT's documented "
                                  "settings: zero3_init_flag and zero3_save_16bit_model)",
                                  where=where(f"launch.deepspeed.{key}"))


def _check_ddp(data: dict, explicit: dict, where: Where) -> None:
    ddp, args = data["launch"]["ddp"], data["trainer"]["args"]
    for key, arg in DDP_TRAINER_ARGS.items():
        if arg not in args:
            continue
        if explicit.get(key) is not None and args[arg] != ddp[key]:
            raise ConfigError(f"launch.ddp.{key} = {ddp[key]!r} and trainer.args.{arg} = {args[arg]!r} disagree; "
                              "set it in one place", where=where(f"trainer.args.{arg}"))
        ddp[key] = args[arg]  # one value for the process group and the Trainer

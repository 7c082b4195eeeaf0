"""A run's accelerate.yaml (and DeepSpeed JSON) from its [launch] section.

Every key comes from the resolved config: processes and machines, GPU selection, mixed
precision, and the FSDP or DeepSpeed settings. The YAML is written by PyYAML's emitter
and is what `accelerate launch --config_file` reads (tests load it back with Accelerate's
own loader). DeepSpeed gets a JSON whose batch size, gradient accumulation, clipping and
precision are "auto": the Hugging Face Trainer fills them from [trainer.args] in the job,
so they can never disagree with what the trainer does.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

from workbench.launching.options import world_size

DEEPSPEED_JSON = "deepspeed.json"
ACCELERATE_YAML = "accelerate.yaml"
DEFAULT_MULTI_MACHINE_PORT = 29500
WRAP_POLICIES = {"transformer": "TRANSFORMER_BASED_WRAP", "size": "SIZE_BASED_WRAP", "none": "NO_WRAP"}
STATE_DICT_TYPES = {"sharded": "SHARDED_STATE_DICT", "full": "FULL_STATE_DICT"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def distributed_type(launch: dict) -> str:
    """Accelerate's distributed_type for this [launch]."""
    if launch["distributed"] == "fsdp":
        return "FSDP"
    if launch["distributed"] == "deepspeed":
        return "DEEPSPEED"
    # MULTI_GPU also drives CPU-only DDP over gloo when no GPU is present.
    return "MULTI_GPU" if world_size(launch) > 1 else "NO"


def rendezvous_port(launch: dict) -> int:
    """The main process port: the configured one; several machines must agree, so no random pick then."""
    if launch.get("main_process_port"):
        return int(launch["main_process_port"])
    return DEFAULT_MULTI_MACHINE_PORT if launch["num_machines"] > 1 else free_port()


def accelerate_config(config: dict, run_dir: Path, port: int | None = None) -> dict[str, Any]:
    """The accelerate config (the content of accelerate.yaml) as a dict."""
    launch = config["launch"]
    dist = distributed_type(launch)
    cfg: dict[str, Any] = {
        "compute_environment": "LOCAL_MACHINE",
        "distributed_type": dist,
        "num_processes": world_size(launch),          # accelerate counts processes over all machines
        "num_machines": launch["num_machines"],
        "machine_rank": launch["machine_rank"],
        "gpu_ids": str(launch["gpu_ids"]),
        "main_training_function": "main",
        "rdzv_backend": "static",
        "same_network": True,
        "main_process_port": port if port is not None else rendezvous_port(launch),
        "downcast_bf16": "no",
        "debug": False,
        "use_cpu": False,
        "enable_cpu_affinity": False,
        "tpu_use_cluster": False,
        "tpu_use_sudo": False,
    }
    if launch["num_machines"] > 1:
        cfg["main_process_ip"] = launch["main_process_ip"]
    if dist != "DEEPSPEED":
        # With a DeepSpeed JSON, precision lives in the JSON (accelerate refuses it in both places).
        # "auto" is settled by the worker, which sees the GPUs it runs on.
        cfg["mixed_precision"] = "no" if launch["mixed_precision"] == "auto" else launch["mixed_precision"]
    if dist == "FSDP":
        cfg["fsdp_config"] = fsdp_config(launch["fsdp"])
    if dist == "DEEPSPEED":
        ds = launch["deepspeed"]
        cfg["deepspeed_config"] = {
            "deepspeed_config_file": str(run_dir / DEEPSPEED_JSON),
            "zero3_init_flag": bool(launch["zero_stage"] == 3 and ds["zero3_init"]),
            # One `accelerate launch` per machine (our supervisors), not pdsh from machine 0.
            "deepspeed_multinode_launcher": "standard",
        }
    return cfg


def fsdp_config(fsdp: dict) -> dict[str, Any]:
    """accelerate's fsdp_config block."""
    out: dict[str, Any] = {
        "fsdp_version": fsdp["version"],
        "fsdp_auto_wrap_policy": WRAP_POLICIES[fsdp["auto_wrap_policy"]],
        "fsdp_state_dict_type": STATE_DICT_TYPES[fsdp["state_dict_type"]],
        "fsdp_cpu_ram_efficient_loading": fsdp["cpu_ram_efficient_loading"],
        "fsdp_offload_params": fsdp["offload_params"],
        "fsdp_activation_checkpointing": fsdp["activation_checkpointing"],
    }
    if fsdp["version"] == 2:
        out["fsdp_reshard_after_forward"] = fsdp["sharding_strategy"] == "FULL_SHARD"
    else:
        # FSDP1 reads the strategy from fsdp_sharding_strategy (reshard_after_forward mirrors it).
        out["fsdp_sharding_strategy"] = fsdp["sharding_strategy"]
        out["fsdp_reshard_after_forward"] = fsdp["sharding_strategy"]
        out["fsdp_use_orig_params"] = fsdp["use_orig_params"]
        # Rank 0's weights are broadcast: required by CPU-efficient loading, harmless without it.
        out["fsdp_sync_module_states"] = True
    if fsdp["auto_wrap_policy"] == "transformer" and fsdp["layer_classes"]:
        out["fsdp_transformer_layer_cls_to_wrap"] = ",".join(fsdp["layer_classes"])
    if fsdp["auto_wrap_policy"] == "size":
        out["fsdp_min_num_params"] = fsdp["min_num_params"]
    return out


def deepspeed_config(config: dict) -> dict[str, Any]:
    """The DeepSpeed JSON: ZeRO settings from [launch.deepspeed], trainer-owned values left "auto"."""
    launch = config["launch"]
    ds, stage = launch["deepspeed"], launch["zero_stage"]
    if ds.get("config_file"):
        return json.loads(Path(ds["config_file"]).read_text(encoding="utf-8"))
    zero: dict[str, Any] = {"stage": stage, "overlap_comm": True, "contiguous_gradients": True,
                            "reduce_bucket_size": "auto"}
    if ds["offload_optimizer"] != "none":
        zero["offload_optimizer"] = _offload(ds["offload_optimizer"], ds["nvme_path"])
    if stage == 3:
        if ds["offload_params"] != "none":
            zero["offload_param"] = _offload(ds["offload_params"], ds["nvme_path"])
        zero.update({"stage3_prefetch_bucket_size": "auto", "stage3_param_persistence_threshold": "auto",
                     "stage3_gather_16bit_weights_on_model_save": ds["save_16bit_model"]})
    return {
        # Filled by the Trainer from per_device_train_batch_size, gradient_accumulation_steps,
        # max_grad_norm and bf16/fp16 (which the worker sets from launch.mixed_precision).
        "train_batch_size": "auto",
        "train_micro_batch_size_per_gpu": "auto",
        "gradient_accumulation_steps": "auto",
        "gradient_clipping": "auto",
        "bf16": {"enabled": "auto"},
        "fp16": {"enabled": "auto"},
        "zero_optimization": zero,
        "steps_per_print": 2**31 - 1,     # the workbench logs steps; DeepSpeed's own prints are noise
        "wall_clock_breakdown": False,
    }


def _offload(device: str, nvme_path: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"device": device, "pin_memory": True}
    if device == "nvme":
        out["nvme_path"] = nvme_path
    return out


def to_yaml(cfg: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(cfg, sort_keys=False, default_flow_style=False)


def launch_files(config: dict, run_dir: Path, port: int | None = None) -> dict[str, str]:
    """accelerate.yaml, plus deepspeed.json for DeepSpeed runs: name -> text."""
    files = {ACCELERATE_YAML: to_yaml(accelerate_config(config, run_dir, port))}
    if config["launch"]["distributed"] == "deepspeed":
        files[DEEPSPEED_JSON] = json.dumps(deepspeed_config(config), indent=2) + "\n"
    return files

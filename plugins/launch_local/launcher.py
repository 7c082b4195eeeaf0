"""Builds the accelerate config and `accelerate launch` command for a local run."""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path

from workbench.launching import LaunchPlan


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accelerate_binary() -> str:
    """The `accelerate` next to this interpreter (same environment), else the one on PATH."""
    here = Path(sys.executable).parent / "accelerate"
    return str(here) if here.exists() else (shutil.which("accelerate") or "accelerate")


def accelerate_yaml(config: dict) -> str:
    launch = config["launch"]
    n = launch["num_processes"]
    if launch["distributed"] == "fsdp" and n > 1:
        dist = "FSDP"
    elif launch["distributed"] == "deepspeed" and n > 1:
        dist = "DEEPSPEED"
    else:
        # MULTI_GPU also drives CPU-only DDP over gloo when no GPU is present.
        dist = "MULTI_GPU" if n > 1 else "NO"
    lines = [
        "compute_environment: LOCAL_MACHINE",
        f"distributed_type: {dist}",
        f"num_processes: {n}",
        f"num_machines: {launch['num_machines']}",
        "machine_rank: 0",
        # "auto" is settled by the worker, which sees the GPUs it runs on.
        f"mixed_precision: '{'no' if launch['mixed_precision'] == 'auto' else launch['mixed_precision']}'",
        f"gpu_ids: '{launch['gpu_ids']}'",
        "main_training_function: main",
        "rdzv_backend: static",
        "same_network: true",
        f"main_process_port: {launch['main_process_port'] or free_port()}",
        "downcast_bf16: 'no'",
        "tpu_use_cluster: false",
        "tpu_use_sudo: false",
        "use_cpu: false",
    ]
    if dist == "DEEPSPEED":
        lines += ["deepspeed_config:", f"  zero_stage: {launch['zero_stage']}", "  gradient_accumulation_steps: 1"]
    if dist == "FSDP":
        lines += ["fsdp_config:", "  fsdp_version: 2", "  fsdp_auto_wrap_policy: TRANSFORMER_BASED_WRAP",
                  "  fsdp_state_dict_type: SHARDED_STATE_DICT", "  fsdp_cpu_ram_efficient_loading: true"]
    return "\n".join(lines) + "\n"


class LocalLauncher:
    """Runs the worker under `accelerate launch` on this machine."""

    def plan(self, run_dir: Path, config: dict) -> LaunchPlan:
        argv = [accelerate_binary(), "launch", "--config_file", str(run_dir / "accelerate.yaml"),
                *config["launch"]["accelerate_args"], "-m", "workbench.worker", str(run_dir)]
        return LaunchPlan(argv=argv, env=dict(config["launch"]["env"]), files={"accelerate.yaml": accelerate_yaml(config)})

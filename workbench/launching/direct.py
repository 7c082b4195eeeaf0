"""One process without `accelerate launch`: the worker started directly, same environment.

For one process on one machine `accelerate launch` only sets environment variables and
runs `python -m workbench.worker RUN_DIR` (its "simple launcher"), at the cost of a second
Python process that imports torch (~2 s). `direct_env` computes those variables from the
accelerate config exactly as accelerate 1.x's `prepare_simple_launcher_cmd_env` does, so
the supervisor (and command.sh) can run the worker itself. A test checks the result against
accelerate's own function.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Mapping

from workbench.launching.options import world_size


def can_run_direct(launch: dict) -> bool:
    """One process, one machine, plain DDP settings and no extra `accelerate launch` arguments."""
    return (world_size(launch) == 1 and launch["distributed"] == "ddp" and not launch["accelerate_args"])


def direct_env(accelerate_cfg: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables `accelerate launch --config_file CFG` sets for a one-process job.

    environ: the environment the launch starts from (OMP_NUM_THREADS is kept when set there).
    """
    environ = os.environ if environ is None else environ
    use_cpu = bool(accelerate_cfg.get("use_cpu", False))
    env = {"ACCELERATE_USE_CPU": str(use_cpu)}
    if accelerate_cfg.get("debug"):
        env["ACCELERATE_DEBUG_MODE"] = "true"
    gpu_ids = accelerate_cfg.get("gpu_ids")
    if gpu_ids not in (None, "all"):
        env["CUDA_VISIBLE_DEVICES"] = str(gpu_ids)
    if use_cpu:
        env["KMP_AFFINITY"] = "granularity=fine,compact,1,0"
        env["KMP_BLOCKTIME"] = "1"
    env["ACCELERATE_MIXED_PRECISION"] = str(accelerate_cfg.get("mixed_precision") or "no").lower()
    dynamo = accelerate_cfg.get("dynamo_config") or {}
    env["ACCELERATE_DYNAMO_BACKEND"] = str(dynamo.get("dynamo_backend", "no")).upper()
    env["ACCELERATE_DYNAMO_MODE"] = str(dynamo.get("dynamo_mode", "default"))
    env["ACCELERATE_DYNAMO_USE_FULLGRAPH"] = str(bool(dynamo.get("dynamo_use_fullgraph", False)))
    env["ACCELERATE_DYNAMO_USE_DYNAMIC"] = str(bool(dynamo.get("dynamo_use_dynamic", False)))
    env["ACCELERATE_DYNAMO_USE_REGIONAL_COMPILATION"] = str(bool(dynamo.get("dynamo_use_regional_compilation",
                                                                             False)))
    # accelerate launch: --num_cpu_threads_per_process defaults to $OMP_NUM_THREADS, else 1.
    threads = environ.get("OMP_NUM_THREADS", "")
    env["OMP_NUM_THREADS"] = threads if threads.strip().isdigit() else "1"
    if accelerate_cfg.get("enable_cpu_affinity"):
        env["ACCELERATE_CPU_AFFINITY"] = "1"
    return env


def direct_argv(run_dir: Path) -> list[str]:
    """What accelerate's simple launcher runs: this interpreter, the worker module, the run directory."""
    return [sys.executable, "-m", "workbench.worker", str(run_dir)]

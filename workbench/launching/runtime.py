"""What the job does with [launch] inside the worker: process-group options, the effective
distribution, and saving a sharded run's final model consolidated."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

FULL_STATE_DICT = "FULL_STATE_DICT"


def process_group_kwargs(config: dict) -> dict[str, Any]:
    """PartialState(...) arguments from [launch.ddp]: backend and collective timeout."""
    ddp = config.get("launch", {}).get("ddp") or {}
    out: dict[str, Any] = {}
    if ddp.get("backend"):
        out["backend"] = ddp["backend"]
    if ddp.get("timeout"):
        out["timeout"] = timedelta(seconds=int(ddp["timeout"]))
    return out


def effective_distribution(runner: Any) -> str | None:
    """Accelerate's distributed type as the trainer runs it (e.g. FSDP, DEEPSPEED, MULTI_CPU)."""
    accelerator = getattr(runner, "accelerator", None)
    kind = getattr(getattr(accelerator, "state", None), "distributed_type", None)
    return getattr(kind, "value", None) or (str(kind) if kind is not None else None)


def prepare_final_save(runner: Any) -> None:
    """Make `runner.save_model` write one consolidated model (full weights or the LoRA adapter).

    FSDP checkpoints may be sharded (launch.fsdp.state_dict_type = "sharded"): fast to write and
    resumable, but `workbench eval`, PPO and from_pretrained need the full state dict, which
    FSDP gathers on rank 0 once the plugin asks for it. ZeRO-3 gathers 16-bit weights on save
    (stage3_gather_16bit_weights_on_model_save in the generated DeepSpeed JSON).
    """
    if not getattr(runner, "is_fsdp_enabled", False):
        return
    plugin = runner.accelerator.state.fsdp_plugin
    if str(getattr(plugin, "state_dict_type", "")).rsplit(".", 1)[-1] != FULL_STATE_DICT:
        plugin.set_state_dict_type(FULL_STATE_DICT)

"""Registers the "dpo" trainer: Direct Preference Optimization on TRL's DPOTrainer."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import ModelUse, TrainerSpec


@hookimpl
def register_trainers() -> list[TrainerSpec]:
    return [
        TrainerSpec(
            name="dpo",
            data_kinds=("preference",),
            factory="workbench_plugins.dpo.trainer:build",
            config_class="trl:DPOConfig",
            description="direct preference optimization on chosen/rejected pairs (TRL DPOTrainer)",
            models=(
                ModelUse("policy", trainable=True),
                # With LoRA the reference is the base with adapters disabled; otherwise a frozen copy.
                ModelUse("reference", shares_base_with_lora=True),
            ),
        )
    ]

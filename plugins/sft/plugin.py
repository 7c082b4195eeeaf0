"""Supervised fine-tuning on TRL's SFTTrainer: full, LoRA, QLoRA, packing, assistant-only loss."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import ModelUse, TrainerSpec


@hookimpl
def register_trainers() -> list[TrainerSpec]:
    return [
        TrainerSpec(
            name="sft",
            data_kinds=("conversational", "prompt_completion", "language_modeling"),
            factory="workbench_plugins.sft.trainer:build",
            config_class="trl:SFTConfig",
            description="supervised fine-tuning (TRL SFTTrainer)",
            models=(ModelUse("policy", trainable=True),),
        )
    ]

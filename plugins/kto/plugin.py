"""Registers the "kto" trainer: Kahneman-Tversky Optimization on TRL's KTOTrainer."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import ModelUse, TrainerSpec


@hookimpl
def register_trainers() -> list[TrainerSpec]:
    return [
        TrainerSpec(
            name="kto",
            data_kinds=("unpaired_preference",),
            factory="workbench_plugins.kto.trainer:build",
            config_class="trl:KTOConfig",
            description="KTO on unpaired completions labelled desirable/undesirable (TRL KTOTrainer)",
            models=(
                ModelUse("policy", trainable=True),
                ModelUse("reference", shares_base_with_lora=True),
            ),
        )
    ]

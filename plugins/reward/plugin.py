"""Registers the "reward" trainer: a scalar reward model on TRL's RewardTrainer."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import ModelUse, TrainerSpec


@hookimpl
def register_trainers() -> list[TrainerSpec]:
    return [
        TrainerSpec(
            name="reward",
            data_kinds=("preference",),
            factory="workbench_plugins.reward.trainer:build",
            config_class="trl:RewardConfig",
            description=("reward model (sequence classification, one score) trained on chosen/rejected pairs "
                         "(TRL RewardTrainer); checkpoints/final loads as AutoModelForSequenceClassification"),
            models=(ModelUse("policy", trainable=True),),
        )
    ]

"""Registers the "ppo" trainer with Workbench. Imports no torch: only specs and import paths."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import ModelUse, TrainerSpec


@hookimpl
def register_trainers() -> list[TrainerSpec]:
    return [
        TrainerSpec(
            name="ppo",
            data_kinds=("prompt_only",),
            factory="workbench_plugins.ppo.trainer:build",
            config_class="workbench_plugins.ppo.config:PPOConfig",
            description=(
                "PPO for RLHF (Workbench's own): policy + value head, KL penalty to a frozen reference, "
                "GAE, clipped objectives; reward from a reward model or a reward function"
            ),
            models=(
                ModelUse("policy", trainable=True),
                # trainer.args.value_model="auto": a trainable copy of the policy for full
                # fine-tuning; with LoRA a head on the policy (shares its base).
                ModelUse("value", trainable=True, shares_base_with_lora=True),
                ModelUse("reference", shares_base_with_lora=True),
                ModelUse("reward", source="trainer.args.reward_model"),
            ),
            default_args={"learning_rate": 3e-6, "rollout_batch_size": 16, "num_ppo_epochs": 4, "response_length": 53},
        )
    ]

"""Registers the online RL trainers on TRL: "grpo" (GRPOTrainer) and "rloo" (RLOOTrainer).

Both sample completions for prompt-only data and score them with named reward functions
from the plugin registry ([trainer] reward_functions / reward_options); the weights of a
weighted sum are TRL's own `reward_weights` in [trainer.args].
"""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import ModelUse, TrainerSpec

REWARD_OPTIONS = ("reward_functions", "reward_options")
# With beta > 0 (KL to a reference) TRL keeps a frozen copy; with LoRA it is the base with adapters off.
MODELS = (ModelUse("policy", trainable=True), ModelUse("reference", shares_base_with_lora=True))


@hookimpl
def register_trainers() -> list[TrainerSpec]:
    return [
        TrainerSpec(
            name="grpo",
            data_kinds=("prompt_only",),
            factory="workbench_plugins.grpo.trainer:build_grpo",
            config_class="trl:GRPOConfig",
            description="group relative policy optimization with reward functions (TRL GRPOTrainer)",
            models=MODELS,
            options=REWARD_OPTIONS,
        ),
        TrainerSpec(
            name="rloo",
            data_kinds=("prompt_only",),
            factory="workbench_plugins.grpo.trainer:build_rloo",
            config_class="trl:RLOOConfig",
            description="REINFORCE leave-one-out with reward functions (TRL RLOOTrainer)",
            models=MODELS,
            options=REWARD_OPTIONS,
        ),
    ]

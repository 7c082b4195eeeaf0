"""Registers the `evaluate` trainer: evaluation runs (`workbench eval`) are runs whose job trains nothing."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import DATA_KINDS, ModelUse, TrainerSpec


@hookimpl
def register_trainers() -> list[TrainerSpec]:
    return [
        TrainerSpec(
            name="evaluate",
            data_kinds=DATA_KINDS,
            factory="workbench_plugins.evaluate.runner:build",
            config_class="workbench_plugins.evaluate.runner:EvaluateArgs",
            description="an evaluation run: no training, [eval].evaluators score [model] (+ model.adapter)",
            models=(ModelUse("policy", trainable=False),),
            # [[trainer.checkpoints]]: {name, step, model = {...}}: score each of these models in turn
            options=("checkpoints",),
        )
    ]

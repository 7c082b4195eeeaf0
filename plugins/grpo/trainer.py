"""Builds TRL's GRPOTrainer / RLOOTrainer from a Workbench TrainContext."""

from __future__ import annotations

from workbench.errors import ConfigError
from workbench.training import TrainContext
from workbench.training.rewards import build_reward_functions


def reward_functions(ctx: TrainContext, weights: list[float] | None) -> list:
    """The reward functions named in [trainer] reward_functions, built with their reward_options."""
    names = ctx.options.get("reward_functions") or []
    options = ctx.options.get("reward_options") or {}
    if not isinstance(names, (list, str)):
        raise ConfigError("must be a list of reward function names", where="trainer.reward_functions")
    if not isinstance(options, dict) or not all(isinstance(v, dict) for v in options.values()):
        raise ConfigError("must be a table of tables: [trainer.reward_options.NAME]", where="trainer.reward_options")
    return build_reward_functions(names, options, weights=weights)


def _build(ctx: TrainContext, config_name: str, trainer_name: str):
    import trl

    args = ctx.training_args(getattr(trl, config_name))
    funcs = reward_functions(ctx, args.reward_weights)
    return getattr(trl, trainer_name)(
        model=ctx.load_model("policy"),
        reward_funcs=funcs,
        args=args,
        train_dataset=ctx.train_dataset,
        eval_dataset=ctx.eval_dataset,
        processing_class=ctx.load_tokenizer(),
        peft_config=ctx.peft_config(),
        callbacks=ctx.callbacks,
    )


def build_grpo(ctx: TrainContext):
    return _build(ctx, "GRPOConfig", "GRPOTrainer")


def build_rloo(ctx: TrainContext):
    return _build(ctx, "RLOOConfig", "RLOOTrainer")

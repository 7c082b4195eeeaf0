"""Registers the built-in reward functions for GRPO, RLOO and PPO, and the prompt+answer data format."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import DataFormat, RewardFunctionSpec

from workbench_plugins.reward_functions import answers


@hookimpl
def register_reward_functions() -> list[RewardFunctionSpec]:
    base = "workbench_plugins.reward_functions.functions"
    return [
        RewardFunctionSpec("length", f"{base}:length",
                           "1 at the target length, falling linearly to 0 at twice the distance "
                           "(options: target, unit = chars|words|tokens)"),
        RewardFunctionSpec("regex", f"{base}:regex",
                           "format reward: 1 when the completion matches `pattern`, else 0 "
                           "(options: pattern, mode = search|fullmatch, ignore_case)"),
        RewardFunctionSpec("exact_answer", f"{base}:exact_answer",
                           "1 when the completion's answer equals a dataset column, else 0 "
                           "(options: column = answer, extract = last_number|text|<regex with a group>)"),
        RewardFunctionSpec("char_share", f"{base}:char_share",
                           "toy reward: share of the completion's non-space characters in `chars` "
                           "(options: chars = digits)"),
    ]


@hookimpl
def register_data_formats() -> list[DataFormat]:
    return [
        DataFormat("prompt_answer", "prompt_only", answers.detect, answers.convert,
                   "`prompt` with reference columns (answer, solution, ...) that reward functions compare against",
                   ("prompt", *answers.REFERENCE_COLUMNS)),
    ]

"""Builds TRL's DPOTrainer from a Workbench TrainContext."""

from __future__ import annotations

from workbench.training import TrainContext
from workbench.training.reference import build_with_reference


def build(ctx: TrainContext):
    from trl import DPOConfig, DPOTrainer

    return build_with_reference(ctx, DPOConfig, DPOTrainer)

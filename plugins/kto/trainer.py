"""Builds TRL's KTOTrainer from a Workbench TrainContext."""

from __future__ import annotations

from workbench.training import TrainContext
from workbench.training.reference import build_with_reference


def build(ctx: TrainContext):
    from trl import KTOConfig, KTOTrainer

    return build_with_reference(ctx, KTOConfig, KTOTrainer)

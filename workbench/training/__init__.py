"""Worker-side API for trainer plugins: the context a trainer factory receives."""

from workbench.training.context import Runner, TrainContext
from workbench.training.reporter import RunReporter

__all__ = ["Runner", "TrainContext", "RunReporter"]

"""Viewing training output the workbench did not launch (Hugging Face Trainer output dirs)."""

from workbench.watch.hf import TrainerDirSource, read_trainer_state, rows_from_log_history

__all__ = ["TrainerDirSource", "read_trainer_state", "rows_from_log_history"]

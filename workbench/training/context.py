"""What a trainer plugin's factory receives inside the job, and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from workbench.training.reporter import RunReporter


class Runner(Protocol):
    """What a trainer factory returns. HF/TRL trainers already satisfy it."""

    def train(self, resume_from_checkpoint: str | None = None) -> Any:
        """Train; on a stop request save a checkpoint and return early."""

    def save_model(self, output_dir: str | None = None) -> None:
        """Save the final model (the adapter only, for PEFT models)."""


@dataclass
class TrainContext:
    """Everything a trainer needs, resolved from the run's job.toml.

    config: the resolved job config (sections model, data, trainer, peft, ...).
    trainer_args: [trainer.args] over the trainer's default_args; keys belong to its config class.
    options: the other keys of [trainer] (besides name and args).
    callbacks: transformers TrainerCallbacks writing metrics/events and honouring stop
        requests; HF-based trainers pass them to the trainer. Own trainers use `reporter`.
    cache: scratch space that the evaluators of one evaluation pass share (the model being
        scored, its generations); each pass starts with a fresh one.
    trackers: the trainer's report_to integrations (`workbench.training.trackers.TrackerRelay`),
        set by the worker once an HF Trainer is built; evaluation passes send their scores to it.
    """

    config: dict[str, Any]
    run_dir: Path
    trainer_args: dict[str, Any]
    options: dict[str, Any]
    reporter: RunReporter
    train_dataset: Any = None
    eval_dataset: Any = None
    callbacks: list[Any] = field(default_factory=list)
    resume_from_checkpoint: str | None = None
    cache: dict[str, Any] = field(default_factory=dict)
    trackers: Any = None

    @property
    def output_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    # The loaders live in workbench.training.models so that importing this module stays cheap.
    def load_tokenizer(self):
        from workbench.training.models import load_tokenizer

        return load_tokenizer(self.config)

    def load_model(self, role: str = "policy", path: str | None = None, model_class: str | None = None, **extra: Any):
        """Load a model honouring dtype, quantization and trust_remote_code of the config."""
        from workbench.training.models import load_model

        return load_model(self.config, role=role, path=path, model_class=model_class, **extra)

    def load_trained_model(self):
        """The model this run trained (checkpoints/final, a LoRA adapter applied to its base), or [model]
        (with model.adapter) in an evaluation run; eval mode, on the job's device. For evaluators."""
        from workbench.training.trained import load_trained_model

        return load_trained_model(self)

    def peft_config(self, task_type: str = "CAUSAL_LM"):
        """A peft.LoraConfig from [peft] (task_type CAUSAL_LM or SEQ_CLS), or None when the config has no adapter."""
        from workbench.training.models import peft_config

        return peft_config(self.config, task_type=task_type)

    def with_data_cache(self, trainer_class: Any) -> Any:
        """`trainer_class` (a TRL trainer) with its dataset preparation cached in the workspace.

        A second run on the same data, tokenizer and preparation settings loads the tokenized
        dataset instead of tokenizing again (event `data_cache` in events.jsonl).
        """
        from workbench.data.cache import with_preparation_cache

        return with_preparation_cache(trainer_class, reporter=self.reporter)

    def training_args(self, config_class: Any, **overrides: Any):
        """Build the trainer's config object: workbench-managed fields + user args + overrides."""
        from workbench.training.models import build_training_args

        return build_training_args(self, config_class, **overrides)

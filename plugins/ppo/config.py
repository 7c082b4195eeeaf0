"""`PPOConfig`: the `[trainer.args]` of the "ppo" trainer, with help text per field.

A plain dataclass (no torch import) so that the config editor and validation can read
it cheaply. Batch vocabulary, per process and per step (one rollout + its updates):

    rollout_batch_size prompts are generated -> split into num_mini_batches minibatches,
    each one optimizer step -> each minibatch is split into gradient_accumulation_steps
    micro-batches; num_ppo_epochs passes over the rollout.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from workbench.errors import ConfigError


def _help(text: str, **extra: Any) -> dict[str, Any]:
    return {"help": text, **extra}


@dataclass
class PPOConfig:
    """Hyper-parameters of Workbench's PPO trainer for RLHF."""

    # Where and how often
    output_dir: str = field(default="checkpoints", metadata=_help("Folder of checkpoint-<step>/ subfolders (set by the workbench to the run's checkpoints/)."))
    max_steps: int = field(default=-1, metadata=_help("PPO steps (rollout + updates) to run; -1 derives it from total_episodes or num_train_epochs."))
    total_episodes: int | None = field(default=None, metadata=_help("Prompts to roll out in all (over all processes); used when max_steps is -1."))
    num_train_epochs: float = field(default=1.0, metadata=_help("Passes over the prompt dataset, used when max_steps is -1 and total_episodes unset."))
    seed: int = field(default=42, metadata=_help("Seed of the prompt order, sampling and initialisation."))
    logging_steps: int = field(default=1, metadata=_help("Log metrics every N steps."))
    save_steps: int = field(default=0, metadata=_help("Save a checkpoint every N steps (0: only at the end and on a stop request)."))
    save_total_limit: int | None = field(default=None, metadata=_help("Keep at most this many checkpoints (oldest deleted first)."))

    # Batches
    rollout_batch_size: int = field(default=16, metadata=_help("Prompts generated per step on each process."))
    num_mini_batches: int = field(default=1, metadata=_help("Minibatches per PPO epoch (one optimizer step each); must divide rollout_batch_size."))
    gradient_accumulation_steps: int = field(default=1, metadata=_help("Micro-batches per minibatch (to save memory); must divide the minibatch size."))
    generation_batch_size: int | None = field(default=None, metadata=_help("Prompts per generate/forward call during the rollout (default: the whole rollout batch)."))
    num_ppo_epochs: int = field(default=4, metadata=_help("Passes of optimisation over each rollout batch."))

    # Optimiser
    learning_rate: float = field(default=3e-6, metadata=_help("Peak AdamW learning rate of the policy and value head."))
    lr_scheduler_type: str = field(default="linear", metadata=_help("Learning-rate schedule.", choices=["linear", "cosine", "constant"]))
    warmup_steps: int = field(default=0, metadata=_help("Optimizer steps of linear warm-up."))
    weight_decay: float = field(default=0.0, metadata=_help("AdamW weight decay."))
    adam_epsilon: float = field(default=1e-5, metadata=_help("AdamW epsilon (1e-5 as in the N implementation details)."))
    max_grad_norm: float | None = field(default=1.0, metadata=_help("Clip the gradient norm to this value (None: no clipping)."))
    gradient_checkpointing: bool = field(default=False, metadata=_help("Recompute activations in the backward pass to save memory."))

    # Generation
    max_prompt_length: int = field(default=512, metadata=_help("Prompts longer than this many tokens keep their last tokens."))
    response_length: int = field(default=53, metadata=_help("Maximum tokens generated per response."))
    temperature: float = field(default=0.7, metadata=_help("Sampling temperature (the log-probs of the loss use the same temperature)."))
    stop_token: str | None = field(default="eos", metadata=_help("Where a response ends: 'eos' (the tokenizer's EOS), or None (always response_length tokens)."))
    stop_token_id: int | None = field(default=None, metadata=_help("Explicit stop token id; overrides stop_token."))
    missing_eos_penalty: float | None = field(default=None, metadata=_help("Subtract this from the score of responses that never emit the stop token."))

    # Reward
    reward_model: str | None = field(default=None, metadata=_help("Path or hub id of a sequence-classification reward model (num_labels=1)."))
    reward_function: str | None = field(default=None, metadata=_help("A registered reward function name, or an import path 'module:function'."))
    reward_function_kwargs: dict[str, Any] = field(default_factory=dict, metadata=_help("Options passed to the reward function's factory."))

    # PPO
    kl_coef: float = field(default=0.05, metadata=_help("Weight of the per-token KL penalty to the reference model."))
    kl_estimator: str = field(default="k1", metadata=_help("KL estimator of the penalty.", choices=["k1", "k3"]))
    gamma: float = field(default=1.0, metadata=_help("Discount factor of GAE."))
    lam: float = field(default=0.95, metadata=_help("Lambda of GAE (bias/variance trade-off)."))
    cliprange: float = field(default=0.2, metadata=_help("Clip range of the policy ratio."))
    cliprange_value: float = field(default=0.2, metadata=_help("Clip range of the value prediction around its rollout value."))
    value_model: str = field(default="auto", metadata=_help("Value function: 'separate' (a trainable copy of the policy with a value head), 'shared' (a head on the policy), or 'auto' (separate for full fine-tuning, shared with LoRA).", choices=["auto", "separate", "shared"]))
    vf_coef: float = field(default=0.1, metadata=_help("Weight of the value loss in the total loss."))
    whiten_rewards: bool = field(default=False, metadata=_help("Whiten the per-token rewards before GAE."))

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the field when a value cannot work."""

        def bad(name: str, why: str) -> None:
            raise ConfigError(f"{why} (got {getattr(self, name)!r})", where=f"trainer.args.{name}")

        for name in ("rollout_batch_size", "num_mini_batches", "gradient_accumulation_steps", "num_ppo_epochs", "response_length", "max_prompt_length", "logging_steps"):
            if int(getattr(self, name)) < 1:
                bad(name, "must be at least 1")
        if self.rollout_batch_size % self.num_mini_batches:
            bad("num_mini_batches", f"must divide rollout_batch_size={self.rollout_batch_size}")
        if self.mini_batch_size % self.gradient_accumulation_steps:
            bad("gradient_accumulation_steps", f"must divide the minibatch size {self.mini_batch_size} (rollout_batch_size / num_mini_batches)")
        if self.generation_batch_size is not None and self.generation_batch_size < 1:
            bad("generation_batch_size", "must be at least 1")
        if self.temperature <= 0:
            bad("temperature", "must be > 0 (PPO needs sampled responses)")
        for name in ("cliprange", "cliprange_value", "learning_rate"):
            if getattr(self, name) <= 0:
                bad(name, "must be > 0")
        for name in ("gamma", "lam"):
            if not 0 <= getattr(self, name) <= 1:
                bad(name, "must be in [0, 1]")
        if self.kl_estimator not in ("k1", "k3"):
            bad("kl_estimator", "must be 'k1' or 'k3'")
        if self.lr_scheduler_type not in ("linear", "cosine", "constant"):
            bad("lr_scheduler_type", "must be 'linear', 'cosine' or 'constant'")
        if self.value_model not in ("auto", "separate", "shared"):
            bad("value_model", "must be 'auto', 'separate' or 'shared'")
        if self.stop_token not in (None, "eos"):
            bad("stop_token", "must be 'eos' or None (use stop_token_id for another token)")
        if self.reward_model and self.reward_function:
            bad("reward_function", "give either reward_model or reward_function, not both")
        if self.save_steps < 0:
            bad("save_steps", "must be >= 0")

    @property
    def mini_batch_size(self) -> int:
        return self.rollout_batch_size // self.num_mini_batches

    @property
    def micro_batch_size(self) -> int:
        return self.mini_batch_size // self.gradient_accumulation_steps

    @classmethod
    def from_dict(cls, args: dict[str, Any]) -> "PPOConfig":
        """Build from `[trainer.args]`; an unknown key is a ConfigError naming it."""
        known = {f.name for f in fields(cls)}
        for key in args:
            if key not in known:
                import difflib

                close = difflib.get_close_matches(key, sorted(known), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise ConfigError(f"unknown PPO option{hint}", where=f"trainer.args.{key}")
        return cls(**args)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

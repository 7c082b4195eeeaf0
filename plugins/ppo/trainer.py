"""`PPORunner`: PPO for RLHF on Accelerate, and `build(ctx)`, the trainer factory.

One step = roll out `rollout_batch_size` prompts per process (sample responses,
score them, log-probs and values of the policy, log-probs of the reference), turn
scores + per-token KL into rewards, GAE advantages, then `num_ppo_epochs` passes of
clipped policy/value updates over minibatches of that rollout.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed

from workbench.errors import ConfigError, DataError
from workbench_plugins.ppo import checkpoint as ckpt
from workbench_plugins.ppo import core
from workbench_plugins.ppo.config import PPOConfig
from workbench_plugins.ppo.modeling import PolicyWithValue, disable_dropout, is_peft_model, policy_forward, reference_mode
from workbench_plugins.ppo.rewards import RewardFn, RewardModelScorer, call_reward_function, resolve_reward_function


@dataclass
class Rollout:
    """One step's experience on this process; tensors are `[B, T]` over response tokens."""

    input_ids: torch.Tensor       # [B, Lq + T] left-padded query + response (padding after the stop)
    attention_mask: torch.Tensor  # [B, Lq + T]
    mask: torch.Tensor            # [B, T] 1 on real response tokens
    logprobs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor
    stats: dict[str, torch.Tensor]


class PPORunner:
    """Trains a causal LM with PPO against a reward function or a reward model.

    policy: a causal LM, or a PEFT model (its reference is then the base with the
        adapters disabled; otherwise a frozen copy is taken, or `ref_model` given).
    reward_fn / reward_model: exactly one; reward_fn may be a callable or anything
        `resolve_reward_function` accepts.
    train_prompts: a `datasets.Dataset` or a list of rows, each with a "prompt"
        (str or chat messages); plain strings are taken as prompts.
    """

    def __init__(
        self,
        policy: torch.nn.Module,
        tokenizer: Any,
        config: PPOConfig,
        train_prompts: Any,
        reward_fn: Any = None,
        reward_model: torch.nn.Module | None = None,
        reward_tokenizer: Any = None,
        ref_model: torch.nn.Module | None = None,
        reporter: Any = None,
        accelerator: Accelerator | None = None,
    ):
        self.config = config
        self.accelerator = accelerator or Accelerator()
        self.reporter = reporter
        self.tokenizer = tokenizer
        set_seed(config.seed)  # same initialisation (value head) on every process

        if (reward_fn is None) == (reward_model is None):
            raise ConfigError("PPO needs exactly one of reward_model or reward_function", where="trainer.args.reward_model")
        device = self.accelerator.device
        self.reward_fn: RewardFn | None = None
        self.reward_scorer: RewardModelScorer | None = None
        if reward_model is not None:
            self.reward_scorer = RewardModelScorer(reward_model.to(device), tokenizer, reward_tokenizer)
        else:
            self.reward_fn = resolve_reward_function(reward_fn, config.reward_function_kwargs)

        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if self.pad_id is None:
            raise ConfigError("the tokenizer has neither a pad nor an EOS token", where="model.tokenizer")
        self.stop_id = config.stop_token_id if config.stop_token_id is not None else (tokenizer.eos_token_id if config.stop_token == "eos" else None)

        self.rows, self.extra_columns = _prompt_rows(train_prompts)
        self.queries = [self._encode_prompt(row["prompt"], i) for i, row in enumerate(self.rows)]

        self.is_peft = is_peft_model(policy)
        if self.is_peft:
            self.ref_model = None
        else:
            self.ref_model = ref_model if ref_model is not None else copy.deepcopy(policy)
            self.ref_model.eval().requires_grad_(False).to(device)
        separate = config.value_model == "separate" or (config.value_model == "auto" and not self.is_peft)
        # A PEFT critic copies the frozen base and trains its own adapters.
        critic = copy.deepcopy(policy) if separate else None
        for module in (policy, critic):
            if module is None:
                continue
            if config.gradient_checkpointing:
                module.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            disable_dropout(module)
        self.model = PolicyWithValue(policy.to(device), critic=critic.to(device) if critic is not None else None)

        self.world = self.accelerator.num_processes
        self.global_batch = config.rollout_batch_size * self.world
        self.max_steps = self._resolve_max_steps()
        self.updates_per_step = config.num_ppo_epochs * config.num_mini_batches
        params = [p for p in self.model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=config.learning_rate, eps=config.adam_epsilon, weight_decay=config.weight_decay)
        from transformers import get_scheduler

        scheduler = get_scheduler(
            config.lr_scheduler_type,
            optimizer,
            num_warmup_steps=config.warmup_steps,
            num_training_steps=self.max_steps * self.updates_per_step,
        )
        # The scheduler stays unprepared: Accelerate's wrapper steps it once per process,
        # but here every process takes the same optimizer steps.
        self.model, self.optimizer = self.accelerator.prepare(self.model, optimizer)
        self.scheduler = scheduler
        self.global_step = 0
        self.log_history: list[dict[str, Any]] = []

    # ----------------------------------------------------------------- data
    def _encode_prompt(self, prompt: Any, index: int) -> list[int]:
        if isinstance(prompt, str):
            ids = self.tokenizer(prompt).input_ids
        elif isinstance(prompt, list) and all(isinstance(m, dict) and "role" in m for m in prompt):
            text = self.tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
            ids = self.tokenizer(text, add_special_tokens=False).input_ids
        else:
            raise DataError(f"prompt must be a string or a list of chat messages, got {type(prompt).__name__}", where=f"train data row {index + 1}: prompt")
        if not ids:
            raise DataError("prompt is empty", where=f"train data row {index + 1}: prompt")
        return ids[-self.config.max_prompt_length :]

    def _resolve_max_steps(self) -> int:
        c = self.config
        if c.max_steps > 0:
            return c.max_steps
        episodes = c.total_episodes if c.total_episodes else int(c.num_train_epochs * len(self.queries))
        return max(1, math.ceil(episodes / self.global_batch))

    def _step_indices(self, step: int) -> list[int]:
        """This process's prompt indices of `step`: a seeded permutation per epoch, so resume is exact."""
        n = len(self.queries)
        start = step * self.global_batch + self.accelerator.process_index * self.config.rollout_batch_size
        out = []
        cached: dict[int, list[int]] = {}
        for k in range(start, start + self.config.rollout_batch_size):
            epoch = k // n
            if epoch not in cached:
                g = torch.Generator().manual_seed(self.config.seed + epoch)
                cached[epoch] = torch.randperm(n, generator=g).tolist()
            out.append(cached[epoch][k % n])
        return out

    # -------------------------------------------------------------- rollout
    @torch.no_grad()
    def _generate(self, queries: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Sample responses; returns (left-padded query ids, query mask, responses padded with pad_id)."""
        from transformers import GenerationConfig

        c = self.config
        device = self.accelerator.device
        width = max(len(q) for q in queries)
        q_ids = torch.full((len(queries), width), self.pad_id, dtype=torch.long)
        q_mask = torch.zeros_like(q_ids)
        for i, q in enumerate(queries):
            q_ids[i, width - len(q) :] = torch.tensor(q)
            q_mask[i, width - len(q) :] = 1
        q_ids, q_mask = q_ids.to(device), q_mask.to(device)
        policy = self.accelerator.unwrap_model(self.model).policy
        gen_config = GenerationConfig(
            do_sample=True,
            temperature=c.temperature,
            top_k=0,
            top_p=1.0,
            max_new_tokens=c.response_length,
            eos_token_id=self.stop_id,
            pad_token_id=self.pad_id,
        )
        chunk = c.generation_batch_size or len(queries)
        responses = []
        for s in range(0, len(queries), chunk):
            out = policy.generate(input_ids=q_ids[s : s + chunk], attention_mask=q_mask[s : s + chunk], generation_config=gen_config)
            responses.append(out[:, width:])
        longest = max(r.size(1) for r in responses)
        responses = [torch.nn.functional.pad(r, (0, longest - r.size(1)), value=self.pad_id) for r in responses]
        return q_ids, q_mask, torch.cat(responses)

    @torch.no_grad()
    def _rollout(self, indices: list[int]) -> Rollout:
        c = self.config
        queries = [self.queries[i] for i in indices]
        was_training = self.model.training
        self.model.eval()
        q_ids, q_mask, responses = self._generate(queries)
        steps = responses.size(1)
        mask = core.response_mask(responses, self.stop_id, self.pad_id)
        responses = torch.where(mask.bool(), responses, torch.full_like(responses, self.pad_id))  # truncate after stop
        input_ids = torch.cat([q_ids, responses], 1)
        attention_mask = torch.cat([q_mask, torch.ones_like(responses)], 1)

        chunk = c.generation_batch_size or len(indices)
        logprobs, values, ref_logprobs = [], [], []
        unwrapped = self.accelerator.unwrap_model(self.model)
        for s in range(0, len(indices), chunk):
            ids, am, resp = input_ids[s : s + chunk], attention_mask[s : s + chunk], responses[s : s + chunk]
            logits, vals = self.model(ids, am, steps)
            logprobs.append(core.logprobs_from_logits(logits / c.temperature, resp))
            values.append(vals.float())
            del logits
            if self.is_peft:
                with reference_mode(unwrapped.policy):
                    ref_logits, _ = policy_forward(unwrapped.policy, ids, am, steps)
            else:
                ref_logits, _ = policy_forward(self.ref_model, ids, am, steps)
            ref_logprobs.append(core.logprobs_from_logits(ref_logits / c.temperature, resp))
            del ref_logits
        logprobs, values, ref_logprobs = torch.cat(logprobs), torch.cat(values), torch.cat(ref_logprobs)
        if was_training:
            self.model.train()

        lengths = mask.sum(1).long()
        response_lists = [responses[i, : lengths[i]].tolist() for i in range(len(indices))]
        scores = self._score(indices, queries, response_lists).to(logprobs.device)
        has_stop = (
            (responses == self.stop_id).any(1) if self.stop_id is not None else torch.ones_like(lengths, dtype=torch.bool)
        )
        if c.missing_eos_penalty is not None and self.stop_id is not None:
            scores = scores - c.missing_eos_penalty * (~has_stop).float()

        rewards, non_score, kl = core.per_token_rewards(scores, logprobs, ref_logprobs, mask, c.kl_coef, c.kl_estimator)
        if c.whiten_rewards:
            rewards = core.masked_whiten(rewards, mask, shift_mean=False)
        advantages, returns = core.compute_gae(rewards, values, mask, c.gamma, c.lam)
        advantages = core.masked_whiten(advantages, mask)
        stats = {
            "reward": scores.mean(),
            "non_score_reward": non_score.sum(1).mean(),
            "rlhf_reward": (scores + non_score.sum(1)).mean(),
            "kl": kl.sum(1).mean(),
            "response_length": lengths.float().mean(),
            "eos_fraction": has_stop.float().mean(),
            "value_mean": core.masked_mean(values, mask),
        }
        return Rollout(input_ids, attention_mask, mask, logprobs, values * mask, advantages, returns, stats)

    def _score(self, indices: list[int], queries: list[list[int]], responses: list[list[int]]) -> torch.Tensor:
        if self.reward_scorer is not None:
            return self.reward_scorer(queries, responses, self.config.generation_batch_size or len(queries))
        prompts = [self.rows[i]["prompt"] for i in indices]
        completions = self.tokenizer.batch_decode(responses, skip_special_tokens=True)
        extra = {col: [self.rows[i].get(col) for i in indices] for col in self.extra_columns}
        return call_reward_function(self.reward_fn, prompts, completions, responses, extra)

    # --------------------------------------------------------------- update
    def _update(self, rollout: Rollout) -> dict[str, torch.Tensor]:
        c = self.config
        steps = rollout.mask.size(1)
        totals: dict[str, list[torch.Tensor]] = {k: [] for k in ("policy_loss", "value_loss", "clipfrac", "approxkl", "entropy", "value_clipfrac", "ratio")}
        self.model.train()
        n = rollout.mask.size(0)
        for _ in range(c.num_ppo_epochs):
            order = torch.randperm(n, device=rollout.mask.device)
            for mb in range(c.num_mini_batches):
                mb_idx = order[mb * c.mini_batch_size : (mb + 1) * c.mini_batch_size]
                for micro in range(c.gradient_accumulation_steps):
                    idx = mb_idx[micro * c.micro_batch_size : (micro + 1) * c.micro_batch_size]
                    last = micro == c.gradient_accumulation_steps - 1
                    sync = contextlib.nullcontext() if last else self.accelerator.no_sync(self.model)
                    with sync:
                        stats = self._micro_step(rollout, idx, steps)
                    for k, v in stats.items():
                        totals[k].append(v)
                if c.max_grad_norm is not None:
                    self.accelerator.clip_grad_norm_(self.model.parameters(), c.max_grad_norm)
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
        return {k: torch.stack(v).mean() for k, v in totals.items()}

    def _micro_step(self, r: Rollout, idx: torch.Tensor, steps: int) -> dict[str, torch.Tensor]:
        c = self.config
        mask = r.mask[idx]
        logits, values = self.model(r.input_ids[idx], r.attention_mask[idx], steps)
        logits = logits / c.temperature
        tokens = r.input_ids[idx][:, -steps:]
        new_logprobs = core.logprobs_from_logits(logits, tokens)
        pg_loss, pg_stats = core.policy_loss(new_logprobs, r.logprobs[idx], r.advantages[idx], mask, c.cliprange)
        vf_loss, vf_stats = core.value_loss(values.float(), r.values[idx], r.returns[idx], mask, c.cliprange_value)
        loss = (pg_loss + c.vf_coef * vf_loss) / c.gradient_accumulation_steps
        self.accelerator.backward(loss)
        with torch.no_grad():
            entropy = core.masked_mean(core.entropy_from_logits(logits), mask)
        return {"policy_loss": pg_loss.detach(), "value_loss": vf_loss.detach(), "entropy": entropy, **pg_stats, **vf_stats}

    # ----------------------------------------------------------------- loop
    def _stop_requested(self) -> bool:
        """Rank 0 reads the stop request; every process gets its answer, so all stop at one step."""
        flag = 0.0
        if self.accelerator.is_main_process and self.reporter is not None and self.reporter.stop_requested():
            flag = 1.0
        flag_t = torch.tensor([flag], device=self.accelerator.device)
        return bool(self.accelerator.reduce(flag_t, reduction="sum").item() > 0)

    def train(self, resume_from_checkpoint: str | None = None) -> dict[str, Any]:
        """Run PPO up to max_steps; on a stop request save a checkpoint and return early."""
        c = self.config
        if resume_from_checkpoint:
            self._load_checkpoint(Path(resume_from_checkpoint))
        acc = self.accelerator
        last_saved = self.global_step if resume_from_checkpoint else -1
        stopped = False
        start = time.perf_counter()
        while self.global_step < self.max_steps:
            if self._stop_requested():
                stopped = True
                if acc.is_main_process and self.reporter is not None:
                    self.reporter.event("stop_requested", step=self.global_step)
                break
            t0 = time.perf_counter()
            rollout = self._rollout(self._step_indices(self.global_step))
            train_stats = self._update(rollout)
            self.global_step += 1
            metrics = {**rollout.stats, **train_stats}
            names = sorted(metrics)
            reduced = acc.reduce(torch.stack([metrics[k].float().to(acc.device) for k in names]), reduction="mean")
            row = {k: round(float(v), 6) for k, v in zip(names, reduced.tolist())}
            row["lr"] = self.scheduler.get_last_lr()[0]
            row["episode"] = self.global_step * self.global_batch
            row["step_time"] = round(time.perf_counter() - t0, 4)
            if self.global_step % c.logging_steps == 0 or self.global_step == self.max_steps:
                self.log_history.append({"step": self.global_step, **row})
                if acc.is_main_process and self.reporter is not None:
                    self.reporter.log(row, step=self.global_step, epoch=self.global_step * self.global_batch / len(self.queries), kind="train")
            if c.save_steps and self.global_step % c.save_steps == 0 and self.global_step < self.max_steps:
                self._save_checkpoint()
                last_saved = self.global_step
        if last_saved != self.global_step and (stopped or self.global_step >= self.max_steps):
            self._save_checkpoint()
        return {"global_step": self.global_step, "stopped": stopped, "train_runtime": time.perf_counter() - start, "log_history": self.log_history}

    # ---------------------------------------------------------- persistence
    def _save_checkpoint(self) -> Path:
        path = Path(self.config.output_dir) / f"checkpoint-{self.global_step}"
        unwrapped = self.accelerator.unwrap_model(self.model)
        ckpt.save(
            path,
            accelerator=self.accelerator,
            policy=unwrapped.policy,
            value_head=unwrapped.value_head,
            critic=unwrapped.critic,
            tokenizer=self.tokenizer,
            optimizer=self.optimizer,
            scheduler=self.scheduler,
            state={"global_step": self.global_step, "max_steps": self.max_steps, "log_history": self.log_history, "config": self.config.to_dict()},
        )
        if self.accelerator.is_main_process:
            if self.reporter is not None:
                self.reporter.checkpoint_saved(path, self.global_step)
            ckpt.rotate(Path(self.config.output_dir), self.config.save_total_limit)
        return path

    def _load_checkpoint(self, path: Path) -> None:
        unwrapped = self.accelerator.unwrap_model(self.model)
        state = ckpt.load(path, accelerator=self.accelerator, policy=unwrapped.policy, value_head=unwrapped.value_head, critic=unwrapped.critic, optimizer=self.optimizer, scheduler=self.scheduler)
        self.global_step = int(state["global_step"])
        self.log_history = list(state.get("log_history", []))
        if self.accelerator.is_main_process and self.reporter is not None:
            self.reporter.event("resumed", step=self.global_step, path=str(path))

    def save_model(self, output_dir: str | None = None) -> None:
        """Save the policy (the adapter for PEFT), its tokenizer and the value head."""
        out = Path(output_dir or self.config.output_dir)
        unwrapped = self.accelerator.unwrap_model(self.model)
        ckpt.save_policy(out, self.accelerator, unwrapped.policy, unwrapped.value_head, self.tokenizer, unwrapped.critic)


def _prompt_rows(train_prompts: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows as dicts with a "prompt", plus the names of the other columns (passed to reward functions)."""
    if train_prompts is None:
        raise DataError("PPO needs a prompt dataset", where="data")
    if hasattr(train_prompts, "column_names"):
        if "prompt" not in train_prompts.column_names:
            raise DataError(f"the dataset has no 'prompt' column (columns: {', '.join(train_prompts.column_names)})", where="data")
        rows = train_prompts.to_list()
    else:
        rows = [r if isinstance(r, dict) else {"prompt": r} for r in train_prompts]
    if not rows:
        raise DataError("the prompt dataset is empty", where="data")
    for i, row in enumerate(rows):
        if "prompt" not in row:
            raise DataError("row has no 'prompt'", where=f"train data row {i + 1}")
    extra = sorted({k for r in rows for k in r} - {"prompt", "completion_ids"})
    return rows, extra


def build(ctx: Any) -> PPORunner:
    """The trainer factory: a PPORunner from the run's TrainContext."""
    config = PPOConfig.from_dict({**ctx.trainer_args, "output_dir": str(ctx.output_dir)})
    accelerator = Accelerator()
    tokenizer = ctx.load_tokenizer()
    policy = ctx.load_model(role="policy")
    peft_config = ctx.peft_config()
    if peft_config is not None:
        from peft import get_peft_model

        policy = get_peft_model(policy, peft_config)
    reward_model = reward_tokenizer = reward_fn = None
    if config.reward_model:
        reward_model = ctx.load_model(role="reward", path=config.reward_model, model_class="AutoModelForSequenceClassification")
        reward_tokenizer = _maybe_tokenizer(config.reward_model)
    elif config.reward_function:
        reward_fn = config.reward_function
    else:
        raise ConfigError("set reward_model (a sequence-classification checkpoint) or reward_function", where="trainer.args")
    return PPORunner(
        policy=policy,
        tokenizer=tokenizer,
        config=config,
        train_prompts=ctx.train_dataset,
        reward_fn=reward_fn,
        reward_model=reward_model,
        reward_tokenizer=reward_tokenizer,
        reporter=ctx.reporter,
        accelerator=accelerator,
    )


def _maybe_tokenizer(path: str) -> Any:
    """The reward model's own tokenizer, or None when it ships none (the policy's is then used)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path)
    except (OSError, ValueError):
        return None

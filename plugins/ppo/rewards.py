"""Where PPO's scores come from: a reward function or a sequence-classification reward model.

A reward function follows the GRPO convention shared by the workbench's reward
registry: `fn(prompts, completions, **kw) -> list[float]`, where `prompts` are the
dataset's prompts as given (a string, or a list of chat messages) and `completions`
are strings (or `[{"role": "assistant", "content": ...}]` for chat prompts). `kw`
holds `completion_ids` and every other dataset column, as lists.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch

from workbench.errors import ConfigError

RewardFn = Callable[..., Sequence[float]]


def resolve_reward_function(spec: Any, options: dict[str, Any] | None = None) -> RewardFn:
    """Turn a reward function reference into a callable.

    Accepts a callable; an object with a `factory` import path (a RewardFunctionSpec),
    called with `options`; an import path "module:attr" (a spec, a factory via options,
    or the function itself); or a registered name looked up in the plugin registry.
    """
    from workbench.specs import load_object

    options = dict(options or {})
    where = "trainer.args.reward_function"
    if isinstance(spec, str):
        if ":" in spec:
            try:
                spec = load_object(spec)
            except (ImportError, AttributeError) as exc:
                raise ConfigError(f"cannot import reward function {spec!r}: {exc}", where=where) from exc
            if not hasattr(spec, "factory") and options:
                # "module:factory" plus options: the object is a factory of the function.
                return _checked(spec(**options), where)
        else:
            spec = _registered(spec, where)
    factory = getattr(spec, "factory", None)
    if isinstance(factory, str):
        try:
            return _checked(load_object(factory)(**options), where)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"cannot import the factory {factory!r} of reward function {getattr(spec, 'name', spec)!r}: {exc}", where=where) from exc
    return _checked(spec, where)


def _registered(name: str, where: str) -> Any:
    try:
        from workbench.plugin_manager import get_registry
    except ImportError as exc:  # the registry is optional for direct use of the runner
        raise ConfigError(f"reward function {name!r} is not an import path 'module:function' and no plugin registry is available", where=where) from exc
    try:
        return get_registry().get("reward_functions", name)
    except Exception as exc:  # noqa: BLE001 - a PluginError already has a one-line message
        raise ConfigError(str(exc), where=where) from exc


def _checked(fn: Any, where: str) -> RewardFn:
    if not callable(fn):
        raise ConfigError(f"reward function resolves to a non-callable {type(fn).__name__}", where=where)
    return fn


def call_reward_function(
    fn: RewardFn, prompts: list[Any], completions: list[str], completion_ids: list[list[int]], extra: dict[str, list[Any]]
) -> torch.Tensor:
    """Call `fn` and check that it gave one finite number per completion."""
    chat = [isinstance(p, list) for p in prompts]
    shown = [[{"role": "assistant", "content": c}] if is_chat else c for c, is_chat in zip(completions, chat)]
    scores = fn(prompts, shown, completion_ids=completion_ids, **extra)
    name = getattr(fn, "__name__", type(fn).__name__)
    try:
        values = [float(s) if s is not None else float("nan") for s in scores]
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"reward function {name} returned non-numbers: {exc}", where="trainer.args.reward_function") from exc
    if len(values) != len(completions):
        raise ConfigError(f"reward function {name} returned {len(values)} scores for {len(completions)} completions", where="trainer.args.reward_function")
    out = torch.tensor(values, dtype=torch.float32)
    if not torch.isfinite(out).all():
        raise ConfigError(f"reward function {name} returned a NaN/inf/None score", where="trainer.args.reward_function")
    return out


class RewardModelScorer:
    """Scores query+response with a sequence-classification model (num_labels=1).

    When the reward model's tokenizer is the policy's (same vocabulary), the policy's
    token ids are reused; otherwise the text is decoded and re-encoded.
    """

    def __init__(self, model: torch.nn.Module, policy_tokenizer: Any, reward_tokenizer: Any | None = None):
        num_labels = getattr(model.config, "num_labels", 1)
        if num_labels != 1:
            raise ConfigError(f"the reward model must have num_labels=1, it has {num_labels}", where="trainer.args.reward_model")
        self.model = model.eval().requires_grad_(False)
        self.policy_tokenizer = policy_tokenizer
        self.tokenizer = reward_tokenizer
        self.same_vocab = reward_tokenizer is None or reward_tokenizer.get_vocab() == policy_tokenizer.get_vocab()
        tok = policy_tokenizer if self.same_vocab else reward_tokenizer
        pad = getattr(model.config, "pad_token_id", None)
        if pad is None:
            pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
            # Sequence-classification heads pool at the last non-pad token: they need to know the pad id.
            model.config.pad_token_id = pad
        self.pad_id = int(pad)

    @torch.no_grad()
    def __call__(self, queries: list[list[int]], responses: list[list[int]], batch_size: int) -> torch.Tensor:
        device = next(self.model.parameters()).device
        if self.same_vocab:
            seqs = [q + r for q, r in zip(queries, responses)]
        else:
            texts = [
                self.policy_tokenizer.decode(q, skip_special_tokens=True) + self.policy_tokenizer.decode(r, skip_special_tokens=True)
                for q, r in zip(queries, responses)
            ]
            seqs = [self.tokenizer(t).input_ids for t in texts]
        scores = []
        for start in range(0, len(seqs), batch_size):
            chunk = seqs[start : start + batch_size]
            width = max(len(s) for s in chunk)
            ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
            mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for i, s in enumerate(chunk):  # right padding: the head pools at the last real token
                ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
                mask[i, : len(s)] = 1
            logits = self.model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits
            scores.append(logits[:, 0].float().cpu())
        return torch.cat(scores)

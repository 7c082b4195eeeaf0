"""Reward functions by name: registry lookup and helpers shared by GRPO, RLOO and PPO.

A reward function follows TRL's convention: `fn(prompts, completions, **kwargs) -> list[float]`.
`completions` are strings, or for chat prompts lists of messages
(`[{"role": "assistant", "content": ...}]`); `kwargs` hold the dataset's other columns as
lists (one value per completion) plus trainer extras such as `completion_ids`.
Plugins register factories (`RewardFunctionSpec.factory(**options) -> fn`).

This module imports no torch: it is cheap enough to use from config validation.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, Sequence

from workbench.errors import ConfigError
from workbench.specs import load_object

RewardFn = Callable[..., list[float]]


def completion_text(completion: Any) -> str:
    """The text of one completion: a string as is, or the contents of a message list joined."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content") or "")
    if isinstance(completion, (list, tuple)):
        return "".join(completion_text(m) for m in completion)
    return "" if completion is None else str(completion)


def column(kwargs: Mapping[str, Any], name: str, function: str) -> list[Any]:
    """Dataset column `name` from a reward function's kwargs, or a one-line error naming what exists."""
    if name not in kwargs:
        have = sorted(k for k in kwargs if k not in ("completion_ids", "trainer_state", "log_extra", "log_metric"))
        raise ConfigError(f"reward function '{function}' needs a dataset column '{name}', but the data has "
                          f"{', '.join(have) or 'no other columns'}", where=f"trainer.reward_options.{function}.column")
    return list(kwargs[name])


def _named(fn: Callable, name: str) -> Callable:
    """TRL names each reward's metrics (rewards/<name>/mean) after the callable's __name__."""
    try:
        fn.__name__ = name
    except (AttributeError, TypeError):
        original = fn

        def fn(prompts, completions, **kwargs):  # noqa: ANN001 - same signature as the wrapped function
            return original(prompts, completions, **kwargs)

        fn.__name__ = name
    return fn


def build_reward_function(name: str, options: Mapping[str, Any] | None = None, registry=None,
                          where: str = "trainer.reward_functions") -> RewardFn:
    """The reward function registered as `name` (or an import path "module:factory"), built with `options`."""
    options = dict(options or {})
    if ":" in name:
        try:
            factory = load_object(name)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"cannot import reward function '{name}': {exc}", where=where) from None
        display = name.rpartition(":")[2]
    else:
        if registry is None:
            from workbench.plugin_manager import get_registry

            registry = get_registry()
        try:
            spec = registry.get("reward_functions", name)
        except Exception as exc:  # noqa: BLE001 - PluginError carries the one-line message
            raise ConfigError(getattr(exc, "message", str(exc)), where=where) from None
        factory = load_object(spec.factory)
        display = name
    _check_options(factory, options, display)
    fn = factory(**options)
    if not callable(fn):
        raise ConfigError(f"reward function '{display}': its factory returned {type(fn).__name__}, not a function",
                          where=where)
    return _named(fn, display)


def _check_options(factory: Callable, options: dict, name: str) -> None:
    """Unknown or missing options become one-line config errors, not a TypeError in the job."""
    where = f"trainer.reward_options.{name}"
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    params = sig.parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(options) - set(params))
        if unknown:
            known = ", ".join(params) or "none"
            raise ConfigError(f"reward function '{name}' has no option '{unknown[0]}' (options: {known})", where=where)
    missing = [p.name for p in params.values()
               if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name not in options]
    if missing:
        raise ConfigError(f"reward function '{name}' needs option '{missing[0]}'", where=where)


def build_reward_functions(names: Sequence[str] | str, options: Mapping[str, Mapping[str, Any]] | None = None,
                           registry=None, weights: Sequence[float] | None = None) -> list[RewardFn]:
    """Build every named reward function; `options` maps a name to its factory's keyword arguments.

    weights: the trainer's reward_weights, one per function when given.
    """
    if isinstance(names, str):
        names = [names]
    if not names:
        raise ConfigError("no reward functions: set trainer.reward_functions, e.g. [\"exact_answer\"]",
                          where="trainer.reward_functions")
    options = dict(options or {})
    unused = set(options) - set(names)
    if unused:
        raise ConfigError(f"options for '{sorted(unused)[0]}', which is not in trainer.reward_functions",
                          where=f"trainer.reward_options.{sorted(unused)[0]}")
    if weights is not None and len(weights) != len(names):
        raise ConfigError(f"{len(weights)} weights for {len(names)} reward functions ({', '.join(names)})",
                          where="trainer.args.reward_weights")
    return [build_reward_function(n, options.get(n), registry, where=f"trainer.reward_functions[{i}]")
            for i, n in enumerate(names)]

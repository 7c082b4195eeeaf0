"""Built-in reward functions. Each factory takes its options and returns
`fn(prompts, completions, **kwargs) -> list[float]` (TRL's reward-function convention).

Completions may be strings or, for chat prompts, lists of messages; both are read
through `completion_text`. No torch import: these are plain Python.
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable

from workbench.errors import ConfigError
from workbench.training.rewards import column as dataset_column
from workbench.training.rewards import completion_text

RewardFn = Callable[..., list[float]]
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_UNITS = ("chars", "words", "tokens")


def length(target: int = 32, unit: str = "chars") -> RewardFn:
    """1.0 at `target` length, falling linearly to 0.0 at a distance of `target` (or more).

    unit: "chars", "words" or "tokens" (completion token ids, when the trainer passes them).
    """
    if not isinstance(target, int) or isinstance(target, bool) or target < 1:
        raise ConfigError(f"reward function 'length': target must be a positive integer, got {target!r}",
                          where="trainer.reward_options.length.target")
    if unit not in _UNITS:
        raise ConfigError(f"reward function 'length': unit {unit!r} is not one of {', '.join(_UNITS)}",
                          where="trainer.reward_options.length.unit")

    def reward(prompts, completions, **kwargs) -> list[float]:
        if unit == "tokens":
            sizes = [len(ids) for ids in dataset_column(kwargs, "completion_ids", "length")]
        elif unit == "words":
            sizes = [len(completion_text(c).split()) for c in completions]
        else:
            sizes = [len(completion_text(c)) for c in completions]
        return [max(0.0, 1.0 - abs(n - target) / target) for n in sizes]

    return reward


def regex(pattern: str, mode: str = "search", ignore_case: bool = False) -> RewardFn:
    """Format reward: 1.0 when the completion matches `pattern`, else 0.0.

    mode "search" finds the pattern anywhere; "fullmatch" needs the whole (stripped) completion to match.
    """
    where = "trainer.reward_options.regex"
    if mode not in ("search", "fullmatch"):
        raise ConfigError(f"reward function 'regex': mode {mode!r} is not search or fullmatch", where=f"{where}.mode")
    try:
        compiled = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except (re.error, TypeError) as exc:
        raise ConfigError(f"reward function 'regex': invalid pattern {pattern!r}: {exc}", where=f"{where}.pattern") \
            from None
    match = compiled.search if mode == "search" else compiled.fullmatch

    def reward(prompts, completions, **kwargs) -> list[float]:
        return [1.0 if match(completion_text(c).strip()) else 0.0 for c in completions]

    return reward


def extract_answer(text: str, extract: str | re.Pattern) -> str | None:
    """The answer part of a completion: its last number, its whole text, or a regex's first group."""
    if isinstance(extract, re.Pattern):
        m = extract.search(text)
        return (m.group(1) if m.groups() else m.group(0)).strip() if m else None
    if extract == "last_number":
        numbers = _NUMBER.findall(text)
        return numbers[-1] if numbers else None
    return text.strip()


def answers_equal(got: str | None, expected: Any) -> bool:
    """Numbers compare by value (12 == 12.0), text case- and space-insensitively."""
    if got is None or expected is None:
        return False
    want = str(expected).strip()
    try:
        return math.isclose(float(got), float(want), rel_tol=1e-9, abs_tol=1e-9)
    except ValueError:
        return " ".join(got.lower().split()) == " ".join(want.lower().split())


def exact_answer(column: str = "answer", extract: str = "last_number") -> RewardFn:
    """1.0 when the completion's answer equals the dataset column's value for that prompt, else 0.0.

    column: the dataset column holding the reference answer (default "answer").
    extract: "last_number" (the last number in the completion), "text" (the whole completion)
        or a regular expression whose first group is the answer.
    """
    if extract in ("last_number", "text"):
        how: str | re.Pattern = extract
    else:
        try:
            how = re.compile(extract)
        except (re.error, TypeError) as exc:
            raise ConfigError(f"reward function 'exact_answer': extract {extract!r} is neither last_number, text "
                              f"nor a valid regex: {exc}", where="trainer.reward_options.exact_answer.extract") from None

    def reward(prompts, completions, **kwargs) -> list[float]:
        expected = dataset_column(kwargs, column, "exact_answer")
        return [1.0 if answers_equal(extract_answer(completion_text(c), how), e) else 0.0
                for c, e in zip(completions, expected)]

    return reward


def char_share(chars: str = "0123456789") -> RewardFn:
    """Toy reward: the share of the completion's non-space characters that are in `chars` (0..1).

    Dense and easy to move, so it shows an RL trainer learning within a few dozen steps.
    """
    if not isinstance(chars, str) or not chars:
        raise ConfigError("reward function 'char_share': chars must be a non-empty string",
                          where="trainer.reward_options.char_share.chars")
    wanted = set(chars)

    def reward(prompts, completions, **kwargs) -> list[float]:
        out = []
        for c in completions:
            text = [ch for ch in completion_text(c) if not ch.isspace()]
            out.append(sum(ch in wanted for ch in text) / len(text) if text else 0.0)
        return out

    return reward

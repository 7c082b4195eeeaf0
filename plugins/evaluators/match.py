"""exact_match, contains and regex: does the generation give the reference answer?"""

from __future__ import annotations

from workbench.errors import ConfigError
from workbench.evaluation import EvalResult
from workbench.training import TrainContext
from workbench_plugins.evaluators.generative import run_scored
from workbench_plugins.evaluators.scoring import RegexMatch, contains, exact_match


def evaluate_exact_match(ctx: TrainContext, **options) -> EvalResult:
    """Share of generations equal to the reference after normalisation (case, width, punctuation, spaces)."""
    return run_scored(ctx, "exact_match", options, "exact_match", lambda _: exact_match)


def evaluate_contains(ctx: TrainContext, **options) -> EvalResult:
    """Share of generations containing the normalised reference as whole words."""
    return run_scored(ctx, "contains", options, "contains", lambda _: contains)


def _regex(own: dict) -> RegexMatch:
    pattern, full, flags = own.get("pattern"), own.get("full", False), own.get("flags", "")
    if pattern is not None and not isinstance(pattern, str):
        raise ConfigError(f"must be a string, got {pattern!r}", where="eval.options.regex.pattern")
    if not isinstance(full, bool):
        raise ConfigError(f"must be true or false, got {full!r}", where="eval.options.regex.full")
    if not isinstance(flags, str):
        raise ConfigError(f"must be a string of i, m, s, x, got {flags!r}", where="eval.options.regex.flags")
    return RegexMatch(pattern, full=full, flags=flags, where="eval.options.regex")


def evaluate_regex(ctx: TrainContext, **options) -> EvalResult:
    """Share of generations matching `pattern` (search; `full = true`: the whole stripped text);
    without a pattern each row's reference is the pattern."""
    return run_scored(ctx, "regex", options, "regex", _regex, own=("pattern", "full", "flags"),
                      need_reference="pattern" not in options)

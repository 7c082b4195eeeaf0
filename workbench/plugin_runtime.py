"""The job's side of plugins: importing a spec's code, calling evaluators, plugin callbacks.

Every failure here names the spec and its plugin (and file:line in the plugin), so a run
that fails because of a plugin says which one.
"""

from __future__ import annotations

import inspect
import traceback
from pathlib import Path
from typing import Any

from workbench.errors import PluginError, WorkbenchError
from workbench.plugin_checks import _SINGULAR
from workbench.specs import load_object


def _plugin_frame(exc: BaseException) -> str:
    """'file.py:LINE' of the innermost frame outside the host, where the plugin went wrong."""
    frames = traceback.extract_tb(exc.__traceback__)
    host = str(Path(__file__).resolve().parent)
    mine = [f for f in frames if not str(Path(f.filename).resolve()).startswith(host)] or frames
    return f"{Path(mine[-1].filename).name}:{mine[-1].lineno}" if mine else ""


def describe(exc: BaseException) -> str:
    """'Type: first line (file.py:LINE)'."""
    text = (str(exc).strip().splitlines() or [""])[0]
    at = _plugin_frame(exc)
    return f"{type(exc).__name__}: {text}" + (f" ({at})" if at else "")


def load_spec_object(registry: Any, table: str, name: str, field: str = "factory") -> Any:
    """Import what spec `name` of `table` names in `field`; a failure is a PluginError naming the plugin."""
    spec = registry.get(table, name)
    path = getattr(spec, field)
    if callable(path):
        return path
    try:
        return load_object(path)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - named, not raised raw
        plugin = registry.owner_of(table, name)
        raise PluginError(f"{_SINGULAR.get(table, table)} '{name}': cannot import {field} '{path}': {describe(exc)}",
                          where=f"plugin {plugin}") from None


def check_evaluator_options(registry: Any, name: str, options: dict[str, Any], base: Path) -> dict[str, Any]:
    """Evaluator `name`'s own check of its options before launch (EvaluatorSpec.check); the options to use.
    Its ConfigError passes through (it names the option); anything else is a PluginError naming the plugin."""
    if not getattr(registry.get("evaluators", name), "check", None):
        return options
    check = load_spec_object(registry, "evaluators", name, "check")
    where = f"plugin {registry.owner_of('evaluators', name)}"
    try:
        fixed = check(dict(options), base)
    except WorkbenchError:
        raise
    except (Exception, SystemExit) as exc:  # noqa: BLE001
        raise PluginError(f"evaluator '{name}': its option check failed: {describe(exc)}", where=where) from None
    if fixed is not None and not isinstance(fixed, dict):
        raise PluginError(f"evaluator '{name}': its option check returned a {type(fixed).__name__}, expected "
                          "a dict of options or None", where=where)
    return options if fixed is None else fixed


def call_evaluator(registry: Any, name: str, ctx: Any, options: dict[str, Any]) -> Any:
    """Run evaluator `name`; its scores as {metric: float} (or its result object with a `metrics` dict),
    or a PluginError naming the evaluator, its plugin and the file:line where it failed."""
    plugin = registry.owner_of("evaluators", name)
    evaluate = load_spec_object(registry, "evaluators", name)
    where = f"plugin {plugin}"
    try:
        scores = evaluate(ctx, **options)
    except WorkbenchError as exc:  # the evaluator's own one-line error (e.g. a bad option)
        raise type(exc)(f"evaluator '{name}': {exc.message}", where=exc.where or where, hint=exc.hint) from None
    except (Exception, SystemExit) as exc:  # noqa: BLE001
        raise PluginError(f"evaluator '{name}' failed: {describe(exc)}", where=where) from None
    if not isinstance(scores, dict) and isinstance(getattr(scores, "metrics", None), dict):
        return scores  # a richer result object (metrics plus records): its own checks apply
    if not isinstance(scores, dict):
        at = ""
        try:
            at = f" ({Path(inspect.getsourcefile(evaluate)).name}:{inspect.getsourcelines(evaluate)[1]})"
        except (TypeError, OSError):
            pass
        raise PluginError(f"evaluator '{name}' returned a {type(scores).__name__}, expected a dict of "
                          f"metric -> number{at}", where=where)
    bad = [k for k, v in scores.items() if isinstance(v, bool) or not isinstance(v, (int, float))]
    if bad:
        raise PluginError(f"evaluator '{name}' returned {bad[0]!r} = {scores[bad[0]]!r}, not a number", where=where)
    return {str(k): float(v) for k, v in scores.items()}


def _takes_argument(factory: Any) -> bool:
    """Whether a callback factory (class or function) takes a positional argument (the TrainContext)."""
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in params)


def plugin_callbacks(registry: Any, ctx: Any, reporter: Any) -> list[Any]:
    """One guarded TrainerCallback per registered CallbackSpec; a factory that fails is a plugin_error event."""
    out = []
    for name in registry.callbacks:
        plugin = registry.owner_of("callbacks", name)
        try:
            factory = load_spec_object(registry, "callbacks", name)
            callback = factory(ctx) if _takes_argument(factory) else factory()
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a notifier must not fail the run
            message = exc.one_line() if isinstance(exc, WorkbenchError) else describe(exc)
            reporter.event("plugin_error", plugin=plugin, hook="register_callbacks",
                           message=f"plugin {plugin}: callback '{name}' not used: {message}")
            continue
        out.append(guarded_callback(callback, name, plugin, reporter))
    return out


def guarded_callback(callback: Any, name: str, plugin: str, reporter: Any) -> Any:
    """Wrap a TrainerCallback so that its first exception is reported and the callback switched off."""
    from transformers import TrainerCallback

    events = [n for n in dir(TrainerCallback) if n.startswith("on_")]

    class Guarded(TrainerCallback):
        def __init__(self) -> None:
            self.inner, self.failed = callback, False

        def __repr__(self) -> str:
            return f"<plugin callback {name} of {plugin}: {self.inner!r}>"

    def make(event: str):
        def handler(self, args, state, control, **kwargs):
            if self.failed:
                return None
            try:
                return getattr(self.inner, event)(args, state, control, **kwargs)
            except (Exception, SystemExit) as exc:  # noqa: BLE001 - reported, the run goes on
                self.failed = True
                reporter.event("plugin_error", plugin=plugin, hook=f"callback {name}.{event}",
                               message=f"plugin {plugin}: callback '{name}' raised in {event}: {describe(exc)}; "
                                       "switched off for the rest of the run")
                return None

        handler.__name__ = event
        return handler

    for event in events:
        setattr(Guarded, event, make(event))
    return Guarded()

"""The plugin contract of Workbench (pluggy project name "workbench").

Plugins are modules (or objects) exposing functions marked with `hookimpl` and
registered under the `workbench` entry-point group:

    [project.entry-points.workbench]
    my_plugin = "my_package.plugin"

Every hook is optional. Register hooks return lists of the frozen spec objects of
`workbench.specs`; they must be cheap (no torch/TRL imports at module level). A function
marked `hookimpl` whose name is not a hook below is an error naming the closest hook.

A plugin may declare the hook-spec versions it supports with a PEP 440 range,
`WORKBENCH_HOOKSPEC = ">=1,<2"` at module level; outside it, it is listed as broken.
docs/plugins.md holds the changelog and the deprecation policy (HOOK_CHANGELOG below).
"""

from __future__ import annotations

from dataclasses import dataclass

import pluggy

from workbench.specs import (
    CallbackSpec,
    CommandSpec,
    DataFormat,
    EvaluatorSpec,
    LauncherSpec,
    PaletteCommandSpec,
    PresetSpec,
    RewardFunctionSpec,
    RunInfo,
    RunPanelSpec,
    TabSpec,
    ThemeSpec,
    RunSourceSpec,
    TrainerSpec,
)

PROJECT = "workbench"
# Bumped when a hook or spec changes incompatibly (new hooks and new defaulted fields do not).
HOOKSPEC_VERSION = 1

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@dataclass(frozen=True)
class Deprecation:
    """A hook that still works, with a warning naming its replacement, until `removal`."""

    replacement: str
    since: str       # the Workbench minor version that deprecated it
    removal: str     # the next minor version, which drops it


# hook -> the Workbench version that added it (docs/plugins.md "Hook changelog" mirrors this).
HOOK_CHANGELOG: dict[str, str] = {
    "register_trainers": "0.1", "register_data_formats": "0.1", "register_evaluators": "0.1",
    "register_launchers": "0.1", "register_reward_functions": "0.1", "register_presets": "0.1",
    "register_tui_commands": "0.1", "run_finished": "0.1",
    "register_palette_commands": "0.2", "register_commands": "0.2", "register_callbacks": "0.2",
    "register_run_panels": "0.2", "register_tabs": "0.2", "register_themes": "0.2",
    "run_started": "0.2", "run_event": "0.2", "register_run_sources": "0.2",
}

DEPRECATED_HOOKS: dict[str, Deprecation] = {
    "register_tui_commands": Deprecation("register_palette_commands", since="0.2", removal="0.3"),
}


# -- what a job can use ---------------------------------------------------------------------

@hookspec
def register_trainers() -> list[TrainerSpec]:
    """Trainers this plugin offers (name, data kinds, config class, factory)."""


@hookspec
def register_data_formats() -> list[DataFormat]:
    """Raw data formats this plugin can detect and convert to a canonical kind."""


@hookspec
def register_evaluators() -> list[EvaluatorSpec]:
    """Evaluators that score a trained model."""


@hookspec
def register_launchers() -> list[LauncherSpec]:
    """Ways to start a job (local Accelerate, Slurm, ...)."""


@hookspec
def register_reward_functions() -> list[RewardFunctionSpec]:
    """Named reward functions for RL trainers (GRPO, PPO)."""


@hookspec
def register_presets() -> list[PresetSpec]:
    """Ready job configs offered by `workbench new` and the Configs panel."""


@hookspec
def register_callbacks() -> list[CallbackSpec]:
    """transformers TrainerCallbacks added to every trainer of every run."""


# -- the command line and the TUI ---------------------------------------------------------

@hookspec
def register_commands() -> list[CommandSpec]:
    """`workbench <name>` subcommands."""


@hookspec
def register_palette_commands() -> list[PaletteCommandSpec]:
    """Command-palette entries of the TUI (optionally bound to a key)."""


@hookspec
def register_run_sources() -> list[RunSourceSpec]:
    """Readers of other tools' run output, for `workbench watch` and the TUI (read-only runs)."""


@hookspec
def register_tui_commands() -> list:
    """Deprecated: (title, help, callable(api)) tuples; use register_palette_commands."""


@hookspec
def register_run_panels() -> list[RunPanelSpec]:
    """Widgets shown in run detail for the runs they match (trainer, tag or metric)."""


@hookspec
def register_tabs() -> list[TabSpec]:
    """Tabs of the TUI's main screen."""


@hookspec
def register_themes() -> list[ThemeSpec]:
    """TUI themes (theme TOML files)."""


# -- run lifecycle (called by the supervisor; a raising hook becomes a plugin_error event) ---

@hookspec
def run_started(run: RunInfo) -> None:
    """Called when a run's job has been started (also on resume)."""


@hookspec
def run_event(run: RunInfo, event: dict) -> None:
    """Called for every event of the run's events.jsonl (checkpoint, nan, oom, stop_requested, ...)."""


@hookspec
def run_finished(run: RunInfo) -> None:
    """Called by the supervisor when a run ends, whatever its status (notifications)."""

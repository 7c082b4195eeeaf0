"""The typed, frozen objects that plugins register through the hooks.

Code that needs heavy libraries (torch, TRL, ...) is referenced by an import path
string ("package.module:attribute") and only imported inside the job, so listing
plugins or validating a config stays cheap.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

# Canonical data kinds, following TRL's dataset vocabulary.
DATA_KINDS = (
    "language_modeling",      # {"text": str}
    "conversational",         # {"messages": [{"role", "content", ...}]}
    "prompt_completion",      # {"prompt": str|messages, "completion": str|messages}
    "prompt_only",            # {"prompt": str|messages}
    "preference",             # {"prompt"?, "chosen", "rejected"} (explicit or implicit prompt)
    "unpaired_preference",    # {"prompt", "completion", "label": bool}  (KTO)
)

# Model roles a trainer may load; the VRAM estimator sizes each one.
MODEL_ROLES = ("policy", "reference", "reward", "value")


def load_object(path: str) -> Any:
    """Import "package.module:attr.sub" and return the attribute."""
    module_name, _, attr = path.partition(":")
    obj = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


@dataclass(frozen=True)
class ModelUse:
    """One model a trainer holds in memory, for the VRAM estimate.

    `trainable` models get gradients and optimizer states. `shares_base` means the
    model is the policy's frozen base with adapters disabled (LoRA reference), so it
    costs no extra weights.
    """

    role: str
    trainable: bool = False
    shares_base_with_lora: bool = False
    source: str = "policy"   # "policy" (same checkpoint) or a config key path, e.g. "trainer.reward_model"


@dataclass(frozen=True)
class TrainerSpec:
    """A trainer a plugin offers.

    factory: import path of `build(ctx: workbench.training.TrainContext) -> Runner`.
    config_class: import path of the dataclass its `[trainer.args]` are checked against
        (e.g. "trl:SFTConfig"); None when the trainer takes free-form args.
    data_kinds: the canonical data kinds it accepts; the first is preferred.
    """

    name: str
    data_kinds: tuple[str, ...]
    factory: str
    config_class: str | None = None
    description: str = ""
    models: tuple[ModelUse, ...] = (ModelUse("policy", trainable=True),)
    default_args: Mapping[str, Any] = field(default_factory=dict)
    # Keys of [trainer] besides `name` and `args` that this trainer understands.
    options: tuple[str, ...] = ()
    # True: replace a spec of the same name registered before (e.g. a built-in) on purpose.
    override: bool = False


@dataclass(frozen=True)
class DetectResult:
    """How sure a data format is that sample rows are its own (0..1)."""

    confidence: float
    reason: str = ""


@dataclass(frozen=True)
class DataFormat:
    """A raw data format and how to turn its rows into a canonical kind.

    detect(rows) -> DetectResult, from a few sample rows (already column-mapped).
    convert(row) -> canonical row dict; raises workbench.errors.DataError naming the
        field and reason for a bad row (the caller adds file and line).
    columns: the format's own field names, which `data.columns` in a config may remap.
    """

    name: str
    kind: str
    detect: Callable[[list[dict]], DetectResult]
    convert: Callable[[dict], dict]
    description: str = ""
    columns: tuple[str, ...] = ()
    override: bool = False


@dataclass(frozen=True)
class EvaluatorSpec:
    """An evaluator run after training (or as its own evaluation run).

    factory: import path of `evaluate(ctx, **options) -> EvalResult | dict[str, float]`
        (workbench.evaluation.EvalResult: metrics plus per-example records), options from
        `[eval.options.<name>]`; run on rank 0 after training or at each checkpoint.
    needs: what it requires, e.g. ("model", "eval_data", "references").
    data_kinds: the canonical data kinds whose rows it can score; empty means any.
    """

    name: str
    factory: str
    needs: tuple[str, ...] = ("model",)
    description: str = ""
    data_kinds: tuple[str, ...] = ()
    override: bool = False
    options: tuple = ()
    """What a factory taking **options accepts: names, or (name, default) pairs whose default's
    type the value must have; checked before launch, with did-you-mean."""
    check: str | None = None
    """Import path of `check(options: dict, base: pathlib.Path) -> dict | None`, called before launch
    (validate, run, eval) with `[eval.options.<name>]` and the config file's folder: it raises
    workbench.errors.ConfigError(message, where="eval.options.<name>.<key>") for a value the evaluator
    would refuse after training (a regex that does not compile, a missing file), and may return the
    options to use instead (e.g. a relative file made absolute against `base`). Light: no torch."""


@dataclass(frozen=True)
class RunSourceSpec:
    """A reader that shows another tool's output (TensorBoard logs, a trackio project, ...) as a run.

    detect: import path of `detect(path) -> float`, how sure it is (0..1) that `path` is its
        kind of output; cheap (no heavy imports), never raises for foreign folders.
    factory: import path of a class called with the path, returning a read-only
        `workbench.sources.RunSource` (poll() -> Update).
    """

    name: str
    factory: str
    detect: str
    description: str = ""
    override: bool = False


@dataclass(frozen=True)
class LauncherSpec:
    """How a run's job is started: locally with Accelerate, through Slurm, ...

    factory: import path of a class implementing workbench.launching.Launcher.
    """

    name: str
    factory: str
    description: str = ""
    override: bool = False


@dataclass(frozen=True)
class RewardFunctionSpec:
    """A named reward for GRPO/PPO: factory(**options) -> fn(prompts, completions, **kw) -> list[float]."""

    name: str
    factory: str
    description: str = ""
    override: bool = False


@dataclass(frozen=True)
class PresetSpec:
    """A ready job config a plugin ships (a TOML file)."""

    name: str
    path: str
    description: str = ""
    override: bool = False


@dataclass(frozen=True)
class RunInfo:
    """What the lifecycle hooks (run_started, run_event, run_finished) receive about a run."""

    run_id: str
    run_dir: str
    status: str
    trainer: str
    exit_code: int | None = None
    signal: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class CallbackSpec:
    """A transformers TrainerCallback added to every trainer of every run (loggers, notifiers).

    factory: import path of a TrainerCallback subclass or a function; called with the
        TrainContext when it takes an argument, else with none. Imported inside the job only.
    A callback that raises is reported as a `plugin_error` event and switched off; the run goes on.
    """

    name: str
    factory: str
    description: str = ""
    override: bool = False


@dataclass(frozen=True)
class CommandSpec:
    """A `workbench <name>` subcommand (listed in `workbench --help`).

    run: `run(args) -> int | None` (the exit code), an import path or a callable.
    configure: optional `configure(parser)` adding arguments to the command's argparse parser.
    """

    name: str
    help: str
    run: str | Callable[..., Any]
    configure: str | Callable[..., Any] | None = None
    override: bool = False


@dataclass(frozen=True)
class PaletteCommandSpec:
    """An entry of the TUI's command palette, optionally bound to a key.

    run: `run(api: workbench.tui.app_api.AppAPI)`, an import path or a callable.
    key: a Textual key ("ctrl+k", "f6"); `[keys]` in the settings may rebind it by `name`.
    """

    name: str
    title: str
    run: str | Callable[..., Any]
    help: str = ""
    key: str | None = None
    override: bool = False


@dataclass(frozen=True)
class RunPanelSpec:
    """A Textual widget shown as a tab of run detail for the runs it matches.

    widget: import path of `factory(ctx: workbench.tui.app_api.RunPanelContext) -> Widget`
        (a Widget subclass whose __init__ takes the context works).
    trainers, tags, metrics: which runs get it; a run matches when its trainer is in
        `trainers`, or it carries one of `tags` (run.tags), or it logged a metric whose name
        starts with one of `metrics`. All three empty: every run.
    """

    name: str
    title: str
    widget: str
    trainers: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    metrics: tuple[str, ...] = ()
    description: str = ""
    override: bool = False


@dataclass(frozen=True)
class TabSpec:
    """A tab of the TUI's main screen: widget is the import path of `factory(api: AppAPI) -> Widget`."""

    name: str
    title: str
    widget: str
    description: str = ""
    override: bool = False


@dataclass(frozen=True)
class ThemeSpec:
    """A TUI theme shipped by a plugin: path is a theme TOML file (see themes/ for the format)."""

    name: str
    path: str
    description: str = ""
    override: bool = False

"""`trainer.args.report_to`: every named experiment tracker must be a transformers integration
that is installed here, with its credentials coming from the environment (never the config).

Checked without importing the trackers (their import costs seconds): a module that Python
can find is taken as installed, as transformers' own `is_*_available()` checks do.
"""

from __future__ import annotations

import importlib.util
import netrc
import os
from pathlib import Path
from typing import Callable

# transformers.integrations.INTEGRATION_TO_CALLBACK's names -> (modules that must all be
# findable, what to pip install). A test keeps the names equal to transformers' own.
INTEGRATIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "azure_ml": (("azureml", "azureml.core"), "azureml-core"),
    "clearml": (("clearml",), "clearml"),
    "codecarbon": (("codecarbon",), "codecarbon"),
    "comet_ml": (("comet_ml",), "comet-ml"),
    "dagshub": (("dagshub", "mlflow"), "dagshub mlflow"),
    "dvclive": (("dvclive",), "dvclive"),
    "flyte": (("flytekit", "flytekitplugins.deck"), "flytekit flytekitplugins-deck-standard"),
    "kubeflow": ((), ""),
    "mlflow": (("mlflow",), "mlflow"),
    "neptune": (("neptune",), "neptune"),
    "swanlab": (("swanlab",), "swanlab"),
    "tensorboard": (("tensorboard",), "tensorboard"),
    "trackio": (("trackio",), "trackio"),
    "wandb": (("wandb",), "wandb"),
}
# TensorBoard's callback also works with tensorboardX alone.
_ALTERNATIVES = {"tensorboard": ("tensorboardX",)}
SPECIAL = ("none", "all")


def _findable(module: str, find_spec: Callable) -> bool:
    try:
        return find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken install
        return False


def report_to_names(value) -> list[str]:
    """The integration names of a report_to value ("wandb", ["wandb", "tensorboard"], "none")."""
    if value is None:
        return []
    names = [value] if isinstance(value, str) else list(value)
    return [n for n in names if n != "none"]


def integration_problem(name: str, find_spec: Callable | None = None) -> str | None:
    """Why report_to cannot name `name` here (unknown, or its package missing), or None."""
    import difflib

    find_spec = find_spec or importlib.util.find_spec
    if not isinstance(name, str):
        return f"expected integration names (strings), got {name!r}"
    if name in SPECIAL:
        return None
    if name not in INTEGRATIONS:
        close = difflib.get_close_matches(name, list(INTEGRATIONS), n=1, cutoff=0.6)
        mean = f"did you mean '{close[0]}'? " if close else ""
        return f"'{name}' is not a reporting integration; {mean}known: {', '.join(sorted(INTEGRATIONS))}"
    modules, package = INTEGRATIONS[name]
    if all(_findable(m, find_spec) for m in modules):
        return None
    if any(_findable(m, find_spec) for m in _ALTERNATIVES.get(name, ())):
        return None
    return f"'{name}' needs the {package} package, which is not installed here: pip install {package}"


def _wandb_logged_in(env: dict[str, str]) -> bool:
    if env.get("WANDB_API_KEY"):
        return True
    try:
        path = env.get("NETRC") or str(Path.home() / ".netrc")
        hosts = netrc.netrc(path).hosts
    except (OSError, netrc.NetrcParseError):
        return False
    base = env.get("WANDB_BASE_URL", "https://api.wandb.ai").split("//")[-1].split("/")[0]
    return base in hosts


def credentials_problem(name: str, job_env: dict[str, str]) -> str | None:
    """A tracker that would stop the job asking for a login it cannot give (no terminal), or None.

    job_env: [launch].env, which the job gets on top of this environment.
    """
    env = {**os.environ, **{k: str(v) for k, v in job_env.items()}}
    if name == "wandb" and env.get("WANDB_MODE", "").lower() not in ("offline", "disabled", "dryrun") \
            and env.get("WANDB_DISABLED", "").lower() not in ("true", "1") and not _wandb_logged_in(env):
        return ("'wandb' needs a login and the job has no terminal to ask for one: export WANDB_API_KEY in "
                "your shell, run `wandb login`, or log offline with launch.env.WANDB_MODE = \"offline\"")
    return None

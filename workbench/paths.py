"""Where things are: the workspace, its runs folder, and the bundled sample data."""

from __future__ import annotations

import os
from pathlib import Path

from workbench.workspace import WORKSPACE_ENV, workspace

__all__ = ["WORKSPACE_ENV", "workspace", "runs_dir", "sample_data_dir", "user_cache_dir"]


def runs_dir(ws: Path | None = None) -> Path:
    """The workspace's runs folder: `runs`, or `runs_folder` of the settings (workbench.settings)."""
    from workbench.settings import load_settings

    ws = ws or workspace()
    return ws / load_settings(ws).runs_folder


def sample_data_dir() -> Path:
    """The bundled sample data (model, datasets, configs), wherever the package is installed."""
    import workbench_sample_data

    return Path(workbench_sample_data.__path__[0])


def user_cache_dir() -> Path:
    """The user's workbench cache: $WORKBENCH_CACHE, else $XDG_CACHE_HOME/workbench (~/.cache/workbench)."""
    return Path(os.environ.get("WORKBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "workbench"))

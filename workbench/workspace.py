"""The workspace: the folder holding runs/ (and .workbench/ with its settings and plugins)."""

from __future__ import annotations

import os
from pathlib import Path

WORKSPACE_ENV = "WORKBENCH_WORKSPACE"


def workspace() -> Path:
    """The workspace folder: $WORKBENCH_WORKSPACE, else the current directory."""
    return Path(os.environ.get(WORKSPACE_ENV) or os.getcwd()).resolve()

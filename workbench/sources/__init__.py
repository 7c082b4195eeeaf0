"""Run sources: everything a viewer can show as a run, behind one interface.

`source_for(path)` picks the source for a folder: a workbench run directory, else the
registered run source (`register_run_sources()`: TensorBoard logs, trackio projects,
LLaMA-Factory and Hugging Face Trainer folders, plugins' own) most sure it is one of its
own, else a Hugging Face Trainer output folder (waiting for its first checkpoint).
"""

from __future__ import annotations

from pathlib import Path

from workbench.runs.files import read_json
from workbench.sources.base import RunSource, Update

__all__ = ["RunSource", "Update", "source_for"]


def source_for(path: Path) -> RunSource:
    """The source that reads `path`: a RunDirSource for a run dir, else a registered source, else the Trainer-dir source."""
    path = Path(path).resolve()
    if (path / "status.json").exists() and read_json(path / "status.json") is not None:
        from workbench.runs.store import Run
        from workbench.sources.rundir import RunDirSource

        return RunDirSource(Run(path))
    from workbench.sources.detect import registered_source

    found = registered_source(path)
    if found is not None:
        return found
    from workbench.sources.hf_trainer import TrainerDirSource

    return TrainerDirSource(path)

"""Other tools' run folders added to a workspace: `[sources] paths` of its settings file.

`workbench watch PATH --add` (or `a` in the TUI's Runs tab) writes a path here; the Runs
tab lists each as a read-only run next to the workspace's own. A path inside the
workspace is stored relative to it (the workspace can move), any other one absolute.
Only folders a registered run source recognises can be added: a typo fails at once, with
the kinds that are known, instead of showing an empty row forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import RunError

SETTING = "sources.paths"


@dataclass(frozen=True)
class Added:
    """One added folder: where it is, as written in the settings, and the kind that reads it (None: not known now)."""

    path: Path
    written: str
    kind: str | None = None


def added_paths(workspace: Path) -> list[Path]:
    """The added folders of `workspace`, resolved, in the order they were added."""
    from workbench.settings import load_settings

    workspace = Path(workspace)
    return [resolve_written(workspace, p) for p in load_settings(workspace).sources]


def resolve_written(workspace: Path, written: str) -> Path:
    """A path as written in the settings, resolved (relative ones: to the workspace)."""
    path = Path(written).expanduser()
    return (path if path.is_absolute() else workspace / path).resolve()


def _written(workspace: Path, path: Path) -> str:
    try:
        return str(path.relative_to(Path(workspace).resolve()))
    except ValueError:
        return str(path)


def kind_of(path: Path, registry: Any = None) -> str | None:
    """The name of the registered run source most sure it reads `path` (tensorboard, trackio, ...), or None."""
    from workbench.sources.detect import ranked_sources

    claims = ranked_sources(path, registry)
    return claims[0][1].name if claims else None


def open_added(path: Path, registry: Any = None):
    """(kind, source) for an added folder: a fresh read-only source of the kind that claims it.

    Raises RunError when the folder is gone or no registered source reads it (any more).
    """
    from workbench.specs import load_object
    from workbench.sources.detect import ranked_sources

    path = Path(path)
    if not path.exists():
        raise RunError("no such file or directory (moved or deleted?)", where=str(path),
                       hint=f"workbench watch {path} --remove")
    claims = ranked_sources(path, registry)
    if not claims:
        raise RunError("no run source reads this folder (any more)", where=str(path))
    spec = claims[0][1]
    return spec.name, load_object(spec.factory)(path)


def add_path(workspace: Path, path: str | Path, registry: Any = None) -> Added:
    """Add another tool's run folder to the workspace's settings; returns what was added.

    Raises RunError when the path does not exist, is a workbench run, or no registered run
    source recognises it; adding a path twice is not an error (it is listed once).
    """
    from workbench.settings import save_workspace_setting

    workspace = Path(workspace).resolve()
    target = Path(path).expanduser().resolve()
    if not target.exists():
        raise RunError("no such file or directory", where=str(path))
    if (target / "status.json").is_file():
        raise RunError("this is a workbench run directory: it is listed in its own workspace's Runs tab",
                       where=str(path), hint=f"workbench -w {target.parent.parent} tui")
    kind = kind_of(target, registry)
    if kind is None:
        known = _known_kinds(registry)
        raise RunError("not a run folder of a known tool" + (f" (known: {known})" if known else ""), where=str(path),
                       hint="point at the folder holding the event files / trainer_log.jsonl / trainer_state.json / "
                            "the trackio .db")
    current = list(_written_list(workspace))
    if any(resolve_written(workspace, w) == target for w in current):
        return Added(target, next(w for w in current if resolve_written(workspace, w) == target), kind)
    written = _written(workspace, target)
    save_workspace_setting(workspace, SETTING, [*current, written])
    return Added(target, written, kind)


def remove_path(workspace: Path, path: str | Path) -> Added:
    """Remove an added folder (given as written, or any path to it); RunError when it is not added."""
    from workbench.settings import save_workspace_setting

    workspace = Path(workspace).resolve()
    current = list(_written_list(workspace))
    target = Path(path).expanduser()
    target = (target if target.is_absolute() else Path.cwd() / target).resolve()
    keep = [w for w in current if w != str(path) and resolve_written(workspace, w) != target]
    if len(keep) == len(current):
        listed = ", ".join(current) or "none"
        raise RunError(f"not an added source of this workspace (added: {listed})", where=str(path))
    save_workspace_setting(workspace, SETTING, keep)
    gone = next(w for w in current if w not in keep)
    return Added(resolve_written(workspace, gone), gone)


def _written_list(workspace: Path) -> tuple[str, ...]:
    """Paths as the workspace's own settings file holds them (the user file's [sources] is not rewritten)."""
    from workbench.settings import read_settings_file, workspace_settings_path

    data = read_settings_file(workspace_settings_path(workspace))
    return tuple(data.get("sources", {}).get("paths", ()))


def _known_kinds(registry: Any = None) -> str:
    if registry is None:
        from workbench.plugin_manager import get_registry

        registry = get_registry()
    return ", ".join(sorted(registry.run_sources))

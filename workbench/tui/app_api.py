"""The TUI's API for plugins (palette commands, run panels, tabs): versioned, documented, small.

    APP_API_VERSION = 1

    api.version                 -> 1
    api.workspace               -> Path of the workspace
    api.runs()                  -> list[RunRef] of the workspace's runs, newest first
    api.selected_run()          -> RunRef | None: the run open in run detail, else the one under the
                                   cursor of the Runs table
    api.open_run(run_id)        -> push run detail of a run
    api.notify(message, severity="information", timeout=None)
    api.push_screen(screen, callback=None)   -> show a Textual Screen (a plugin's own)
    api.plugin_settings(name)   -> the [plugin.NAME] section of the settings ($env: resolved)
    api.app                     -> the Textual App itself: anything beyond this API is not
                                   covered by APP_API_VERSION and may change

Everything above keeps working within one APP_API_VERSION; a change that breaks it bumps
the version (docs/plugins.md, "Versioning").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

APP_API_VERSION = 1


@dataclass(frozen=True)
class RunRef:
    """One run as plugins see it: id, directory, status, trainer, tags."""

    id: str
    dir: Path
    status: str = ""
    trainer: str = ""
    tags: tuple[str, ...] = ()
    summary: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_summary(cls, s: dict[str, Any]) -> "RunRef":
        return cls(str(s.get("id", "")), Path(s.get("dir", "")), str(s.get("status") or ""),
                   str(s.get("trainer") or ""), tuple(s.get("tags") or ()), dict(s))


@dataclass
class RunPanelContext:
    """What a run panel's factory receives: the app API and the run it is shown for."""

    api: "AppAPI"
    run: RunRef
    config: dict[str, Any] = field(default_factory=dict)   # the run's job.toml ({} when not a workbench run)


class AppAPI:
    """The stable face of the Workbench app for plugin code."""

    version = APP_API_VERSION

    def __init__(self, app: Any):
        self._app = app

    @property
    def app(self) -> Any:
        return self._app

    @property
    def workspace(self) -> Path:
        return Path(self._app.workspace)

    def runs(self) -> list[RunRef]:
        return [RunRef.from_summary(s) for s in getattr(self._app, "runs", [])]

    def selected_run(self) -> RunRef | None:
        screen = self._app.screen
        from workbench.sources.rundir import run_of

        run = run_of(getattr(screen, "source", None))
        if run is not None:
            st = run.raw_status or {}
            return RunRef(run.id, Path(run.dir), str(st.get("status", "")), str(st.get("trainer", "") or ""))
        main = getattr(self._app, "main_screen", None)
        if main is None:
            return None
        from workbench.tui.widgets.runs_table import RunsTable

        tables = main.query(RunsTable)
        current = tables.first().current_id if tables else None
        return next((r for r in self.runs() if r.id == current), None)

    def open_run(self, run_id: str) -> None:
        self._app.open_run(run_id)

    def notify(self, message: str, severity: str = "information", timeout: float | None = None) -> None:
        kwargs = {"timeout": timeout} if timeout is not None else {}
        self._app.notify(message, severity=severity, **kwargs)

    def push_screen(self, screen: Any, callback: Callable[[Any], Any] | None = None) -> None:
        self._app.push_screen(screen, callback)

    def plugin_settings(self, name: str) -> dict[str, Any]:
        from workbench.settings import plugin_settings

        return plugin_settings(name, self.workspace)

"""The lifecycle hooks of one run, as the supervisor calls them.

    hooks = RunHooks(run)
    hooks.started()                 # after the job was spawned: run_started
    hooks.poll_events()             # from the supervisor's hook thread, ~2 Hz: run_event for each new events.jsonl line
    hooks.finished()                # after the final status: run_finished

Each hook goes through `workbench.plugin_manager.notify`, which never raises; what a
plugin got wrong becomes a `plugin_error` event in events.jsonl (shown by `show`, `logs -f`
and the TUI's events), a line in console.log (`logs -f`, the TUI's console) and in supervisor.log. A hook never changes the run's fate.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

from workbench.runs.jsonl import JsonlFollower
from workbench.specs import RunInfo

OWN_EVENTS = ("plugin_error",)   # never fed back to run_event (a raising hook would loop)


def run_info(run: Any) -> RunInfo:
    """RunInfo of a `workbench.runs.store.Run` from its status.json."""
    st = run.raw_status or {}
    return RunInfo(run.id, str(run.dir), str(st.get("status", "")), str(st.get("trainer", "") or ""),
                   st.get("exit_code"), st.get("signal"), st.get("reason"))


class RunHooks:
    """Calls run_started / run_event / run_finished for one run and records plugin errors."""

    def __init__(self, run: Any, registry: Any = None, timeout: float = 30.0):
        self.run = run
        self.registry = registry
        self.timeout = timeout
        self.events_path = Path(run.dir) / "events.jsonl"
        self._lock = threading.Lock()
        self._events = JsonlFollower(self.events_path)
        self._events.read_all()  # hooks see the events from now on, not the run's whole history

    def _registry(self):
        if self.registry is None:
            from workbench.plugin_manager import get_registry

            self.registry = get_registry(Path(self.run.dir).parent.parent)
        return self.registry

    def _implemented(self, hook: str) -> bool:
        try:
            manager = self._registry().manager
            return bool(manager and getattr(manager.hook, hook).get_hookimpls())
        except Exception:  # noqa: BLE001 - never let hooks hurt the supervisor
            return False

    def call(self, hook: str, **kwargs: Any) -> list[str]:
        """notify(hook) and record each error line as a plugin_error event."""
        from workbench.plugin_manager import notify, plugin_error_event

        if not self._implemented(hook):
            return []
        errors = notify(hook, timeout=self.timeout, registry=self._registry(), run=run_info(self.run), **kwargs)
        for line in errors:
            self.record(plugin_error_event(line, hook))
        return errors

    def record(self, event: dict[str, Any]) -> None:
        from workbench.secrets import redact, secret_values

        event = dict(event, message=redact(str(event.get("message", "")), secret_values(dict(os.environ))))
        print(f"workbench: {event['message']}", file=sys.stderr, flush=True)  # supervisor.log
        with self._lock:
            try:
                with open(self.events_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(event) + "\n")
            except OSError:
                pass
            try:  # console.log too, so `logs -f` and the TUI's console show it where the job's output is
                with open(Path(self.run.dir) / "console.log", "a", encoding="utf-8") as f:
                    f.write(f"workbench: {event['message']}\n")
            except OSError:
                pass

    def started(self) -> list[str]:
        return self.call("run_started")

    def finished(self, events: bool = True) -> list[str]:
        """run_finished; with `events`, first run_event for the last events (ended, ...)."""
        if events:
            self.poll_events()
        return self.call("run_finished")

    def poll_events(self) -> int:
        """run_event for each complete line appended since the last poll; returns how many."""
        with self._lock:
            batch = self._events.read()
        if not self._implemented("run_event"):
            return 0
        count = 0
        for event in batch.rows:
            if event.get("event") in OWN_EVENTS:
                continue
            self.call("run_event", event=event)
            count += 1
        return count

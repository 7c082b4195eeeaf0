"""trackio projects (`<TRACKIO_DIR>/<project>.db`, SQLite) as run sources, one run of a project each.

Read with sqlite3 in read-only mode (trackio writes in WAL mode, so reading while it logs is
safe); only rows with a higher id than the last poll's are fetched. transformers' tags
(`train/loss`, `eval/loss`, `train/global_step`) become workbench metric rows. Read-only.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from workbench.errors import RunError
from workbench.sources.base import ReadOnlySource, Update, stat_stamp
from workbench.sources.hfkeys import STEP_KEYS, workbench_key


def project_files(path: Path) -> list[Path]:
    """The trackio project databases at `path` (a .db file, or a folder of them)."""
    path = Path(path)
    if path.is_file():
        return [path] if path.suffix == ".db" else []
    return sorted(p for p in path.glob("*.db") if p.is_file()) if path.is_dir() else []


def _connect(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=2.0)


def is_project(db: Path) -> bool:
    try:
        with _connect(db) as conn:
            cols = {r[1] for r in conn.execute("PRAGMA table_info(metrics)")}
    except sqlite3.Error:
        return False
    return {"run_name", "step", "metrics"} <= cols


def run_names(db: Path) -> list[str]:
    """The runs of a project, oldest first."""
    with _connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT run_name FROM metrics GROUP BY run_name ORDER BY MIN(id)")]


def detect(path: Path) -> float:
    """Confidence that `path` is a trackio project (a .db, or a folder holding one)."""
    return 0.8 if any(is_project(db) for db in project_files(path)) else 0.0


def _time(stamp: Any) -> float | None:
    try:
        return round(datetime.fromisoformat(str(stamp)).timestamp(), 3)
    except ValueError:
        return None


class TrackioSource(ReadOnlySource):
    """One run of a trackio project (default: the project's newest run), polled for new rows."""

    def __init__(self, path: str | Path, run: str | None = None):
        self.path = self.dir = Path(path).resolve()
        dbs = [db for db in project_files(self.path) if is_project(db)]
        if not dbs:
            raise RunError("no trackio project (.db with a metrics table) here", where=str(self.path))
        self.db = max(dbs, key=lambda p: p.stat().st_mtime)
        names = run_names(self.db)
        if run is not None and run not in names:
            raise RunError(f"no run '{run}' in project {self.db.stem} (runs: {', '.join(names) or 'none'})",
                           where=str(self.db))
        self.run = run or (names[-1] if names else None)
        self.id = self.run or self.db.stem
        self.title = f"{self.db} · {self.run or 'no runs yet'} (trackio)"
        self._last_id = 0
        self._config: dict[str, Any] = {}
        self._status: dict[str, Any] = {"step": 0, "loss": None}
        self._last_change = 0.0

    def _fetch(self) -> list[tuple[int, str, str, int, str]]:
        if self.run is None:
            names = run_names(self.db)
            if not names:
                return []
            self.run = self.id = names[-1]
        with _connect(self.db) as conn:
            rows = conn.execute("SELECT id, timestamp, run_name, step, metrics FROM metrics WHERE run_name = ? "
                                "AND id > ? ORDER BY id", (self.run, self._last_id)).fetchall()
            if not self._config:
                found = conn.execute("SELECT config FROM configs WHERE run_name = ? ORDER BY id DESC LIMIT 1",
                                     (self.run,)).fetchone() if _has_table(conn, "configs") else None
                if found:
                    try:
                        self._config = json.loads(found[0])
                    except (TypeError, json.JSONDecodeError):
                        self._config = {}
        return rows

    def stamp(self) -> tuple:
        """The project database and its write-ahead log (trackio writes in WAL mode)."""
        return stat_stamp([self.db, self.db.with_name(self.db.name + "-wal")])

    def poll(self) -> Update:
        try:
            fetched = self._fetch()
        except sqlite3.Error as exc:  # locked or being created: try again next poll
            return Update(status={**self.status(), "reason": f"cannot read {self.db.name}: {exc}"})
        rows = []
        for row_id, stamp, _, trackio_step, blob in fetched:
            self._last_id = row_id
            try:
                values = json.loads(blob)
            except (TypeError, json.JSONDecodeError):
                continue
            step = next((int(values[k]) for k in STEP_KEYS if isinstance(values.get(k), (int, float))), trackio_step)
            kinds: dict[str, dict[str, Any]] = {}
            for tag, value in values.items():
                if tag in STEP_KEYS or isinstance(value, bool) or not isinstance(value, (int, float)):
                    continue
                kind, key = workbench_key(tag)
                kinds.setdefault(kind, {})[key] = value
            if "eval" in kinds and "epoch" in kinds.get("train", {}) and len(kinds["train"]) == 1:
                kinds["eval"]["epoch"] = kinds.pop("train")["epoch"]  # an eval row carries train/epoch
            for kind, metrics in kinds.items():
                if not set(metrics) - {"epoch"}:
                    continue
                out = {"step": step, "kind": kind, "time": _time(stamp)}
                out.update(metrics)
                rows.append(out)
                if kind == "train" and "loss" in metrics:
                    self._status["loss"] = metrics["loss"]
            self._status["step"] = max(self._status["step"], step)
            self._last_change = time.time()
        return Update(status=self.status(), metrics=rows)

    def status(self) -> dict[str, Any]:
        try:
            mtime = max(p.stat().st_mtime for p in (self.db, self.db.with_name(self.db.name + "-wal")) if p.exists())
        except ValueError:
            mtime = 0.0
        max_steps = self._config.get("max_steps")
        state = "waiting" if not self._last_id else self.activity(mtime)
        return self.summary(state, "trackio", step=self._status["step"], loss=self._status["loss"],
                            max_steps=max_steps if isinstance(max_steps, int) and max_steps > 0 else None,
                            reason=None if self._last_id else "no rows logged yet")

    def config(self) -> dict[str, Any]:
        return {"trainer": {"args": self._config}} if self._config else {}


def _has_table(conn: sqlite3.Connection, name: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (name,)).fetchone() is not None

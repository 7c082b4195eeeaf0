"""Adapter: a Hugging Face Trainer output directory as a run source.

The Trainer writes `trainer_state.json` (its `log_history` holds every logged row) into
each `checkpoint-N/` it saves and into the output dir at the end. The newest of these
files is the most complete record; this adapter turns its log_history into the same
metric rows a workbench run writes ({step, epoch, kind: train|eval, loss, ...}) and
yields only the rows added since the previous poll. Log history has no wall-clock
times, so the time x axis stays empty for such runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from workbench.errors import RunError
from workbench.sources.base import ReadOnlySource, Update, stat_stamp

SUMMARY_KEYS = ("train_runtime", "train_samples_per_second", "train_steps_per_second", "train_loss", "total_flos")


def _checkpoint_step(path: Path) -> int:
    tail = path.name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def state_files(output_dir: Path) -> list[Path]:
    """trainer_state.json of the dir and of every checkpoint-N/, those present."""
    out = []
    top = output_dir / "trainer_state.json"
    if top.is_file():
        out.append(top)
    for ck in output_dir.glob("checkpoint-*"):
        f = ck / "trainer_state.json"
        if _checkpoint_step(ck) >= 0 and f.is_file():
            out.append(f)
    return out


def read_trainer_state(path: Path) -> dict[str, Any]:
    """Parse one trainer_state.json; a clear one-line RunError when it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunError(f"not valid JSON (line {exc.lineno}): {exc.msg}", where=str(path)) from exc
    if not isinstance(data, dict) or not isinstance(data.get("log_history", []), list):
        raise RunError("no log_history list: not a Trainer state file", where=str(path))
    return data


def newest_state(output_dir: Path) -> tuple[Path, dict[str, Any]] | None:
    """The state file with the highest global_step (newest file on ties), parsed."""
    best: tuple[tuple[int, float], Path, dict[str, Any]] | None = None
    for f in state_files(output_dir):
        try:
            data = read_trainer_state(f)
            mtime = f.stat().st_mtime
        except (OSError, RunError):
            continue  # being rewritten right now, or not ours: the others still count
        key = (int(data.get("global_step") or 0), mtime)
        if best is None or key > best[0]:
            best = (key, f, data)
    return (best[1], best[2]) if best else None


def rows_from_log_history(history: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(metric rows, summary entries) from a Trainer log_history."""
    rows, summaries = [], []
    for entry in history:
        if not isinstance(entry, dict) or "step" not in entry:
            continue
        if any(k in entry for k in SUMMARY_KEYS):
            summaries.append(entry)
            continue
        kind = "eval" if any(k.startswith("eval_") for k in entry) else "train"
        rows.append({"step": entry["step"], "kind": kind, **{k: v for k, v in entry.items() if k != "step"}})
    return rows, summaries


class TrainerDirSource(ReadOnlySource):
    """A Trainer output dir polled for new log rows and checkpoints (read-only)."""

    def __init__(self, output_dir: str | os.PathLike[str]):
        self.dir = Path(output_dir).resolve()
        if not self.dir.is_dir():
            raise RunError("not a directory", where=str(self.dir))
        self.id = self.dir.name
        self.title = f"{self.dir} (Trainer output)"
        self._seen_key: tuple[str, int, int] | None = None
        self._emitted: list[tuple[Any, str]] = []
        self._checkpoints: set[str] = set()
        self._state: dict[str, Any] = {}
        self._state_mtime = 0.0
        self._summaries: list[dict[str, Any]] = []

    def stamp(self) -> tuple:
        """The dir (a checkpoint-N/ appears) and every trainer_state.json (one is written)."""
        return stat_stamp([self.dir, *sorted(state_files(self.dir))])

    def poll(self) -> Update:
        update = Update(status={})
        found = newest_state(self.dir)
        if found is not None:
            path, data = found
            st = path.stat()
            key = (str(path), st.st_mtime_ns, st.st_size)
            if key != self._seen_key:
                self._seen_key = key
                self._state, self._state_mtime = data, st.st_mtime
                self._take_rows(data, update)
        for ck in sorted(self.dir.glob("checkpoint-*"), key=_checkpoint_step):
            if _checkpoint_step(ck) >= 0 and ck.name not in self._checkpoints and ck.is_dir():
                self._checkpoints.add(ck.name)
                update.events.append({"time": ck.stat().st_mtime, "event": "checkpoint",
                                      "step": _checkpoint_step(ck), "path": ck.name})
        update.status = self.status()
        return update

    def _take_rows(self, data: dict[str, Any], update: Update) -> None:
        rows, summaries = rows_from_log_history(data.get("log_history", []))
        sig = [(r["step"], r["kind"]) for r in rows]
        n = len(self._emitted)
        if sig[:n] != self._emitted:
            # A different (or restarted) run wrote this dir: start over.
            update.metrics_reset = True
            n = 0
        update.metrics.extend(rows[n:])
        self._emitted = sig
        for s in summaries[len(self._summaries):] if not update.metrics_reset else summaries:
            update.events.append({"time": self._state_mtime, "event": "train_end", "step": s.get("step"),
                                  **{k: s[k] for k in SUMMARY_KEYS if k in s}})
        self._summaries = summaries

    def status(self) -> dict[str, Any]:
        """A summary shaped like `Run.summary()`."""
        data = self._state
        history = data.get("log_history", [])
        train = [e for e in history if isinstance(e, dict) and "loss" in e]
        if not data:
            state = "waiting"
        elif self._summaries:
            state = "completed"
        else:
            state = self.activity(self._state_mtime)
        return self.summary(
            state, "hf-trainer", step=int(data.get("global_step") or 0), max_steps=data.get("max_steps"),
            loss=train[-1]["loss"] if train else None, epoch=data.get("epoch"),
            reason=None if data else "no trainer_state.json yet (the Trainer writes one at each checkpoint)")

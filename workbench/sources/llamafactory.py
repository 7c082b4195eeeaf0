"""LLaMA-Factory output folders (`trainer_log.jsonl`, one JSON line per log) as a run source.

Each line holds current_steps, total_steps, loss or eval_loss, lr, epoch, percentage,
elapsed_time and remaining_time ("H:MM:SS"), maybe reward, accuracy, throughput and
total_tokens; lines with progress only (prediction) carry no metrics. Read incrementally
with the one JSONL reader (`workbench.runs.jsonl`). Read-only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench.errors import RunError
from workbench.runs.jsonl import JsonlFollower
from workbench.sources.base import ReadOnlySource, Update, stat_stamp

LOG = "trainer_log.jsonl"
PROGRESS = ("current_steps", "total_steps", "percentage", "elapsed_time", "remaining_time")
RENAMES = {"lr": "learning_rate", "throughput": "tokens_per_second", "total_tokens": "num_tokens"}


def detect(path: Path) -> float:
    """Confidence that `path` is a LLaMA-Factory output folder (or its trainer_log.jsonl)."""
    path = Path(path)
    return 0.9 if (path.is_file() and path.name == LOG) or (path.is_dir() and (path / LOG).is_file()) else 0.0


def seconds(text: Any) -> float | None:
    """ "1 day, 2:03:04" / "0:00:10" -> seconds."""
    if not isinstance(text, str) or ":" not in text:
        return None
    days = 0
    if "day" in text:
        head, _, text = text.partition(",")
        days = int(head.split()[0])
    try:
        h, m, s = (float(x) for x in text.strip().split(":"))
    except ValueError:
        return None
    return days * 86400 + h * 3600 + m * 60 + s


def metric_row(line: dict[str, Any]) -> dict[str, Any] | None:
    """A workbench metric row from one trainer_log.jsonl line (None for progress-only lines)."""
    step = line.get("current_steps")
    if not isinstance(step, int):
        return None
    metrics = {RENAMES.get(k, k): v for k, v in line.items()
               if k not in PROGRESS and k != "epoch" and isinstance(v, (int, float)) and not isinstance(v, bool)}
    if not metrics:
        return None
    row: dict[str, Any] = {"step": step, "kind": "eval" if "eval_loss" in metrics and "loss" not in metrics else "train"}
    if isinstance(line.get("epoch"), (int, float)):
        row["epoch"] = line["epoch"]
    row.update(metrics)
    return row


class LlamaFactorySource(ReadOnlySource):
    """A LLaMA-Factory output folder, followed as trainer_log.jsonl grows."""

    def __init__(self, path: str | Path):
        path = Path(path).resolve()
        self.dir = path.parent if path.is_file() else path
        if not self.dir.is_dir():
            raise RunError("no such directory", where=str(self.dir))
        self.id = self.dir.name
        self.title = f"{self.dir} (LLaMA-Factory)"
        self._follower = JsonlFollower(self.dir / LOG)
        self._last: dict[str, Any] = {}
        self._loss = None

    def stamp(self) -> tuple:
        return stat_stamp([self.dir / LOG])

    def poll(self) -> Update:
        batch = self._follower.read()
        rows = []
        for line in batch.rows:
            if not isinstance(line, dict):
                continue
            self._last = {**self._last, **{k: line[k] for k in PROGRESS if k in line}}
            row = metric_row(line)
            if row is not None:
                rows.append(row)
                if row["kind"] == "train" and "loss" in row:
                    self._loss = row["loss"]
        damaged = [f"{LOG} {bad}" for bad in batch.damaged]
        return Update(status=self.status(), metrics=rows, metrics_reset=batch.reset, damaged=damaged)

    def status(self) -> dict[str, Any]:
        log = self.dir / LOG
        mtime = log.stat().st_mtime if log.exists() else 0.0
        step, total = self._last.get("current_steps", 0), self._last.get("total_steps")
        if not self._last:
            state = "waiting"
        elif total and step >= total:
            state = "completed"
        else:
            state = self.activity(mtime)
        return self.summary(state, "llamafactory", step=step, max_steps=total or None, loss=self._loss,
                            elapsed=seconds(self._last.get("elapsed_time")),
                            eta=seconds(self._last.get("remaining_time")) if state == "running" else None,
                            reason=None if self._last else f"no {LOG} lines yet")

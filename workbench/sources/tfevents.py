"""TensorBoard event files (`events.out.tfevents.*`) as a run source, read with tensorboard's own loader.

Every event file under the folder is followed incrementally (`EventFileLoader` keeps its
place and picks up records appended since the last poll); scalar summaries become metric
rows, with transformers' `train/` and `eval/` tags turned back into workbench names. Read-only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workbench.errors import RunError
from workbench.sources.base import ReadOnlySource, Update, stat_stamp
from workbench.sources.hfkeys import rows_from_scalars, workbench_key

PATTERN = "events.out.tfevents.*"
MAX_DEPTH = 3


def event_files(folder: Path) -> list[Path]:
    """Event files in `folder` and its subfolders (a few levels: runs/<date_host>/...), oldest name first."""
    found = []
    for depth in range(MAX_DEPTH + 1):
        found += [p for p in folder.glob("/".join(["*"] * depth + [PATTERN])) if p.is_file()]
    return sorted(found)


def detect(path: Path) -> float:
    """Confidence that `path` is a TensorBoard log folder (or an event file)."""
    path = Path(path)
    if path.is_file():
        return 0.9 if path.name.startswith("events.out.tfevents.") else 0.0
    return 0.8 if path.is_dir() and event_files(path) else 0.0


def _scalar(value) -> float | None:
    from tensorboard.util import tensor_util

    if value.metadata.plugin_data.plugin_name not in ("scalars", ""):
        return None
    if value.HasField("tensor"):
        array = tensor_util.make_ndarray(value.tensor)
        if array.size != 1 or array.dtype.kind not in "fiu":
            return None
        return float(array.reshape(()))
    if value.WhichOneof("value") == "simple_value":
        return float(value.simple_value)
    return None


class TfEventsSource(ReadOnlySource):
    """A TensorBoard log folder, polled for new scalars (read-only)."""

    def __init__(self, folder: str | Path):
        self.dir = Path(folder).resolve()
        if not self.dir.exists():
            raise RunError("no such file or directory", where=str(self.dir))
        self.files = [self.dir] if self.dir.is_file() else None
        self.id = self.dir.parent.name if self.dir.name == "tensorboard" else self.dir.name
        self.title = f"{self.dir} (TensorBoard)"
        self._loaders: dict[Path, Any] = {}
        self._points: dict[tuple[int, str], dict[str, Any]] = {}
        self._emitted: set[tuple[int, str]] = set()
        self._args: dict[str, Any] = {}
        self._last_change = 0.0

    def _files(self) -> list[Path]:
        return self.files if self.files is not None else event_files(self.dir)

    def _read(self) -> set[tuple[int, str]]:
        """Load what the event files gained; returns the (step, kind) points that changed."""
        from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

        touched: set[tuple[int, str]] = set()
        for path in self._files():
            loader = self._loaders.get(path)
            if loader is None:
                loader = self._loaders[path] = EventFileLoader(str(path))
            for event in loader.Load():
                if not event.HasField("summary"):
                    continue
                for value in event.summary.value:
                    if value.tag == "args/text_summary" and not self._args:
                        self._args = _text_json(value)
                        continue
                    number = _scalar(value)
                    if number is None:
                        continue
                    kind, key = workbench_key(value.tag)
                    point = self._points.setdefault((int(event.step), kind), {})
                    point[key] = number
                    point.setdefault("time", round(float(event.wall_time), 3))
                    touched.add((int(event.step), kind))
            try:
                self._last_change = max(self._last_change, path.stat().st_mtime)
            except OSError:
                pass
        return touched

    def stamp(self) -> tuple:
        """The event files and their sizes (what poll() would read more of)."""
        return stat_stamp(self._files())

    def poll(self) -> Update:
        touched = self._read()
        reset = bool(touched & self._emitted)  # a point grew after it was shown: send all again
        if reset:
            rows = rows_from_scalars(self._points)
        else:
            rows = rows_from_scalars({k: self._points[k] for k in touched})
        self._emitted |= touched
        return Update(status=self.status(), metrics=rows, metrics_reset=reset)

    def status(self) -> dict[str, Any]:
        train = [(s, p) for (s, k), p in self._points.items() if k == "train" and "loss" in p]
        step = max((s for s, _ in self._points), default=0)
        loss = max(train)[1]["loss"] if train else None
        state = "waiting" if not self._points else self.activity(self._last_change)
        return self.summary(
            state, "tensorboard", step=step, loss=loss,
            max_steps=self._args.get("max_steps") if (self._args.get("max_steps") or 0) > 0 else None,
            reason=None if self._points else "no scalars in the event files yet")

    def config(self) -> dict[str, Any]:
        return {"trainer": {"args": self._args}} if self._args else {}


def _text_json(value) -> dict[str, Any]:
    """The JSON object in a text summary (transformers writes its TrainingArguments as one)."""
    from tensorboard.util import tensor_util

    try:
        raw = tensor_util.make_ndarray(value.tensor).reshape(-1)[0]
        data = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else str(raw))
    except (ValueError, IndexError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}

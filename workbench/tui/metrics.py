"""Metric rows (metrics.jsonl or an adapter's rows) turned into per-metric point lists.

Each numeric key of a row becomes a series. Every point remembers all four x values
(step, epoch, seconds since the first row, tokens seen), so switching the chart's x axis
is a lookup, not a re-read. Eval rows carry no token count: the last train row's count
(and epoch) is carried forward. Pure Python: no Textual, no numpy.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass, field
from typing import Any, Iterable

X_MODES = ("step", "epoch", "time", "tokens")
X_INDEX = {mode: i for i, mode in enumerate(X_MODES)}

NOT_METRICS = frozenset({"step", "time", "kind", "epoch", "num_tokens", "global_step", "rank", "total_flos"})
_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}

# Shown first when present, in this order; everything else follows alphabetically.
PREFERRED = ("loss", "learning_rate", "grad_norm", "tokens_per_second", "reward", "kl", "entropy",
             "mean_token_accuracy")


def as_number(value: Any) -> float | None:
    """A metric value as float (JSON "nan"/"inf" strings included); None when not numeric."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        return _SPECIAL.get(value.lower())
    return None


@dataclass
class Points:
    """The points of one metric: four x columns and the values."""

    xs: tuple[array, array, array, array] = field(default_factory=lambda: tuple(array("d") for _ in X_MODES))
    ys: array = field(default_factory=lambda: array("d"))

    def __len__(self) -> int:
        return len(self.ys)

    def x(self, mode: str) -> array:
        return self.xs[X_INDEX[mode]]


class MetricTable:
    """All metrics of one run, fed row by row (incrementally, as a run logs)."""

    def __init__(self) -> None:
        self.series: dict[str, Points] = {}
        self.rows = 0
        self.t0: float | None = None
        self._epoch = math.nan
        self._tokens = math.nan
        self.last_row: dict[str, Any] = {}
        self.scores: dict[str, float] = {}
        """Final evaluator scores (rows of kind "evaluation"): not series, shown as figures."""

    def clear(self) -> None:
        self.__init__()

    def add_rows(self, rows: Iterable[dict[str, Any]]) -> dict[str, int]:
        """Ingest rows; returns {metric: index of its first new point} for the metrics that grew."""
        grown: dict[str, int] = {}
        for row in rows:
            if row.get("kind", "train") not in ("train", "eval"):
                self.scores.update({k: v for k, v in row.items() if k not in NOT_METRICS and as_number(v) is not None})
                continue
            step = as_number(row.get("step"))
            if step is None:
                continue
            self.rows += 1
            t = as_number(row.get("time"))
            if t is not None and self.t0 is None:
                self.t0 = t
            rel = (t - self.t0) if (t is not None and self.t0 is not None) else math.nan
            epoch = as_number(row.get("epoch"))
            if epoch is not None:
                self._epoch = epoch
            tokens = as_number(row.get("num_tokens"))
            if tokens is not None:
                self._tokens = tokens
            xs = (step, self._epoch, rel, self._tokens)
            if row.get("kind", "train") == "train":
                self.last_row = row
            for key, value in row.items():
                if key in NOT_METRICS:
                    continue
                y = as_number(value)
                if y is None:
                    continue
                pts = self.series.get(key)
                if pts is None:
                    pts = self.series[key] = Points()
                grown.setdefault(key, len(pts))
                for col, xv in zip(pts.xs, xs):
                    col.append(xv)
                pts.ys.append(y)
        return grown

    def add_bulk(self, rows: list[dict[str, Any]]) -> dict[str, int]:
        """`add_rows` for big batches (a long history): the same points, built column by column.

        Numbers go through numpy; a column holding strings ("nan") falls back to the
        row-by-row path for the whole batch. A missing key and a NaN value are the same
        here (neither becomes a point), which a chart cannot tell apart anyway.
        """
        import numpy as np

        if len(rows) < 2048:
            return self.add_rows(rows)
        kinds = [r.get("kind", "train") for r in rows]
        keep = [r for r, k in zip(rows, kinds) if k in ("train", "eval")]
        for r, k in zip(rows, kinds):
            if k not in ("train", "eval"):
                self.scores.update({key: v for key, v in r.items() if key not in NOT_METRICS and as_number(v) is not None})
        if not keep:
            return {}

        def column(key: str):
            return np.array([r.get(key) for r in keep], dtype=np.float64)

        try:
            step = column("step")
            valid = np.isfinite(step)
            keep = [r for r, ok in zip(keep, valid.tolist()) if ok]
            step = step[valid]
            t = column("time")
            epoch = column("epoch")
            tokens = column("num_tokens")
            keys = sorted(set().union(*(r.keys() for r in keep)) - NOT_METRICS)
            values = {k: column(k) for k in keys}
        except (TypeError, ValueError):
            return self.add_rows(rows)
        n = len(keep)
        if not n:
            return {}
        if self.t0 is None:
            finite = np.flatnonzero(np.isfinite(t))
            if finite.size:
                self.t0 = float(t[finite[0]])
        rel = t - self.t0 if self.t0 is not None else np.full(n, math.nan)

        def carried(col, last: float):
            idx = np.where(np.isfinite(col), np.arange(n), -1)
            np.maximum.accumulate(idx, out=idx)
            out = np.where(idx >= 0, col[np.maximum(idx, 0)], last)
            return out

        ep = carried(epoch, self._epoch)
        tk = carried(tokens, self._tokens)
        if n:
            self._epoch, self._tokens = float(ep[-1]), float(tk[-1])
        self.rows += n
        train = [r for r in keep if r.get("kind", "train") == "train"]
        if train:
            self.last_row = train[-1]
        grown: dict[str, int] = {}
        for key, ys in values.items():
            mask = ~np.isnan(ys)
            if not mask.any():
                continue
            pts = self.series.get(key)
            if pts is None:
                pts = self.series[key] = Points()
            grown[key] = len(pts)
            for col, xs in zip(pts.xs, (step, ep, rel, tk)):
                col.frombytes(np.ascontiguousarray(xs[mask]).tobytes())
            pts.ys.frombytes(np.ascontiguousarray(ys[mask]).tobytes())
        return grown

    def names(self) -> list[str]:
        """Metric names, the usual ones first; eval_X right after X."""
        return order_metrics(self.series)

    def groups(self) -> list[str]:
        """What the metric switcher cycles through: train metrics (paired with eval_X) and lone eval metrics."""
        names = set(self.series)
        out = [n for n in self.names() if not n.startswith("eval_") or n[5:] not in names]
        return out

    def points(self, name: str, mode: str = "step") -> tuple[array, array]:
        """(x, y) of metric `name` with x measured in `mode`; empty when unknown."""
        pts = self.series.get(name)
        if pts is None:
            return array("d"), array("d")
        return pts.x(mode), pts.ys

    def since(self, name: str, start: int, mode: str = "step") -> tuple[array, array]:
        """The points of `name` from index `start` on."""
        xs, ys = self.points(name, mode)
        return xs[start:], ys[start:]

    def last(self, name: str) -> float | None:
        pts = self.series.get(name)
        return pts.ys[-1] if pts is not None and len(pts) else None


def pair(name: str, available: Iterable[str]) -> list[str]:
    """The series shown for a chosen metric: X together with eval_X (loss -> loss + eval_loss)."""
    have = set(available)
    if name.startswith("eval_"):
        return [name]
    return [name] + ([f"eval_{name}"] if f"eval_{name}" in have else [])


def order_metrics(names: Iterable[str]) -> list[str]:
    """The metric keys in the order `m` steps through them: the preferred first, each X beside eval_X,
    evaluators' bookkeeping numbers (`eval/perplexity/rows`, `.../held_out`) last, so they never open a chart."""
    from workbench.evaluation.compare import BOOKKEEPING

    names = set(names)
    base = sorted({n[5:] if n.startswith("eval_") else n for n in names},
                  key=lambda n: (n.rsplit("/", 1)[-1] in BOOKKEEPING,
                                 PREFERRED.index(n) if n in PREFERRED else len(PREFERRED), n))
    out = []
    for b in base:
        if b in names:
            out.append(b)
        if f"eval_{b}" in names:
            out.append(f"eval_{b}")
    return out

"""Metric series for live charts: incremental min/max decimation and debiased EMA.

`MinMaxPyramid` keeps the values of a series plus the min and max of aligned blocks
of FANOUT, FANOUT**2, ... values, maintained as values are appended (O(1) amortised).
The exact min/max of any index range then costs O(FANOUT * log N), so a chart that
asks for one range per screen column redraws in the same time at 1k and at 1M points.

`MetricSeries` pairs x values (non-decreasing: step, epoch, time, tokens) with a raw
pyramid and, when smoothing is on, a pyramid of TensorBoard-style debiased EMA values.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence

import numpy as np

FANOUT = 8
_INF = math.inf

ColumnStat = tuple[float, float, float, float]
"""(min, max, first, last) of the points that fall in one screen column."""


class MinMaxPyramid:
    """Values with incrementally maintained block minima/maxima (see module doc)."""

    __slots__ = ("values", "_mins", "_maxs")

    def __init__(self) -> None:
        self.values = array("d")
        self._mins: list[array] = []  # level k holds blocks of FANOUT**(k+1) values
        self._maxs: list[array] = []

    def __len__(self) -> int:
        return len(self.values)

    @property
    def levels(self) -> int:
        return len(self._mins)

    def append(self, value: float) -> None:
        """Add one value; completes at most one block per level (amortised O(1))."""
        vals = self.values
        vals.append(value)
        n = len(vals)
        if n % FANOUT:
            return
        lo = min(vals[n - FANOUT : n])
        hi = max(vals[n - FANOUT : n])
        level = 0
        while True:
            if level == len(self._mins):
                self._mins.append(array("d"))
                self._maxs.append(array("d"))
            mins, maxs = self._mins[level], self._maxs[level]
            mins.append(lo)
            maxs.append(hi)
            m = len(mins)
            if m % FANOUT:
                return
            lo = min(mins[m - FANOUT : m])
            hi = max(maxs[m - FANOUT : m])
            level += 1

    def extend(self, values: np.ndarray | Sequence[float]) -> None:
        """Add many values at once (vectorised block updates)."""
        arr = np.ascontiguousarray(values, dtype=np.float64)
        if arr.size == 0:
            return
        self.values.frombytes(arr.tobytes())
        level = 0
        while True:
            src_min = self.values if level == 0 else self._mins[level - 1]
            src_max = self.values if level == 0 else self._maxs[level - 1]
            want = len(src_min) // FANOUT
            if level == len(self._mins):
                if want == 0:
                    return
                self._mins.append(array("d"))
                self._maxs.append(array("d"))
            have = len(self._mins[level])
            if want <= have:
                return
            start, count = have * FANOUT, (want - have) * FANOUT
            lo = np.frombuffer(src_min, dtype=np.float64, count=count, offset=start * 8)
            hi = np.frombuffer(src_max, dtype=np.float64, count=count, offset=start * 8)
            lo_b = lo.reshape(-1, FANOUT).min(axis=1).tobytes()
            hi_b = hi.reshape(-1, FANOUT).max(axis=1).tobytes()
            del lo, hi  # release the buffer exports before the arrays grow again
            self._mins[level].frombytes(lo_b)
            self._maxs[level].frombytes(hi_b)
            level += 1

    def truncate(self, n: int) -> None:
        """Keep the first `n` values (only complete blocks survive, so levels stay exact)."""
        del self.values[n:]
        for k in range(len(self._mins)):
            n //= FANOUT
            del self._mins[k][n:]
            del self._maxs[k][n:]
        while self._mins and not self._mins[-1]:
            self._mins.pop()
            self._maxs.pop()

    def minmax(self, i: int, j: int) -> tuple[float, float]:
        """Exact (min, max) of values[i:j] (j > i) touching O(FANOUT * levels) cells."""
        f = FANOUT
        vals = self.values
        if j - i <= 2 * f:
            s = vals[i:j]
            return min(s), max(s)
        lo, hi = _INF, -_INF
        i2 = -(-i // f) * f
        j2 = j // f * f
        if i < i2:
            s = vals[i:i2]
            lo, hi = min(s), max(s)
        if j2 < j:
            s = vals[j2:j]
            lo, hi = min(lo, min(s)), max(hi, max(s))
        i, j = i2 // f, j2 // f
        for mins, maxs in zip(self._mins, self._maxs):
            if j - i <= 2 * f:
                break
            i2 = -(-i // f) * f
            j2 = j // f * f
            if i < i2:
                lo, hi = min(lo, min(mins[i:i2])), max(hi, max(maxs[i:i2]))
            if j2 < j:
                lo, hi = min(lo, min(mins[j2:j])), max(hi, max(maxs[j2:j]))
            i, j = i2 // f, j2 // f
        else:  # pragma: no cover - the top level always ends the loop first
            raise AssertionError("pyramid levels exhausted")
        if i < j:
            lo, hi = min(lo, min(mins[i:j])), max(hi, max(maxs[i:j]))
        return lo, hi


def ema_debiased(values: Iterable[float], weight: float) -> list[float]:
    """TensorBoard's smoothing: EMA started at 0, divided by (1 - weight**t).

    smoothed_t = ema_t / (1 - w**t), ema_t = w * ema_{t-1} + (1 - w) * y_t, ema_0 = 0,
    t counting from 1. The division removes the pull toward 0 of the first points.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError("smoothing weight must be in [0, 1)")
    out: list[float] = []
    ema, wn, c = 0.0, 1.0, 1.0 - weight
    for v in values:
        ema = ema * weight + c * v
        wn *= weight
        out.append(ema / (1.0 - wn))
    return out


def column_edges(x0: float, x1: float, ncols: int) -> list[float]:
    """Left x edge of each of `ncols` equal columns spanning [x0, x1]."""
    dx = (x1 - x0) / ncols
    return [x0 + c * dx for c in range(ncols)]


class MetricSeries:
    """One named line: x values, raw y values and (optionally) their smoothed copy.

    x must not decrease. A point whose x is below the last x means the run was resumed
    from an earlier checkpoint: the points at or beyond that x are dropped first (as
    TensorBoard purges orphaned steps). Non-finite values are counted, not stored.
    """

    def __init__(self, name: str, smoothing: float = 0.0):
        self.name = name
        self.x = array("d")
        self.raw = MinMaxPyramid()
        self.smoothed: MinMaxPyramid | None = None
        self.nonfinite = 0
        self._weight = 0.0
        self._ema = 0.0
        self._wn = 1.0
        self.set_smoothing(smoothing)

    def __len__(self) -> int:
        return len(self.x)

    @property
    def smoothing(self) -> float:
        return self._weight

    def set_smoothing(self, weight: float) -> None:
        """Switch EMA smoothing (0 = off); rebuilding costs one pass over the points."""
        if not 0.0 <= weight < 1.0:
            raise ValueError("smoothing weight must be in [0, 1)")
        if weight == self._weight and (self.smoothed is not None) == (weight > 0):
            return
        self._weight = weight
        if weight == 0.0:
            self.smoothed = None
            return
        self.smoothed = MinMaxPyramid()
        self._ema, self._wn = 0.0, 1.0
        self._extend_smoothed(self.raw.values)

    def _extend_smoothed(self, ys: Iterable[float]) -> None:
        assert self.smoothed is not None
        w, c = self._weight, 1.0 - self._weight
        ema, wn = self._ema, self._wn
        out = array("d")
        push = out.append
        for v in ys:
            ema = ema * w + c * v
            wn *= w
            push(ema / (1.0 - wn))
        self._ema, self._wn = ema, wn
        self.smoothed.extend(np.frombuffer(out, dtype=np.float64) if out else ())

    def append(self, x: float, y: float) -> None:
        """Add one point."""
        if not (math.isfinite(x) and math.isfinite(y)):
            self.nonfinite += 1
            return
        xs = self.x
        if xs and x < xs[-1]:
            self.truncate(bisect_left(xs, x))
        xs.append(x)
        self.raw.append(y)
        if self.smoothed is not None:
            w = self._weight
            self._ema = self._ema * w + (1.0 - w) * y
            self._wn *= w
            self.smoothed.append(self._ema / (1.0 - self._wn))

    def extend(self, xs: Sequence[float] | np.ndarray, ys: Sequence[float] | np.ndarray) -> None:
        """Add many points; vectorised when x keeps increasing."""
        xa = np.asarray(xs, dtype=np.float64)
        ya = np.asarray(ys, dtype=np.float64)
        if xa.shape != ya.shape or xa.ndim != 1:
            raise ValueError("x and y must be 1-D sequences of the same length")
        ok = np.isfinite(xa) & np.isfinite(ya)
        self.nonfinite += int(ok.size - np.count_nonzero(ok))
        xa, ya = xa[ok], ya[ok]
        if xa.size == 0:
            return
        if (self.x and xa[0] < self.x[-1]) or np.any(np.diff(xa) < 0):
            for x, y in zip(xa.tolist(), ya.tolist()):
                self.append(x, y)
            return
        self.x.frombytes(xa.tobytes())
        self.raw.extend(ya)
        if self.smoothed is not None:
            self._extend_smoothed(ya.tolist())

    def truncate(self, n: int) -> None:
        """Keep the first `n` points."""
        del self.x[n:]
        self.raw.truncate(n)
        if self.smoothed is not None:
            self.smoothed.truncate(n)
            self._wn = self._weight**n
            self._ema = self.smoothed.values[n - 1] * (1.0 - self._wn) if n else 0.0

    def last(self, smoothed: bool = False) -> float | None:
        """The newest value (smoothed when asked and available)."""
        pyr = self.smoothed if smoothed and self.smoothed is not None else self.raw
        return pyr.values[-1] if len(pyr) else None

    def x_extent(self) -> tuple[float, float] | None:
        return (self.x[0], self.x[-1]) if self.x else None

    def y_range(self, x0: float, x1: float, smoothed: bool = False) -> tuple[float, float] | None:
        """Exact (min, max) of the values with x in [x0, x1], in O(log N); None if empty."""
        pyr = self.smoothed if smoothed and self.smoothed is not None else self.raw
        i, j = bisect_left(self.x, x0), bisect_right(self.x, x1)
        return pyr.minmax(i, j) if i < j else None

    def columns(self, x0: float, x1: float, ncols: int, smoothed: bool = False) -> list[ColumnStat | None]:
        """(min, max, first, last) of the points in each of `ncols` columns over [x0, x1].

        Column c holds x in [edge_c, edge_c+1); the last column also holds x1. Empty
        columns are None. Costs O(ncols * (log N + FANOUT * levels)), never O(N).
        """
        pyr = self.smoothed if smoothed and self.smoothed is not None else self.raw
        xs, vals = self.x, pyr.values
        bounds = [bisect_left(xs, e) for e in column_edges(x0, x1, ncols)]
        bounds.append(bisect_right(xs, x1))
        out: list[ColumnStat | None] = []
        minmax = pyr.minmax
        for c in range(ncols):
            i, j = bounds[c], bounds[c + 1]
            if i >= j:
                out.append(None)
            elif j - i == 1:
                v = vals[i]
                out.append((v, v, v, v))
            else:
                lo, hi = minmax(i, j)
                out.append((lo, hi, vals[i], vals[j - 1]))
        return out

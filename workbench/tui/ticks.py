"""Axis ticks and label formats for charts (step, epoch, time, tokens, log scale)."""

from __future__ import annotations

import math
import time as _time

from workbench.numbers import decimals_for

X_MODES = ("step", "epoch", "time", "tokens", "fraction")
"""What a chart's x axis can be; fraction (of each run: step / max_steps) is compare's, shown as percent."""
_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
               21600, 43200, 86400, 172800, 604800)
_ABSOLUTE_TIME = 1e9  # x above this (2001+) is a Unix time stamp, not elapsed seconds


def nice_step(span: float, target: int) -> float:
    """A 1/2/5 x 10^k step giving about `target` intervals over `span`."""
    if span <= 0 or target < 1:
        return 1.0
    raw = span / target
    mag = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * mag >= raw:
            return m * mag
    return 10 * mag  # pragma: no cover


def linear_ticks(lo: float, hi: float, target: int) -> tuple[list[float], float]:
    """Nice tick values inside [lo, hi] and their step."""
    step = nice_step(hi - lo, target)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = first
    while v <= hi + step * 1e-9:
        ticks.append(0.0 if abs(v) < step * 1e-9 else v)
        v = first + len(ticks) * step
    return ticks, step


def time_ticks(lo: float, hi: float, target: int) -> tuple[list[float], float]:
    """Ticks for seconds at round durations (1 s ... 1 week)."""
    raw = (hi - lo) / max(target, 1)
    step = next((s for s in _TIME_STEPS if s >= raw), None)
    if step is None:
        return linear_ticks(lo, hi, target)
    offset = _time.localtime(lo).tm_gmtoff if lo > _ABSOLUTE_TIME else 0
    first = math.ceil((lo + offset) / step) * step - offset
    n = int((hi - first) // step) + 1
    return [first + k * step for k in range(max(n, 0))], float(step)


def log_ticks(lo: float, hi: float, target: int) -> list[float]:
    """Tick values (not exponents) for a log axis spanning 10**lo .. 10**hi."""
    for mults in ((1, 2, 5), (1,)):
        ticks = [m * 10.0**k for k in range(math.floor(lo), math.ceil(hi) + 1) for m in mults]
        ticks = [t for t in ticks if lo - 1e-9 <= math.log10(t) <= hi + 1e-9]
        if 2 <= len(ticks) <= target + 1:
            return ticks
        if len(ticks) > target + 1 and mults == (1,):
            stride = math.ceil(len(ticks) / target)
            return ticks[::stride]
    vals, _ = linear_ticks(10.0**lo, 10.0**hi, target)
    return [v for v in vals if v > 0]


def compact(v: float, step: float | None = None) -> str:
    """Short number: 1.5k, 12M, 0.25, 3e-05."""
    a = abs(v)
    if a >= 1000:
        for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
            if a >= div:
                decimals = decimals_for(step / div, 2) if step else (1 if a < 10 * div else 0)
                return f"{v / div:.{decimals}f}{suffix}"
    if a == 0:
        return "0"
    if a < 1e-3:
        return f"{v:.1e}".replace("e-0", "e-")
    if step is not None and step > 0:
        return f"{v:.{decimals_for(step, 6)}f}"
    return f"{v:.4g}"


def duration(seconds: float) -> str:
    """Elapsed time: 45s, 2m30s, 1h05m, 3d04h."""
    s = int(round(seconds))
    sign = "-" if s < 0 else ""
    s = abs(s)
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m{s % 60:02d}s" if s % 60 else f"{sign}{s // 60}m"
    if s < 86400:
        return f"{sign}{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{sign}{s // 86400}d{s % 86400 // 3600:02d}h"


def percent(v: float, step: float | None = None) -> str:
    """A fraction as percent: 0.25 -> '25%', with the decimals a tick step needs (0.025 -> '2.5%')."""
    decimals = decimals_for(step * 100, 3) if step else (0 if abs(v * 100 - round(v * 100)) < 1e-9 else 1)
    return f"{v * 100:.{decimals}f}%"


def format_x(v: float, mode: str, step: float) -> str:
    """An x tick label for the given axis mode."""
    if mode == "time":
        if v > _ABSOLUTE_TIME:
            return _time.strftime("%H:%M:%S" if step < 60 else "%H:%M", _time.localtime(v))
        return duration(v)
    if mode == "fraction":
        return percent(v, step)
    if mode == "step":  # steps are counted exactly: 1050, not 1.05k (until six digits)
        return compact(v, max(step, 1.0)) if abs(v) >= 100_000 else str(int(round(v)))
    return compact(v, step)


def x_ticks(lo: float, hi: float, mode: str, target: int) -> list[tuple[float, str]]:
    """(value, label) ticks for the x axis."""
    if mode == "time":
        vals, step = time_ticks(lo, hi, target)
    else:
        vals, step = linear_ticks(lo, hi, target)
        if mode == "step" and step < 1:
            vals, step = [v for v in vals if float(v).is_integer()], 1.0
    return [(v, format_x(v, mode, step)) for v in vals]

"""The one number formatter of the workbench: TUI table, run detail, chart legend, `ls`, `show`.

Numbers are written with a fixed count of significant digits and never cut: a cell
is sized from its text, not the text from its cell. 2.513, 0.0421, 3.78e-5, 12345,
1.23M. Durations read 42s, 5m07s, 1h02m, 3d04h.
"""

from __future__ import annotations

import math

SIG = 4
"""Significant digits of a metric value."""
_SUFFIXES = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def _trim(text: str) -> str:
    """Drop trailing zeros of a decimal fraction: 2.500 -> 2.5, 3.0 -> 3."""
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _sci(value: float, sig: int) -> str:
    """3.78e-5 (no '+', no leading zero in the exponent)."""
    mantissa, exp = f"{value:.{max(sig - 1, 0)}e}".split("e")
    return f"{_trim(mantissa)}e{int(exp)}"


def num(value: float | int | str | None, sig: int = SIG) -> str:
    """A metric value with `sig` significant digits; '-' for None.

    Integers up to 99,999 are written in full (a step, a token count); larger
    magnitudes get a k/M/G/T suffix; below 0.001 scientific notation.
    """
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value).lower()
    v = float(value)
    if not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1e5 or (a >= 1e4 and not float(v).is_integer()):
        for div, suffix in _SUFFIXES:
            if a >= div * 0.99995:
                scaled = v / div
                if abs(scaled) >= 1000 and suffix != "T":
                    continue
                return _fixed(scaled, sig) + suffix
        return _sci(v, sig)  # pragma: no cover - >= 1e15
    if a < 1e-3:
        return _sci(v, sig)
    if float(v).is_integer():
        return str(int(v))
    return _fixed(v, sig)


def _fixed(v: float, sig: int) -> str:
    """`sig` significant digits in positional notation, trailing zeros dropped."""
    a = abs(v)
    digits_before = math.floor(math.log10(a)) + 1 if a >= 1 else 0
    decimals = max(sig - digits_before, 0)
    if a < 1:
        decimals = sig - 1 - math.floor(math.log10(a))  # 0.04213 -> 4 significant digits
    text = f"{v:.{decimals}f}"
    # rounding may add a digit (9.9996 -> 10.000): re-trim to sig digits
    return _trim(text)


def integer(value: int | float | None) -> str:
    """A count in full with thousands separators: 1,234,567."""
    if value is None:
        return "-"
    return f"{int(value):,}"


def duration(seconds: float | None) -> str:
    """42s, 5m07s, 1h02m, 3d04h; '-' when unknown or negative."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "-"
    s = int(round(seconds))
    if s >= 86400:
        return f"{s // 86400}d{s % 86400 // 3600:02d}h"
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


def gib(nbytes: float | None) -> str:
    """Bytes as GiB with one decimal: 10.5G; 'N/A' when unknown."""
    if nbytes is None:
        return "N/A"
    return f"{nbytes / 1024**3:.1f}G"


def size(nbytes: float | None) -> str:
    """Bytes with a binary unit: 512B, 3.4K, 120.0M, 2.1G."""
    if nbytes is None:
        return "-"
    n = float(nbytes)
    for unit in ("B", "K", "M", "G"):
        if n < 1024 or unit == "G":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n:.1f}T"  # pragma: no cover


def decimals_for(step: float, cap: int = 8) -> int:
    """Fewest decimals that write multiples of `step` exactly (0.25 -> 2, 500 -> 0)."""
    for d in range(cap + 1):
        scaled = step * 10**d
        if abs(scaled - round(scaled)) < 1e-6 * max(1.0, scaled):
            return d
    return cap


def tick(value: float, step: float) -> str:
    """An axis label for a multiple of `step`: as many decimals as the step needs, no more."""
    a = abs(value)
    if a == 0:
        return "0"
    if step < 1e-3 and a < 1e-2 or a >= 1e6:
        sig = max(2, min(6, math.floor(math.log10(a)) - math.floor(math.log10(step)) + 1))
        return _sci(value, sig) if a < 1e-2 else num(value, sig)
    if a >= 1e4:
        for div, suffix in _SUFFIXES:
            if a >= div:
                return f"{value / div:.{decimals_for(step / div, 3)}f}{suffix}"
    return f"{value:.{decimals_for(step)}f}"

"""Text pieces of the TUI: progress bars, sparklines, status glyphs (numbers: workbench.numbers)."""

from __future__ import annotations

import math

BAR_FULL, BAR_EMPTY = "█", "░"
EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(fraction: float | None, width: int = 10) -> str:
    """A progress bar of `width` cells with eighth-cell resolution (text only: readable without colour)."""
    if fraction is None or not math.isfinite(fraction):
        return BAR_EMPTY * width
    fraction = min(max(fraction, 0.0), 1.0)
    eighths = int(round(fraction * width * 8))
    full, part = divmod(eighths, 8)
    out = BAR_FULL * full
    if full < width:
        out += (EIGHTHS[part] if part else BAR_EMPTY) + BAR_EMPTY * (width - full - 1)
    return out


def progress(step: int | None, total: int | None, width: int = 8) -> str:
    """'██████░░ 75%' for a step out of a total; just the step when the total is unknown."""
    if not total:
        return "-"
    frac = (step or 0) / total
    return f"{bar(frac, width)} {int(frac * 100):3d}%"


STATUS_MARKS = {
    "queued": "… queued", "starting": "… starting", "running": "▶ running", "stopping": "■ stopping",
    "completed": "✓ completed", "failed": "✗ failed", "stopped": "■ stopped", "lost": "? lost",
    "idle": "· idle", "waiting": "… waiting", "missing": "? missing", "unreadable": "✗ unreadable",
}


def status_text(status: str | None) -> str:
    """The status with a glyph, so state reads without colour (NO_COLOR terminals)."""
    return STATUS_MARKS.get(status or "", status or "?")


SPARK = "▁▂▃▄▅▆▇█"


def spark(values: list[float | None], width: int, lo: float | None = 0.0, hi: float | None = None) -> str:
    """A one-line sparkline of the last `width` values (None shows as a gap)."""
    vals = values[-width:]
    real = [v for v in vals if v is not None and math.isfinite(v)]
    if not real:
        return " " * len(vals)
    lo = min(real) if lo is None else lo
    hi = max(real) if hi is None else hi
    span = (hi - lo) or 1.0
    out = []
    for v in vals:
        if v is None or not math.isfinite(v):
            out.append(" ")
        else:
            out.append(SPARK[min(7, max(0, int((v - lo) / span * 7.999)))])
    return "".join(out)

"""gpu.jsonl: the per-run record of a job's GPUs, one JSON object per sample."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from workbench.telemetry.samples import GpuSample


def write_gpu_jsonl(path: str | os.PathLike[str], samples: Iterable[GpuSample]) -> int:
    """Append one line per sample (with its `time` stamp) and return how many were written.

    Each batch is written with a single `write` on an O_APPEND file, so readers tailing
    the file see whole lines.
    """
    lines = "".join(json.dumps(s.to_json(), separators=(",", ":")) + "\n" for s in samples)
    if not lines:
        return 0
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(lines)
    return lines.count("\n")


def read_gpu_jsonl(path: str | os.PathLike[str]) -> list[GpuSample]:
    """Read gpu.jsonl, skipping a torn last line (a writer may be mid-append)."""
    out: list[GpuSample] = []
    p = Path(path)
    if not p.exists():
        return out
    with p.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.endswith("\n"):
                break
            try:
                out.append(GpuSample.from_json(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                continue
    return out

"""Attribute GPU processes to workbench runs.

First by pid (the run's supervisor pid, its job pids and their descendants). Inside a
container NVML reports *host* pids, which never equal the container's pids; for runs
none of whose pids NVML reports, a process is attributed through the run's
CUDA_VISIBLE_DEVICES instead. CUDA numbers devices in NVML/PCI order only when
CUDA_DEVICE_ORDER=PCI_BUS_ID, which launchers should set; UUID entries always match.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import psutil

from workbench.telemetry.samples import GpuSample

How = Literal["pid", "device", "ambiguous", "unmatched"]


@dataclass(frozen=True)
class ProcessMatch:
    """One GPU process and the run it belongs to (run_id None when unknown)."""

    gpu_index: int
    pid: int
    used_bytes: int | None
    run_id: str | None
    how: How
    candidates: tuple[str, ...] = ()


def parse_visible_devices(value: str | None, samples: Sequence[GpuSample]) -> set[int] | None:
    """NVML indices named by a CUDA_VISIBLE_DEVICES value; None when it is unset.

    Accepts indices and (prefixes of) GPU UUIDs; like CUDA, stops at the first entry
    it cannot resolve ("-1" therefore means no device).
    """
    if value is None:
        return None
    out: set[int] = set()
    for token in (t.strip() for t in value.split(",")):
        if not token:
            break
        if token.isdigit():
            out.add(int(token))
            continue
        if token.startswith("GPU-"):
            hits = [s.index for s in samples if s.uuid and s.uuid.startswith(token)]
            if len(hits) == 1:
                out.add(hits[0])
                continue
        break
    return out


def _run_pids(run: Mapping[str, Any], expand_descendants: bool) -> set[int]:
    pids = {int(p) for p in (run.get("pids") or []) if p is not None}
    if expand_descendants:
        for pid in list(pids):
            try:
                pids.update(c.pid for c in psutil.Process(pid).children(recursive=True))
            except (psutil.Error, ValueError):
                continue
    return pids


def map_processes_to_runs(
    samples: Iterable[GpuSample],
    runs: Iterable[Mapping[str, Any]],
    expand_descendants: bool = True,
) -> list[ProcessMatch]:
    """Match every process of every sample to a run.

    `runs` are plain dicts: {"id": str, "pids": [int, ...], "cuda_visible_devices":
    "0,1" | None}. With `expand_descendants` the children of those pids (ranks started
    by a launcher) count as the run's own.
    """
    samples = list(samples)
    runs = list(runs)
    pid_owner: dict[int, list[str]] = {}
    for run in runs:
        for pid in _run_pids(run, expand_descendants):
            pid_owner.setdefault(pid, []).append(str(run["id"]))

    gpu_pids = {p.pid for s in samples for p in (s.processes or [])}
    seen_by_pid = {rid for pid in gpu_pids for rid in pid_owner.get(pid, [])}
    # Runs whose pids NVML never reports: probably another pid namespace.
    by_device: dict[int, list[str]] = {}
    for run in runs:
        rid = str(run["id"])
        if rid in seen_by_pid:
            continue
        devices = parse_visible_devices(run.get("cuda_visible_devices"), samples)
        for d in devices or ():
            by_device.setdefault(d, []).append(rid)

    out: list[ProcessMatch] = []
    for s in samples:
        for p in s.processes or []:
            owners = pid_owner.get(p.pid)
            if owners:
                out.append(ProcessMatch(s.index, p.pid, p.used_bytes, owners[0], "pid", tuple(owners)))
                continue
            cands = tuple(by_device.get(s.index, ()))
            if len(cands) == 1:
                out.append(ProcessMatch(s.index, p.pid, p.used_bytes, cands[0], "device", cands))
            elif cands:
                out.append(ProcessMatch(s.index, p.pid, p.used_bytes, None, "ambiguous", cands))
            else:
                out.append(ProcessMatch(s.index, p.pid, p.used_bytes, None, "unmatched"))
    return out


def memory_by_run(matches: Iterable[ProcessMatch]) -> dict[str, dict[int, int]]:
    """GPU memory each run holds, per GPU index (processes without a figure count 0)."""
    out: dict[str, dict[int, int]] = {}
    for m in matches:
        if m.run_id is not None:
            per_gpu = out.setdefault(m.run_id, {})
            per_gpu[m.gpu_index] = per_gpu.get(m.gpu_index, 0) + (m.used_bytes or 0)
    return out

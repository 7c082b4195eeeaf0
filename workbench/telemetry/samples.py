"""Plain data records for GPU and host telemetry (no NVML, no Textual)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import psutil


@dataclass(frozen=True)
class GpuProcess:
    """A process holding memory on a GPU, as NVML reports it (host pid namespace)."""

    pid: int
    used_bytes: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "used_bytes": self.used_bytes}


@dataclass(frozen=True)
class GpuSample:
    """One reading of one GPU.

    Any field NVML could not provide (not supported, no permission, GPU lost...) is
    None, and `errors` says why by field name; viewers show None as "N/A".
    """

    index: int
    name: str | None = None
    uuid: str | None = None
    util_percent: float | None = None
    mem_used_bytes: int | None = None
    mem_total_bytes: int | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    processes: list[GpuProcess] | None = None
    time: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def mem_percent(self) -> float | None:
        """Memory in use as a percentage of the total, or None when unknown."""
        if self.mem_used_bytes is None or not self.mem_total_bytes:
            return None
        return 100.0 * self.mem_used_bytes / self.mem_total_bytes

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (one gpu.jsonl record)."""
        out: dict[str, Any] = {
            "time": self.time,
            "index": self.index,
            "name": self.name,
            "uuid": self.uuid,
            "util_percent": self.util_percent,
            "mem_used_bytes": self.mem_used_bytes,
            "mem_total_bytes": self.mem_total_bytes,
            "temperature_c": self.temperature_c,
            "power_w": self.power_w,
            "power_limit_w": self.power_limit_w,
            "processes": None if self.processes is None else [p.to_json() for p in self.processes],
        }
        if self.errors:
            out["errors"] = dict(self.errors)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GpuSample:
        """Rebuild a sample from `to_json()` output (unknown keys are ignored)."""
        procs = data.get("processes")
        return cls(
            index=int(data["index"]),
            name=data.get("name"),
            uuid=data.get("uuid"),
            util_percent=data.get("util_percent"),
            mem_used_bytes=data.get("mem_used_bytes"),
            mem_total_bytes=data.get("mem_total_bytes"),
            temperature_c=data.get("temperature_c"),
            power_w=data.get("power_w"),
            power_limit_w=data.get("power_limit_w"),
            processes=None
            if procs is None
            else [GpuProcess(int(p["pid"]), p.get("used_bytes")) for p in procs],
            time=float(data.get("time", 0.0)),
            errors=dict(data.get("errors") or {}),
        )


@dataclass(frozen=True)
class HostSample:
    """CPU and RAM of this machine: what the GPU panel shows when there is no GPU."""

    cpu_percent: float
    cpu_percent_per_core: list[float]
    mem_used_bytes: int
    mem_total_bytes: int
    time: float

    def to_json(self) -> dict[str, Any]:
        return {
            "time": self.time,
            "cpu_percent": self.cpu_percent,
            "cpu_percent_per_core": list(self.cpu_percent_per_core),
            "mem_used_bytes": self.mem_used_bytes,
            "mem_total_bytes": self.mem_total_bytes,
        }


def host_sample(interval: float | None = None) -> HostSample:
    """Sample CPU use per core and RAM with psutil.

    With `interval=None` the CPU figures cover the time since the previous call (the
    very first call in a process reads 0.0: pollers call this repeatedly); pass a
    small interval (e.g. 0.1 s) for a one-off reading.
    """
    per_core = [float(v) for v in psutil.cpu_percent(interval=interval, percpu=True)]
    total = sum(per_core) / len(per_core) if per_core else 0.0
    vm = psutil.virtual_memory()
    return HostSample(
        cpu_percent=total,
        cpu_percent_per_core=per_core,
        mem_used_bytes=int(vm.total - vm.available),
        mem_total_bytes=int(vm.total),
        time=time.time(),
    )

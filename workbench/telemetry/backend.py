"""GPU sampling through NVML (the `pynvml` module of nvidia-ml-py).

The sampling code takes the NVML module as an object, so the fake backend used by tests
and demos (`workbench.telemetry.fake`) runs exactly this code against a pynvml-like
object that raises the real `pynvml.NVMLError` subclasses.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from types import ModuleType
from typing import Any, Protocol, TypeVar

from workbench.errors import ConfigError
from workbench.telemetry.samples import GpuProcess, GpuSample

FAKE_ENV = "WORKBENCH_FAKE_GPUS"
"""Env var selecting the fake backend: a GPU count ("2") or a path to a JSON spec."""

T = TypeVar("T")


class GpuBackend(Protocol):
    """What viewers and the supervisor need from a GPU source."""

    def device_count(self) -> int: ...

    def sample(self, indices: Iterable[int] | None = None) -> list[GpuSample]: ...

    def close(self) -> None: ...


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class NvmlBackend:
    """Samples GPUs through an initialised NVML module (real or fake).

    Use `NvmlBackend.open(module)`; it calls `nvmlInit()` and raises `NVMLError`
    when NVML is unusable. Every per-field NVML error becomes None in the sample.
    """

    def __init__(self, nvml: ModuleType | Any):
        self._nvml = nvml
        self._error_type: type[Exception] = nvml.NVMLError
        self._lock = threading.Lock()
        self._closed = False
        self._count = int(nvml.nvmlDeviceGetCount())

    @classmethod
    def open(cls, nvml: ModuleType | Any) -> NvmlBackend:
        """Initialise NVML and return a backend (NVMLError propagates)."""
        nvml.nvmlInit()
        try:
            return cls(nvml)
        except nvml.NVMLError:
            nvml.nvmlShutdown()
            raise

    def device_count(self) -> int:
        return self._count

    def close(self) -> None:
        """Shut NVML down (idempotent)."""
        with self._lock:
            if not self._closed:
                self._closed = True
                try:
                    self._nvml.nvmlShutdown()
                except self._error_type:
                    pass

    def __enter__(self) -> NvmlBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def sample(self, indices: Iterable[int] | None = None) -> list[GpuSample]:
        """Read every GPU (or the given NVML indices) once."""
        wanted = range(self._count) if indices is None else list(indices)
        with self._lock:
            if self._closed:
                raise RuntimeError("GPU backend is closed")
            now = time.time()
            return [self._sample_one(i, now) for i in wanted]

    def _call(self, errors: dict[str, str], key: str, fn: Callable[..., T], *args: Any) -> T | None:
        try:
            return fn(*args)
        except self._error_type as exc:
            errors[key] = str(exc) or type(exc).__name__
            return None

    def _sample_one(self, index: int, now: float) -> GpuSample:
        nv = self._nvml
        errors: dict[str, str] = {}
        if not 0 <= index < self._count:
            errors["index"] = f"no GPU with index {index} (this machine has {self._count})"
            return GpuSample(index=index, time=now, errors=errors)
        handle = self._call(errors, "device", nv.nvmlDeviceGetHandleByIndex, index)
        if handle is None:
            return GpuSample(index=index, time=now, errors=errors)

        name = self._call(errors, "name", nv.nvmlDeviceGetName, handle)
        uuid = self._call(errors, "uuid", nv.nvmlDeviceGetUUID, handle)
        util = self._call(errors, "util_percent", nv.nvmlDeviceGetUtilizationRates, handle)
        mem = self._call(errors, "memory", nv.nvmlDeviceGetMemoryInfo, handle)
        temp = self._call(
            errors, "temperature_c", nv.nvmlDeviceGetTemperature, handle, nv.NVML_TEMPERATURE_GPU
        )
        power_mw = self._call(errors, "power_w", nv.nvmlDeviceGetPowerUsage, handle)
        limit_mw = self._call(errors, "power_limit_w", nv.nvmlDeviceGetEnforcedPowerLimit, handle)
        return GpuSample(
            index=index,
            name=None if name is None else _text(name),
            uuid=None if uuid is None else _text(uuid),
            util_percent=None if util is None else float(util.gpu),
            mem_used_bytes=None if mem is None else int(mem.used),
            mem_total_bytes=None if mem is None else int(mem.total),
            temperature_c=None if temp is None else float(temp),
            power_w=None if power_mw is None else power_mw / 1000.0,
            power_limit_w=None if limit_mw is None else limit_mw / 1000.0,
            processes=self._processes(errors, handle),
            time=now,
            errors=errors,
        )

    def _processes(self, errors: dict[str, str], handle: Any) -> list[GpuProcess] | None:
        """Compute and graphics processes merged by pid; None when both queries fail."""
        nv = self._nvml
        found: dict[int, int | None] = {}
        failures: dict[str, str] = {}
        ok = False
        for fn in (nv.nvmlDeviceGetComputeRunningProcesses, nv.nvmlDeviceGetGraphicsRunningProcesses):
            procs = self._call(failures, "processes", fn, handle)
            if procs is None:
                continue
            ok = True
            for p in procs:
                used = getattr(p, "usedGpuMemory", None)
                prev = found.get(int(p.pid))
                found[int(p.pid)] = used if prev is None else max(prev, used or 0)
        if not ok:
            errors.update(failures)
            return None
        return [GpuProcess(pid, used) for pid, used in sorted(found.items())]


def _import_pynvml() -> ModuleType:
    import pynvml

    return pynvml


def open_backend_with_reason(kind: str | None = None) -> tuple[GpuBackend | None, str | None]:
    """Like `open_backend`, also returning why no backend is available.

    `kind`: None (the fake backend when WORKBENCH_FAKE_GPUS is set, else NVML),
    "nvml", "none", "fake" (spec from WORKBENCH_FAKE_GPUS, else 2 GPUs) or
    "fake:<count or path>".
    """
    if kind is None:
        env = os.environ.get(FAKE_ENV, "").strip()
        kind = f"fake:{env}" if env else "nvml"
    if kind == "none":
        return None, "GPU telemetry switched off"
    if kind == "fake" or kind.startswith("fake:"):
        from workbench.telemetry.fake import FakeNvml

        spec = kind[5:] or os.environ.get(FAKE_ENV, "").strip() or "2"
        module: Any = FakeNvml.from_spec(spec)
    elif kind == "nvml":
        try:
            module = _import_pynvml()
        except ImportError as exc:
            return None, f"nvidia-ml-py is not installed ({exc})"
    else:
        raise ConfigError(
            f"unknown GPU backend {kind!r} (expected nvml, none, fake or fake:<count|path>)",
            where="gpu backend",
        )
    try:
        return NvmlBackend.open(module), None
    except module.NVMLError as exc:
        return None, f"NVML unavailable: {exc}"
    except OSError as exc:  # a broken libnvidia-ml.so can fail to load at the OS level
        return None, f"NVML unavailable: {exc}"


def open_backend(kind: str | None = None) -> GpuBackend | None:
    """The GPU backend for this machine, or None when there is no usable NVML/driver."""
    return open_backend_with_reason(kind)[0]


"""A fake NVML module for tests and demos.

`FakeNvml` looks like `pynvml` to `NvmlBackend`: the same nvml* functions, the real
constants, and the real `pynvml.NVMLError` subclasses for injected failures, so tests
exercise the production sampling code. Select it with WORKBENCH_FAKE_GPUS=<count> or
WORKBENCH_FAKE_GPUS=<path to a JSON spec>; a spec looks like::

    {"animate": false, "init_error": null,
     "gpus": [{"name": "NVIDIA H100 80GB HBM3", "mem_total_bytes": 85899345920,
               "mem_used_bytes": 1073741824, "util_percent": 40, "temperature_c": 51,
               "power_w": 310.5, "power_limit_w": 700,
               "processes": [{"pid": 4242, "used_bytes": 1073741824}],
               "errors": {"power_w": "NotSupported"}}]}

`errors` keys are sample fields (name, uuid, util_percent, memory, temperature_c,
power_w, power_limit_w, processes, device); values are pynvml error names without the
`NVMLError_` prefix (NotSupported, NoPermission, GpuIsLost, Unknown...).
"""

from __future__ import annotations

import json
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pynvml

from workbench.errors import ConfigError

FIELDS = (
    "device", "name", "uuid", "util_percent", "memory", "temperature_c",
    "power_w", "power_limit_w", "processes",
)
_NUMERIC = ("mem_total_bytes", "mem_used_bytes", "util_percent", "temperature_c", "power_w", "power_limit_w")
GiB = 1024**3


def nvml_error(name: str) -> pynvml.NVMLError:
    """The real pynvml exception for an error name such as "NotSupported"."""
    cls = getattr(pynvml, f"NVMLError_{name}", None)
    if not (isinstance(cls, type) and issubclass(cls, pynvml.NVMLError)):
        raise ConfigError(f"unknown NVML error name {name!r} (e.g. NotSupported, NoPermission, GpuIsLost)")
    return cls()


@dataclass
class FakeGpu:
    """State of one fake device; tests may mutate it between samples."""

    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-00000000-0000-0000-0000-000000000000"
    mem_total_bytes: int = 80 * GiB
    mem_used_bytes: int = 0
    util_percent: float = 0.0
    temperature_c: float = 35.0
    power_w: float = 70.0
    power_limit_w: float = 700.0
    processes: list[tuple[int, int | None]] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


def _default_gpus(count: int) -> list[FakeGpu]:
    gpus = []
    for i in range(count):
        procs = [(100_000 + 10 * i, 8 * GiB), (100_001 + 10 * i, 2 * GiB)] if i % 2 == 0 else []
        gpus.append(
            FakeGpu(
                uuid=f"GPU-fa4e0000-0000-4000-8000-{i:012d}",
                mem_used_bytes=sum(b or 0 for _, b in procs) + 512 * 1024**2,
                util_percent=60.0 if procs else 0.0,
                temperature_c=40.0 + 5 * (i % 3),
                power_w=250.0 if procs else 70.0,
                processes=procs,
            )
        )
    return gpus


def _number(where: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"expected a number, got {value!r}", where=f"{where}.{key}")
    return value


def _gpu_from_json(where: str, i: int, data: Any) -> FakeGpu:
    at = f"{where}: gpus[{i}]"
    if not isinstance(data, dict):
        raise ConfigError("expected an object", where=at)
    base = _default_gpus(i + 1)[i]
    for key in data:
        if key not in {"name", "uuid", "processes", "errors", *_NUMERIC}:
            raise ConfigError(f"unknown field {key!r}", where=at)
    values: dict[str, Any] = {k: _number(at, k, data[k]) for k in _NUMERIC if k in data}
    for key in ("mem_total_bytes", "mem_used_bytes"):
        if key in values:
            values[key] = int(values[key])
    gpu = FakeGpu(
        name=str(data.get("name", base.name)),
        uuid=str(data.get("uuid", base.uuid)),
        **{k: values.get(k, getattr(base, k)) for k in _NUMERIC},
    )
    procs = data.get("processes", [])
    if not isinstance(procs, list):
        raise ConfigError("expected a list", where=f"{at}.processes")
    for j, p in enumerate(procs):
        if not isinstance(p, dict) or not isinstance(p.get("pid"), int):
            raise ConfigError("expected {\"pid\": int, \"used_bytes\": int}", where=f"{at}.processes[{j}]")
        gpu.processes.append((p["pid"], p.get("used_bytes")))
    errors = data.get("errors", {})
    if not isinstance(errors, dict):
        raise ConfigError("expected an object", where=f"{at}.errors")
    for key, name in errors.items():
        if key not in FIELDS:
            raise ConfigError(f"unknown field {key!r} (one of {', '.join(FIELDS)})", where=f"{at}.errors")
        nvml_error(str(name))  # validate now, not at sampling time
        gpu.errors[key] = str(name)
    return gpu


class FakeNvml:
    """A pynvml-like object over a list of `FakeGpu`s.

    With `animate=True` utilisation, power and temperature follow a slow wave that
    advances once per utilisation read, so demos look alive while staying deterministic.
    """

    NVMLError = pynvml.NVMLError
    NVML_TEMPERATURE_GPU = pynvml.NVML_TEMPERATURE_GPU

    def __init__(self, gpus: list[FakeGpu], animate: bool = False, init_error: str | None = None):
        if init_error is not None:
            nvml_error(init_error)
        self.gpus = gpus
        self.animate = animate
        self.init_error = init_error
        self.initialised = 0
        self._ticks = [0] * len(gpus)
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: str) -> FakeNvml:
        """Build from a GPU count ("2") or the path of a JSON spec file."""
        spec = spec.strip()
        if spec.isdigit():
            return cls(_default_gpus(int(spec)), animate=True)
        path = Path(spec)
        if not path.is_file():
            raise ConfigError(
                "expected a GPU count or the path of a JSON spec file", where=f"WORKBENCH_FAKE_GPUS={spec}"
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"invalid JSON: {exc.msg}", where=f"{path}:{exc.lineno}") from None
        return cls.from_json(data, where=str(path))

    @classmethod
    def from_json(cls, data: Any, where: str = "fake GPU spec") -> FakeNvml:
        if not isinstance(data, dict) or not isinstance(data.get("gpus"), list):
            raise ConfigError("expected an object with a \"gpus\" list", where=where)
        gpus = [_gpu_from_json(where, i, g) for i, g in enumerate(data["gpus"])]
        init_error = data.get("init_error")
        try:
            return cls(gpus, animate=bool(data.get("animate", False)), init_error=init_error)
        except ConfigError as exc:
            raise ConfigError(exc.message, where=f"{where}: init_error") from None

    # -- test helpers ---------------------------------------------------------
    def set_error(self, index: int, field_name: str, error: str | None) -> None:
        """Make `field_name` of GPU `index` fail with an NVML error (None clears it)."""
        if field_name not in FIELDS:
            raise ValueError(f"unknown field {field_name!r}")
        if error is None:
            self.gpus[index].errors.pop(field_name, None)
        else:
            nvml_error(error)
            self.gpus[index].errors[field_name] = error

    # -- the pynvml surface NvmlBackend uses ---------------------------------
    def nvmlInit(self) -> None:
        if self.init_error:
            raise nvml_error(self.init_error)
        self.initialised += 1

    def nvmlShutdown(self) -> None:
        self._check_init()
        self.initialised -= 1

    def _check_init(self) -> None:
        if self.initialised <= 0:
            raise nvml_error("Uninitialized")

    def nvmlDeviceGetCount(self) -> int:
        self._check_init()
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        self._check_init()
        if not 0 <= index < len(self.gpus):
            raise nvml_error("InvalidArgument")
        self._fail(index, "device")
        return index

    def _fail(self, handle: int, field_name: str) -> None:
        gpu = self.gpus[handle]
        err = gpu.errors.get(field_name) or gpu.errors.get("device")
        if err:
            raise nvml_error(err)

    def _wave(self, handle: int) -> float:
        return 0.5 + 0.5 * math.sin(self._ticks[handle] / 7.0 + handle)

    def nvmlDeviceGetName(self, handle: int) -> str:
        self._fail(handle, "name")
        return self.gpus[handle].name

    def nvmlDeviceGetUUID(self, handle: int) -> str:
        self._fail(handle, "uuid")
        return self.gpus[handle].uuid

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        self._fail(handle, "util_percent")
        gpu = self.gpus[handle]
        util = gpu.util_percent
        if self.animate and gpu.processes:
            with self._lock:
                self._ticks[handle] += 1
            util = round(55 + 45 * self._wave(handle))
        return SimpleNamespace(gpu=util, memory=util // 2)

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        self._fail(handle, "memory")
        gpu = self.gpus[handle]
        return SimpleNamespace(total=gpu.mem_total_bytes, used=gpu.mem_used_bytes,
                               free=gpu.mem_total_bytes - gpu.mem_used_bytes)

    def nvmlDeviceGetTemperature(self, handle: int, sensor: int) -> int:
        self._fail(handle, "temperature_c")
        if sensor != pynvml.NVML_TEMPERATURE_GPU:
            raise nvml_error("InvalidArgument")
        gpu = self.gpus[handle]
        if self.animate and gpu.processes:
            return int(gpu.temperature_c + 20 * self._wave(handle))
        return int(gpu.temperature_c)

    def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
        self._fail(handle, "power_w")
        gpu = self.gpus[handle]
        watts = gpu.power_w
        if self.animate and gpu.processes:
            watts = gpu.power_w + (gpu.power_limit_w - gpu.power_w) * 0.6 * self._wave(handle)
        return int(watts * 1000)  # NVML reports milliwatts

    def nvmlDeviceGetEnforcedPowerLimit(self, handle: int) -> int:
        self._fail(handle, "power_limit_w")
        return int(self.gpus[handle].power_limit_w * 1000)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[SimpleNamespace]:
        self._fail(handle, "processes")
        return [SimpleNamespace(pid=pid, usedGpuMemory=used) for pid, used in self.gpus[handle].processes]

    def nvmlDeviceGetGraphicsRunningProcesses(self, handle: int) -> list[SimpleNamespace]:
        self._fail(handle, "processes")
        return []

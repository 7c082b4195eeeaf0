"""GPU and host telemetry: NVML sampling, a fake NVML for tests, polling, gpu.jsonl.

Typical supervisor use::

    backend = open_backend()          # None when there is no NVML/driver
    if backend is not None:
        write_gpu_jsonl(run_dir / "gpu.jsonl", backend.sample(indices))

Nothing here imports Textual or torch.
"""

from workbench.telemetry.backend import (
    FAKE_ENV,
    GpuBackend,
    NvmlBackend,
    open_backend,
    open_backend_with_reason,
)
from workbench.telemetry.jsonl import read_gpu_jsonl, write_gpu_jsonl
from workbench.telemetry.mapping import (
    ProcessMatch,
    map_processes_to_runs,
    memory_by_run,
    parse_visible_devices,
)
from workbench.telemetry.poller import GpuPoller, PollerSnapshot
from workbench.telemetry.samples import GpuProcess, GpuSample, HostSample, host_sample

__all__ = [
    "FAKE_ENV",
    "GpuBackend",
    "GpuPoller",
    "GpuProcess",
    "GpuSample",
    "HostSample",
    "NvmlBackend",
    "PollerSnapshot",
    "ProcessMatch",
    "host_sample",
    "map_processes_to_runs",
    "memory_by_run",
    "open_backend",
    "open_backend_with_reason",
    "parse_visible_devices",
    "read_gpu_jsonl",
    "write_gpu_jsonl",
]

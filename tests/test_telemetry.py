"""GPU telemetry: the NVML sampling code run against a fake pynvml, polling, run mapping."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pynvml
import pytest

from workbench.errors import ConfigError
from workbench.telemetry import (
    FAKE_ENV,
    GpuPoller,
    GpuProcess,
    GpuSample,
    NvmlBackend,
    host_sample,
    map_processes_to_runs,
    memory_by_run,
    open_backend,
    open_backend_with_reason,
    parse_visible_devices,
    read_gpu_jsonl,
    write_gpu_jsonl,
)
from workbench.telemetry.fake import FakeGpu, FakeNvml

GiB = 1024**3


def _spec(tmp_path, data) -> str:
    path = tmp_path / "gpus.json"
    path.write_text(json.dumps(data))
    return str(path)


SPEC = {
    "gpus": [
        {"name": "NVIDIA A100-SXM4-80GB", "uuid": "GPU-aaaa-0", "mem_total_bytes": 80 * GiB,
         "mem_used_bytes": 30 * GiB, "util_percent": 97, "temperature_c": 66, "power_w": 312.5,
         "power_limit_w": 400, "processes": [{"pid": 111, "used_bytes": 20 * GiB},
                                              {"pid": 112, "used_bytes": 10 * GiB}]},
        {"name": "NVIDIA A100-SXM4-80GB", "uuid": "GPU-bbbb-1", "util_percent": 5,
         "power_w": 60, "errors": {"power_w": "NotSupported", "temperature_c": "NoPermission"}},
    ]
}


def test_fake_multi_gpu_sampling_with_field_errors(tmp_path, monkeypatch):
    monkeypatch.setenv(FAKE_ENV, _spec(tmp_path, SPEC))
    backend = open_backend()
    assert isinstance(backend, NvmlBackend)
    try:
        s0, s1 = backend.sample()
    finally:
        backend.close()
    assert (s0.index, s0.name, s0.uuid) == (0, "NVIDIA A100-SXM4-80GB", "GPU-aaaa-0")
    assert s0.util_percent == 97.0 and s0.temperature_c == 66.0
    assert s0.power_w == pytest.approx(312.5) and s0.power_limit_w == pytest.approx(400.0)
    assert s0.mem_percent == pytest.approx(37.5)
    assert s0.processes == [GpuProcess(111, 20 * GiB), GpuProcess(112, 10 * GiB)]
    assert s0.errors == {}
    # Unsupported fields are None with the NVML reason; the others are still read.
    assert s1.power_w is None and s1.temperature_c is None
    assert s1.errors == {"power_w": "Not Supported", "temperature_c": "Insufficient Permissions"}
    assert s1.util_percent == 5.0 and s1.power_limit_w is not None
    assert s1.processes == []


def test_injected_errors_go_through_real_pynvml_exceptions():
    fake = FakeNvml([FakeGpu(uuid="GPU-x"), FakeGpu(uuid="GPU-y")])
    backend = NvmlBackend.open(fake)
    fake.set_error(1, "device", "GpuIsLost")
    fake.set_error(0, "processes", "NotSupported")
    s0, s1 = backend.sample()
    assert s0.processes is None and "processes" in s0.errors
    assert s0.name == "NVIDIA H100 80GB HBM3"
    assert s1.name is None and s1.util_percent is None and s1.errors == {"device": "GPU is lost"}
    fake.set_error(1, "device", None)
    assert backend.sample([1])[0].name is not None
    # An index the machine does not have is reported, not raised.
    (bad,) = backend.sample([7])
    assert bad.name is None and "index" in bad.errors
    backend.close()
    assert fake.initialised == 0
    with pytest.raises(RuntimeError):
        backend.sample()


def test_nvml_without_a_driver_gives_no_backend(monkeypatch):
    """The real pynvml module whose library cannot load (a machine without a driver): no backend, a reason."""
    monkeypatch.delenv(FAKE_ENV, raising=False)

    def no_driver() -> None:
        raise pynvml.NVMLError(pynvml.NVML_ERROR_LIBRARY_NOT_FOUND)

    monkeypatch.setattr(pynvml, "nvmlInit", no_driver)
    backend, reason = open_backend_with_reason()
    assert backend is None and "NVML" in reason
    assert open_backend("nvml") is None


def test_fake_init_error_behaves_like_missing_driver(tmp_path):
    spec = _spec(tmp_path, {"init_error": "DriverNotLoaded", "gpus": []})
    backend, reason = open_backend_with_reason(f"fake:{spec}")
    assert backend is None and "Driver Not Loaded" in reason


def test_bad_specs_name_the_field(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"gpus\[0\]\.util_percent"):
        FakeNvml.from_spec(_spec(tmp_path, {"gpus": [{"util_percent": "high"}]}))
    with pytest.raises(ConfigError, match="unknown NVML error name"):
        FakeNvml.from_spec(_spec(tmp_path, {"gpus": [{"errors": {"power_w": "Nope"}}]}))
    bad = tmp_path / "broken.json"
    bad.write_text('{"gpus": [\n  {"name": }\n]}')
    with pytest.raises(ConfigError, match=r"broken\.json:2"):
        FakeNvml.from_spec(str(bad))
    monkeypatch.setenv(FAKE_ENV, str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match="WORKBENCH_FAKE_GPUS"):
        open_backend()
    with pytest.raises(ConfigError, match="unknown GPU backend"):
        open_backend("cuda")


def test_poller_history_is_bounded_and_thread_safe():
    backend = NvmlBackend.open(FakeNvml.from_spec("2"))
    poller = GpuPoller(backend, interval=0.001, history=5, include_host=False)
    for _ in range(12):
        poller.poll_once()
    snap = poller.snapshot()
    assert snap.polls == 12
    assert sorted(snap.history) == [0, 1]
    assert all(len(h) == 5 for h in snap.history.values())
    assert [s.index for s in snap.latest] == [0, 1]
    # The bounded history keeps the newest samples, in order.
    times = [s.time for s in snap.history[0]]
    assert times == sorted(times)
    updates = []
    poller.on_update = lambda: updates.append(1)
    with poller:
        deadline = time.monotonic() + 5
        while len(updates) < 10 and time.monotonic() < deadline:
            poller.snapshot()
            time.sleep(0.001)
    assert not poller.running and len(updates) >= 10
    assert all(len(h) == 5 for h in poller.snapshot().history.values())
    backend.close()


def test_poller_survives_backend_failure_and_polls_host_without_gpu():
    fake = FakeNvml([FakeGpu()])
    backend = NvmlBackend.open(fake)
    poller = GpuPoller(backend, history=3)
    poller.poll_once()
    backend.close()  # sampling a closed backend raises
    poller.poll_once()
    snap = poller.snapshot()
    assert snap.error and "closed" in snap.error
    assert len(snap.latest) == 1  # the last good reading is kept
    host_only = GpuPoller(None, history=2)
    for _ in range(3):
        host_only.poll_once()
    snap = host_only.snapshot()
    assert snap.latest == [] and snap.error is None and len(snap.host_history) == 2
    assert snap.host.mem_total_bytes > 0 and 0 <= snap.host.cpu_percent <= 100


def test_host_sample():
    h = host_sample(interval=0.05)
    assert len(h.cpu_percent_per_core) == (os.cpu_count() or len(h.cpu_percent_per_core))
    assert 0 < h.mem_used_bytes < h.mem_total_bytes
    assert h.to_json()["cpu_percent"] == h.cpu_percent


def _sample(index, pids, uuid=None):
    return GpuSample(index=index, uuid=uuid or f"GPU-{index:04d}", processes=[GpuProcess(p, 1000 * p) for p in pids])


def test_map_processes_by_pid():
    samples = [_sample(0, [501, 777]), _sample(1, [502])]
    runs = [{"id": "run-a", "pids": [500, 501, 502], "cuda_visible_devices": "0,1"},
            {"id": "run-b", "pids": [900], "cuda_visible_devices": "1"}]
    matches = map_processes_to_runs(samples, runs, expand_descendants=False)
    got = {(m.gpu_index, m.pid): (m.run_id, m.how) for m in matches}
    assert got[(0, 501)] == ("run-a", "pid")
    assert got[(1, 502)] == ("run-a", "pid")
    # run-b's pids are not on any GPU and it claims GPU 1, but 777 is on GPU 0: unknown.
    assert got[(0, 777)] == (None, "unmatched")
    assert memory_by_run(matches) == {"run-a": {0: 501_000, 1: 502_000}}


def test_map_processes_by_visible_devices_when_pids_differ():
    # NVML reports host pids (40001...) for a job whose own pids are container pids (7, 8).
    samples = [_sample(0, [40001]), _sample(1, [40002]), _sample(2, [40003]), _sample(3, [40004], uuid="GPU-beef-3")]
    runs = [
        {"id": "run-a", "pids": [7], "cuda_visible_devices": "0,1"},
        {"id": "run-b", "pids": [8], "cuda_visible_devices": "GPU-beef"},
        {"id": "run-c", "pids": [9], "cuda_visible_devices": None},
    ]
    got = {m.gpu_index: (m.run_id, m.how) for m in map_processes_to_runs(samples, runs, expand_descendants=False)}
    assert got == {0: ("run-a", "device"), 1: ("run-a", "device"), 2: (None, "unmatched"), 3: ("run-b", "device")}
    # Two runs claiming the same device cannot be told apart.
    runs.append({"id": "run-d", "pids": [10], "cuda_visible_devices": "1"})
    m1 = [m for m in map_processes_to_runs(samples, runs, expand_descendants=False) if m.gpu_index == 1][0]
    assert m1.run_id is None and m1.how == "ambiguous" and set(m1.candidates) == {"run-a", "run-d"}


def test_map_processes_counts_descendants_of_run_pids():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        samples = [_sample(0, [child.pid])]
        runs = [{"id": "me", "pids": [os.getpid()], "cuda_visible_devices": None}]
        (m,) = map_processes_to_runs(samples, runs)
        assert (m.run_id, m.how) == ("me", "pid")
        (m,) = map_processes_to_runs(samples, runs, expand_descendants=False)
        assert m.run_id is None
    finally:
        child.kill()
        child.wait()


def test_parse_visible_devices():
    samples = [_sample(0, [], uuid="GPU-1234-aaaa"), _sample(1, [], uuid="GPU-5678-bbbb")]
    assert parse_visible_devices(None, samples) is None
    assert parse_visible_devices("", samples) == set()
    assert parse_visible_devices("1, 0", samples) == {0, 1}
    assert parse_visible_devices("GPU-5678", samples) == {1}
    assert parse_visible_devices("0,-1,1", samples) == {0}  # CUDA stops at an invalid entry


def test_gpu_jsonl_round_trip(tmp_path):
    backend = NvmlBackend.open(FakeNvml.from_json(SPEC))
    path = tmp_path / "gpu.jsonl"
    assert write_gpu_jsonl(path, backend.sample([0, 1])) == 2
    assert write_gpu_jsonl(path, backend.sample([1])) == 1
    backend.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert first["time"] > 0 and first["index"] == 0 and first["processes"][0]["pid"] == 111
    with path.open("a") as fh:
        fh.write('{"index": 0, "ti')  # a writer caught mid-line
    back = read_gpu_jsonl(path)
    assert [s.index for s in back] == [0, 1, 1]
    assert back[1].power_w is None and back[1].errors["power_w"] == "Not Supported"
    assert back[0].processes[1] == GpuProcess(112, 10 * GiB)

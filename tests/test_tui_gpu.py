"""GPU panel: fake multi-GPU data (the telemetry fake NVML), process-to-run mapping, no-NVML mode."""

from __future__ import annotations

import json
import os
import time

import pytest

from tests.test_tui_app import app_for, wait_until, ws  # noqa: F401 - fixture
from tests.test_tui_support import make_run
from workbench.errors import ConfigError
from workbench.telemetry import GpuSample
from workbench.tui.widgets.gpu_panel import GpuPanel, gpu_card_text, poll_interval

SIZE = (80, 24)
GiB = 1024**3


def panel_text(panel: GpuPanel) -> str:
    return "\n".join(str(s.render()) for s in panel.query("Static"))


async def test_fake_gpus_render_with_history_and_processes_mapped_to_runs(ws, monkeypatch, tmp_path):
    # One of our (fabricated) running runs owns pid os.getpid(): NVML reports it on GPU 1.
    make_run(ws, "20250101-000001-owner", status="running", logged=5)
    spec = {"gpus": [
        {"name": "NVIDIA H100 80GB HBM3", "util_percent": 91, "mem_used_bytes": 40 * GiB, "mem_total_bytes": 80 * GiB,
         "temperature_c": 66, "power_w": 510, "power_limit_w": 700},
        {"util_percent": 55, "mem_used_bytes": 12 * GiB, "processes": [{"pid": os.getpid(), "used_bytes": 12 * GiB}]},
        {"util_percent": 0, "errors": {"power_w": "NotSupported"}},
    ]}
    spec_path = tmp_path / "gpus.json"
    spec_path.write_text(json.dumps(spec))
    monkeypatch.setenv("WORKBENCH_FAKE_GPUS", str(spec_path))
    app = app_for(ws, gpu_poll=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        panel = app.screen.query_one(GpuPanel)
        await wait_until(pilot, lambda: panel.last_snapshot is not None and len(panel.last_snapshot.history.get(0, [])) >= 3,
                         what="three polls")
        text = panel_text(panel)
        assert "3 GPUs" in text
        assert "GPU 0  NVIDIA H100 80GB HBM3" in text and "GPU 2" in text
        assert " 91%" in text and "40.0G/80.0G" in text and "66°C" in text and "510/700 W" in text
        assert "power_w: Not Supported" in text and "power N/A" in text
        procs = panel.query_one("#gpu-procs")
        await wait_until(pilot, lambda: procs.display and procs.row_count == 1, what="process row")
        row = [str(c) for c in procs.get_row_at(0)]
        assert row[:2] == ["1", str(os.getpid())] and row[3] == "20250101-000001-owner" and row[4] == "pid"


async def test_without_nvml_the_panel_shows_cpu_and_ram(ws):
    app = app_for(ws, gpu_poll=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        panel = app.screen.query_one(GpuPanel)
        await wait_until(pilot, lambda: panel.last_snapshot is not None and panel.last_snapshot.host is not None)
        assert panel.backend is None
        text = panel_text(panel)
        assert "No GPU telemetry" in text and panel.reason and panel.reason in text
        assert "CPU  " in text and "RAM  " in text and "cores" in text
        assert not panel.query_one("#gpu-procs").display


async def test_a_bad_fake_spec_is_reported_not_fatal(ws, monkeypatch):
    monkeypatch.setenv("WORKBENCH_FAKE_GPUS", "/nonexistent/spec.json")
    app = app_for(ws, gpu_poll=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        panel = app.screen.query_one(GpuPanel)
        await wait_until(pilot, lambda: panel.last_snapshot is not None)
        assert "WORKBENCH_FAKE_GPUS" in panel_text(panel)


async def test_run_detail_gpu_tab_reads_gpu_jsonl(ws):
    run_dir = make_run(ws, "r1")
    now = time.time()
    with open(run_dir / "gpu.jsonl", "w") as f:
        for i in range(5):
            for idx in (0, 1):
                s = GpuSample(index=idx, name="NVIDIA A100", util_percent=20.0 * i, mem_used_bytes=(i + 1) * GiB,
                              mem_total_bytes=40 * GiB, temperature_c=50.0, power_w=200.0, time=now + i)
                f.write(json.dumps(s.to_json()) + "\n")
    app = app_for(ws, select_run="r1")
    async with app.run_test(size=SIZE) as pilot:
        from workbench.tui.screens.detail import RunDetailScreen

        screen = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen)
        await wait_until(pilot, lambda: len(screen.gpu) == 2)
        await pilot.press("g")
        text = str(screen.query_one("#run-gpu").render())
        assert "GPU 0  NVIDIA A100" in text and "GPU 1" in text and " 80%" in text and "5.0G/40.0G" in text


def test_gpu_card_history_line_scales_util():
    hist = [GpuSample(index=0, util_percent=u, mem_used_bytes=1, mem_total_bytes=2) for u in (0, 50, 100)]
    text = gpu_card_text(hist[-1], hist, width=3)
    assert "▁▄█" in text and "N/A" in text  # no temperature/power reported


def test_poll_interval_from_argument_env_and_bad_values(monkeypatch):
    monkeypatch.delenv("WORKBENCH_GPU_POLL", raising=False)
    assert poll_interval() == 1.0
    monkeypatch.setenv("WORKBENCH_GPU_POLL", "2.5")
    assert poll_interval() == 2.5
    assert poll_interval(0.01) == 0.1
    monkeypatch.setenv("WORKBENCH_GPU_POLL", "fast")
    with pytest.raises(ConfigError, match="WORKBENCH_GPU_POLL"):
        poll_interval()

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
from tests.tui_screen import screen_lines
from workbench.tui.widgets.gpu_panel import GpuPanel, gpu_line, history_line, poll_interval

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
        assert "0 H100 80GB" in text and "\n2 " in text
        assert " 91%" in text and "40.0/80.0G" in text and "66°C" in text and "510/700W" in text
        assert "⚠ power_w" in text and "N/A" in text
        procs = panel.query_one("#gpu-procs")
        await wait_until(pilot, lambda: procs.row_count == 1, what="process row")
        row = [str(c) for c in procs.get_row_at(0)]
        import psutil

        me = psutil.Process()
        assert row[:4] == ["1", str(os.getpid()), me.username(), "12.0G"]
        assert row[6] == "20250101-000001-owner" and "pytest" in row[7]  # its run and its command
        assert row[5].endswith(("M", "G")) and row[4] != "-"  # host memory and CPU of the process


async def test_without_nvml_the_panel_shows_cpu_and_ram(ws):
    app = app_for(ws, gpu_poll=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        panel = app.screen.query_one(GpuPanel)
        await wait_until(pilot, lambda: panel.last_snapshot is not None and panel.last_snapshot.host is not None)
        assert panel.backend is None
        text = panel_text(panel)
        assert "No GPU telemetry" in text and panel.reason and panel.reason in text
        assert "CPU  " in text and "RAM  " in text and "per core" in text
        assert panel.query_one("#gpu-procs").row_count == 0


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
        assert "0 A100" in text and "\n1 A100" in text and " 80%" in text and "5.0/40.0G" in text


async def test_run_detail_gpu_tab_keeps_one_line_per_gpu_and_its_threshold_marks(ws):
    run_dir = make_run(ws, "r1")
    now = time.time()
    with open(run_dir / "gpu.jsonl", "w") as f:
        for i in range(3):
            hot = GpuSample(index=0, name="NVIDIA A100-SXM4-40GB", util_percent=12.0, mem_used_bytes=39 * GiB,
                            mem_total_bytes=40 * GiB, temperature_c=88.0, power_w=395.0, power_limit_w=400.0,
                            time=now + i)
            mute = GpuSample(index=1, name="NVIDIA GeForce RTX 4090", util_percent=0.0, mem_used_bytes=0,
                             mem_total_bytes=24 * GiB, power_limit_w=450.0, time=now + i,
                             errors={"temperature_c": "Insufficient Permissions", "power_w": "Not Supported"})
            f.write(json.dumps(hot.to_json()) + "\n" + json.dumps(mute.to_json()) + "\n")
    app = app_for(ws, select_run="r1")
    async with app.run_test(size=SIZE) as pilot:
        from workbench.tui.screens.detail import RunDetailScreen

        screen = await wait_until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen)
        await wait_until(pilot, lambda: len(screen.gpu) == 2)
        await pilot.press("g")
        await pilot.pause(0.2)
        panel = screen.query_one("#run-gpu")
        lines = [ln.rstrip() for ln in screen_lines(app)[panel.region.y:panel.region.bottom]]
        gpu_rows = [ln for ln in lines if ln.lstrip()[:2] in ("0 ", "1 ")]
        utils = [ln for ln in lines if ln.lstrip().startswith("util")]
        assert len(gpu_rows) == 2 and len(utils) == 2, lines  # nothing wrapped onto a line of its own
        assert "39.0/40.0G!!" in gpu_rows[0] and "88°C!!" in gpu_rows[0] and "395/400W!!" in gpu_rows[0]
        assert not [ln for ln in lines if ln and ln not in gpu_rows and ln not in utils], lines
        styles = {str(span.style) for span in panel.render().spans}
        assert any("red" in st for st in styles), styles  # critical readings keep their colour


def test_gpu_names_keep_their_memory_size_and_are_never_cut_silently():
    from workbench.tui.widgets.gpu_panel import short_name

    assert short_name("NVIDIA A100-SXM4-40GB") == "A100-40GB"  # was 'A100-SXM4-40'
    assert short_name("Tesla V100-SXM2-32GB") == "V100-32GB"  # was 'Tesla V100-S'
    assert short_name("NVIDIA H100 80GB HBM3") == "H100 80GB"
    assert short_name("NVIDIA RTX 6000 Ada Generation") == "RTX 6000 Ad…"
    assert short_name("NVIDIA GeForce RTX 3090 Ti", 9) == "RTX 3090…"


def test_gpu_history_line_scales_util():
    hist = [GpuSample(index=0, util_percent=u, mem_used_bytes=1, mem_total_bytes=2) for u in (0, 50, 100)]
    assert history_line(0, hist, 5) == "0 ▁▄█"
    assert "N/A" in gpu_line(hist[-1]).plain  # no temperature/power reported


def test_thresholds_mark_hot_and_power_capped_gpus_without_colour():
    hot = GpuSample(index=3, name="NVIDIA H100", util_percent=99, mem_used_bytes=79 * GiB, mem_total_bytes=80 * GiB,
                    temperature_c=89, power_w=396, power_limit_w=400)
    cool = GpuSample(index=4, name="NVIDIA H100", util_percent=10, mem_used_bytes=1 * GiB, mem_total_bytes=80 * GiB,
                     temperature_c=50, power_w=100, power_limit_w=400)
    line = gpu_line(hot)
    assert "89°C!!" in line.plain and "396/400W!!" in line.plain and "79.0/80.0G!!" in line.plain
    assert "!" not in gpu_line(cool).plain
    styles = {str(span.style) for span in line.spans}
    assert any("red" in st for st in styles)


async def test_eight_gpus_fit_80x24_with_history(ws, monkeypatch):
    monkeypatch.setenv("WORKBENCH_FAKE_GPUS", "8")
    app = app_for(ws, gpu_poll=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        panel = app.screen.query_one(GpuPanel)
        await wait_until(pilot, lambda: panel.last_snapshot is not None and len(panel.history.get(7, [])) >= 3)
        await pilot.pause(0.3)
        lines = screen_lines(app)
        gpu_rows = [ln for ln in lines if "°C" in ln and "GPUs ·" not in ln]
        assert [ln.split()[0] for ln in gpu_rows] == [str(i) for i in range(8)], lines
        assert all(ln.rstrip().endswith("W") for ln in gpu_rows), "no line cut"
        hist_rows = [ln for ln in lines if ln.strip()[:2] in {f"{i} " for i in range(8)} and "°C" not in ln
                     and any(ch in "▁▂▃▄▅▆▇█" for ch in ln)]
        assert len(hist_rows) == 8, lines
        assert any("util history" in ln for ln in lines)


async def test_stop_a_process_run_from_the_gpu_view(ws, monkeypatch, tmp_path):
    import subprocess
    import sys

    from workbench.runs.store import process_start_time

    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        run_dir = make_run(ws, "20250101-000001-gpujob", status="running", logged=5, supervisor_pid=sleeper.pid,
                           supervisor_start=process_start_time(sleeper.pid))
        spec = {"gpus": [{"processes": [{"pid": sleeper.pid, "used_bytes": 3 * GiB}]}]}
        (tmp_path / "g.json").write_text(json.dumps(spec))
        monkeypatch.setenv("WORKBENCH_FAKE_GPUS", str(tmp_path / "g.json"))
        app = app_for(ws, gpu_poll=0.1)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("2")
            panel = app.screen.query_one(GpuPanel)
            procs = panel.query_one("#gpu-procs")
            await wait_until(pilot, lambda: procs.row_count == 1 and panel.proc_rows[0]["run_id"], timeout=15)
            await pilot.press("x")
            from workbench.tui.screens.dialogs import ConfirmScreen

            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await wait_until(pilot, lambda: (run_dir / "stop.request").exists(), what="stop request")
    finally:
        sleeper.kill()
        sleeper.wait()


async def test_gpu_history_survives_closing_the_tui(ws, monkeypatch):
    monkeypatch.setenv("WORKBENCH_FAKE_GPUS", "2")
    app = app_for(ws, gpu_poll=0.1)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        panel = app.screen.query_one(GpuPanel)
        await wait_until(pilot, lambda: len(panel.history.get(1, [])) >= 5)
        before = len(panel.history[1])
    assert (ws / ".workbench" / "gpu.jsonl").exists()
    app = app_for(ws, gpu_poll=5)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        panel = app.screen.query_one(GpuPanel)
        await wait_until(pilot, lambda: panel.poller is not None)
        assert len(panel.history[1]) >= before  # the earlier session's samples are back


async def test_gpu_history_shows_only_this_machines_gpus(ws, monkeypatch):
    # a demo with 8 fake GPUs (or another machine sharing the workspace) wrote the history first
    now = time.time()
    (ws / ".workbench").mkdir()
    with open(ws / ".workbench" / "gpu.jsonl", "w") as f:
        for t in range(3):
            for i in range(8):
                other = GpuSample(index=i, name="NVIDIA A100", uuid=f"GPU-0ther-{i}", util_percent=100.0,
                                  mem_used_bytes=0, mem_total_bytes=40 * GiB, time=now - 100 + t)
                f.write(json.dumps(other.to_json()) + "\n")
    monkeypatch.setenv("WORKBENCH_FAKE_GPUS", "2")
    app = app_for(ws, gpu_poll=5)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        panel = app.screen.query_one(GpuPanel)
        await wait_until(pilot, lambda: panel.poller is not None)
        await wait_until(pilot, lambda: panel.history)
        assert sorted(panel.history) == [0, 1]  # not GPUs 2-7 of the other machine
        assert all(s.uuid.startswith("GPU-fa4e") for h in panel.history.values() for s in h)


def test_poll_interval_from_argument_env_and_bad_values(monkeypatch):
    monkeypatch.delenv("WORKBENCH_GPU_POLL", raising=False)
    assert poll_interval() == 1.0
    monkeypatch.setenv("WORKBENCH_GPU_POLL", "2.5")
    assert poll_interval() == 2.5
    assert poll_interval(0.01) == 0.1
    monkeypatch.setenv("WORKBENCH_GPU_POLL", "fast")
    with pytest.raises(ConfigError, match="WORKBENCH_GPU_POLL"):
        poll_interval()


def test_gpu_history_reads_only_whole_samples_from_its_tail(tmp_path):
    """The GPU panel's history file: its last samples per GPU, a torn last line and the cut first
    line of the tail skipped (read with the one run-file reader's tail_jsonl)."""
    from workbench.telemetry import open_backend, write_gpu_jsonl
    from workbench.tui.widgets.gpu_panel import read_history

    backend = open_backend("fake:2")
    path = tmp_path / "gpu-history.jsonl"
    while not path.exists() or path.stat().st_size < (1 << 20) + 4096:
        write_gpu_jsonl(path, backend.sample())
    with open(path, "a") as f:
        f.write('{"index": 0, "name": "torn')
    history = read_history(path, keep=5)
    assert sorted(history) == [0, 1] and all(len(v) == 5 for v in history.values())
    assert history[0][-1].time == max(s.time for s in history[0])

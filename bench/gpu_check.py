"""The GPU check: what only a real GPU shows, in one script (run it when a GPU is at hand).

1. NVML: the real backend samples every GPU; the TUI's GPU panel renders them headless.
2. The presets on the GPU: sft (mixed_precision auto -> bf16), sft-lora, sft-qlora (4-bit, bf16 compute),
   dpo: each completes; records steps/s and the peak memory the worker measured.
3. The VRAM estimate of each preset vs that peak (torch.cuda.max_memory_allocated()).
Then bench/bench_vram_gpu.py does the same on a ~1B model. Prints a summary; exits 0 without a GPU.
Usage: python bench/gpu_check.py [--steps 30] [--skip-vram-bench]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "sample_data" / "configs"
PRESETS = {
    "sft": [],
    "sft-lora": [],
    "sft-qlora": ["--set", "quantization.compute_dtype=bfloat16"],
    "dpo": [],
}


def nvml_check() -> list[str]:
    from workbench.telemetry import open_backend

    backend = open_backend()
    if backend is None:
        return []
    lines = []
    for s in backend.sample():
        lines.append(f"GPU {s.index} {s.name}: util {s.util_percent}% mem {s.mem_used_bytes}/{s.mem_total_bytes} "
                     f"temp {s.temperature_c} C power {s.power_w} W, {len(s.processes or [])} processes")
    backend.close()
    return lines


async def panel_screenshot(path: Path) -> Path:
    """The GPUs tab of the real app on the real NVML backend, saved as an SVG screenshot."""
    from workbench.tui.app import WorkbenchApp

    app = WorkbenchApp(workspace=Path(tempfile.mkdtemp()))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await pilot.pause(2.5)
        app.save_screenshot(filename=path.name, path=str(path.parent))
    return path


def run_preset(name: str, extra: list[str], steps: int, workspace: Path) -> dict:
    env = dict(os.environ, WORKBENCH_WORKSPACE=str(workspace))
    started = time.time()
    proc = subprocess.run([sys.executable, "-m", "workbench", "run", str(CONFIGS / f"{name}.toml"),
                           "--set", f"trainer.args.max_steps={steps}", "--name", f"gpu-{name}", *extra],
                          env=env, capture_output=True, text=True)
    runs = sorted((workspace / "runs").iterdir())
    run_dir = runs[-1]
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    peak = next((e["bytes"] for e in events if e["event"] == "peak_memory"), None)
    end = next((e for e in events if e["event"] == "train_end"), {})
    ready = next((e for e in events if e["event"] == "data_ready"), {})
    est = subprocess.run([sys.executable, "-m", "workbench", "estimate", str(CONFIGS / f"{name}.toml"), "--json"],
                         capture_output=True, text=True, env=env)
    estimate = None
    try:
        report = json.loads(est.stdout)
        # max_memory_allocated() counts tensors only: leave out the CUDA context allowance.
        estimate = report["total_bytes"] - report["breakdown"].get("cuda_overhead", 0)
    except (json.JSONDecodeError, KeyError, TypeError):
        pass
    return {"preset": name, "rc": proc.returncode, "wall_s": round(time.time() - started, 1),
            "steps_per_s": end.get("train_steps_per_second"), "mixed_precision": ready.get("mixed_precision"),
            "peak_bytes": peak, "estimate_bytes": estimate, "dir": str(run_dir)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--skip-vram-bench", action="store_true")
    args = parser.parse_args()
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    if not has_gpu:
        print("skipped: no CUDA GPU")
        return 0
    print("== NVML ==")
    for line in nvml_check() or ["NVML unavailable"]:
        print(line)
    print("== GPU panel (headless, 80x24) ==")
    print("screenshot:", asyncio.run(panel_screenshot(Path(tempfile.mkdtemp()) / "gpus.svg")))
    print("== presets on the GPU ==")
    workspace = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    for name, extra in PRESETS.items():
        r = run_preset(name, extra, args.steps, workspace)
        ratio = (f"{r['estimate_bytes'] / r['peak_bytes']:.2f}" if r["estimate_bytes"] and r["peak_bytes"] else "-")
        print(json.dumps(r), f"estimate/peak {ratio}", flush=True)
    if not args.skip_vram_bench:
        print("== bench_vram_gpu ==", flush=True)
        subprocess.run([sys.executable, str(REPO / "bench" / "bench_vram_gpu.py")])
    return 0


if __name__ == "__main__":
    sys.exit(main())

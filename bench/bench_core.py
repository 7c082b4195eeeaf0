"""Workbench overhead: the same SFT job through `workbench run` and as a plain TRL script.

Both are launched with `accelerate launch` in fresh processes, alternating, N rounds.
Prints the ratio of training steps/s (goal >= 0.98) and the extra wall time including
start-up (goal <= +1.5 s). Usage: python bench/bench_core.py [--steps 200] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data"
ACCELERATE = str(Path(sys.executable).parent / "accelerate")


def run_workbench(steps: int, workspace: Path) -> tuple[float, float]:
    env = dict(os.environ, WORKBENCH_WORKSPACE=str(workspace))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "workbench", "run", str(SAMPLE / "configs" / "sft.toml"),
                    "--set", f"trainer.args.max_steps={steps}", "--set", "trainer.args.save_steps=100000"],
                   check=True, env=env, capture_output=True)
    wall = time.perf_counter() - start
    runs = sorted((workspace / "runs").iterdir())
    events = [json.loads(line) for line in (runs[-1] / "events.jsonl").read_text().splitlines()]
    end = next(e for e in events if e["event"] == "train_end")
    return end["train_steps_per_second"], wall


def run_plain(steps: int, out: Path) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.run([ACCELERATE, "launch", "--num_processes", "1", "--num_machines", "1", "--mixed_precision",
                           "no", "--dynamo_backend", "no", str(REPO / "bench" / "plain_trl_sft.py"),
                           str(SAMPLE / "models" / "tiny-llama"), str(SAMPLE / "data" / "sft-messages.jsonl"),
                           str(out), str(steps)], check=True, capture_output=True, text=True)
    wall = time.perf_counter() - start
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[7:])["train_steps_per_second"], wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="60 steps, 1 round")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.rounds = 60, 1
    wb, plain = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.rounds):
            plain.append(run_plain(args.steps, Path(tmp) / f"plain{i}"))
            wb.append(run_workbench(args.steps, Path(tmp) / f"ws{i}"))
            print(f"round {i + 1}: plain {plain[-1][0]:.1f} steps/s {plain[-1][1]:.2f} s wall | "
                  f"workbench {wb[-1][0]:.1f} steps/s {wb[-1][1]:.2f} s wall", flush=True)
    sps_ratio = statistics.median(w[0] for w in wb) / statistics.median(p[0] for p in plain)
    extra = statistics.median(w[1] for w in wb) - statistics.median(p[1] for p in plain)
    print(f"steps/s ratio workbench/plain TRL: {sps_ratio:.3f}  (goal >= 0.98)")
    print(f"wall time incl. start-up: workbench {statistics.median(w[1] for w in wb):.2f} s, plain "
          f"{statistics.median(p[1] for p in plain):.2f} s, extra {extra:+.2f} s  (goal <= +1.5 s)")


if __name__ == "__main__":
    main()

"""Workbench overhead on short jobs: the same 30-step tiny SFT / LoRA job four ways, interleaved.

Sides, each a fresh process per round: `python plain_trl_sft.py` (what a user would type
instead), the same script under `accelerate launch`, `workbench run` in a workspace whose
tokenization cache is warm (the second and later runs on the same data), and `workbench
run` in a fresh workspace (cold cache). Prints min / median / max of wall time and training
steps/s per side and of the ratios to plain `python`, and how often the warm runs found
their tokenized data in the cache (event `data_cache` in events.jsonl).

Goals (issue 12): workbench wall <= plain python + 1.0 s and steps/s >= 0.98x (medians of
5 interleaved rounds).

    python bench/bench_core.py [--rounds 5] [--steps 30] [--cases sft lora] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Bench, add_arguments  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data"
ACCELERATE = str(Path(sys.executable).parent / "accelerate")
CASES = {  # preset, learning rate, LoRA, warmup steps: the plain script mirrors the preset
    "sft": ("sft.toml", 3e-3, False, 2),
    "lora": ("sft-lora.toml", 1e-2, True, 0),
}
ENV = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))


def read_events(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines() if line.strip()]


def workbench_side(case: str, steps: int, workspace: Path, stats: dict) -> dict[str, float]:
    env = dict(ENV, WORKBENCH_WORKSPACE=str(workspace))
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "workbench", "run", str(SAMPLE / "configs" / CASES[case][0]),
                    "--set", f"trainer.args.max_steps={steps}", "--set", "trainer.args.save_steps=100000"],
                   check=True, env=env, capture_output=True)
    wall = time.perf_counter() - start
    run = sorted(p for p in (workspace / "runs").iterdir() if not p.name.startswith("."))[-1]
    events = read_events(run)
    end = next(e for e in events if e["event"] == "train_end")
    cache = [e for e in events if e["event"] == "data_cache" and e.get("stage") == "tokenized"]
    stats["runs"] = stats.get("runs", 0) + 1
    stats["hits"] = stats.get("hits", 0) + sum(1 for e in cache if e.get("hit"))
    return {"wall_s": wall, "steps_per_s": end["train_steps_per_second"]}


def plain_side(case: str, steps: int, out: Path, accelerate: bool) -> dict[str, float]:
    _, lr, lora, warmup = CASES[case]
    script = [str(REPO / "bench" / "plain_trl_sft.py"), str(SAMPLE / "models" / "tiny-llama"),
              str(SAMPLE / "data" / "sft-messages.jsonl"), str(out), str(steps), str(lr),
              "lora" if lora else "full", str(warmup)]
    launcher = ([ACCELERATE, "launch", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no",
                 "--dynamo_backend", "no"] if accelerate else [sys.executable])
    start = time.perf_counter()
    proc = subprocess.run(launcher + script, check=True, capture_output=True, text=True, env=ENV)
    wall = time.perf_counter() - start
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return {"wall_s": wall, "steps_per_s": json.loads(line[7:])["train_steps_per_second"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=["sft", "lora"])
    parser.add_argument("--no-accelerate", action="store_true", help="skip the `accelerate launch` side")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-cache workbench side")
    args = parser.parse_args()
    bench = Bench("bench_core", args)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for case in args.cases:
            warm_ws, warm, cold = tmp / f"{case}-warm", {}, {}
            workbench_side(case, args.steps, warm_ws, {})  # fills the warm workspace's cache
            sides = [("python", lambda i, c=case: plain_side(c, args.steps, tmp / f"{c}-py{i}", False))]
            if not args.no_accelerate:
                sides.append(("accelerate", lambda i, c=case: plain_side(c, args.steps, tmp / f"{c}-acc{i}", True)))
            sides.append(("workbench", lambda i, c=case: workbench_side(c, args.steps, warm_ws, warm)))
            if not args.no_cold:
                sides.append(("wb-cold", lambda i, c=case: workbench_side(c, args.steps, tmp / f"{c}-cold{i}", cold)))
            result = bench.compare(f"{case} ({args.steps} steps)", *sides, metrics=["wall_s", "steps_per_s"])
            bench.print(f"tokenization cache: hit in {warm.get('hits', 0)}/{warm.get('runs', 0)} warm runs, "
                        f"{cold.get('hits', 0)}/{cold.get('runs', 0)} cold runs")
            result.check("wall_s", "workbench", diff_at_most=1.0)
            result.check("steps_per_s", "workbench", ratio_at_least=0.98)
            if not args.no_cold:
                cold_gain = [c - w for c, w in zip(result.values["wb-cold"]["wall_s"],
                                                   result.values["workbench"]["wall_s"])]
                bench.print(f"warm cache saves {min(cold_gain):+.2f} / {sorted(cold_gain)[len(cold_gain) // 2]:+.2f}"
                            f" / {max(cold_gain):+.2f} s wall against a cold run (min / median / max)")
    bench.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())

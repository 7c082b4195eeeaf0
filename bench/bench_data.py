"""Data benchmarks, each side interleaved with its baseline (min / median / max, load average).

1. Time to the first page of a JSONL file (what the Datasets tab does on open): small vs big file.
2. Full validation (`data check`'s engine) vs `datasets.load_dataset("json")` on the big file.
3. Peak RSS (and wall) of `workbench data stats` against a plain tokenizer loop over the same
   file (json.loads + apply_chat_template per line), at each size; plus `data stats` again on
   the warm cache and `data check`. Each side is a fresh process; peak RSS from wait4().

    python bench/bench_data.py                          # 20 MB / 200 MB / 1 GB (files under bench/out/)
    python bench/bench_data.py --sizes 20 --quick       # a smoke test

Goals: first page < 100 ms whatever the size; validation >= 2x faster than datasets;
data stats peak RSS <= 1.3x the plain loop at 200 MB and flat from 20 MB to 1 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Bench, add_arguments  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "sample_data" / "models" / "tiny-llama"
OUT = Path(__file__).resolve().parent / "out"
WORDS = ("the a model answer question tensor gradient batch loss token layer attention "
         "über naïve 数据 🙂 value step epoch").split()


def generate(path: Path, size_mb: int, seed: int = 0) -> int:
    """A conversational JSONL file of about size_mb MB (system prompts, multi-turn, unicode). Returns rows."""
    if path.exists() and abs(path.stat().st_size - size_mb * 2**20) < 2**20:
        return sum(1 for _ in open(path, "rb"))
    rng = random.Random(seed)
    target, rows = size_mb * 2**20, 0
    with open(path, "w", encoding="utf-8") as f:
        while f.tell() < target:
            conv = [{"role": "system", "content": "You are a helpful assistant."}] if rows % 3 == 0 else []
            for _ in range(rng.randint(1, 3)):
                conv.append({"role": "user", "content": " ".join(rng.choices(WORDS, k=rng.randint(5, 40)))})
                conv.append({"role": "assistant", "content": " ".join(rng.choices(WORDS, k=rng.randint(10, 80)))})
            f.write(json.dumps({"messages": conv}, ensure_ascii=False) + "\n")
            rows += 1
    return rows


PLAIN_LOOP = r"""
import json, sys
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(sys.argv[2])
lengths = []
with open(sys.argv[1], "rb") as f:
    for line in f:
        out = tok.apply_chat_template(json.loads(line)["messages"], tokenize=True, return_dict=True,
                                      return_assistant_tokens_mask=True)
        lengths.append(len(out["input_ids"]))
print(len(lengths), sum(lengths))
"""
ENV = dict(os.environ, OMP_NUM_THREADS="1")


RSS_WRAPPER = r"""
import os, subprocess, sys, time
t = time.perf_counter()
proc = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL)
_, status, usage = os.wait4(proc.pid, 0)
print(usage.ru_maxrss / 1024, time.perf_counter() - t, os.waitstatus_to_exitcode(status))
"""


def measured(cmd: list[str], env: dict | None = None) -> dict[str, float]:
    """Peak RSS (MB) and wall time (s) of one child process.

    A small wrapper process starts the command and reads its wait4() usage: a child forked
    straight from this (large) bench process would report this process's RSS as its peak.
    """
    out = subprocess.run([sys.executable, "-c", RSS_WRAPPER, *cmd], capture_output=True, text=True, env=env or ENV)
    try:
        rss, wall, code = out.stdout.split()
    except ValueError:
        raise SystemExit(f"{' '.join(cmd[:4])} failed:\n{out.stderr[-2000:]}") from None
    if int(code) not in (0, 1):  # data check exits 1 when rows are invalid
        raise SystemExit(f"{' '.join(cmd[:4])} exited {code}:\n{out.stderr[-2000:]}")
    return {"rss_mb": float(rss), "wall_s": float(wall)}


def first_page_ms(path: Path) -> float:
    """What the Datasets panel does on open: first page + format detection (best of 3)."""
    from workbench.data.loading import detect
    from workbench.plugin_manager import get_registry
    from workbench.tui.panels.datasets import RowSource

    formats = get_registry().data_formats.values()
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        src = RowSource(path)
        rows = src.first_page()
        detect([r.data for r in rows], formats)
        best = min(best, time.perf_counter() - t)
    return best * 1000


def bench_first_page(bench: Bench, small: Path, big: Path) -> None:
    result = bench.compare(f"first page ({small.stat().st_size >> 20} MB vs {big.stat().st_size >> 20} MB file)",
                           ("small file", lambda i: {"ms": first_page_ms(small)}),
                           ("big file", lambda i: {"ms": first_page_ms(big)}))
    goal_ok = max(result.values["big file"]["ms"]) < 100 and max(result.values["small file"]["ms"]) < 100
    bench.print(f"goal first page < 100 ms at both sizes: {'met' if goal_ok else 'NOT met'}")


def bench_validation(bench: Bench, big: Path, rounds: int) -> None:
    import datasets

    from workbench.data.validate import check_source
    from workbench.plugin_manager import get_registry

    formats = get_registry().data_formats
    check_source(str(big), formats)  # warm imports (pyarrow, numpy) and the OS file cache
    rows = sum(1 for _ in open(big, "rb"))
    datasets.disable_progress_bars()

    def theirs(i):
        cache = tempfile.mkdtemp(prefix="hf-cache-", dir=OUT)
        try:
            t = time.perf_counter()
            ds = datasets.load_dataset("json", data_files=str(big), cache_dir=cache, split="train")
            assert len(ds) == rows
            return {"seconds": time.perf_counter() - t}
        finally:
            shutil.rmtree(cache, ignore_errors=True)

    def ours(i):
        t = time.perf_counter()
        report = check_source(str(big), formats)
        assert report.total == rows and report.ok, (report.total, rows, report.bad[:3])
        return {"seconds": time.perf_counter() - t}

    saved = bench.rounds
    bench.rounds = 1 if bench.quick else rounds
    result = bench.compare(f"full validation, {rows:,} rows ({big.stat().st_size >> 20} MB)",
                           ("datasets.load_dataset", theirs), ("workbench check", ours))
    bench.rounds = saved
    result.check("seconds", ratio_at_most=0.5)


def bench_stats_memory(bench: Bench, files: list[Path], rounds_for, stats_only: int | None = None) -> None:
    py = sys.executable
    medians = {}
    with tempfile.TemporaryDirectory(prefix="bench-data-ws-") as tmp:
        for path in files:
            mb = path.stat().st_size >> 20
            state = {}

            def stats_cold(i, path=path):
                ws = Path(tmp) / f"ws-{mb}-{i}"
                state["ws"] = ws
                ws.mkdir(parents=True, exist_ok=True)
                return measured([py, "-m", "workbench", "data", "stats", str(path), "--model", str(MODEL)],
                                dict(ENV, WORKBENCH_WORKSPACE=str(ws)))

            def stats_warm(i, path=path):
                return measured([py, "-m", "workbench", "data", "stats", str(path), "--model", str(MODEL)],
                                dict(ENV, WORKBENCH_WORKSPACE=str(state["ws"])))

            saved = bench.rounds
            bench.rounds = 1 if bench.quick else rounds_for(mb)
            if stats_only and mb > stats_only:  # the plain loop's minutes add nothing to the flatness figure
                values = bench.series(f"peak RSS, {mb} MB file, data stats alone (cold cache)", stats_cold)
                medians[mb] = sorted(values["rss_mb"])[len(values["rss_mb"]) // 2]
                bench.rounds = saved
                shutil.rmtree(tmp, ignore_errors=True)
                os.makedirs(tmp, exist_ok=True)
                continue
            sides = [("plain tokenizer loop", lambda i, path=path: measured([py, "-c", PLAIN_LOOP, str(path),
                                                                             str(MODEL)])),
                     ("data stats", stats_cold), ("data stats (cached)", stats_warm),
                     ("data check", lambda i, path=path: measured([py, "-m", "workbench", "data", "check",
                                                                  str(path)]))]
            result = bench.compare(f"peak RSS, {mb} MB file", *sides, metrics=["rss_mb", "wall_s"])
            bench.rounds = saved
            result.check("rss_mb", "data stats", ratio_at_most=1.3)
            result.check("rss_mb", "data check", ratio_at_most=1.3)
            medians[mb] = result.median("data stats", "rss_mb")
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp, exist_ok=True)
    if len(medians) > 1:
        lo, hi = min(medians.values()), max(medians.values())
        bench.print("data stats peak RSS by file size (median MB): "
                    + ", ".join(f"{mb} MB: {v:.0f}" for mb, v in medians.items())
                    + f"; largest / smallest {hi / lo:.2f}x (goal: flat, <= 1.1x)"
                    + ("" if bench.quick else f": {'met' if hi / lo <= 1.1 else 'NOT met'}"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(ap)
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 200, 1024], help="file sizes in MB")
    ap.add_argument("--big-rounds", type=int, default=2,
                    help="rounds of the RSS sides for files of 21-200 MB, and of the validation (each takes minutes)")
    ap.add_argument("--huge-rounds", type=int, default=1, help="rounds of the RSS sides for files over 200 MB")
    ap.add_argument("--stats-only-above", type=int, metavar="MB",
                    help="for files over MB, measure data stats alone (no plain loop / check sides)")
    ap.add_argument("--only", choices=["page", "validate", "stats"], nargs="+", default=["page", "validate", "stats"])
    args = ap.parse_args()
    bench = Bench("bench_data", args)
    OUT.mkdir(parents=True, exist_ok=True)
    files = []
    for mb in sorted(args.sizes):
        path = OUT / f"chat-{mb}mb.jsonl"
        bench.print(f"generating {path} ...") if not path.exists() else None
        generate(path, mb)
        files.append(path)
    if "page" in args.only:
        bench_first_page(bench, files[0], files[-1])
    if "validate" in args.only:
        bench_validation(bench, files[-1], args.big_rounds)
    if "stats" in args.only:
        bench_stats_memory(bench, files, lambda mb: args.rounds if mb <= 20 else args.big_rounds if mb <= 200
                           else args.huge_rounds, args.stats_only_above)
    bench.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())

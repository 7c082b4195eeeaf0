"""Data benchmarks: time to the first page of a big JSONL file, and full validation vs `datasets`.

    python bench/bench_data.py                 # 1 GB file (generated once under bench/out/)
    python bench/bench_data.py --size-mb 20    # quick / CI

Goals: first page < 100 ms whatever the size (measured at two sizes), and full
validation >= 2x faster than datasets.load_dataset("json") on the same file (fresh cache).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    small_mb = max(1, args.size_mb // 16)
    big, small = OUT / f"chat-{args.size_mb}mb.jsonl", OUT / f"chat-{small_mb}mb.jsonl"
    print(f"generating {args.size_mb} MB and {small_mb} MB files under {OUT} ...", file=sys.stderr)
    rows = generate(big, args.size_mb)
    generate(small, small_mb)

    from workbench.data.validate import check_source
    from workbench.plugin_manager import get_registry

    formats = get_registry().data_formats
    check_source(str(small), formats)  # warm imports (pyarrow, numpy) so neither side pays them below
    page_small, page_big = first_page_ms(small), first_page_ms(big)
    print(f"first page: {page_small:.1f} ms ({small_mb} MB file), {page_big:.1f} ms ({args.size_mb} MB file); "
          f"goal < 100 ms, size-independent")

    t = time.perf_counter()
    report = check_source(str(big), formats)
    ours = time.perf_counter() - t
    assert report.total == rows and report.ok, (report.total, rows, report.bad[:3])

    import datasets

    datasets.disable_progress_bars()
    cache = tempfile.mkdtemp(prefix="hf-cache-", dir=OUT)
    try:
        t = time.perf_counter()
        ds = datasets.load_dataset("json", data_files=str(big), cache_dir=cache, split="train")
        theirs = time.perf_counter() - t
        assert len(ds) == rows
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    mb = big.stat().st_size / 2**20
    print(f"full validation of {rows:,} rows ({mb:.0f} MB): workbench {ours:.2f} s ({mb / ours:.0f} MB/s), "
          f"datasets.load_dataset {theirs:.2f} s ({mb / theirs:.0f} MB/s): {theirs / ours:.2f}x faster "
          f"(goal >= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

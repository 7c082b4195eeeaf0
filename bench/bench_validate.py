"""Cold `workbench validate` (trainer-schema and verdict caches removed) against a warm one and a
bare `python -c pass`, measured interleaved (bare, warm, cold, bare, warm, cold, ...).

Each sample is a fresh process running `workbench validate CONFIG` on the bundled sft preset.
Cold: WORKBENCH_CACHE is a new empty folder, so the one trainer's field schema and the real
`SFTConfig` verdict are built (one child process importing TRL). Warm: both cached. Printed:
min / median / max of wall seconds, of the validate process's own peak RSS, and of the
largest process of its tree (the child that imports TRL, when there is one), with the load
average at start and end. Issue 12 item 4's goal: cold under 1.5 s and 200 MB.

    python bench/bench_validate.py [--rounds 5] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "sample_data" / "configs" / "sft.toml"
# Runs the CLI in this process and reports its own peak RSS and that of its largest child (KB).
CHILD = r"""
import resource, sys
from workbench.cli.main import main
code = main(sys.argv[1:]) if len(sys.argv) > 1 else 0
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"RSS {own} {kids}", file=sys.stderr)
sys.exit(code)
"""


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min, {os.cpu_count()} CPUs)"


def sample(argv: list[str], cache: str) -> dict[str, float]:
    # the child-process path; the warm checker (which would outlive a round) is bench_checker.py's
    env = dict(os.environ, WORKBENCH_CACHE=cache, WORKBENCH_CHECKER="0")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, env=env, timeout=600)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{argv} failed:\n{out.stderr[-2000:]}")
    own, kids = (int(x) for x in out.stderr.strip().splitlines()[-1].split()[1:3])
    return {"wall_s": wall, "own_rss_mb": own / 1024, "tree_peak_rss_mb": max(own, kids) / 1024}


def spread(values: list[float]) -> str:
    return f"{min(values):8.3f} / {statistics.median(values):8.3f} / {max(values):8.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one round: a smoke test, not a measurement")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    print(f"bench_validate: load average at start {load_average()}", flush=True)
    if args.quick:
        print("QUICK RUN (1 round): a smoke test, NOT a measurement")
    validate = ["validate", str(CONFIG)]
    with tempfile.TemporaryDirectory(prefix="bench-validate-") as tmp:
        warm_cache = str(Path(tmp) / "warm")
        sample(validate, warm_cache)  # fills the warm cache (and the OS file cache)
        sides = {"bare python": ([], lambda i: str(Path(tmp) / "none")),
                 "warm validate": (validate, lambda i: warm_cache),
                 "cold validate": (validate, lambda i: str(Path(tmp) / f"cold-{i}"))}
        results: dict[str, list[dict[str, float]]] = {name: [] for name in sides}
        for i in range(rounds):
            for name, (argv, cache) in sides.items():
                results[name].append(sample(argv, cache(i)))
            print(f"  round {i + 1}: " + ", ".join(f"{n} {r[-1]['wall_s']:.2f} s" for n, r in results.items()),
                  flush=True)
    print(f"{rounds} rounds, min / median / max")
    for metric in ("wall_s", "own_rss_mb", "tree_peak_rss_mb"):
        print(f"  {metric}")
        for name, rows in results.items():
            print(f"    {name:<28} {spread([r[metric] for r in rows])}")
        for name in ("warm validate", "cold validate"):
            ratio = [r[metric] / b[metric] for r, b in zip(results[name], results["bare python"])]
            print(f"    {name + ' / bare python':<28} {spread(ratio)}x")
    cold = statistics.median(r["wall_s"] for r in results["cold validate"])
    cold_rss = statistics.median(r["tree_peak_rss_mb"] for r in results["cold validate"])
    verdict = "(quick: not judged)" if args.quick else (
        "met" if cold < 1.5 and cold_rss < 200 else "NOT met")
    print(f"goal: cold validate median {cold:.2f} s, largest process {cold_rss:.0f} MB; goal < 1.5 s and < 200 MB: "
          f"{verdict}")
    print(f"bench_validate: load average at end {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

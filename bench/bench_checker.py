"""The warm checker (workbench.config.checker) against a child process per `validate`, and the cold
validate as it is; each case interleaved with its baseline (min / median / max, load average).

1. Edit-validate loop: `workbench validate` of the bundled sft preset with a new learning rate
   each round (so the verdict cache misses; the field schema is cached). Baseline: a child
   process builds SFTConfig (WORKBENCH_CHECKER=0); candidate: the warm checker does (running).
2. Cold validate: schema and verdict caches removed and no checker running (a fresh cache and
   runtime folder each round). Sides: bare `python -c pass`; validate with the checker off
   (child processes); validate that starts a checker. The checker's own RSS is shown apart:
   it is not a child that validate waits for, so its import is not in validate's tree peak.
3. Starting the check early: the same changed-learning-rate validate on a config whose data
   file is large (400,000 rows, 68 MB), checker off so a child imports TRL each round; "late"
   starts that child where validate used to (after the data scan), "early" where it does now
   (before the plugin, argument and data checks), so its import overlaps them. (With a warm
   checker there is nothing left to overlap: the request itself is answered in ~0.1 s.)

Each sample is a fresh process; its own peak RSS and its largest waited child's come from
getrusage. Issue 12 item 4's goal: a cold validate under 1.5 s and 200 MB.

    python bench/bench_checker.py [--rounds 5] [--quick] [--rows 400000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Bench, add_arguments  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "sample_data" / "configs" / "sft.toml"
# Runs the CLI here and reports its own peak RSS and its largest child's (KB). BENCH_LATE_CHECK=1 defers the
# real-config check to where validate used to start it (after the data scan): the "late" side.
CHILD = r"""
import os, resource, sys
if os.environ.get("BENCH_LATE_CHECK") == "1":
    from workbench.config import realargs
    Eager = realargs.Check
    class Late:  # the field schema is cached on this side; the check starts when its answer is wanted
        need_fields = False
        def __init__(self, config, spec, need_fields=None):
            self.spec = spec
        def result(self, config):
            return Eager(config, self.spec).result(config)
    realargs.Check = Late
from workbench.cli.main import main
code = main(sys.argv[1:]) if len(sys.argv) > 1 else 0
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(f"RSS {own} {kids}", file=sys.stderr)
sys.exit(code)
"""


def sample(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True,
                         env=dict(os.environ, **env), timeout=900)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{argv} failed:\n{out.stderr[-2000:]}")
    own, kids = (int(x) for x in out.stderr.strip().splitlines()[-1].split()[1:3])
    return {"wall_s": wall, "own_rss_mb": own / 1024, "tree_peak_rss_mb": max(own, kids) / 1024}


def checker_rss_mb(env: dict[str, str]) -> float:
    """RSS of the checker of this environment (0 when none runs)."""
    import psutil

    code = "import json; from workbench.config import checker; print(json.dumps(checker.control('ping')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, **env))
    reply = json.loads(out.stdout.strip() or "null")
    return psutil.Process(reply["pid"]).memory_info().rss / 2**20 if reply else 0.0


def stop_checkers(env: dict[str, str]) -> None:
    code = "from workbench.config import checker; checker.stop_all()"
    subprocess.run([sys.executable, "-c", code], env=dict(os.environ, **env), capture_output=True)


def big_config(folder: Path, rows: int) -> Path:
    source = (REPO / "sample_data" / "data" / "sft-messages.jsonl").read_text(encoding="utf-8").splitlines()
    data = folder / "big.jsonl"
    with open(data, "w", encoding="utf-8") as f:
        for i in range(rows):
            f.write(source[i % len(source)] + "\n")
    text = CONFIG.read_text(encoding="utf-8").replace("../models", str(REPO / "sample_data" / "models"))
    config = folder / "big.toml"
    config.write_text(text.replace("../data/sft-messages.jsonl", str(data)), encoding="utf-8")
    return config


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--rows", type=int, default=400000, help="rows of the large data file of case 3")
    args = parser.parse_args()
    bench = Bench("bench_checker", args)
    tmp = Path(tempfile.mkdtemp(prefix="bench-checker-", dir="/tmp"))
    counter = iter(range(10**6))

    def lr() -> list[str]:  # a learning rate never validated before: the verdict cache misses
        return ["--set", f"trainer.args.learning_rate={1e-4 + next(counter) * 1e-7:.7g}"]

    try:
        # 1. edit-validate loop: schema cached, verdict missed each round
        runtime = tmp / "rt"
        runtime.mkdir(mode=0o700)
        warm_env = {"WORKBENCH_CACHE": str(tmp / "cache"), "XDG_RUNTIME_DIR": str(runtime)}
        sample(["validate", str(CONFIG), *lr()], warm_env)  # schema cached, checker started and warm
        child_env = dict(warm_env, WORKBENCH_CHECKER="0")
        loop = bench.compare(
            "validate, new learning rate each round",
            ("child process", lambda i: sample(["validate", str(CONFIG), *lr()], child_env)),
            ("warm checker", lambda i: sample(["validate", str(CONFIG), *lr()], warm_env)),
            metrics=["wall_s", "own_rss_mb", "tree_peak_rss_mb"], warmup=True)
        loop.check("wall_s", ratio_at_most=0.5)
        bench.print(f"  the warm checker's own RSS (resident, idle): {checker_rss_mb(warm_env):.0f} MB")
        stop_checkers(warm_env)

        # 2. cold validate: nothing cached, no checker running
        def cold(i: int, use_checker: bool) -> dict[str, float]:
            folder = tmp / f"cold-{i}-{int(use_checker)}"
            (folder / "rt").mkdir(parents=True, mode=0o700)
            env = {"WORKBENCH_CACHE": str(folder / "cache"), "XDG_RUNTIME_DIR": str(folder / "rt"),
                   "WORKBENCH_CHECKER": "1" if use_checker else "0"}
            got = sample(["validate", str(CONFIG)], env)
            if use_checker:
                got["checker_rss_mb"] = checker_rss_mb(env)
                got["tree_with_checker_mb"] = max(got["tree_peak_rss_mb"], got["checker_rss_mb"])
                stop_checkers(env)
            return got

        result = bench.compare(
            "cold validate (caches removed, no checker running)",
            ("bare python", lambda i: sample([], {})),
            ("cold, child process", lambda i: cold(i, False)),
            ("cold, starts a checker", lambda i: cold(i, True)),
            metrics=["wall_s", "own_rss_mb", "tree_peak_rss_mb"])
        values = result.values["cold, starts a checker"]
        bench.print(f"  cold, starts a checker: the checker's RSS min / median / max "
                    f"{min(values['checker_rss_mb']):.0f} / {sorted(values['checker_rss_mb'])[len(values['checker_rss_mb']) // 2]:.0f}"
                    f" / {max(values['checker_rss_mb']):.0f} MB (not in validate's tree: it is not waited for)")
        for side in ("cold, child process", "cold, starts a checker"):
            wall = result.median(side, "wall_s")
            peak = max(result.median(side, "tree_peak_rss_mb"),
                       result.median(side, "checker_rss_mb") if side.endswith("checker") else 0)
            verdict = "(quick: not judged)" if bench.quick else ("met" if wall < 1.5 and peak < 200 else "NOT met")
            bench.print(f"goal cold validate ({side}): median {wall:.2f} s, largest process {peak:.0f} MB; "
                        f"goal < 1.5 s and < 200 MB: {verdict}")

        # 3. early vs late start of the check, cold child each round, a data file that takes a while to scan
        config = big_config(tmp, args.rows)
        env = {"WORKBENCH_CACHE": str(tmp / "cache"), "WORKBENCH_CHECKER": "0"}
        sample(["validate", str(config), *lr()], env)  # schema cached
        overlap = bench.compare(
            f"child started late vs early ({args.rows} data rows, new learning rate each round)",
            ("late (after the data scan)", lambda i: sample(["validate", str(config), *lr()],
                                                           dict(env, BENCH_LATE_CHECK="1"))),
            ("early (before it)", lambda i: sample(["validate", str(config), *lr()], env)),
            metrics=["wall_s", "tree_peak_rss_mb"], warmup=True)
        overlap.check("wall_s", ratio_at_most=1.0)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    bench.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The benches' shared harness: two sides measured interleaved (A B A B ...), with their spread.

Every bench compares a candidate against a baseline run in the same process, round by
round, so load on a shared machine hits both alike. A bench prints, for each metric,
min / median / max of each side and of the per-round ratio, plus the machine's load
average at the start and at the end (a loaded machine is visible in the output).

    from harness import Bench, add_arguments

    parser = argparse.ArgumentParser(); add_arguments(parser)
    args = parser.parse_args()
    bench = Bench("bench_x", args)                     # prints the header and load average
    result = bench.compare("case", ("plain", run_plain), ("workbench", run_ours), metrics=["wall_s"])
    result.check("wall_s", diff_at_most=1.0)          # a goal line: met / NOT met
    bench.finish()                                     # load average at the end

Each side is a callable taking the round index and returning {metric: value}.
`--quick` runs one round and says that it is not a measurement.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

DEFAULT_ROUNDS = 5
Side = tuple[str, Callable[[int], dict[str, float]]]


def add_arguments(parser: argparse.ArgumentParser, rounds: int = DEFAULT_ROUNDS) -> None:
    """--rounds N (default 5, at least 5 counts as a measurement) and --quick (1 round, a smoke test)."""
    parser.add_argument("--rounds", type=int, default=rounds, help=f"interleaved rounds (default {rounds})")
    parser.add_argument("--quick", action="store_true", help="one round: a smoke test, not a measurement")


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min, {os.cpu_count()} CPUs)"


def spread(values: Sequence[float]) -> tuple[float, float, float]:
    """(min, median, max)."""
    return min(values), statistics.median(values), max(values)


def fmt(value: float) -> str:
    """A short number: 4 significant digits, no exponent for everyday magnitudes."""
    if value == 0 or 1e-3 <= abs(value) < 1e6:
        return f"{value:.4g}" if abs(value) >= 1 else f"{value:.3g}"
    return f"{value:.3e}"


def fmt_spread(values: Sequence[float], unit: str = "") -> str:
    lo, mid, hi = spread(values)
    return f"{fmt(lo)} / {fmt(mid)} / {fmt(hi)}{unit}"


@dataclass
class Comparison:
    """Per-round values of each side; ratios and differences are per round, against the baseline."""

    name: str
    baseline: str
    values: dict[str, dict[str, list[float]]] = field(default_factory=dict)   # side -> metric -> rounds
    quick: bool = False

    @property
    def candidates(self) -> list[str]:
        return [s for s in self.values if s != self.baseline]

    def ratio(self, metric: str, side: str | None = None) -> list[float]:
        base, other = self.values[self.baseline][metric], self.values[side or self.candidates[0]][metric]
        return [y / x if x else float("inf") for x, y in zip(base, other)]

    def diff(self, metric: str, side: str | None = None) -> list[float]:
        base, other = self.values[self.baseline][metric], self.values[side or self.candidates[0]][metric]
        return [y - x for x, y in zip(base, other)]

    def median(self, side: str, metric: str) -> float:
        return statistics.median(self.values[side][metric])

    def report(self, metrics: Iterable[str]) -> str:
        width = max([len(s) for s in self.values] + [len(f"{c} / {self.baseline}") for c in self.candidates] + [10])
        rounds = len(next(iter(self.values[self.baseline].values()), []))
        lines = [f"{self.name}: {rounds} rounds, min / median / max"]
        for m in metrics:
            if not all(m in v for v in self.values.values()):
                continue
            lines.append(f"  {m}")
            for side, v in self.values.items():
                lines.append(f"    {side:<{width}} {fmt_spread(v[m])}")
            for side in self.candidates:
                lines.append(f"    {side + ' / ' + self.baseline:<{width}} {fmt_spread(self.ratio(m, side), 'x')}")
                lines.append(f"    {side + ' - ' + self.baseline:<{width}} {fmt_spread(self.diff(m, side))}")
        return "\n".join(lines)

    def check(self, metric: str, side: str | None = None, *, ratio_at_most: float | None = None,
              ratio_at_least: float | None = None, diff_at_most: float | None = None) -> bool:
        """Print a goal line judged on the median of the per-round ratio (or difference) against the baseline."""
        side = side or self.candidates[0]
        if ratio_at_most is not None or ratio_at_least is not None:
            value = statistics.median(self.ratio(metric, side))
            ok = (ratio_at_most is None or value <= ratio_at_most) and (ratio_at_least is None or value >= ratio_at_least)
            goal = f"<= {ratio_at_most}x" if ratio_at_most is not None else f">= {ratio_at_least}x"
            shown = f"{fmt(value)}x"
        else:
            value = statistics.median(self.diff(metric, side))
            ok = diff_at_most is not None and value <= diff_at_most
            goal, shown = f"<= {diff_at_most:+g}", f"{value:+.3g}"
        verdict = "(quick: not judged)" if self.quick else ("met" if ok else "NOT met")
        print(f"goal {self.name}: {metric} {side} vs {self.baseline}: median {shown}, goal {goal}: {verdict}",
              flush=True)
        return ok


class Bench:
    """One bench's run: header with the load average, interleaved comparisons, footer."""

    def __init__(self, name: str, args: argparse.Namespace | None = None, rounds: int | None = None,
                 quick: bool | None = None, out=None):
        self.name = name
        self.quick = bool(quick if quick is not None else getattr(args, "quick", False))
        self.rounds = 1 if self.quick else int(rounds or getattr(args, "rounds", DEFAULT_ROUNDS))
        self.out = out or sys.stdout
        self.started = time.time()
        self.print(f"{name}: load average at start {load_average()}")
        if self.quick:
            self.print("QUICK RUN (1 round): a smoke test, NOT a measurement; no spread, goals not judged")
        elif self.rounds < DEFAULT_ROUNDS:
            self.print(f"only {self.rounds} rounds (< {DEFAULT_ROUNDS}): the spread is not reliable")

    def print(self, *parts) -> None:
        print(*parts, file=self.out, flush=True)

    def compare(self, name: str, baseline: Side, *candidates: Side, metrics: Sequence[str] | None = None,
                warmup: bool = False, verbose: bool = True) -> Comparison:
        """Run the baseline and each candidate alternately (A B A B ..., or A B C A B C ...) for `self.rounds`
        rounds; print each metric's min / median / max per side and of the per-round ratio to the baseline."""
        sides = (baseline, *candidates)
        result = Comparison(name, baseline[0], {s[0]: {} for s in sides}, quick=self.quick)
        if warmup:  # fills OS file caches so that round 1 is not the only cold one
            for _, fn in sides:
                fn(-1)
        for i in range(self.rounds):
            got = {}
            for side, fn in sides:
                got[side] = fn(i)
                for k, v in got[side].items():
                    result.values[side].setdefault(k, []).append(float(v))
            if verbose:
                keys = [k for k in got[baseline[0]] if all(k in g for g in got.values())]
                shown = "; ".join(f"{k} " + " vs ".join(fmt(g[k]) for g in got.values()) for k in keys)
                self.print(f"  round {i + 1}/{self.rounds} {name} ({' vs '.join(got)}): {shown}")
        keys = list(metrics) if metrics else list(result.values[baseline[0]])
        self.print(result.report(keys))
        return result

    def series(self, name: str, fn: Callable[[int], dict[str, float]]) -> dict[str, list[float]]:
        """One side alone, `self.rounds` times (for a figure without a baseline); prints its spread."""
        values: dict[str, list[float]] = {}
        for i in range(self.rounds):
            for k, v in fn(i).items():
                values.setdefault(k, []).append(float(v))
        self.print(f"{name}: {self.rounds} rounds, min / median / max")
        for k, vs in values.items():
            self.print(f"  {k:<16} {fmt_spread(vs)}")
        return values

    def finish(self) -> None:
        self.print(f"{self.name}: load average at end {load_average()} ({time.time() - self.started:.0f} s)")
        if self.quick:
            self.print("QUICK RUN: not a measurement")

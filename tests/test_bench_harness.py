"""The benches' harness: sides interleave A B A B, spread and ratios are per round, --quick says so."""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from harness import Bench, add_arguments  # noqa: E402


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_rounds_interleave_and_report_the_spread():
    order, out = [], io.StringIO()
    bench = Bench("t", parse(), out=out)
    values = {"a": iter([1.0, 3.0, 2.0, 5.0, 4.0]), "b": iter([2.0, 3.0, 6.0, 5.0, 12.0])}

    def side(name):
        def run(i):
            order.append((name, i))
            return {"s": next(values[name])}
        return run

    result = bench.compare("case", ("a", side("a")), ("b", side("b")))
    assert order == [(n, i) for i in range(5) for n in ("a", "b")]  # A B A B ..., 5 rounds by default
    assert result.ratio("s") == [2.0, 1.0, 3.0, 1.0, 3.0]
    text = out.getvalue()
    assert "load average at start" in text
    assert "a          1 / 3 / 5" in text and "b / a      1 / 2 / 3x" in text
    assert result.check("s", ratio_at_most=2.0) and not result.check("s", ratio_at_most=1.5)
    bench.finish()
    assert "load average at end" in out.getvalue()


def test_quick_is_one_round_and_says_it_is_not_a_measurement(capsys):
    out = io.StringIO()
    bench = Bench("t", parse("--quick"), out=out)
    calls = []
    result = bench.compare("case", ("a", lambda i: calls.append(i) or {"s": 1}), ("b", lambda i: {"s": 9}))
    assert calls == [0]
    result.check("s", ratio_at_most=2.0)
    assert "NOT a measurement" in out.getvalue()
    assert "quick: not judged" in capsys.readouterr().out

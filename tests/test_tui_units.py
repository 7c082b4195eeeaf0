"""Pure parts of the TUI: incremental tails, metric tables, config diff, failure story, formats."""

from __future__ import annotations

import json
import math
import os
import tomllib
from pathlib import Path


from tests.test_tui_support import fail_with_oom, make_run
from workbench.runs.store import Run
from workbench.tui import fmt
from workbench.tui.actions import duplicate_config
from workbench.tui.configdiff import differing, flatten
from workbench.tui.failure import diagnose
from workbench import numbers
from workbench.tui.keydocs import all_screen_classes
from workbench.tui.keys import class_sections
from workbench.tui.metrics import MetricTable, order_metrics, pair
from workbench.tui.runs_poll import RunsPoller

REPO = Path(__file__).resolve().parents[1]


def test_metric_table_tracks_all_x_axes_and_carries_tokens_to_eval_rows():
    t = MetricTable()
    grown = t.add_rows([
        {"step": 1, "time": 100.0, "kind": "train", "epoch": 0.1, "loss": 3.0, "num_tokens": 200.0},
        {"step": 2, "time": 101.5, "kind": "train", "epoch": 0.2, "loss": "nan", "num_tokens": 400.0,
         "learning_rate": 1e-3},
        {"step": 2, "time": 102.0, "kind": "eval", "epoch": 0.2, "eval_loss": 2.5},
        {"step": -1, "kind": "evaluation", "eval/rouge/score": 0.4},
    ])
    assert grown == {"loss": 0, "learning_rate": 0, "eval_loss": 0}
    assert list(t.points("loss", "step")[0]) == [1.0, 2.0]
    assert math.isnan(t.points("loss")[1][1])
    assert list(t.points("eval_loss", "tokens")[0]) == [400.0]  # carried from the train row
    assert list(t.points("eval_loss", "time")[0]) == [2.0]
    assert list(t.points("loss", "epoch")[0]) == [0.1, 0.2]
    assert t.scores == {"eval/rouge/score": 0.4}
    assert t.groups() == ["loss", "learning_rate"]  # eval_loss rides with loss
    assert pair("loss", t.series) == ["loss", "eval_loss"]
    grown = t.add_rows([{"step": 3, "time": 103.0, "loss": 2.0}])
    assert grown == {"loss": 2}
    assert list(t.since("loss", 2)[1]) == [2.0]


def test_metric_order_puts_familiar_metrics_first_and_eval_after_train():
    names = {"zeta", "eval_loss", "loss", "grad_norm", "kl", "eval_reward", "reward", "learning_rate"}
    assert order_metrics(names) == ["loss", "eval_loss", "learning_rate", "grad_norm", "reward", "eval_reward",
                                    "kl", "zeta"]


def test_an_evaluation_runs_chart_opens_on_a_score_not_on_a_bookkeeping_count():
    # the keys `workbench eval` writes into metrics.jsonl; detail opens on the first of the order
    names = {f"eval/perplexity/{k}" for k in ("perplexity", "loss", "tokens", "rows", "held_out")}
    names |= {"eval/exact_match/exact_match", "eval/exact_match/rows", "eval/generate/mean_new_tokens"}
    order = order_metrics(names)
    assert order[:3] == ["eval/exact_match/exact_match", "eval/perplexity/loss", "eval/perplexity/perplexity"]
    assert set(order[3:]) == {"eval/exact_match/rows", "eval/generate/mean_new_tokens", "eval/perplexity/held_out",
                              "eval/perplexity/rows", "eval/perplexity/tokens"}


def test_config_diff_lists_only_keys_that_differ():
    a = {"run": {"name": "a", "seed": 1}, "trainer": {"args": {"lr": 0.001, "bs": 8}}, "tags": [1, 2]}
    b = {"run": {"name": "b", "seed": 1}, "trainer": {"args": {"lr": 0.002, "bs": 8, "warmup": 5}}, "tags": [1, 2]}
    assert flatten(a)["trainer.args.lr"] == 0.001
    diff = dict(differing([a, b]))
    assert diff == {"run.name": ["a", "b"], "trainer.args.lr": ["0.001", "0.002"], "trainer.args.warmup": ["—", "5"]}


def test_failure_story_names_exit_error_line_and_oom_hint(tmp_path):
    run_dir = make_run(tmp_path, "r1", status="running", steps=40, logged=10)
    fail_with_oom(run_dir)
    run = Run(run_dir)
    events = run.events()
    console = (run_dir / "console.log").read_text().splitlines()
    f = diagnose(run.status(), console, events)
    assert f is not None
    assert f.headline.startswith("FAILED - exit code 1")
    assert "CUDA out of memory" in f.headline
    assert any("OutOfMemoryError" in ln for ln in f.error_lines)
    assert not any(ln.startswith("  File") for ln in f.error_lines)
    assert f.hint == "lower per_device_train_batch_size"
    assert diagnose({"status": "completed"}, console, events) is None
    lost = diagnose({"status": "lost", "reason": "supervisor process is gone"}, [], [])
    assert "supervisor process is gone" in lost.headline and "resume" in lost.hint
    assert "supervisor" not in lost.hint  # the box says it once
    bare = diagnose({"status": "lost"}, [], [])
    assert "supervisor process is gone" in bare.hint
    killed = diagnose({"status": "failed", "exit_code": -9, "signal": "SIGKILL"}, ["Killed"], [])
    assert "killed by SIGKILL" in killed.headline and killed.error_lines == ["Killed"]


def test_formats():
    assert fmt.bar(0.5, 4) == "██░░"
    assert fmt.bar(0.0, 3) == "░░░" and fmt.bar(1.0, 3) == "███" and fmt.bar(None, 2) == "░░"
    assert len(fmt.bar(0.33, 10)) == 10
    assert numbers.duration(3725) == "1h02m" and numbers.duration(65) == "1m05s" and numbers.duration(None) == "-"
    assert numbers.num(5131.9) == "5132" and numbers.num(0.00015) == "1.5e-4" and numbers.num(None) == "-"
    assert numbers.num(float("nan")) == "nan" and numbers.num(2.5) == "2.5"
    assert fmt.progress(30, 40, 4) == "███░  75%"
    assert fmt.spark([0, 50, 100, None], 4, 0, 100) == "▁▄█ "
    assert fmt.status_text("failed").startswith("✗")


def test_duplicate_config_copies_job_toml_under_a_new_name(tmp_path):
    run = Run(make_run(tmp_path, "20250101-000000-a", name="alpha", lr=0.003))
    first = duplicate_config(run, tmp_path)
    second = duplicate_config(run, tmp_path)
    assert first == tmp_path / "configs" / "alpha-copy.toml"
    assert second == tmp_path / "configs" / "alpha-copy-2.toml"
    assert tomllib.loads(first.read_text()) == run.config()
    assert "Copied from run 20250101-000000-a" in first.read_text().splitlines()[0]


def test_runs_poller_skips_unchanged_finished_runs(tmp_path, monkeypatch):
    make_run(tmp_path, "a", created=1.0)
    make_run(tmp_path, "b", created=2.0, status="running", logged=5)
    calls = []
    real = Run.summary
    monkeypatch.setattr(Run, "summary", lambda self: calls.append(self.id) or real(self))
    poller = RunsPoller(tmp_path)
    snap = poller.poll()
    assert [s["id"] for s in snap.summaries] == ["b", "a"]  # newest first
    assert [a["id"] for a in snap.active] == ["b"] and snap.active[0]["pids"] == [os.getpid()]
    calls.clear()
    poller.poll()
    assert calls == ["b"]  # the completed run is served from cache
    with open(tmp_path / "runs" / "a" / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"step": 41, "loss": 1.0}) + "\n")
    calls.clear()
    assert poller.poll().summaries[1]["step"] == 41 and "a" in calls


def test_every_key_of_every_screen_is_documented():
    """docs/tui.md has a section per screen listing each of its bindings (read from the classes)."""
    doc = (REPO / "docs" / "tui.md").read_text()
    for cls in all_screen_classes():
        for section, lines in class_sections(cls):
            assert f"| {section} |" in doc, f"no key table for {section} in docs/tui.md"
            table = doc.split(f"| {section} |", 1)[1].split("\n\n", 1)[0]
            for key, _ in lines:
                for k in key.split(" / "):
                    assert f"`{k}`" in table, f"key {k!r} of {section} ({cls.__name__}) missing from docs/tui.md"

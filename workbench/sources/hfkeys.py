"""Metric names as trackers write them, back to the names a workbench run uses.

transformers' integrations log `loss` as `train/loss` and `eval_loss` as `eval/loss`
(`rewrite_logs`), a workbench job's evaluator scores as `eval/<evaluator>/<metric>`; turning
them back lets a TensorBoard or trackio run line up with a workbench run's metrics.jsonl (and
be compared with it) key for key.
"""

from __future__ import annotations

from typing import Any

STEP_KEYS = ("train/global_step", "global_step")
PREFIXES = {"train/": "", "eval/": "eval_", "test/": "test_"}


def workbench_key(tag: str) -> tuple[str, str]:
    """(kind, key) of a tracker tag: "train/loss" -> ("train", "loss"), "eval/loss" -> ("eval", "eval_loss");
    an evaluator's score, "eval/<evaluator>/<metric>", is the workbench's own name already."""
    if tag.startswith("eval/") and "/" in tag[len("eval/"):]:
        return "eval", tag
    for prefix, replacement in PREFIXES.items():
        if tag.startswith(prefix):
            return ("eval" if prefix != "train/" else "train"), replacement + tag[len(prefix):]
    return "train", tag


def rows_from_scalars(points: dict[tuple[int, str], dict[str, Any]]) -> list[dict[str, Any]]:
    """Metric rows {step, kind, time?, ...} from {(step, kind): {key: value, "time": t}}, by step then kind."""
    order = {"train": 0, "eval": 1}
    rows = []
    for (step, kind), values in sorted(points.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 2))):
        metrics = {k: v for k, v in values.items() if k not in ("time", "epoch")}
        if not metrics:
            continue
        row: dict[str, Any] = {"step": step, "kind": kind}
        if "time" in values:
            row["time"] = values["time"]
        if "epoch" in values:
            row["epoch"] = values["epoch"]
        row.update(metrics)
        rows.append(row)
    return rows

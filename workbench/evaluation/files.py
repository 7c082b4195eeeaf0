"""The two result files of evaluation in a run directory, written by the job and read by viewers.

    eval.json      {"version": 1, "checkpoints": [{checkpoint, step, time, metrics: {evaluator:
                   {metric: value}}, settings: {evaluator: {...}}}, ...]}: one entry per scored
                   model, ordered by step; scoring a checkpoint again replaces its entry.
                   Rewritten atomically, so a reader sees the old or the new file.
    samples.jsonl  append-only, one JSON object per line and scored example: {checkpoint, step,
                   index, prompt, reference, generation, scores: {evaluator: number},
                   failed: [evaluator, ...], details: {evaluator: ...}}.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

from workbench.runs.files import json_safe, read_json, write_json_atomic
from workbench.runs.jsonl import read_jsonl

EVAL_JSON = "eval.json"
SAMPLES = "samples.jsonl"
VERSION = 1


def read_eval(run_dir: Path) -> list[dict[str, Any]]:
    """The entries of eval.json, ordered by step (empty when there is none or it is damaged)."""
    data = read_json(Path(run_dir) / EVAL_JSON)
    entries = data.get("checkpoints") if data else None
    if not isinstance(entries, list):
        return []
    return [e for e in entries if isinstance(e, dict) and isinstance(e.get("checkpoint"), str)]


def _order(entry: dict[str, Any]) -> tuple[float, str]:
    step = entry.get("step")
    return (step if isinstance(step, (int, float)) and step >= 0 else float("inf"), entry["checkpoint"])


def record_checkpoint(run_dir: Path, entry: dict[str, Any]) -> None:
    """Add (or replace) the entry of `entry["checkpoint"]` in eval.json."""
    entries = [e for e in read_eval(run_dir) if e["checkpoint"] != entry["checkpoint"]]
    entries.append(json_safe(entry))
    entries.sort(key=_order)
    write_json_atomic(Path(run_dir) / EVAL_JSON, {"version": VERSION, "checkpoints": entries})


def append_samples(run_dir: Path, samples: Iterable[dict[str, Any]]) -> int:
    """Append samples to samples.jsonl, one flushed JSON line each; returns how many."""
    lines = [json.dumps(json_safe(s), ensure_ascii=False) + "\n" for s in samples]
    if lines:
        with open(Path(run_dir) / SAMPLES, "a", encoding="utf-8") as f:
            f.write("".join(lines))
            f.flush()
    return len(lines)


def read_samples(run_dir: Path) -> list[dict[str, Any]]:
    """Every complete line of samples.jsonl (a partial last line, being written, and damaged lines are left out)."""
    rows, _ = read_jsonl(Path(run_dir) / SAMPLES)
    return rows


def flat_metrics(entry: dict[str, Any]) -> dict[str, float]:
    """{"evaluator/metric": value} of one eval.json entry."""
    out: dict[str, float] = {}
    for evaluator, metrics in (entry.get("metrics") or {}).items():
        for name, value in (metrics or {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                out[f"{evaluator}/{name}"] = value
    return out


def merge_records(per_evaluator: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One sample per example index out of each evaluator's records (same rows, same index)."""
    samples: dict[int, dict[str, Any]] = {}
    for evaluator, records in per_evaluator.items():
        for rec in records:
            index = rec.get("index")
            if not isinstance(index, int):
                continue
            sample = samples.setdefault(index, {"index": index, "prompt": None, "reference": None,
                                                "generation": None, "scores": {}, "failed": [], "details": {}})
            for key in ("prompt", "reference", "generation"):
                if sample[key] is None and rec.get(key) is not None:
                    sample[key] = rec[key]
            if "score" in rec:
                sample["scores"][evaluator] = rec["score"]
            if rec.get("passed") is False:
                sample["failed"].append(evaluator)
            if rec.get("detail") is not None:
                sample["details"][evaluator] = rec["detail"]
    return [samples[i] for i in sorted(samples)]

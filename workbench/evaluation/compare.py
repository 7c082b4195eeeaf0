"""Evaluation results side by side, for viewers: checkpoints or runs by metric, samples by prompt.

Reads eval.json and samples.jsonl only (no torch); the TUI's results and samples views use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from workbench.evaluation.files import flat_metrics, read_eval, read_samples

# Bookkeeping numbers every evaluator reports; the results table leaves them out unless asked.
BOOKKEEPING = ("rows", "held_out", "tokens", "samples", "mean_new_tokens")


@dataclass
class ResultRow:
    """One scored model: which run, which checkpoint, its metrics as {"evaluator/metric": value}."""

    run_id: str
    checkpoint: str
    step: int | None
    metrics: dict[str, float]

    @property
    def label(self) -> str:
        return f"{self.run_id} {self.checkpoint}"


def result_rows(run_dirs: Iterable[Path]) -> list[ResultRow]:
    """Every eval.json entry of the runs, in the order given, each run's by step."""
    rows = []
    for run_dir in run_dirs:
        run_dir = Path(run_dir)
        for entry in read_eval(run_dir):
            step = entry.get("step")
            rows.append(ResultRow(run_dir.name, entry["checkpoint"], step if isinstance(step, int) else None,
                                  flat_metrics(entry)))
    return rows


def metric_columns(rows: list[ResultRow], everything: bool = False) -> list[str]:
    """Metric names in first-seen order; bookkeeping numbers only when `everything`."""
    seen: dict[str, None] = {}
    for row in rows:
        for name in row.metrics:
            if everything or name.split("/", 1)[-1] not in BOOKKEEPING:
                seen.setdefault(name, None)
    return list(seen)


def _read_tags(run_dir: Path) -> list[str]:
    import tomllib

    try:
        tags = tomllib.loads((run_dir / "job.toml").read_text(encoding="utf-8")).get("run", {}).get("tags") or []
    except (OSError, ValueError):
        return []
    return [t for t in tags if isinstance(t, str)]


def evaluations_of(run_dir: Path, candidates: Iterable[Path]) -> list[Path]:
    """The evaluation runs among `candidates` made of `run_dir` (tagged of:<run id>)."""
    tag = f"of:{Path(run_dir).name}"
    return [Path(c) for c in candidates if tag in _read_tags(Path(c))]


def prompt_text(prompt: Any) -> str:
    """A prompt for reading: chat messages as "role: content" lines."""
    if prompt is None:
        return ""
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        return "\n".join(f"{m.get('role', '?')}: {m.get('content') or ''}" if isinstance(m, dict) else str(m)
                         for m in prompt)
    return str(prompt)


@dataclass
class PromptSamples:
    """One evaluation prompt and what each scored model (label) made of it."""

    index: int
    prompt: Any
    reference: Any
    by_label: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """Some model failed some pass/fail evaluator on this prompt."""
        return any(s.get("failed") for s in self.by_label.values())


def samples_by_prompt(run_dirs: Iterable[Path]) -> tuple[list[str], list[PromptSamples]]:
    """(labels in order, prompts by index): a label is the checkpoint, or "run checkpoint" over several runs.

    Samples are matched by prompt (runs scored on other rows do not mix); a checkpoint scored
    twice keeps its latest samples.
    """
    import json

    run_dirs = [Path(d) for d in run_dirs]
    several = len(run_dirs) > 1
    labels: dict[str, None] = {}
    prompts: dict[str, PromptSamples] = {}
    for run_dir in run_dirs:
        for sample in read_samples(run_dir):
            index = sample.get("index")
            if not isinstance(index, int):
                continue
            label = f"{run_dir.name} {sample.get('checkpoint')}" if several else str(sample.get("checkpoint"))
            labels.setdefault(label, None)
            key = json.dumps([sample.get("prompt"), sample.get("reference")], sort_keys=True, default=str)
            entry = prompts.setdefault(key, PromptSamples(index, sample.get("prompt"), sample.get("reference")))
            entry.by_label[label] = sample
    return list(labels), sorted(prompts.values(), key=lambda p: p.index)

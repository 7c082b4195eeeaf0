"""End to end: a second run on the same data skips tokenization and trains exactly the same.

For each trainer whose TRL class tokenizes its dataset up front (SFT, DPO, KTO, reward),
three real runs through `workbench run`: cache off, cold cache, warm cache. The losses
(and the other logged training values) must be identical step by step; the warm run's
events name the cache hits and its console shows no tokenization.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import CONFIGS, cli, metric_rows
from workbench.runs.store import list_runs

pytestmark = pytest.mark.slow

STEPS = 4
PRESETS = {"sft": "sft.toml", "dpo": "dpo.toml", "kto": "kto.toml", "reward": "reward.toml"}
VALUES = ("loss", "grad_norm", "learning_rate", "lr", "rewards/margins", "rewards/chosen", "accuracy")


def run(preset: str, env: dict, *sets: str) -> object:
    extra = [a for s in sets for a in ("--set", s)]
    result = cli("run", str(CONFIGS / PRESETS[preset]), "--set", f"trainer.args.max_steps={STEPS}",
                 "--set", "trainer.args.save_steps=100000", "--set", "trainer.args.eval_steps=2", *extra,
                 env={"OMP_NUM_THREADS": "1", **env})
    assert result.returncode == 0, result.stdout + result.stderr
    return max(list_runs(), key=lambda r: r.dir.name)


def cache_events(run_dir) -> list[dict]:
    rows = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if r["event"] == "data_cache"]


def trained_values(run_dir) -> list[dict]:
    return [{k: r[k] for k in ("step", *VALUES) if k in r} for r in metric_rows(run_dir) + metric_rows(run_dir, "eval")]


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_cached_runs_train_identically(workspace, preset):
    off = run(preset, {"WORKBENCH_DATA_CACHE": "0"})
    cold = run(preset, {})
    warm = run(preset, {})

    assert [(e["stage"], e["key"]) for e in cache_events(off.dir)] == [("rows", None)]  # off: nothing cached
    cold_tok = [e for e in cache_events(cold.dir) if e["stage"] == "tokenized"]
    warm_tok = [e for e in cache_events(warm.dir) if e["stage"] == "tokenized"]
    assert cold_tok and not any(e["hit"] for e in cold_tok)
    assert warm_tok and all(e["hit"] for e in warm_tok)
    assert [e["key"] for e in warm_tok] == [e["key"] for e in cold_tok]
    assert [e["split"] for e in warm_tok] == [e["split"] for e in cold_tok]
    assert all(e["hit"] for e in cache_events(warm.dir) if e["stage"] == "rows")

    assert "Tokenizing train dataset" in (cold.dir / "console.log").read_text()
    assert "Tokenizing train dataset" in (off.dir / "console.log").read_text()
    assert "Tokenizing" not in (warm.dir / "console.log").read_text()

    reference = trained_values(off.dir)
    assert len([r for r in reference if "loss" in r]) >= STEPS
    assert trained_values(cold.dir) == reference
    assert trained_values(warm.dir) == reference


def test_two_ranks_with_a_holdout_split_hit_together(workspace):
    """DDP: every rank takes the cached path only when all find the entry (TRL's preparation has barriers);
    the eval_fraction hold-out keeps its key, so both splits hit."""
    sets = ("launch.num_processes=2", "data.eval_fraction=0.1")
    cold, warm = run("sft", {}, *sets), run("sft", {}, *sets)
    cold_tok = [(e["split"], e["hit"]) for e in cache_events(cold.dir) if e["stage"] == "tokenized"]
    warm_tok = [(e["split"], e["hit"]) for e in cache_events(warm.dir) if e["stage"] == "tokenized"]
    assert cold_tok == [("train", False), ("eval", False)] and warm_tok == [("train", True), ("eval", True)]
    assert (cold.dir / "console.log").read_text().count("Tokenizing train dataset") >= 2  # both ranks
    assert "Tokenizing" not in (warm.dir / "console.log").read_text()
    assert trained_values(warm.dir) == trained_values(cold.dir)

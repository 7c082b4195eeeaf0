"""DPO end to end through `workbench run`: TRL's reward metrics reach metrics.jsonl and improve."""

from __future__ import annotations

import pytest

from tests.conftest import CONFIGS, cli, metric_rows, status_of
from workbench.runs.store import list_runs

pytestmark = pytest.mark.slow

ONE_THREAD = {"OMP_NUM_THREADS": "1"}  # the tiny model thrashes with 2 threads on a busy 2-core machine


def mean(rows: list[dict], key: str) -> float:
    values = [r[key] for r in rows]
    return sum(values) / len(values)


def test_dpo_preset_raises_reward_accuracy_and_margin(workspace):
    result = cli("run", str(CONFIGS / "dpo.toml"), env=ONE_THREAD)
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = list_runs(workspace)
    assert status_of(run.dir)["status"] == "completed"
    train = metric_rows(run.dir)
    assert [r["step"] for r in train] == list(range(1, 41))
    for key in ("rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies", "logps/chosen"):
        assert all(key in r for r in train), key
    first, last = train[:10], train[-10:]
    assert mean(last, "rewards/margins") > mean(first, "rewards/margins") + 0.03
    assert mean(last, "rewards/accuracies") > mean(first, "rewards/accuracies") + 0.1
    evals = metric_rows(run.dir, kind="eval")
    assert [r["step"] for r in evals] == [20, 40]
    # Held-out pairs: the trained policy prefers the correct answer more often than not.
    assert evals[-1]["eval_rewards/margins"] > evals[0]["eval_rewards/margins"] > 0
    assert evals[-1]["eval_rewards/accuracies"] > 0.5
    # LoRA: the reference was the base with adapters off, and only the adapter is saved.
    assert (run.dir / "checkpoints" / "final" / "adapter_model.safetensors").exists()

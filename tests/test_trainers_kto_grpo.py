"""KTO, GRPO and RLOO end to end: each completes and logs its own metrics to metrics.jsonl."""

from __future__ import annotations

import pytest

from tests.conftest import CONFIGS, cli, metric_rows, status_of
from workbench.runs.store import list_runs

pytestmark = pytest.mark.slow

ONE_THREAD = {"OMP_NUM_THREADS": "1"}


def run_preset(workspace, preset: str, *overrides: str):
    result = cli("run", str(CONFIGS / f"{preset}.toml"), *[a for o in overrides for a in ("--set", o)], env=ONE_THREAD)
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = list_runs(workspace)
    assert status_of(run.dir)["status"] == "completed"
    return run.dir


def test_kto_completes_with_its_metrics(workspace):
    run_dir = run_preset(workspace, "kto", "trainer.args.max_steps=6", "trainer.args.eval_steps=6")
    train = metric_rows(run_dir)
    assert [r["step"] for r in train] == list(range(1, 7))
    for key in ("loss", "kl", "rewards/chosen", "rewards/rejected", "logps/chosen", "logps/rejected"):
        assert any(key in r for r in train), key
    assert "eval_kl" in metric_rows(run_dir, kind="eval")[-1]
    assert (run_dir / "checkpoints" / "final" / "adapter_model.safetensors").exists()


@pytest.mark.parametrize("trainer", ["grpo", "rloo"])
def test_grpo_and_rloo_complete_with_reward_function_metrics(workspace, trainer):
    run_dir = run_preset(workspace, trainer, "trainer.args.max_steps=4")
    train = metric_rows(run_dir)
    assert [r["step"] for r in train] == [1, 2, 3, 4]
    for name in ("exact_answer", "regex", "length"):  # one series per registered reward function
        values = [r[f"rewards/{name}/mean"] for r in train]
        assert all(0.0 <= v <= 1.0 for v in values), (name, values)
    assert all("completions/mean_length" in r for r in train)
    # The logged reward is the weighted sum with the preset's reward_weights = [1.0, 0.5, 0.2].
    for r in train:
        weighted = r["rewards/exact_answer/mean"] + 0.5 * r["rewards/regex/mean"] + 0.2 * r["rewards/length/mean"]
        assert r["reward"] == pytest.approx(weighted, abs=1e-5)
    # The length reward is 1 - |chars - 16| / 16, so completions of 1..16 tokens never all score 0.
    assert max(r["rewards/length/mean"] for r in train) > 0

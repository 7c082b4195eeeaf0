"""`show --json`'s last_eval holds every eval metric of the last evaluated step.

Was: the last row of kind "eval" only; with evaluators at checkpoints that is the last
evaluator's row (eval/generate/...), so the step's eval_loss was missing from last_eval.
"""

from __future__ import annotations

import json

from tests.conftest import CONFIGS


def test_last_eval_merges_the_rows_of_the_last_evaluated_step(workspace, capsys):
    from workbench.cli.main import main
    from workbench.config import load_config
    from workbench.runs.store import create_run

    run = create_run(load_config(CONFIGS / "sft-lora.toml"))
    rows = [{"step": 5, "kind": "eval", "eval_loss": 2.5},
            {"step": 5, "kind": "eval", "eval/exact_match/exact_match": 0.25},
            {"step": 10, "kind": "train", "loss": 1.9},
            {"step": 10, "kind": "eval", "eval_loss": 2.0},
            {"step": 10, "kind": "eval", "eval/exact_match/exact_match": 0.5},
            {"step": 10, "kind": "eval", "eval/generate/samples": 4.0},
            {"step": -1, "kind": "evaluation", "eval/exact_match/exact_match": 0.5}]
    (run.dir / "metrics.jsonl").write_text("".join(json.dumps({"time": 1.0, **r}) + "\n" for r in rows))
    capsys.readouterr()
    assert main(["show", run.id, "--json"]) == 0
    last = json.loads(capsys.readouterr().out)["last_eval"]
    assert last["step"] == 10 and last["kind"] == "eval"
    assert last["eval_loss"] == 2.0 and last["eval/exact_match/exact_match"] == 0.5
    assert last["eval/generate/samples"] == 4.0

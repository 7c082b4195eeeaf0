"""num_tokens stays one rising count over a resume (TRL's own count restarts from 0 at every start)."""

from __future__ import annotations

import json

from transformers import TrainerControl, TrainerState, TrainingArguments

from workbench.training.callbacks import WorkbenchCallback
from workbench.training.reporter import RunReporter


def _rows(run_dir, rows):
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


def test_tokens_after_a_resume_continue_from_the_checkpoint(tmp_path):
    # the first attempt logged every 10 steps, 240 tokens a step, and stopped with checkpoint-458
    _rows(tmp_path, [{"step": s, "kind": "train", "loss": 5.0, "num_tokens": 240.0 * s} for s in range(10, 451, 10)])
    reporter = RunReporter(tmp_path)
    callback = WorkbenchCallback(reporter)
    args = TrainingArguments(output_dir=str(tmp_path / "checkpoints"), report_to=[])
    state, control = TrainerState(global_step=458, max_steps=1000), TrainerControl()
    callback.on_train_begin(args, state, control)
    # resumed: TRL counts from 0 again (2 steps, 480 tokens, at step 460)
    for step, trl_count in ((460, 480.0), (470, 480.0 + 2400.0)):
        state.global_step = step
        callback.on_log(args, state, control, logs={"loss": 4.9, "num_tokens": trl_count})
    rows = [json.loads(ln) for ln in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["num_tokens"] for r in rows[-2:]] == [240.0 * 458 + 480.0, 240.0 * 458 + 2880.0]


def test_a_count_the_trainer_restored_itself_is_left_alone(tmp_path):
    _rows(tmp_path, [{"step": s, "kind": "train", "num_tokens": 100.0 * s} for s in (10, 20)])
    callback = WorkbenchCallback(RunReporter(tmp_path))
    args = TrainingArguments(output_dir=str(tmp_path / "checkpoints"), report_to=[])
    state, control = TrainerState(global_step=20, max_steps=100), TrainerControl()
    callback.on_train_begin(args, state, control)
    state.global_step = 30
    callback.on_log(args, state, control, logs={"loss": 1.0, "num_tokens": 3000.0})
    last = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert last["num_tokens"] == 3000.0

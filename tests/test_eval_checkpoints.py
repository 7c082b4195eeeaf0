"""Per-checkpoint evaluation ([eval] at = "checkpoints", `workbench eval RUN --checkpoints all`) and early stopping."""

from __future__ import annotations

import json
import os

import pytest

from tests.conftest import CONFIGS, cli, metric_rows, status_of
from workbench.config import load_config
from workbench.errors import ConfigError
from workbench.evaluation.files import flat_metrics, read_eval, read_samples
from workbench.evaluation.settings import EarlyStopping, early_stopping_of
from workbench.testing import wait_until

ENV = {"OMP_NUM_THREADS": "1"}
CHECKPOINTED = ["--set", "trainer.args.max_steps=10", "--set", "trainer.args.save_steps=5",
                "--set", 'eval.evaluators=["perplexity", "contains", "exact_match"]', "--set", 'eval.at="checkpoints"',
                "--set", "eval.generation={max_new_tokens = 8, max_rows = 4}",
                "--set", "eval.options={perplexity = {max_rows = 8}}"]
TRACKED = ["--set", 'trainer.args.report_to=["tensorboard", "trackio"]']


def config(*overrides: str):
    return load_config(CONFIGS / "sft-lora.toml", list(overrides))


def test_eval_at_and_early_stopping_are_checked_before_launch():
    with pytest.raises(ConfigError, match=r'eval.at: "checkpoints" scores each checkpoint with eval.evaluators, but none'):
        config('eval.at="checkpoints"')
    with pytest.raises(ConfigError, match=r"eval.at: 'each' is not one of 'end', 'checkpoints'"):
        config('eval.evaluators=["perplexity"]', 'eval.at="each"')
    with pytest.raises(ConfigError, match=r"eval.generation.max_new_token: unknown key"):
        config('eval.evaluators=["perplexity"]', "eval.generation={max_new_token = 3}")
    with pytest.raises(ConfigError, match=r"eval.generation.temperature: must be a number >= 0.0"):
        config('eval.evaluators=["perplexity"]', "eval.generation={temperature = -1}")
    with pytest.raises(ConfigError, match=r"sft-lora.toml.*run.early_stopping.metric: 'eval_loss' needs evaluation rows"):
        config('run.early_stopping={metric = "eval_loss"}')
    with pytest.raises(ConfigError, match=r"run.early_stopping.metric: 'contains/contains' is a metric of evaluator "
                                          "'contains', which is not in eval.evaluators"):
        config('eval.evaluators=["perplexity"]', 'run.early_stopping={metric = "contains/contains"}')
    with pytest.raises(ConfigError, match=r'measured only at checkpoints: set eval.at = "checkpoints"'):
        config('eval.evaluators=["contains"]', 'run.early_stopping={metric = "contains/contains"}')
    with pytest.raises(ConfigError, match=r"run.early_stopping.patience: must be an integer >= 1, got 0"):
        config("data.eval_fraction=0.1", 'run.early_stopping={metric = "eval_loss", patience = 0}')
    with pytest.raises(ConfigError, match=r"run.early_stopping.patiense: unknown key"):
        config("data.eval_fraction=0.1", 'run.early_stopping={metric = "eval_loss", patiense = 2}')
    with pytest.raises(ConfigError, match="'loss' is no evaluation metric"):
        config("data.eval_fraction=0.1", 'run.early_stopping={metric = "loss"}')
    ok = config('eval.evaluators=["contains"]', 'eval.at="checkpoints"',
                'run.early_stopping={metric = "contains/contains", patience = 2}')
    assert early_stopping_of(ok.data) == EarlyStopping("eval/contains/contains", 2, 0.0, "max")
    assert early_stopping_of(config("data.eval_fraction=0.1", 'run.early_stopping={metric = "eval_loss"}').data).mode == "min"


def test_early_stopper_counts_evaluations_without_improvement():
    from workbench.evaluation.callbacks import EarlyStopper

    class Events:
        def __init__(self):
            self.seen = []

        def event(self, name, **data):
            self.seen.append((name, data))

    events = Events()
    stopper = EarlyStopper(EarlyStopping("eval_loss", patience=2, threshold=0.1, mode="min"), events)
    # 1.0 best; 0.95 is not better by more than 0.1; 0.8 is (resets); then two that are not: stop
    decisions = [stopper.observe(step, {"eval_loss": v}) for step, v in ((1, 1.0), (2, 0.95), (3, 0.8), (4, 0.75),
                                                                         (5, 0.79))]
    assert decisions == [False, False, False, False, True]
    (name, data), = events.seen
    assert name == "early_stopping" and data["best"] == 0.8 and data["best_step"] == 3 and data["step"] == 5
    rising = EarlyStopper(EarlyStopping("eval/contains/contains", patience=1, mode="max"), events)
    assert [rising.observe(s, {"eval/contains/contains": v}) for s, v in ((1, 0.2), (2, 0.5), (3, 0.5))] == \
        [False, False, True]
    missing = EarlyStopper(EarlyStopping("eval_loss", patience=1), events)
    assert not missing.observe(1, {"eval_other": 1.0}) and not missing.observe(2, {"eval_loss": float("nan")})
    assert events.seen[-1][0] == "warning" and "no finite 'eval_loss'" in events.seen[-1][1]["message"]


@pytest.fixture(scope="module")
def scored_run(tmp_path_factory):
    """One LoRA run whose checkpoints are scored in the job, then again by `workbench eval --checkpoints all`."""
    from workbench.runs.store import list_runs

    ws = tmp_path_factory.mktemp("ws")
    env = {**ENV, "WORKBENCH_WORKSPACE": str(ws)}
    trained = cli("run", str(CONFIGS / "sft-lora.toml"), *CHECKPOINTED, *TRACKED, env=env, cwd=ws)
    assert trained.returncode == 0, trained.stdout + trained.stderr
    again = cli("eval", "last", "--checkpoints", "all", env=env, cwd=ws)
    assert again.returncode == 0, again.stdout + again.stderr
    old = os.environ.get("WORKBENCH_WORKSPACE")
    os.environ["WORKBENCH_WORKSPACE"] = str(ws)
    try:
        train_run, eval_run = list_runs(ws)
    finally:
        os.environ.pop("WORKBENCH_WORKSPACE") if old is None else os.environ.__setitem__("WORKBENCH_WORKSPACE", old)
    return train_run, eval_run, again.stdout


@pytest.mark.slow
def test_each_checkpoint_is_scored_as_it_is_saved(scored_run):
    run, _, _ = scored_run
    assert status_of(run.dir)["status"] == "completed"
    entries = read_eval(run.dir)
    assert [(e["checkpoint"], e["step"]) for e in entries] == [("checkpoint-5", 5), ("checkpoint-10", 10), ("final", None)]
    for e in entries:
        assert set(e["metrics"]) == {"perplexity", "contains", "exact_match"}
        assert e["settings"]["contains"]["generation"] == {"max_new_tokens": 8, "temperature": 0.0, "top_p": 1.0,
                                                           "seed": 42, "stop": [], "batch_size": 8, "greedy": True}
    # task-metric curves beside the loss: kind "eval" rows at the checkpoint steps
    curve = [r for r in metric_rows(run.dir, kind="eval") if "eval/contains/contains" in r]
    assert [r["step"] for r in curve] == [5, 10]
    ck10, final = flat_metrics(entries[1]), flat_metrics(entries[2])
    assert ck10["perplexity/perplexity"] == pytest.approx(final["perplexity/perplexity"], rel=1e-4)  # same weights
    samples = read_samples(run.dir)
    assert len(samples) == 3 * 8  # perplexity's 8 rows; the generating evaluators' 4 merge into the first 4
    first = next(s for s in samples if s["checkpoint"] == "checkpoint-5" and s["index"] == 0)
    assert first["prompt"][-1]["role"] == "user" and isinstance(first["reference"], str)
    assert isinstance(first["generation"], str) and set(first["scores"]) == {"perplexity", "contains", "exact_match"}
    assert set(first["failed"]) <= {"contains", "exact_match"}
    assert sum(s["scores"]["contains"] for s in samples if s["checkpoint"] == "final" and "contains" in s["scores"]) \
        == pytest.approx(4 * final["contains/contains"])


@pytest.mark.slow
def test_checkpoint_scores_reach_the_trackers_at_their_steps_once(scored_run):
    """report_to's TensorBoard and trackio get every evaluator's scores beside train/loss, at the checkpoint
    steps, with the values of metrics.jsonl; the final model (step 10 again) is not a second point there."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from workbench.sources import source_for

    run, _, _ = scored_run
    rows = [json.loads(line) for line in (run.dir / "metrics.jsonl").read_text().splitlines()]
    scored = [r for r in rows if any(k.startswith("eval/") for k in r)]
    assert [(r["kind"], r["step"]) for r in scored] == [("eval", 5)] * 3 + [("eval", 10)] * 3 + [("evaluation", -1)] * 3
    assert not [k for r in rows for k in r if k.startswith("eval_") and "/" in k]  # nothing came back as a log row
    ours = {(r["step"], k): v for r in scored if r["kind"] == "eval" for k, v in r.items() if k.startswith("eval/")}
    final = {k: v for r in scored if r["kind"] == "evaluation" for k, v in r.items() if k.startswith("eval/")}
    assert len(ours) == 2 * len(final) and {k for _, k in ours} == set(final)

    (events,) = (run.dir / "tensorboard").glob("events.out.tfevents.*")  # one writer, closed after the final pass
    board = EventAccumulator(str(events))
    board.Reload()
    tags = board.Tags()["scalars"]
    assert "train/loss" in tags
    theirs = {(e.step, tag): e.value for tag in tags if tag.startswith("eval/") for e in board.Scalars(tag)}
    assert len(theirs) == sum(len(board.Scalars(t)) for t in tags if t.startswith("eval/"))  # one point per step
    assert theirs.keys() == ours.keys()
    for key, value in ours.items():
        assert theirs[key] == pytest.approx(value, rel=1e-6), key  # TensorBoard keeps float32

    tracked = source_for(run.dir / "trackio").poll().metrics  # the workbench's reader: the same names
    evaluated = [r for r in tracked if r["kind"] == "eval"]
    assert [r["step"] for r in evaluated] == [5] * 3 + [10] * 3  # one row per evaluator and checkpoint
    assert {(r["step"], k): v for r in evaluated for k, v in r.items() if k.startswith("eval/")} == ours
    assert [r["step"] for r in tracked if r["kind"] == "train"] == list(range(1, 11))


@pytest.mark.slow
def test_eval_checkpoints_all_rescoring_matches_the_job_and_perplexity_falls_after_sft(scored_run):
    run, eval_run, stdout = scored_run
    assert "perplexity [checkpoint-5]:" in stdout and "contains [final]:" in stdout
    entries = {e["checkpoint"]: flat_metrics(e) for e in read_eval(eval_run.dir)}
    assert list(entries) == ["base", "checkpoint-5", "checkpoint-10", "final"]
    in_job = {e["checkpoint"]: flat_metrics(e) for e in read_eval(run.dir)}
    for name in ("checkpoint-5", "checkpoint-10", "final"):  # the saved adapter scores what the live model scored
        assert entries[name]["perplexity/perplexity"] == pytest.approx(in_job[name]["perplexity/perplexity"], rel=1e-4)
        assert entries[name]["contains/contains"] == in_job[name]["contains/contains"]
    ppl = [entries[n]["perplexity/perplexity"] for n in ("base", "checkpoint-5", "checkpoint-10")]
    assert ppl[0] > ppl[1] > ppl[2], ppl  # perplexity of the tiny model falls as SFT goes on
    # greedy generation is deterministic: two processes, same checkpoint, same text
    job = {(s["checkpoint"], s["index"]): s["generation"] for s in read_samples(run.dir) if s["generation"] is not None}
    redo = {(s["checkpoint"], s["index"]): s["generation"] for s in read_samples(eval_run.dir)
            if s["generation"] is not None and s["checkpoint"] != "base"}
    assert redo == job and len(job) == 12
    rows = metric_rows(eval_run.dir, kind="eval")
    assert sorted({r["step"] for r in rows}) == [0, 5, 10]  # final (step 10 again) is not a second point
    assert eval_run.config()["trainer"]["checkpoints"][0]["name"] == "base"


@pytest.mark.slow
@pytest.mark.parametrize("metric", ["eval_loss", "perplexity/perplexity"])
def test_early_stopping_ends_a_run_on_a_plateaued_metric(workspace, metric):
    from workbench.runs.store import list_runs

    task = metric != "eval_loss"
    extra = (['eval.evaluators=["perplexity"]', 'eval.at="checkpoints"', "trainer.args.save_steps=1",
              "eval.options={perplexity = {max_rows = 4}}"] if task else
             ["data.eval_fraction=0.02", "trainer.args.eval_steps=1", "trainer.args.per_device_eval_batch_size=8"])
    overrides = ["trainer.args.max_steps=30", "trainer.args.learning_rate=0.0",  # nothing changes: a plateau
                 f'run.early_stopping={{metric = "{metric}", patience = 2}}', *extra]
    result = cli("run", str(CONFIGS / "sft-lora.toml"), *[a for o in overrides for a in ("--set", o)], env=ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = list_runs(workspace)
    assert status_of(run.dir)["status"] == "completed"
    (stop,) = [e for e in run.events() if e["event"] == "early_stopping"]
    key = "eval_loss" if not task else "eval/perplexity/perplexity"
    assert stop["metric"] == key and stop["step"] == 3 and stop["best_step"] == 1 and stop["patience"] == 2
    assert max(r["step"] for r in metric_rows(run.dir)) == 3  # stopped at step 3 of 30
    assert (run.dir / "checkpoints" / "final").is_dir()


@pytest.mark.slow
async def test_the_tui_compares_checkpoints_and_launches_an_evaluation(scored_run):
    """An evaluation over two checkpoints produces both results, and the TUI compares them."""
    from textual.widgets import DataTable, SelectionList

    from workbench.tui.app import WorkbenchApp
    from workbench.tui.screens.eval_results import EvalResultsScreen
    from workbench.tui.screens.evaluate import EvaluateScreen
    from workbench.tui.screens.samples import SamplesScreen

    run, eval_run, _ = scored_run
    ws = run.dir.parent.parent
    app = WorkbenchApp(workspace=ws, runs_poll=0.5)
    async with app.run_test(size=(140, 40)) as pilot:
        app.open_eval_results(run.id)  # the run and the evaluation made of it
        screen = await wait_until(pilot, lambda: isinstance(app.screen, EvalResultsScreen) and app.screen.rows
                             and app.screen, 10, "results")
        assert [(r.run_id, r.checkpoint) for r in screen.rows] == [
            (run.id, "checkpoint-5"), (run.id, "checkpoint-10"), (run.id, "final"),
            (eval_run.id, "base"), (eval_run.id, "checkpoint-5"), (eval_run.id, "checkpoint-10"),
            (eval_run.id, "final")]
        table = screen.query_one(DataTable)
        column = [str(c.label) for c in table.columns.values()].index("perplexity/perplexity")
        shown = [str(table.get_row_at(i)[column]) for i in range(table.row_count)]
        expected = [f"{e['metrics']['perplexity']['perplexity']:.4g}" for d in (run.dir, eval_run.dir)
                    for e in read_eval(d)]
        assert shown == expected
        await pilot.press("s")
        samples = await wait_until(pilot, lambda: isinstance(app.screen, SamplesScreen) and app.screen.prompts
                              and app.screen, 10, "samples")
        assert f"{run.id} checkpoint-5" in samples.labels and f"{eval_run.id} base" in samples.labels
        first = samples.visible[0]
        assert first.by_label[f"{run.id} checkpoint-10"]["generation"] == \
            first.by_label[f"{eval_run.id} checkpoint-10"]["generation"]
        await pilot.press("escape", "escape")

        # the Evaluate form launches `workbench eval RUN --checkpoints checkpoint-5,checkpoint-10 -e perplexity`
        app.open_evaluate(run.id)
        form = await wait_until(pilot, lambda: isinstance(app.screen, EvaluateScreen) and app.screen.runs
                           and app.screen, 20, "form")
        checkpoints = form.query_one("#evaluate-checkpoints", SelectionList)
        checkpoints.deselect("base")
        checkpoints.deselect("final")
        evaluators = form.query_one("#evaluate-evaluators", SelectionList)
        evaluators.deselect_all()
        evaluators.select("perplexity")
        await pilot.press("ctrl+s")
        results = await wait_until(pilot, lambda: isinstance(app.screen, EvalResultsScreen) and len(app.screen.rows) == 2
                              and app.screen, 240, "the launched evaluation's results")
        new_dir = results.run_dirs[0]
        assert new_dir not in (run.dir, eval_run.dir)
        assert [r.checkpoint for r in results.rows] == ["checkpoint-5", "checkpoint-10"]
        for row in results.rows:
            job = next(e for e in read_eval(run.dir) if e["checkpoint"] == row.checkpoint)
            assert row.metrics["perplexity/perplexity"] == pytest.approx(job["metrics"]["perplexity"]["perplexity"],
                                                                         rel=1e-4)
        await wait_until(pilot, lambda: status_of(new_dir)["status"] == "completed", 60, "the evaluation to end")


CHAT_SCRIPT = r'''
import asyncio, json, sys
from pathlib import Path
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.chat import ChatScreen

async def main(run_dir):
    app = WorkbenchApp(workspace=Path(run_dir).parent.parent)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = ChatScreen(Path(run_dir), "checkpoint-10", max_new_tokens=12)
        app.push_screen(screen)
        for _ in range(1200):
            await pilot.pause(0.1)
            if screen.ready or "cannot" in str(screen.query_one("#chat-status").render()):
                break
        replies = []
        for text in ("What is 2 plus 2?", "And 3 plus 3?"):
            screen.query_one("#chat-input").value = text
            await pilot.press("enter")
            for _ in range(600):
                await pilot.pause(0.1)
                if not screen.busy:
                    break
            replies.append(screen.messages[-1]["content"])
        child = screen.process.proc
        await pilot.press("escape")
        await child.wait()
        print(json.dumps({"replies": replies, "messages": screen.messages, "torch": "torch" in sys.modules,
                          "child_exit": child.returncode}))

asyncio.run(main(sys.argv[1]))
'''


@pytest.mark.slow
def test_chat_with_a_checkpoint_runs_the_model_outside_the_tui(scored_run, tmp_path):
    import subprocess
    import sys

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from workbench.evaluation.generation import GenerationSettings, generate

    run, _, _ = scored_run
    script = tmp_path / "chat.py"
    script.write_text(CHAT_SCRIPT)
    out = subprocess.run([sys.executable, str(script), str(run.dir)], capture_output=True, text=True, timeout=600,
                         env={**os.environ, **ENV})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["torch"] is False  # the viewer never imported torch: the model ran in the child
    assert result["child_exit"] is not None
    from peft import PeftModel

    from tests.conftest import MODEL

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(MODEL),
                                      str(run.dir / "checkpoints" / "checkpoint-10")).eval()
    tok = AutoTokenizer.from_pretrained(MODEL)
    settings = GenerationSettings(max_new_tokens=12, batch_size=1)
    with torch.no_grad():  # the same greedy replies, turn by turn, with the history
        first = generate(model, tok, [[{"role": "user", "content": "What is 2 plus 2?"}]], settings)[0]["generation"]
        history = [{"role": "user", "content": "What is 2 plus 2?"}, {"role": "assistant", "content": first},
                   {"role": "user", "content": "And 3 plus 3?"}]
        second = generate(model, tok, [history], settings)[0]["generation"]
    assert result["replies"] == [first, second]
    assert [m["role"] for m in result["messages"]] == ["user", "assistant", "user", "assistant"]

"""Runs of other tools as read-only run sources: TensorBoard, trackio, LLaMA-Factory, plugins' own."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import CONFIGS, cli, metric_rows
from workbench.sources import source_for
from workbench.sources.llamafactory import LlamaFactorySource, metric_row, seconds
from workbench.sources.tfevents import TfEventsSource
from workbench.sources.trackio import TrackioSource

# Lines as LLaMA-Factory 0.9's LogCallback writes them (keys with None values are dropped).
LF_LINES = [
    {"current_steps": 1, "total_steps": 4, "loss": 2.5, "lr": 5e-05, "epoch": 0.25, "percentage": 25.0,
     "elapsed_time": "0:00:01", "remaining_time": "0:00:03", "throughput": 812.5, "total_tokens": 812},
    {"current_steps": 2, "total_steps": 4, "loss": 2.25, "lr": 4e-05, "epoch": 0.5, "percentage": 50.0,
     "elapsed_time": "0:00:02", "remaining_time": "0:00:02"},
    {"current_steps": 2, "total_steps": 4, "eval_loss": 2.4, "epoch": 0.5, "percentage": 50.0,
     "elapsed_time": "0:00:02", "remaining_time": "0:00:02"},
]


def test_llamafactory_log_lines_become_metric_rows_live(tmp_path):
    out = tmp_path / "saves" / "qwen-lora"
    out.mkdir(parents=True)
    log = out / "trainer_log.jsonl"
    log.write_text("".join(json.dumps(x) + "\n" for x in LF_LINES[:2]))
    source = source_for(out)
    assert isinstance(source, LlamaFactorySource) and not source.controllable
    first = source.poll()
    assert first.metrics == [
        {"step": 1, "kind": "train", "epoch": 0.25, "loss": 2.5, "learning_rate": 5e-05, "tokens_per_second": 812.5,
         "num_tokens": 812},
        {"step": 2, "kind": "train", "epoch": 0.5, "loss": 2.25, "learning_rate": 4e-05}]
    assert first.status["status"] == "running" and first.status["max_steps"] == 4 and first.status["eta"] == 2.0
    with open(log, "a") as f:  # the run goes on: only the new line comes
        f.write(json.dumps(LF_LINES[2]) + "\n" + '{"current_steps": 3, "loss": ')  # and a line being written
    second = source.poll()
    assert second.metrics == [{"step": 2, "kind": "eval", "epoch": 0.5, "eval_loss": 2.4}]
    with open(log, "a") as f:
        f.write('2.0, "total_steps": 4}\n{"current_steps": 4, "total_steps": 4, "loss": 1.9}\n')
    third = source.poll()
    assert [r["step"] for r in third.metrics] == [3, 4] and third.status["status"] == "completed"
    assert metric_row({"current_steps": 5, "total_steps": 9, "percentage": 55.0}) is None  # progress only
    assert seconds("1 day, 2:03:04") == 93784 and seconds("n/a") is None


def test_a_plugin_registers_its_own_run_source(tmp_path, monkeypatch):
    """register_run_sources(): a plugin's reader is picked for the folders its detect() claims."""
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "csvlog.py").write_text('''
from pathlib import Path
from workbench.hookspecs import hookimpl
from workbench.sources.base import Update
from workbench.specs import RunSourceSpec


def detect(path):
    return 0.95 if (Path(path) / "log.csv").is_file() else 0.0


class CsvSource:
    controllable = False

    def __init__(self, path):
        self.dir = Path(path)
        self.id = self.title = self.dir.name

    def poll(self):
        lines = (self.dir / "log.csv").read_text().split()
        rows = [{"step": int(s), "kind": "train", "loss": float(v)} for s, v in (x.split(",") for x in lines)]
        return Update(status={"id": self.id, "status": "idle", "trainer": "csv"}, metrics=rows)

    def console_path(self):
        return None

    def console_lines(self):
        return []

    def config(self):
        return {}


@hookimpl
def register_run_sources():
    return [RunSourceSpec("csvlog", "csvlog:CsvSource", "csvlog:detect", "step,loss lines")]
''')
    monkeypatch.syspath_prepend(str(plugin_dir))
    monkeypatch.setenv("WORKBENCH_PLUGINS_DIR", str(plugin_dir))
    import workbench.plugin_manager as pm

    monkeypatch.setattr(pm, "_REGISTRY", None)
    run = tmp_path / "other-tool-run"
    run.mkdir()
    (run / "log.csv").write_text("1,2.5\n2,2.0\n")
    (run / "trainer_state.json").write_text('{"log_history": []}')  # an HF Trainer folder too: less sure
    source = source_for(run)
    assert type(source).__name__ == "CsvSource"
    assert [r["loss"] for r in source.poll().metrics] == [2.5, 2.0]
    assert "csvlog" in pm.get_registry().run_sources


@pytest.mark.slow
def test_tensorboard_and_trackio_output_opens_as_runs_equal_to_metrics_jsonl(workspace):
    """report_to = ["tensorboard", "trackio"] writes both into the run; both read back as the same curves,
    the final evaluators' scores (after training ended) at the last step."""
    from workbench.runs.store import list_runs

    result = cli("run", str(CONFIGS / "sft-lora.toml"), "--set", "trainer.args.max_steps=6",
                 "--set", 'trainer.args.report_to=["tensorboard", "trackio"]', "--set", "data.eval_fraction=0.05",
                 "--set", "trainer.args.eval_steps=3", "--set", 'eval.evaluators=["perplexity", "contains"]',
                 "--set", "eval.generation={max_new_tokens = 4, max_rows = 2}", env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = list_runs(workspace)
    assert sorted(p.name for p in (run.dir / "trackio").glob("*.db")) == ["workbench.db"]
    # one writer, open until the final evaluators' scores were written (none reopened after training ended)
    assert len(list((run.dir / "tensorboard").glob("events.out.tfevents.*"))) == 1
    ours = {(r["step"], r["kind"]): r for r in metric_rows(run.dir) + metric_rows(run.dir, kind="eval")}
    final = {k: v for r in metric_rows(run.dir, kind="evaluation") for k, v in r.items() if k.startswith("eval/")}
    assert "eval/perplexity/perplexity" in final and "eval/contains/contains" in final
    for folder, kind, rel in ((run.dir / "tensorboard", TfEventsSource, 1e-6), (run.dir / "trackio", TrackioSource, 0)):
        source = source_for(folder)
        assert isinstance(source, kind) and not source.controllable
        update = source.poll()
        theirs: dict = {}
        for r in update.metrics:  # trackio: a row per log call (the Trainer's eval, then each evaluator's)
            theirs.setdefault((r["step"], r["kind"]), {}).update(r)
        assert set(theirs) == set(ours), folder  # the same train and eval points
        for key, row in ours.items():
            for metric in ("loss", "learning_rate", "grad_norm", "eval_loss"):
                if metric in row:
                    assert theirs[key][metric] == pytest.approx(row[metric], rel=rel, abs=1e-12), (folder, key, metric)
        scores = {k: v for k, v in theirs[(6, "eval")].items() if k.startswith("eval/")}  # the final model's
        assert scores == pytest.approx(final, rel=rel), folder
        assert update.status["step"] == 6 and update.status["loss"] == pytest.approx(ours[(6, "train")]["loss"], rel=1e-6)
        assert source.poll().metrics == []  # nothing new
    once = subprocess.run([sys.executable, "-m", "workbench", "watch", str(run.dir / "trackio"), "--once"],
                          capture_output=True, text=True, timeout=120)
    assert once.returncode == 0, once.stderr
    rows = len(ours) + 2  # and a row of each final evaluator
    assert once.stdout.strip().splitlines()[-1].endswith(f"step 6/6, {rows} rows (trackio)")

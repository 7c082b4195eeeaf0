"""What `validate` passes, `run` must not reject for the same reason (issue 9, "validation gaps").

Each case below validated as ok on 7407313 and then failed inside the job (or trained on
garbage). Now `validate` exits 2 with one `error:` line naming the key or row, and `run`
refuses the same config before making a run directory. The slow test at the end shows, for
the cases where the job itself fails, that it fails for that very reason when the checks are
bypassed (so the errors are not false alarms).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
from pathlib import Path

import pytest

from tests.conftest import CONFIGS, DATA, MODEL

GOOD_ROWS = [json.dumps({"messages": [{"role": "user", "content": f"What is {i} plus 1?"},
                                      {"role": "assistant", "content": f"{i} plus 1 is {i + 1}."}]})
             for i in range(20)]


def sft_config(folder: Path, extra: str = "") -> Path:
    text = (CONFIGS / "sft.toml").read_text().replace("../models/tiny-llama", str(MODEL)).replace("../data", str(DATA))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "job.toml"
    path.write_text(text + extra)
    return path


def four_bad_rows(folder: Path) -> Path:
    rows = list(GOOD_ROWS)
    rows[2] = rows[2][:29]                                   # line 3: cut short after '"role": "user"' 
    rows[5] = rows[5].replace('"assistant"', '"bot"')         # line 6: unknown role
    rows[9] = json.dumps({"text": "no messages"})             # line 10: wrong shape
    rows[14] = "[1, 2]"                                       # line 15: not an object
    path = folder / "four-bad.jsonl"
    path.write_text("\n".join(rows) + "\n")
    return path


def deep_json(folder: Path) -> Path:
    path = folder / "deep.jsonl"
    path.write_text("\n".join(GOOD_ROWS[:3] + ['{"messages": ' + "[" * 1000 + "]" * 1000 + "}"] + GOOD_ROWS[3:]) + "\n")
    return path


def zero_byte_model(folder: Path) -> Path:
    model = folder / "zero-model"
    model.mkdir()
    for f in MODEL.iterdir():
        (model / f.name).touch()
    return model


def no_tokenizer_config_model(folder: Path) -> Path:
    """The tiny model without tokenizer_config.json: its tokenizer has neither a pad nor an eos token."""
    model = folder / "no-tokenizer-config"
    shutil.copytree(MODEL, model)
    (model / "tokenizer_config.json").unlink()
    return model


def empty_weights_model(folder: Path) -> Path:
    model = folder / "no-weights"
    shutil.copytree(MODEL, model)
    (model / "model.safetensors").write_bytes(b"")
    return model


# (id, build(tmp) -> --set overrides, fragments of the error line)
CASES = [
    ("learning_rate-nan", lambda t: ["trainer.args.learning_rate=nan"],
     ["trainer.args.learning_rate", "nan is not a finite number"]),
    ("learning_rate-1e999", lambda t: ["trainer.args.learning_rate=1e999"],
     ["trainer.args.learning_rate", "inf is not a finite number"]),
    ("batch-size-0", lambda t: ["trainer.args.per_device_train_batch_size=0"],
     ["trainer.args.per_device_train_batch_size", "0 out of range (must be >= 1)"]),
    ("max_steps-negative", lambda t: ["trainer.args.max_steps=-5"],
     ["trainer.args.max_steps", "-5 out of range", "-1 trains for num_train_epochs"]),
    ("max_steps-beyond-int64", lambda t: ["trainer.args.max_steps=99999999999999999999"],
     ["trainer.args.max_steps", "does not fit a 64-bit integer"]),
    ("model-of-0-byte-files", lambda t: [f'model.path="{zero_byte_model(t)}"'],
     ["model.path", "empty file", "config.json"]),
    ("model-with-empty-weights", lambda t: [f'model.path="{empty_weights_model(t)}"'],
     ["model.path", "weights file (0 bytes)", "model.safetensors"]),
    ("report_to-wandb-missing", lambda t: ['trainer.args.report_to="wandb"'],
     ["trainer.args.report_to", "pip install wandb"]),
    ("report_to-typo", lambda t: ['trainer.args.report_to="tensorbord"'],
     ["trainer.args.report_to", "did you mean 'tensorboard'"]),
    ("four-bad-rows", lambda t: [f'data.train="{four_bad_rows(t)}"'],
     ["data.train", "4 of 20 rows are invalid", "four-bad.jsonl:3: invalid JSON: Expecting ',' delimiter (column 30)"]),
    ("json-nested-1000-deep", lambda t: [f'data.train="{deep_json(t)}"'],
     ["data.train", "deep.jsonl:4", "nested too deeply"]),
    ("column-mapping-to-nothing", lambda t: ['data.columns={messages="nosuchcol"}'],
     ["data.columns", "'nosuchcol'", "not in sft-messages.jsonl"]),
    ("config-class-own-check", lambda t: ["trainer.args.load_best_model_at_end=true"],
     ["trainer.args.load_best_model_at_end", "SFTConfig refuses it", "save and eval strategy"]),
    ("lora-targets-nothing", lambda t: ['peft.target_modules=["q_projj"]'],
     ["peft.target_modules", "LoRA would train nothing"]),
    ("padding_free-without-packing", lambda t: ["trainer.args.padding_free=true"],
     ["trainer.args.padding_free", "SFTTrainer refuses it", "set packing = true"]),
    ("pad_token-not-in-vocabulary", lambda t: ['trainer.args.pad_token="<pad>"'],
     ["trainer.args.pad_token", "'<pad>' is not a token of the tokenizer"]),
    ("eval_strategy-without-eval-rows", lambda t: ['trainer.args.eval_strategy="steps"'],
     ["trainer.args.eval_strategy", "the Trainer refuses it", "set data.eval or data.eval_fraction"]),
    ("tokenizer-without-pad-or-eos", lambda t: [f'model.path="{no_tokenizer_config_model(t)}"'],
     ["trainer.args.pad_token", "SFTTrainer refuses it", "neither a pad_token nor an eos_token", "<|end|>"]),
]


def _main(capsys, *argv: str) -> tuple[int, str]:
    from workbench.cli.main import main

    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.err


def _error_line(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize("case,build,expect", CASES, ids=[c[0] for c in CASES])
def test_validate_and_run_refuse_before_launch(workspace, tmp_path, capsys, case, build, expect, monkeypatch):
    if case == "report_to-wandb-missing":  # also where wandb is installed: the check asks find_spec
        real = importlib.util.find_spec
        monkeypatch.setattr(importlib.util, "find_spec",
                            lambda name, *a: None if name.split(".")[0] == "wandb" else real(name, *a))
    config = sft_config(tmp_path / "cfg")
    sets = [a for s in build(tmp_path) for a in ("--set", s)]

    code, err = _main(capsys, "validate", str(config), *sets)
    line = _error_line(err)
    assert code == 2
    for fragment in expect:
        assert fragment in line, (fragment, line)
    assert "job.toml" in line

    code, err = _main(capsys, "run", "-d", str(config), *sets)
    assert code == 2 and _error_line(err) == line
    runs = workspace / "runs"
    assert not runs.exists() or not any(runs.iterdir()), list(runs.iterdir())


def test_the_same_config_without_the_mistake_validates(workspace, tmp_path, capsys):
    """The cases above fail for their one mistake, not for something in the base config."""
    code, err = _main(capsys, "validate", str(sft_config(tmp_path / "cfg")))
    assert code == 0, err


def test_a_bad_rows_message_is_the_same_in_validate_data_check_and_the_job(tmp_path):
    """Line 3 read `(column 1)` in the job and `column 57` in data check: the same column everywhere now."""
    from workbench.data.loading import prepare
    from workbench.data.validate import check_source
    from workbench.plugin_manager import get_registry

    path = four_bad_rows(tmp_path)
    formats = get_registry().data_formats
    cfg = {"format": "auto", "columns": {}}
    checked = [b.line() for b in check_source(str(path), formats, cfg).bad]
    in_job = [b.line() for b in prepare(str(path), cfg, formats).bad]
    assert checked == in_job
    assert [line.split(":")[1] for line in checked] == ["3", "6", "10", "15"]
    assert checked[0].endswith("invalid JSON: Expecting ',' delimiter (column 30)")  # the job said (column 1)


def test_skipped_bad_rows_are_a_warning_and_all_bad_an_error(workspace, tmp_path, capsys):
    config = sft_config(tmp_path / "cfg")
    bad = four_bad_rows(tmp_path)
    code, err = _main(capsys, "validate", str(config), "--set", f'data.train="{bad}"', "--set", 'data.on_invalid="skip"')
    assert code == 0, err
    assert "warning:" in err and "4 of 20 rows are invalid and will be skipped" in err
    allbad = tmp_path / "all-bad.jsonl"
    allbad.write_text(GOOD_ROWS[0].replace('"assistant"', '"bot"') + "\n[1]\n")
    code, err = _main(capsys, "validate", str(config), "--set", f'data.train="{allbad}"', "--set",
                      'data.on_invalid="skip"')
    assert code == 2 and "2 of 2 rows are invalid" in _error_line(err)


def test_max_rows_checks_only_the_rows_the_job_reads(workspace, tmp_path, capsys):
    """With data.max_rows = 2 the job reads lines 1-2 only: a bad line 3 is not its problem."""
    config = sft_config(tmp_path / "cfg")
    bad = four_bad_rows(tmp_path)
    code, err = _main(capsys, "validate", str(config), "--set", f'data.train="{bad}"', "--set", "data.max_rows=2")
    assert code == 0, err
    code, err = _main(capsys, "validate", str(config), "--set", f'data.train="{bad}"', "--set", "data.max_rows=3")
    assert code == 2 and "1 of 3 rows are invalid" in _error_line(err)


def test_an_eval_fraction_that_leaves_no_training_row_is_refused(workspace, tmp_path, capsys):
    """Was: validate said ok, and the job failed with datasets' bare ValueError ("the resulting train set
    will be empty"): eval_fraction's hold-out is rounded up, of the valid rows (after on_invalid = "skip")."""
    from workbench.data.cache import split_holdout
    from workbench.errors import DataError

    config = sft_config(tmp_path / "cfg")
    bad = four_bad_rows(tmp_path)  # 16 valid rows of 20
    sets = ["--set", f'data.train="{bad}"', "--set", 'data.on_invalid="skip"']
    code, err = _main(capsys, "validate", str(config), *sets, "--set", "data.eval_fraction=0.9")
    assert code == 0, err   # 15 of 16 held out, one row left to train on
    code, err = _main(capsys, "validate", str(config), *sets, "--set", "data.eval_fraction=0.95")
    assert code == 2 and "data.eval_fraction: holding out 0.95 of 16 valid rows (16, rounded up)" in _error_line(err)
    from datasets import Dataset

    with pytest.raises(DataError, match="leaves none to train on"):  # the job's own split says the same
        split_holdout(Dataset.from_list([{"text": "a"}, {"text": "b"}]), 0.6, seed=0)


def test_tensorboard_without_its_package_names_the_package(workspace, tmp_path, monkeypatch):
    import workbench.config.integrations as integrations
    from workbench.config import load_config
    from workbench.errors import ConfigError

    real = importlib.util.find_spec
    hidden = {"tensorboard", "tensorboardX"}
    monkeypatch.setattr(integrations.importlib.util, "find_spec",
                        lambda name, *a: None if name in hidden else real(name, *a))
    config = sft_config(tmp_path / "cfg")
    with pytest.raises(ConfigError) as info:
        load_config(config, ['trainer.args.report_to=["trackio", "tensorboard"]'], deep=False)
    assert info.value.one_line().endswith("trainer.args.report_to: 'tensorboard' needs the tensorboard package, "
                                          "which is not installed here: pip install tensorboard")
    hidden.clear()
    load_config(config, ['trainer.args.report_to=["trackio", "tensorboard"]'], deep=False)


def test_wandb_without_a_login_is_refused_and_offline_mode_is_fine(workspace, tmp_path, monkeypatch):
    """Tracker secrets come from the environment: no key there and no offline mode = the job would stall."""
    import workbench.config.integrations as integrations
    from workbench.config import load_config
    from workbench.errors import ConfigError

    real = importlib.util.find_spec
    monkeypatch.setattr(integrations.importlib.util, "find_spec",
                        lambda name, *a: object() if name == "wandb" else real(name, *a))
    for var in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_DISABLED"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    config = sft_config(tmp_path / "cfg")
    with pytest.raises(ConfigError) as info:
        load_config(config, ['trainer.args.report_to="wandb"'], deep=False)
    assert "export WANDB_API_KEY" in info.value.one_line()
    load_config(config, ['trainer.args.report_to="wandb"', 'launch.env.WANDB_MODE="offline"'], deep=False)
    monkeypatch.setenv("WANDB_API_KEY", "from-the-environment")
    load_config(config, ['trainer.args.report_to="wandb"'], deep=False)


def test_report_to_names_are_transformers_own():
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    from workbench.config.integrations import INTEGRATIONS

    assert set(INTEGRATIONS) == set(INTEGRATION_TO_CALLBACK)


@pytest.mark.parametrize("override", ['trainer.args.hub_token="hf_abcdef"', 'launch.env.WANDB_API_KEY="abc"'])
def test_tracker_and_hub_secrets_in_the_config_are_refused(workspace, tmp_path, capsys, override):
    code, err = _main(capsys, "validate", str(sft_config(tmp_path / "cfg")), "--set", override)
    assert code == 2 and "secret" in _error_line(err) and override.split("=")[0] in _error_line(err)


def test_a_shard_index_naming_a_missing_shard(tmp_path):
    from workbench.config.model_files import model_folder_problem

    model = tmp_path / "sharded"
    shutil.copytree(MODEL, model)
    (model / "model.safetensors.index.json").write_text(json.dumps(
        {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    assert "model-00001-of-00002.safetensors" in model_folder_problem(str(model))


def test_a_truncated_safetensors_file(tmp_path):
    from workbench.config.model_files import model_folder_problem

    model = tmp_path / "cut"
    shutil.copytree(MODEL, model)
    data = (MODEL / "model.safetensors").read_bytes()
    (model / "model.safetensors").write_bytes(data[: len(data) // 2])
    (length,) = struct.unpack("<Q", data[:8])
    assert len(data) // 2 > 8 + length  # the header itself is whole: the tensors are cut
    assert "truncated weights file" in model_folder_problem(str(model))
    assert model_folder_problem(str(MODEL)) is None


# --- before the fix, the job failed for these very reasons -------------------------------------

JOB_FAILURES = [
    ("batch-size-0", lambda t, d: d["trainer"]["args"].update(per_device_train_batch_size=0), "batch_size"),
    ("report_to-typo", lambda t, d: d["trainer"]["args"].update(report_to="tensorbord"), "tensorbord"),
    ("four-bad-rows", lambda t, d: d["data"].update(train=str(four_bad_rows(t))), "4 of 20 rows are invalid"),
    ("model-with-empty-weights", lambda t, d: d["model"].update(path=str(empty_weights_model(t))), "model.safetensors"),
    ("eval_strategy-without-eval-rows", lambda t, d: d["trainer"]["args"].update(eval_strategy="steps"),
     "didn't pass an `eval_dataset`"),
    ("padding_free-without-packing", lambda t, d: d["trainer"]["args"].update(padding_free=True),
     "`max_length` is not enforced"),
    ("pad_token-not-in-vocabulary", lambda t, d: d["trainer"]["args"].update(pad_token="<pad>"),
     "is not found in the vocabulary"),
    ("tokenizer-without-pad-or-eos", lambda t, d: d["model"].update(path=str(no_tokenizer_config_model(t))),
     "The specified `pad_token` ('None') is not found"),
]


@pytest.mark.slow
@pytest.mark.parametrize("case,spoil,reason", JOB_FAILURES, ids=[c[0] for c in JOB_FAILURES])
def test_the_job_fails_for_the_same_reason_when_the_checks_are_bypassed(workspace, tmp_path, case, spoil, reason):
    from tests.conftest import status_of, wait_for
    from workbench.config import load_config
    from workbench.runs.store import FINAL, create_run
    from workbench.supervisor import spawn

    config = load_config(sft_config(tmp_path / "cfg"), ["trainer.args.max_steps=2"])
    spoil(tmp_path, config.data)  # what validate passed on 7407313, written straight into job.toml
    run = create_run(config)
    spawn(run)
    status = wait_for(lambda: status_of(run.dir)["status"] in FINAL and status_of(run.dir), timeout=300, what="end")
    assert status["status"] == "failed", status
    console = (run.dir / "console.log").read_text(errors="replace")
    assert reason in (status.get("reason") or "") + console, (status.get("reason"), console[-2000:])


# --- cold validate (issue 12 item 4) -------------------------------------------------------------

COLD_PROBE = r"""
import inspect, json, sys
from workbench.config import load_config
kw = {"deep": sys.argv[2] == "deep"} if "deep" in inspect.signature(load_config).parameters else {}
cfg = load_config(sys.argv[1], **kw)
print(json.dumps({"heavy": sorted(m for m in ("torch", "transformers", "trl") if m in sys.modules)}))
"""


@pytest.mark.parametrize("mode", ["quick", "deep"])
def test_a_cold_validate_builds_one_trainers_schema_in_a_child_and_imports_no_torch(workspace, tmp_path, mode):
    """The schema of the chosen trainer only (not every trainer's), built where torch cannot weigh on the caller."""
    import os
    import subprocess
    import sys

    cache = tmp_path / "cache"
    out = subprocess.run([sys.executable, "-c", COLD_PROBE, str(sft_config(tmp_path / "cfg")), mode],
                         capture_output=True, text=True, env=dict(os.environ, WORKBENCH_CACHE=str(cache)), timeout=600)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"heavy": []}
    schemas = sorted(p.name for p in (cache / "argschema").glob("*.json"))
    assert len(schemas) == 1 and schemas[0].startswith("trl_SFTConfig-"), schemas
    verdicts = list((cache / "argschema" / "verdicts").glob("*.json"))
    assert len(verdicts) == (1 if mode == "deep" else 0)
    if mode == "deep":
        assert json.loads(verdicts[0].read_text())["ok"] is True

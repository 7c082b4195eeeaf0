"""The seed's common mistakes, caught before launch (issue 14 item 6): validate prints a warning
and exits 0, or (where the training would be wasted) exits 2 with one error line."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from tests.conftest import CONFIGS, DATA, MODEL


def config_from(preset: str, folder: Path, extra: str = "") -> Path:
    text = (CONFIGS / preset).read_text().replace("../models/tiny-llama", str(MODEL)).replace("../data", str(DATA))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "job.toml"
    path.write_text(text + extra)
    return path


def validate(capsys, config: Path, *sets: str) -> tuple[int, list[str], list[str]]:
    """(exit code, warning lines, error lines) of `workbench validate` with --set overrides."""
    from workbench.cli.main import main

    code = main(["validate", str(config), *[a for s in sets for a in ("--set", s)]])
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = err.splitlines()
    return code, [ln for ln in lines if ln.startswith("warning:")], [ln for ln in lines if ln.startswith("error:")]


def test_presets_raise_no_warnings(workspace, tmp_path, capsys):
    """The advice is about mistakes: a well-made config gets none (so a warning means something)."""
    for preset in ("sft.toml", "sft-lora.toml", "dpo.toml"):
        code, warnings, errors = validate(capsys, config_from(preset, tmp_path / preset))
        assert code == 0 and not warnings and not errors, (preset, warnings, errors)


def test_short_rows_with_a_long_max_length_and_no_packing(workspace, tmp_path, capsys):
    config = config_from("sft.toml", tmp_path / "cfg")
    code, warnings, _ = validate(capsys, config, "trainer.args.max_length=1024")
    assert code == 0 and len(warnings) == 1, warnings
    line = warnings[0]
    assert "trainer.args.packing: off" in line and "max_length 1024" in line and "job.toml (--set):" in line  # at max_length
    gain = float(line.split("about ")[1].split(" rows")[0])
    # data stats measures 400 rows into 13 packed sequences of 1024 tokens (30.8 rows each): the same order
    assert 15 < gain < 40, line
    code, warnings, _ = validate(capsys, config, "trainer.args.max_length=1024", "trainer.args.packing=true")
    assert code == 0 and not warnings, warnings


def big_model(folder: Path) -> Path:
    """A model folder whose weight headers describe 1.5B parameters (a sparse file: no disk used)."""
    model = folder / "big-model"
    shutil.copytree(MODEL, model, ignore=shutil.ignore_patterns("model.safetensors"))
    numel = 1_500_000_000
    header = json.dumps({"model.embed_tokens.weight": {"dtype": "BF16", "shape": [numel // 64, 64],
                                                       "data_offsets": [0, numel * 2]}}).encode()
    with open(model / "model.safetensors", "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        f.truncate(8 + len(header) + numel * 2)
    return model


def test_no_save_total_limit_on_a_model_over_1b_parameters(workspace, tmp_path, capsys):
    from workbench.config import load_config
    from workbench.config.advice import SAVE_TOTAL_LIMIT

    model = big_model(tmp_path)
    config = config_from("sft.toml", tmp_path / "cfg")
    code, warnings, errors = validate(capsys, config, f'model.path="{model}"')
    assert code == 0 and not errors, errors
    assert len(warnings) == 1 and "trainer.args.save_total_limit: not set" in warnings[0], warnings
    assert "1.5B parameters" in warnings[0] and f"keeping the last {SAVE_TOTAL_LIMIT}" in warnings[0]
    applied = load_config(config, [f'model.path="{model}"'], deep=False)
    assert applied["trainer"]["args"]["save_total_limit"] == SAVE_TOTAL_LIMIT  # what job.toml records
    kept = load_config(config, [f'model.path="{model}"', "trainer.args.save_total_limit=1"], deep=False)
    assert kept["trainer"]["args"]["save_total_limit"] == 1 and not kept.warnings
    small = load_config(config, deep=False)
    assert "save_total_limit" not in small["trainer"]["args"]


def test_a_tokenizer_that_pads_on_the_left(workspace, tmp_path, capsys):
    model = tmp_path / "left-model"
    shutil.copytree(MODEL, model)
    settings = json.loads((model / "tokenizer_config.json").read_text())
    (model / "tokenizer_config.json").write_text(json.dumps({**settings, "padding_side": "left"}))
    code, warnings, _ = validate(capsys, config_from("sft.toml", tmp_path / "cfg"), f'model.path="{model}"')
    assert code == 0 and len(warnings) == 1 and "pads on the left" in warnings[0], warnings
    assert "model.path" in warnings[0] and "tokenizer_config.json" in warnings[0]


def test_a_lora_that_trains_nothing_is_an_error(workspace, tmp_path, capsys):
    config = config_from("sft-lora.toml", tmp_path / "cfg")
    code, _, errors = validate(capsys, config, 'peft.target_modules=["q_projj", "v_projj"]')
    assert code == 2 and len(errors) == 1 and "LoRA would train nothing" in errors[0], errors
    assert "peft.target_modules" in errors[0] and "q_proj" in errors[0]
    code, _, errors = validate(capsys, config, 'peft.target_modules=".*layernorm"')  # norms: PEFT can't adapt them
    assert code == 2 and "LoRA would train nothing" in errors[0]


def test_a_lora_target_that_matches_nothing_beside_others_is_a_warning(workspace, tmp_path, capsys):
    config = config_from("sft-lora.toml", tmp_path / "cfg")
    code, warnings, _ = validate(capsys, config, 'peft.target_modules=["q_proj", "v_projj"]')
    assert code == 0 and len(warnings) == 1 and "'v_projj' matches no linear" in warnings[0], warnings
    code, warnings, _ = validate(capsys, config, 'peft.target_modules=["q_proj", "v_proj"]')
    assert code == 0 and not warnings
    code, warnings, _ = validate(capsys, config, r"peft.target_modules='.*\.(q|v)_proj'")
    assert code == 0 and not warnings


@pytest.mark.parametrize("revision,warned", [(None, True), ("main", True), ("a" * 40, False)])
def test_trust_remote_code_without_a_pinned_commit(workspace, tmp_path, revision, warned):
    from workbench.config import load_config

    config = config_from("sft.toml", tmp_path / "cfg")
    sets = ["model.trust_remote_code=true", 'model.path="org/remote-model"', f'model.tokenizer="{MODEL}"']
    if revision:
        sets.append(f'model.revision="{revision}"')
    cfg = load_config(config, sets, deep=False)
    lines = [w for w in cfg.warnings if "model.trust_remote_code" in w]
    assert bool(lines) == warned, cfg.warnings
    if warned:
        assert "org/remote-model" in lines[0] and "commit sha" in lines[0]
    local = load_config(config, ["model.trust_remote_code=true"], deep=False)  # a local folder: its code is on disk
    assert not [w for w in local.warnings if "trust_remote_code" in w]

"""Presets plugin and `workbench new`: every bundled config is a preset; copies run from anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomlkit

from workbench.cli.main import main
from workbench.config import load_config
from workbench.config.presets import description_of, materialize, unique_path, write_preset
from workbench.errors import ConfigError
from workbench.paths import sample_data_dir
from workbench.specs import PresetSpec

BUNDLED = sorted((sample_data_dir() / "configs").glob("*.toml"))


def registry_presets():
    from workbench.plugin_manager import build_registry

    return build_registry().presets


def test_every_bundled_config_is_a_preset_with_its_first_comment():
    presets = registry_presets()
    assert {p.stem for p in BUNDLED} <= set(presets)
    for path in BUNDLED:
        spec = presets[path.stem]
        assert Path(spec.path) == path
        first = next(line for line in path.read_text().splitlines() if line.strip())
        assert spec.description == (first.lstrip("#").strip() if first.startswith("#") else "")


def test_presets_read_the_folder_at_call_time(tmp_path, monkeypatch):
    import workbench_plugins.presets.plugin as plugin

    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "mine.toml").write_text("# Mine: a test preset.\n[trainer]\nname = 'sft'\n")
    monkeypatch.setattr(plugin, "sample_data_dir", lambda: tmp_path)
    assert plugin.register_presets() == [PresetSpec("mine", str(tmp_path / "configs" / "mine.toml"),
                                                    "Mine: a test preset.")]


def test_description_of_stops_at_first_non_comment(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text("\n[run]\n# late comment\n")
    assert description_of(path) == ""


@pytest.mark.parametrize("preset", [p.stem for p in BUNDLED])
def test_materialized_preset_validates_from_another_folder(preset, tmp_path, monkeypatch):
    spec = registry_presets()[preset]
    target = write_preset(spec, tmp_path / "elsewhere" / "job.toml")
    monkeypatch.chdir(tmp_path)
    data = tomlkit.parse(target.read_text()).unwrap()
    for path in (data["model"]["path"], data["data"]["train"]):
        assert Path(path).is_absolute() and Path(path).exists()
    source_comments = [line for line in Path(spec.path).read_text().splitlines() if line.lstrip().startswith("#")]
    assert source_comments and all(c in target.read_text() for c in source_comments)
    cfg = load_config(target)
    assert cfg["data"]["train"] == data["data"]["train"]


def test_materialize_leaves_names_and_hub_ids(tmp_path):
    (tmp_path / "data.jsonl").write_text("{}\n")
    src = tmp_path / "p.toml"
    src.write_text('[model]\npath = "org/model"  # a Hub id\n[data]\ntrain = "data.jsonl"\nformat = "auto"\n'
                   '[trainer]\nname = "sft"\n')
    text = materialize(src)
    assert 'path = "org/model"  # a Hub id' in text
    assert f'train = "{tmp_path / "data.jsonl"}"' in text and 'format = "auto"' in text and 'name = "sft"' in text


def test_new_writes_refuses_overwrite_and_forces(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["new", "sft", "cfg/mine.toml"]) == 0
    written = tmp_path / "cfg" / "mine.toml"
    assert "wrote cfg/mine.toml from preset 'sft'" in capsys.readouterr().out
    assert written.read_text() == materialize(sample_data_dir() / "configs" / "sft.toml")
    written.write_text("# edited\n")
    assert main(["new", "sft", "cfg/mine.toml"]) == 2
    err = capsys.readouterr().err
    assert err.splitlines()[0] == "error: cfg/mine.toml: already exists; pass --force to overwrite it"
    assert written.read_text() == "# edited\n"
    assert main(["new", "sft", "cfg/mine.toml", "--force"]) == 0
    assert written.read_text() != "# edited\n"


def test_new_default_path_and_folder_target(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["new", "sft-lora"]) == 0
    assert (tmp_path / "sft-lora.toml").is_file()
    (tmp_path / "configs").mkdir()
    assert main(["new", "sft-qlora", "configs"]) == 0
    assert (tmp_path / "configs" / "sft-qlora.toml").is_file()


def test_new_into_a_folder_that_does_not_exist_yet(tmp_path, monkeypatch, capsys):
    """docs/configs.md: `workbench new sft-qlora configs/` writes configs/sft-qlora.toml. Without the
    folder it wrote a file named `configs` instead."""
    monkeypatch.chdir(tmp_path)
    assert main(["new", "sft-qlora", "configs/"]) == 0
    assert (tmp_path / "configs" / "sft-qlora.toml").is_file()
    assert "wrote configs/sft-qlora.toml" in capsys.readouterr().out


def test_new_unknown_preset_suggests(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["new", "sft-lroa"]) == 2
    assert "no preset named 'sft-lroa'; did you mean 'sft-lora'?" in capsys.readouterr().err
    assert main(["new"]) == 2
    assert "workbench new --list" in capsys.readouterr().err


def test_new_list(capsys):
    assert main(["new", "--list"]) == 0
    out = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in out]
    assert names == sorted(names) and {p.stem for p in BUNDLED} <= set(names)
    assert any("QLoRA" in line for line in out if line.startswith("sft-qlora"))


def test_write_preset_refuses_existing(tmp_path):
    spec = registry_presets()["sft"]
    (tmp_path / "x.toml").write_text("")
    with pytest.raises(ConfigError, match="already exists"):
        write_preset(spec, tmp_path / "x.toml")


def test_unique_path(tmp_path):
    assert unique_path(tmp_path / "a.toml") == tmp_path / "a.toml"
    (tmp_path / "a.toml").write_text("")
    (tmp_path / "a-2.toml").write_text("")
    assert unique_path(tmp_path / "a.toml") == tmp_path / "a-3.toml"

"""Form model: fields from SCHEMA and from SFTConfig's dataclass metadata; tomlkit round trip."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest

from workbench.config.document import ConfigDocument, same_value
from workbench.config.form import (
    ConfigForm,
    FieldSpec,
    FieldValueError,
    build_form,
    check_text,
    schema_fields,
    trainer_fields,
)
from workbench.config.schema import REQUIRED, SCHEMA
from workbench.errors import ConfigError

COMMENTED = """# my experiment: keep this comment
[run]
name = "exp"  # the run's name

[model]
path = "some/model"
dtype = "auto"   # explicit default, untouched by edits elsewhere

[trainer]
name = "sft"

[trainer.args]
# learning rate found by a sweep
learning_rate = 3e-3
max_steps = 40
"""


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class PluginConfig:
    """A plugin's trainer config: the form works for any dataclass."""

    steps: int = field(default=10, metadata={"help": "How many steps."})
    rate: float = 0.5
    name: Optional[str] = None
    color: Color = Color.RED
    mode: Literal["fast", "slow"] = "fast"
    tags: list[str] = field(default_factory=lambda: ["a"])
    extra: "dict | str | None" = None
    output_dir: str = "managed"
    _private: int = 0


def test_schema_fields_cover_schema_except_trainer_args():
    keys = {f.key for f in schema_fields()}
    expected = {f"{s}.{k}" for s, ks in SCHEMA.items() for k in ks} - {"trainer.args"}
    assert keys == expected
    by = {f.key: f for f in schema_fields(("sft", "dpo"))}
    assert by["model.path"].required and by["model.path"].default is REQUIRED
    assert by["model.dtype"].kind == "choice" and by["model.dtype"].choices == SCHEMA["model"]["dtype"].choices
    assert by["model.revision"].nullable and by["model.revision"].kind == "str"
    assert by["trainer.name"].choices == ("dpo", "sft")
    assert by["peft.target_modules"].kind == "value"
    assert by["model.trust_remote_code"].default is False
    assert by["run.seed"].help == SCHEMA["run"]["seed"].help


def test_sftconfig_fields_come_from_the_dataclass():
    from trl import SFTConfig

    fields = {f.name: f for f in trainer_fields("trl:SFTConfig")}
    real = {f.name: f for f in dataclasses.fields(SFTConfig)}
    assert "output_dir" not in fields and "logging_dir" not in fields  # set by the workbench
    for name in ("learning_rate", "max_length", "packing", "assistant_only_loss", "max_steps"):
        spec = fields[name]
        assert spec.path == ("trainer", "args", name)
        assert spec.help == " ".join(real[name].metadata["help"].split())
        assert spec.default == real[name].default
    assert fields["learning_rate"].kind == "float"
    assert fields["max_steps"].kind == "int"
    assert fields["packing"].kind == "bool" and not fields["packing"].nullable
    assert fields["max_length"].kind == "int" and fields["max_length"].nullable
    assert fields["bf16"].kind == "bool" and fields["bf16"].nullable  # bool | None
    sched = fields["lr_scheduler_type"]
    assert sched.kind == "choice" and "cosine" in sched.choices and sched.default == "linear"
    assert fields["packing_strategy"].choices == tuple(real["packing_strategy"].metadata["choices"])
    # Every init field of the class (but the managed ones) has a form field.
    assert set(fields) == {f.name for f in dataclasses.fields(SFTConfig) if f.init and not f.name.startswith("_")} - {
        "output_dir", "logging_dir"}


def test_plugin_dataclass_fields():
    fields = {f.name: f for f in trainer_fields(PluginConfig, {"rate": 0.25})}
    assert set(fields) == {"steps", "rate", "name", "color", "mode", "tags", "extra"}
    assert fields["steps"].help == "How many steps." and fields["steps"].default == 10
    assert fields["rate"].default == 0.25  # TrainerSpec.default_args override the class default
    assert fields["name"].nullable and fields["name"].kind == "str"
    assert fields["color"].kind == "choice" and fields["color"].choices == ("red", "blue")
    assert fields["color"].default == "red"
    assert fields["mode"].choices == ("fast", "slow")
    assert fields["tags"].kind == "list" and fields["tags"].default == ["a"]
    assert fields["extra"].kind == "value"


@pytest.mark.parametrize("kind,text,value", [
    ("int", "1_000", 1000), ("float", "3e-4", 3e-4), ("float", "2", 2), ("bool", "yes", True),
    ("bool", "false", False), ("list", '["q_proj", "v_proj"]', ["q_proj", "v_proj"]),
    ("dict", '{messages = "conversation"}', {"messages": "conversation"}), ("value", "all-linear", "all-linear"),
    ("value", '["a"]', ["a"]), ("str", "  spaced  ", "spaced"), ("int", "", None),
])
def test_parse(kind, text, value):
    parsed = FieldSpec(("x", "y"), kind).parse(text)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize("kind,text,needle", [
    ("int", "abc", "expected an integer"), ("float", "fast", "expected a number"),
    ("bool", "maybe", "expected true or false"), ("list", "{a = 1}", "expected a list"),
    ("dict", "[1]", "expected a table"),
])
def test_parse_errors_name_the_key(kind, text, needle):
    with pytest.raises(FieldValueError, match=rf"^x\.y: {needle}"):
        FieldSpec(("x", "y"), kind).parse(text)


def test_choice_parse_keeps_choice_type():
    spec = FieldSpec(("quantization", "bits"), "choice", 4, choices=(4, 8))
    assert spec.parse("8") == 8
    with pytest.raises(FieldValueError, match="not one of 4, 8"):
        spec.parse("3")


def test_format_round_trips_through_parse():
    for spec, value in [(FieldSpec(("a", "b"), "list"), ["x", "y"]), (FieldSpec(("a", "b"), "dict"), {"k": "v"}),
                        (FieldSpec(("a", "b"), "float"), 0.003), (FieldSpec(("a", "b"), "bool"), True)]:
        assert spec.parse(spec.format(value)) == value


def test_round_trip_keeps_comments_and_writes_only_changes():
    doc = ConfigDocument(COMMENTED)
    form = ConfigForm(doc, schema_fields() + trainer_fields(PluginConfig))
    assert doc.text == COMMENTED  # parsing alone changes nothing
    assert form.set_text(form.field("trainer.args.steps"), "25")
    assert form.set_text(form.field("run.seed"), "7")
    assert not form.set_text(form.field("trainer.args.rate"), "0.5")  # the default: nothing written
    text = doc.text
    for comment in ("# my experiment", "# the run's name", "# explicit default", "# learning rate found"):
        assert comment in text
    added = [line for line in text.splitlines() if line not in COMMENTED.splitlines()]
    assert added == ["seed = 7", "steps = 25"]
    assert 'dtype = "auto"' in text  # untouched keys stay even when they equal the default


def test_setting_the_default_removes_the_key():
    doc = ConfigDocument(COMMENTED)
    form = ConfigForm(doc, schema_fields() + trainer_fields(PluginConfig))
    form.set_text(form.field("trainer.args.steps"), "25")
    assert doc.has(("trainer", "args", "steps"))
    assert form.set_text(form.field("trainer.args.steps"), "10")
    assert not doc.has(("trainer", "args", "steps"))
    assert doc.text == COMMENTED


def test_new_table_created_and_dropped_when_emptied():
    doc = ConfigDocument(COMMENTED)
    form = ConfigForm(doc, schema_fields())
    form.set_text(form.field("launch.num_processes"), "2")
    assert "[launch]\nnum_processes = 2" in doc.text
    form.set_text(form.field("launch.num_processes"), "")
    assert "[launch]" not in doc.text and doc.text == COMMENTED


def test_dicts_are_written_inline_and_parse_back():
    doc = ConfigDocument(COMMENTED)
    form = ConfigForm(doc, schema_fields())
    form.set_text(form.field("launch.env"), '{NCCL_DEBUG = "INFO"}')
    assert 'env = {NCCL_DEBUG = "INFO"}' in doc.text
    assert ConfigDocument(doc.text).get(("launch", "env")) == {"NCCL_DEBUG": "INFO"}


def test_optional_section_presence():
    doc = ConfigDocument(COMMENTED)
    form = ConfigForm(doc, schema_fields())
    # Editing a field of an absent optional section back to its default must not switch it on.
    assert not form.set_value(form.field("peft.r"), 16)
    assert not doc.section_present("peft")
    assert doc.set_section_present("peft", True)
    assert "[peft]" in doc.text
    form.set_text(form.field("peft.r"), "8")
    assert doc.get(("peft", "r")) == 8
    assert doc.set_section_present("peft", False) and "[peft]" not in doc.text


def test_visible_fields_and_filter():
    doc = ConfigDocument(COMMENTED)
    form = build_form(doc)
    form.add_trainer_fields(trainer_fields(PluginConfig), "tests:PluginConfig")
    shown = {f.key for f in form.visible()}
    assert "model.path" in shown and "trainer.args.steps" not in shown  # not set, not common
    doc.set(("trainer", "args", "steps"), 3)
    assert "trainer.args.steps" in {f.key for f in form.visible()}
    assert [f.key for f in form.visible("color")] == ["trainer.args.color"]
    assert "trainer.args.steps" in {f.key for f in form.visible("how many")}  # help text matches too
    assert form.visible("no such thing") == []


def test_unknown_keys_are_reported():
    doc = ConfigDocument(COMMENTED.replace("max_steps", "max_stepz"))
    form = build_form(doc)
    form.add_trainer_fields(trainer_fields(PluginConfig), "x")
    assert "trainer.args.max_stepz" in form.unknown_keys()


def test_invalid_toml_is_a_one_line_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"bad\.toml:2: invalid TOML"):
        ConfigDocument('[run]\nname = "x\n', tmp_path / "bad.toml")
    doc = ConfigDocument(COMMENTED)
    with pytest.raises(ConfigError):
        doc.replace_text("[[[")
    with pytest.raises(ConfigError, match="invalid TOML"):
        doc.replace_text("[run]\nseed = 1\nseed = 2\n")  # duplicate key: tomlkit's own error type
    assert doc.text == COMMENTED  # unchanged after a failed replace


def test_same_value_keeps_bool_and_int_apart():
    assert same_value(2, 2.0) and not same_value(True, 1) and same_value([1], [1]) and not same_value("1", 1)


def test_check_text_uses_the_core_validator(tmp_path):
    result = check_text(COMMENTED, tmp_path / "c.toml")
    assert not result.ok and "required key missing" in result.message and "data.train" in result.message
    assert result.message.startswith(str(tmp_path / "c.toml"))

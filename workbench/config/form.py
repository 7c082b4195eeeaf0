"""The form model of a job config: one typed field per key, from SCHEMA and the trainer's config class.

[trainer.args] fields come from the trainer's real config dataclass (e.g. TRL's
SFTConfig): name, type, default and the `metadata={"help": ...}` text, so a plugin's
trainer gets a form for free. They are read from the cached field schema
(workbench.config.argschema), never by importing the class here (that would pull torch into
the TUI); a cold cache builds it in a child process, so `trainer_fields` belongs in a worker
thread of the TUI; `schema_fields` is cheap.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config.document import ConfigDocument, KeyPath, same_value
from workbench.config.schema import OPTIONAL_SECTIONS, REQUIRED, SCHEMA, Key
from workbench.errors import WorkbenchError

# Keys the workbench sets itself (kept in step with loader.MANAGED_ARGS).
MANAGED_ARGS = ("output_dir", "logging_dir")
# The trainer.args a form shows before any search: what people change most often.
COMMON_ARGS = (
    "max_steps", "num_train_epochs", "learning_rate", "per_device_train_batch_size",
    "gradient_accumulation_steps", "max_length", "packing", "padding_free", "assistant_only_loss",
    "completion_only_loss", "beta", "num_generations", "max_completion_length", "lr_scheduler_type",
    "warmup_steps", "weight_decay", "optim", "logging_steps", "save_steps", "eval_steps", "eval_strategy",
    "per_device_eval_batch_size", "max_grad_norm",
)
KINDS = ("bool", "int", "float", "str", "choice", "list", "dict", "value")


class FieldValueError(ValueError):
    """Text typed into a field that is not a value of its type."""


@dataclass(frozen=True)
class FieldSpec:
    """One editable key: where it lives, its type, default and help."""

    path: KeyPath
    kind: str                      # one of KINDS; "value" = any TOML value (unions)
    default: Any = None            # REQUIRED when the key must be given
    help: str = ""
    choices: tuple = ()
    nullable: bool = False         # an empty field means "unset" (TOML has no null)
    type_text: str = ""

    @property
    def key(self) -> str:
        return ".".join(self.path)

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def section(self) -> str:
        return ".".join(self.path[:-1])

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def comparable_default(self) -> Any:
        """The default as a value to compare with, None when there is none."""
        return None if self.required else self.default

    def format(self, value: Any) -> str:
        """A value as the text of its input box (strings bare, the rest as TOML)."""
        if value is None or value is REQUIRED:
            return ""
        if isinstance(value, str) and self.kind in ("str", "choice", "value"):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        return _toml_inline(value)

    def parse(self, text: str) -> Any:
        """Input text -> value; "" -> None (unset). Raises FieldValueError with a one-line reason."""
        raw = text.strip()
        if raw == "":
            if self.required:  # kept in the file (and in place) until a new value is typed
                raise FieldValueError(f"{self.key}: required")
            return None
        if self.kind == "bool":
            low = raw.lower()
            if low in ("true", "yes", "on", "1"):
                return True
            if low in ("false", "no", "off", "0"):
                return False
            raise FieldValueError(f"{self.key}: expected true or false, got {raw!r}")
        if self.kind == "int":
            try:
                return int(raw.replace("_", ""))
            except ValueError:
                raise FieldValueError(f"{self.key}: expected an integer, got {raw!r}") from None
        if self.kind == "float":
            try:
                return int(raw.replace("_", ""))
            except ValueError:
                pass
            try:
                return float(raw.replace("_", ""))
            except ValueError:
                raise FieldValueError(f"{self.key}: expected a number, got {raw!r}") from None
        if self.kind == "choice":
            for choice in self.choices:
                if str(choice) == raw:
                    return choice
            raise FieldValueError(f"{self.key}: {raw!r} is not one of {', '.join(map(str, self.choices))}")
        if self.kind == "str":
            return raw
        value = _parse_toml_value(raw)
        if self.kind == "list":
            if not isinstance(value, list):
                raise FieldValueError(f"{self.key}: expected a list like [\"a\", \"b\"], got {raw!r}")
        elif self.kind == "dict":
            if not isinstance(value, dict):
                raise FieldValueError(f"{self.key}: expected a table like {{key = \"value\"}}, got {raw!r}")
        elif value is _NOT_TOML:
            return raw  # unions that accept str: a bare word is a string
        return value


_NOT_TOML = object()


def _parse_toml_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return _NOT_TOML


def _toml_inline(value: Any) -> str:
    import tomlkit

    from workbench.config.document import _toml_value

    return tomlkit.item(_toml_value(value)).as_string()


# -- fields from SCHEMA -------------------------------------------------------------

def _schema_field(section: str, name: str, key: Key, trainer_names: tuple[str, ...]) -> FieldSpec:
    t = key.type
    nullable = t.endswith("?")
    base = t.rstrip("?")
    kind = {"str|list": "value"}.get(base, base)
    choices = tuple(key.choices)
    if section == "trainer" and name == "name" and trainer_names:
        choices = tuple(sorted(trainer_names))
    if choices:
        kind = "choice"
    return FieldSpec((section, name), kind, key.default, key.help, choices, nullable, t)


def schema_fields(trainer_names: tuple[str, ...] = ()) -> list[FieldSpec]:
    """Every SCHEMA key except [trainer.args] (those come from the trainer's class)."""
    out = []
    for section, keys in SCHEMA.items():
        for name, key in keys.items():
            if (section, name) == ("trainer", "args"):
                continue
            out.append(_schema_field(section, name, key, trainer_names))
    return out


# -- fields from a trainer's config dataclass -----------------------------------------

def trainer_fields(config_class: type | str, default_args: dict[str, Any] | None = None) -> list[FieldSpec]:
    """[trainer.args] fields of a trainer config dataclass.

    Given as "module:Class", they come from the cached field schema
    (workbench.config.argschema.trainer_fields, built in a child process when cold), so the
    caller never imports the class's library (TRL pulls in torch); a class object is read here.
    """
    from workbench.config import argschema

    records = argschema.fields_of(config_class) if isinstance(config_class, type) else \
        argschema.trainer_fields(config_class)
    out = []
    for name, record in records.items():
        if not record.get("init", True) or name.startswith("_") or name in MANAGED_ARGS:
            continue
        form = record["form"]
        default = REQUIRED if form["required"] else form["default"]
        if default_args and name in default_args:
            default = default_args[name]
        nullable = bool(form["nullable"]) or default is None
        out.append(FieldSpec(("trainer", "args", name), form["kind"], default, " ".join(record["help"].split()),
                             tuple(form["choices"]), nullable, form["type_text"]))
    return out


# -- the form ---------------------------------------------------------------------------

@dataclass
class ConfigForm:
    """A config document seen through typed fields: read, parse, set, filter."""

    doc: ConfigDocument
    fields: list[FieldSpec]
    trainer_class: str | None = None
    _by_key: dict[str, FieldSpec] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._by_key = {f.key: f for f in self.fields}

    @property
    def has_trainer_fields(self) -> bool:
        return any(f.path[:2] == ("trainer", "args") for f in self.fields)

    def add_trainer_fields(self, fields: list[FieldSpec], config_class: str | None) -> None:
        self.fields = [f for f in self.fields if f.path[:2] != ("trainer", "args")] + list(fields)
        self.trainer_class = config_class
        self.__post_init__()

    def field(self, key: str) -> FieldSpec:
        return self._by_key[key]

    def is_set(self, spec: FieldSpec) -> bool:
        return self.doc.has(spec.path)

    def value(self, spec: FieldSpec) -> Any:
        """The value in the file, else the default (None for required keys)."""
        if self.doc.has(spec.path):
            return self.doc.get(spec.path)
        return spec.comparable_default

    def text(self, spec: FieldSpec) -> str:
        """What the field's input shows: the file's value; empty when the key is not in the file."""
        return spec.format(self.doc.get(spec.path)) if self.doc.has(spec.path) else ""

    def set_value(self, spec: FieldSpec, value: Any) -> bool:
        """Write a value (None or the default removes the key). True when the text changed."""
        section = spec.path[0]
        if section in OPTIONAL_SECTIONS and not self.doc.section_present(section):
            if value is None or same_value(value, spec.comparable_default):
                return False
        return self.doc.set(spec.path, value, spec.comparable_default)

    def set_text(self, spec: FieldSpec, text: str) -> bool:
        """Parse input text and write it; FieldValueError when it is not a value of the field's type."""
        return self.set_value(spec, spec.parse(text))

    def unknown_keys(self) -> list[str]:
        """Keys in the file that no field describes (shown so nothing is silently hidden)."""
        out = []
        data = self.doc.to_dict()
        for section, values in data.items():
            if not isinstance(values, dict):
                out.append(section)
                continue
            for name, value in values.items():
                key = f"{section}.{name}"
                if key == "trainer.args" and isinstance(value, dict) and self.has_trainer_fields:
                    out += [f"{key}.{n}" for n in value if f"{key}.{n}" not in self._by_key]
                elif key not in self._by_key and key != "trainer.args":
                    out.append(key)
        return out

    def visible(self, query: str = "", common_only: bool = True) -> list[FieldSpec]:
        """Fields to show: with a query, those whose key or help contains every word of it;
        without one, every SCHEMA field plus the trainer args that are set or common."""
        words = query.lower().split()
        if words:
            def hit(f: FieldSpec) -> bool:
                hay = f"{f.key} {f.help}".lower()
                return all(w in hay for w in words)

            by_name = [f for f in self.fields if all(w in f.key.lower() for w in words)]
            by_help = [f for f in self.fields if f not in by_name and hit(f)]
            return by_name + by_help
        out = []
        for f in self.fields:
            if f.path[:2] != ("trainer", "args") or not common_only:
                out.append(f)
            elif self.is_set(f) or f.name in COMMON_ARGS:
                out.append(f)
        return out


def build_form(doc: ConfigDocument, trainer_names: tuple[str, ...] = ()) -> ConfigForm:
    """The cheap part of a form (SCHEMA sections); add trainer fields with `load_trainer_fields`."""
    return ConfigForm(doc, schema_fields(trainer_names))


def trainer_spec_for(doc: ConfigDocument, registry) -> Any:
    """The TrainerSpec named by the document's trainer.name, or None."""
    name = doc.get(("trainer", "name"))
    if not isinstance(name, str):
        return None
    return registry.trainers.get(name)


def load_trainer_fields(doc: ConfigDocument, registry) -> tuple[list[FieldSpec], str | None]:
    """[trainer.args] fields for the document's trainer (a child process when its schema is not cached)."""
    spec = trainer_spec_for(doc, registry)
    if spec is None or not spec.config_class:
        return [], None
    return trainer_fields(spec.config_class, dict(spec.default_args)), spec.config_class


@dataclass
class CheckResult:
    """Outcome of validating a config text with the core validator."""

    ok: bool
    message: str = ""
    config: Any = None        # the JobConfig when ok


def check_text(text: str, path: Path | str | None, registry=None) -> CheckResult:
    """Validate like `workbench validate` does (keys, types, trainer args, data); never raises.

    The trainer's real config object is not built here (that takes a child process importing
    its library: seconds per edit); launching does build it.
    """
    from workbench.config.loader import load_config

    try:
        cfg = load_config(path, text=text, registry=registry, deep=False)
    except WorkbenchError as exc:
        return CheckResult(False, exc.one_line())
    except Exception as exc:  # noqa: BLE001 - a plugin's bug must not take the editor down
        return CheckResult(False, f"{type(exc).__name__}: {exc}")
    return CheckResult(True, "ok", cfg)

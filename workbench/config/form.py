"""The form model of a job config: one typed field per key, from SCHEMA and the trainer's config class.

[trainer.args] fields come from the trainer's real config dataclass (e.g. TRL's
SFTConfig): name, type, default and the `metadata={"help": ...}` text, so a plugin's
trainer gets a form for free. Importing that class imports its library (TRL), so
`trainer_fields` belongs in a worker thread of the TUI; `schema_fields` is cheap.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

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

def _union_parts(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        parts = []
        for arg in typing.get_args(annotation):
            parts += _union_parts(arg)
        return parts
    return [annotation]


def _describe(annotation: Any) -> tuple[str, tuple, bool]:
    """(kind, choices, nullable) of a dataclass field annotation."""
    if isinstance(annotation, str):
        return _describe_text(annotation)
    parts = _union_parts(annotation)
    nullable = any(p is type(None) or p is None for p in parts)
    rest = [p for p in parts if not (p is type(None) or p is None)]
    choices: list = []
    plain: set[str] = set()
    for p in rest:
        origin = typing.get_origin(p) or p
        if origin is typing.Literal:
            choices += [a for a in typing.get_args(p) if a is not False]
            if any(a is False for a in typing.get_args(p)):
                plain.add("bool")
        elif isinstance(origin, type) and issubclass(origin, enum.Enum):
            choices += [m.value for m in origin]
        elif origin in (bool, int, float, str, list, dict):
            plain.add(origin.__name__)
        elif origin in (tuple, set, frozenset):
            plain.add("list")
        else:
            plain.add("other")
    if choices and plain <= {"str"}:
        return "choice", tuple(dict.fromkeys(choices)), nullable
    if len(plain) == 1 and not choices:
        only = next(iter(plain))
        return ("value" if only == "other" else only), (), nullable
    if plain == {"int", "float"}:
        return "float", (), nullable
    return "value", (), nullable


def _describe_text(text: str) -> tuple[str, tuple, bool]:
    """Fallback for annotations that could not be resolved (string annotations of plugins)."""
    parts = [p.strip() for p in text.replace("Optional[", "").rstrip("]").split("|")]
    nullable = any(p in ("None", "NoneType") for p in parts) or text.startswith("Optional[")
    rest = [p for p in parts if p not in ("None", "NoneType")]
    if len(rest) == 1:
        base = rest[0].split("[")[0]
        if base in ("bool", "int", "float", "str", "list", "dict"):
            return base, (), nullable
    return "value", (), nullable


def _default_of(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        value = f.default
    elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        try:
            value = f.default_factory()  # type: ignore[misc]
        except Exception:  # noqa: BLE001 - a factory that needs context: no default to show
            return None
    else:
        return REQUIRED
    return value.value if isinstance(value, enum.Enum) else value


def _help_of(f: dataclasses.Field) -> str:
    text = f.metadata.get("help", "") if f.metadata else ""
    return " ".join(str(text).split())


def trainer_fields(config_class: type | str, default_args: dict[str, Any] | None = None) -> list[FieldSpec]:
    """[trainer.args] fields of a trainer config dataclass (imports it when given as "module:Class")."""
    from workbench.specs import load_object

    cls = load_object(config_class) if isinstance(config_class, str) else config_class
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - unresolvable forward references: fall back to the raw annotations
        hints = {}
    out = []
    for f in dataclasses.fields(cls):
        if not f.init or f.name.startswith("_") or f.name in MANAGED_ARGS:
            continue
        annotation = hints.get(f.name, f.type)
        kind, choices, nullable = _describe(annotation)
        meta_choices = tuple(f.metadata.get("choices") or ()) if f.metadata else ()
        if meta_choices and kind in ("str", "value"):
            kind, choices = "choice", meta_choices
        default = _default_of(f)
        if default_args and f.name in default_args:
            default = default_args[f.name]
        if default is None:
            nullable = True
        type_text = annotation if isinstance(annotation, str) else _type_text(annotation)
        out.append(FieldSpec(("trainer", "args", f.name), kind, default, _help_of(f), choices, nullable, type_text))
    return out


def _type_text(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    return text or repr(annotation).replace("typing.", "")


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
    """[trainer.args] fields for the document's trainer (heavy: imports the config class)."""
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

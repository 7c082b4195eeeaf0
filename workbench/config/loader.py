"""Load a job config, apply --set overrides, validate it all before anything runs."""

from __future__ import annotations

import copy
import difflib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config import realargs
from workbench.config.argranges import first_bad_number
from workbench.config.argschema import trainer_fields
from workbench.config.schema import OPTIONAL_SECTIONS, SCHEMA, check_value
from workbench.errors import ConfigError, DataError, PluginError
from workbench.evaluation.settings import check_eval_settings
from workbench.secrets import first_secret, is_secret_name

# Fields of a trainer's config class that the workbench sets itself.
MANAGED_ARGS = {"output_dir": "the run's checkpoints/ folder", "logging_dir": "the run directory"}
# Trainer fields the workbench fills in from other keys (workbench.training.models.build_training_args).
MANAGED_SOURCES = {"bf16": "launch.mixed_precision", "fp16": "launch.mixed_precision", "seed": "run.seed",
                   "eval_strategy": "data.eval"}


@dataclass
class JobConfig:
    """A validated config: `data` is the resolved dict frozen into job.toml."""

    data: dict[str, Any]
    source: Path | None
    warnings: list[str] = field(default_factory=list)   # "where: message" lines (validate prints them)

    def __getitem__(self, section: str) -> dict[str, Any]:
        return self.data[section]

    @property
    def trainer_name(self) -> str:
        return self.data["trainer"]["name"]


class _Locator:
    """Finds the line of a key path in the TOML text, for messages like file:12."""

    def __init__(self, path: Path | None, text: str):
        self.path, self.lines = path, text.splitlines()
        self.overridden: set[str] = set()  # key paths given by --set: their value is not on any line of the file

    def where(self, keypath: str) -> str:
        name = self.path.name if self.path else "<config>"
        if any(keypath == key or keypath.startswith(key + ".") for key in self.overridden):
            return f"{self.path or name} (--set)"
        line = self._line(keypath.split("."))
        if not line and any(key.startswith(keypath + ".") for key in self.overridden):  # a table only --set made
            return f"{self.path or name} (--set)"
        return f"{self.path or name}:{line}" if line else str(self.path or name)

    def _line(self, parts: list[str]) -> int | None:
        section, current = None, None
        for i, raw in enumerate(self.lines, start=1):
            s = raw.strip()
            m = re.match(r"^\[+\s*([^\]]+?)\s*\]+", s)
            if m:
                current = m.group(1).replace('"', "")
                continue
            m = re.match(r"^([\w.\"-]+)\s*=", s)
            if not m:
                continue
            full = ".".join(filter(None, [current, m.group(1).replace('"', "")]))
            if full == ".".join(parts):
                return i
            if section is None and full.startswith(".".join(parts[:2])):
                section = i
            if ".".join(parts).startswith(full + ".") or (full == ".".join(parts[:-1])):
                section = section or i
        for i, raw in enumerate(self.lines, start=1):  # a section header itself
            if re.match(r"^\[+\s*" + re.escape(".".join(parts)) + r"\s*\]+", raw.strip()):
                return i
        return section


def parse_overrides(items: list[str] | None) -> list[tuple[list[str], Any]]:
    """["trainer.args.max_steps=10"] -> [(["trainer","args","max_steps"], 10)]; values are TOML, else strings."""
    out = []
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set needs key.path=value, got '{item}'")
        try:
            value = tomllib.loads(f"v = {raw.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw.strip()
        out.append((_key_parts(key, item), value))
    return out


def _key_parts(key: str, item: str) -> list[str]:
    """A TOML dotted key ('launch.env."MY.VAR"') as its parts."""
    try:
        node: Any = tomllib.loads(f"{key.strip()} = 0")
    except tomllib.TOMLDecodeError:
        raise ConfigError(f"--set: '{key.strip()}' is not a key path like trainer.args.max_steps (in '{item}')") from None
    parts = []
    while isinstance(node, dict):
        (name, node), = node.items()
        parts.append(name)
    return parts


def _set(data: dict, parts: list[str], value: Any) -> None:
    node = data
    for p in parts[:-1]:
        node = node.setdefault(p, {})
        if not isinstance(node, dict):
            raise ConfigError(f"--set {'.'.join(parts)}: '{p}' is not a table")
    node[parts[-1]] = value


def _did_you_mean(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _resolve_path(value: str, base: Path, hub_id: bool = False) -> str:
    """Relative paths are relative to the config file; Hub ids stay as they are.

    hub_id: the key takes a Hub model id, so a name that is not a local path stays a name even
    with a dot in it ("Qwen/Qwen2.5-0.5B"); data files need "hub:" to be read from the Hub.
    """
    value = str(Path(value).expanduser()) if value.startswith("~") else value
    if value.startswith("hub:") or Path(value).is_absolute():
        return value
    candidate = (base / value).resolve()
    if candidate.exists() or value.startswith(".") or (Path(value).suffix and not hub_id):
        return str(candidate)
    return value  # looks like a Hub id ("org/name")


def _annotation_accepts(annotation: Any, value: Any) -> bool | None:
    """Loose check of a dataclass field annotation; None when we cannot tell."""
    text = annotation if isinstance(annotation, str) else repr(annotation)
    text = text.replace("typing.", "")
    if any(w in text for w in ("Any", "Callable", "Union[dict, str]")):
        return None
    names = set(re.findall(r"\b(int|float|bool|str|list|dict|None|NoneType|Literal)\b", text))
    if not names or "Literal" in names:
        return None
    if isinstance(value, bool):
        return "bool" in names
    if isinstance(value, int):
        return bool(names & {"int", "float"})
    if isinstance(value, float):
        return "float" in names
    if isinstance(value, str):
        return "str" in names or "Literal" in text
    if isinstance(value, list):
        return "list" in names
    if isinstance(value, dict):
        return "dict" in names
    return None


def check_trainer_args(args: dict, config_class: str, where, job_env: dict | None = None) -> None:
    """Every key must be a field of the trainer's real config class, with a fitting type and a usable value."""
    from workbench.config.argranges import range_problem
    from workbench.config.argschema import trainer_fields

    try:
        fields = trainer_fields(config_class)
    except Exception as exc:  # noqa: BLE001
        raise PluginError(f"cannot import trainer config class {config_class}: {exc}") from None
    cls_name = config_class.rsplit(":", 1)[-1]
    for name, value in args.items():
        keypath = f"trainer.args.{name}"
        if name in MANAGED_ARGS:
            raise ConfigError(f"{keypath}: set by workbench ({MANAGED_ARGS[name]}); remove it", where=where(keypath))
        if name not in fields:
            raise ConfigError(f"{keypath}: not a field of {cls_name}{_did_you_mean(name, fields)}",
                              where=where(keypath))
        choices = fields[name].get("choices")
        if isinstance(value, str) and choices and value not in choices:
            raise ConfigError(f"{keypath}: {value!r} is not one of {', '.join(choices[:12])}"
                              f"{', ...' if len(choices) > 12 else ''}{_did_you_mean(value, choices)}",
                              where=where(keypath))
        annotation = fields[name]["annotation"]
        if _annotation_accepts(annotation, value) is False:
            raise ConfigError(f"{keypath}: expected {annotation}, got {type(value).__name__} {value!r}",
                              where=where(keypath))
        if is_secret_name(name) and value:
            raise ConfigError(f"{keypath}: a secret in the config (it is copied into the run directory); remove it "
                              "and export it in your shell (e.g. HF_TOKEN)", where=where(keypath))
        problem = range_problem(name, value, fields)
        if problem:
            raise ConfigError(f"{keypath}: {problem}", where=where(keypath))
    if "report_to" in args and "report_to" in fields:
        check_report_to(args["report_to"], job_env or {}, where)


def check_verdict(verdict: dict, args: dict, config_class: str, where, warnings: list[str],
                  launcher: str = "local") -> None:
    """Raise the real config object's refusal as a one-line error naming the key it is about.

    The object was built with this machine's devices: a job another launcher (Slurm) starts
    may run on other hardware, so there a refusal is a warning.
    """
    local = launcher == "local"
    cls_name = config_class.rsplit(":", 1)[-1]
    refuser = verdict.get("refused_by") or cls_name  # the class itself, or the Trainer built from it
    if verdict.get("import_error"):
        raise PluginError(f"cannot import trainer config class {config_class}: {verdict['error']}")
    if verdict.get("crashed"):
        warnings.append(f"{where('trainer.args')}: trainer.args: not checked against {cls_name} "
                        f"({verdict['error']}); the job will check them")
        return
    for text in verdict.get("warnings") or []:
        warnings.append(f"{where('trainer.args')}: trainer.args: {cls_name} warns: {text}")
    if verdict.get("ok"):
        return
    error = str(verdict.get("error") or "refused")
    keypath = verdict.get("where") if str(verdict.get("where") or "").startswith("trainer.args") else None
    if keypath is None:
        def named(key: str) -> bool:
            return re.search(rf"(?<!\w){re.escape(key)}(?!\w)", error) is not None

        given = [k for k in sorted(args, key=len, reverse=True) if named(k)]
        managed = [source for k, source in MANAGED_SOURCES.items() if k not in args and named(k)]
        keypath = f"trainer.args.{given[0]}" if given else managed[0] if managed else "trainer.args"
    if "eval_steps" not in args and re.search(r"evaluation steps|eval_steps", error):
        from workbench.training.models import EVAL_STEPS

        error += (f" (eval_steps = {EVAL_STEPS} is the workbench's default when the config has evaluation rows: "
                  "set trainer.args.eval_steps)")
    if not local:  # checked on this machine, but the job runs elsewhere (other devices)
        warnings.append(f"{where(keypath)}: {keypath}: {refuser} refuses it on this machine: {error} "
                        f"(the job runs through launcher '{launcher}', on other hardware perhaps)")
        return
    raise ConfigError(f"{keypath}: {refuser} refuses it: {error}", where=where(keypath))


def check_evaluator_own_options(data: dict, name: str, registry, base: Path, where) -> None:
    """The evaluator's own check of `[eval.options.<name>]` (EvaluatorSpec.check), which may resolve paths."""
    from workbench.plugin_runtime import check_evaluator_options

    options = data["eval"].setdefault("options", {})
    given = options.get(name) or {}
    if not isinstance(given, dict):
        return
    try:
        fixed = check_evaluator_options(registry, name, given, base)
    except ConfigError as exc:
        key = exc.where if (exc.where or "").startswith(f"eval.options.{name}") else f"eval.options.{name}"
        raise ConfigError(f"{key}: {exc.message}", where=where(key), hint=exc.hint) from None
    if fixed is not given:
        options[name] = fixed


def check_report_to(value: Any, job_env: dict, where) -> None:
    """Each named tracker is a transformers integration, installed here, able to log in from the environment."""
    from workbench.config.integrations import credentials_problem, integration_problem, report_to_names

    keypath = "trainer.args.report_to"
    for name in report_to_names(value):
        problem = integration_problem(name) or credentials_problem(name, job_env)
        if problem:
            raise ConfigError(f"{keypath}: {problem}", where=where(keypath))


def check_section_names(data: dict, where) -> None:
    """Every section and key is one the schema knows (did-you-mean, file:line); [trainer]'s own options
    are checked with the trainer."""
    for section, given in data.items():
        if section not in SCHEMA:
            raise ConfigError(f"unknown section [{section}]{_did_you_mean(section, SCHEMA)}", where=where(section))
        if not isinstance(given, dict):
            raise ConfigError(f"[{section}] must be a table", where=where(section))
        for name in given:
            if name not in SCHEMA[section] and section != "trainer":
                raise ConfigError(f"{section}.{name}: unknown key{_did_you_mean(name, SCHEMA[section])}",
                                  where=where(f"{section}.{name}"))


def validate_sections(data: dict, where) -> dict:
    """Check sections and keys against the schema; return a copy with defaults filled in."""
    check_section_names(data, where)
    out: dict[str, Any] = {}
    for section, keys in SCHEMA.items():
        given = data.get(section)
        if given is None:
            if section in OPTIONAL_SECTIONS:
                continue
            given = {}
        resolved: dict[str, Any] = {}
        for name, value in given.items():
            keypath = f"{section}.{name}"
            if name not in keys:  # trainer-specific options are checked with the trainer
                resolved[name] = value
                continue
            check_value(keys[name], value, keypath, where)
            resolved[name] = value
        for name, key in keys.items():
            if name in resolved:
                continue
            if key.required:
                raise ConfigError(f"{section}.{name}: required key missing", where=where(section))
            resolved[name] = copy.deepcopy(key.default)
        out[section] = resolved
    if "peft" in out and not out["peft"]["enabled"]:
        del out["peft"]
    return out


def read_config(path: str | Path | None, overrides: list[str] | None = None,
                text: str | None = None) -> tuple[dict, _Locator, Path | None]:
    """The config's TOML with `--set` overrides applied, its locator and resolved path (nothing checked yet)."""
    src = Path(path).resolve() if path else None
    if text is None:
        if src is None or not src.is_file():
            raise ConfigError("config file not found", where=str(path))
        raw_bytes = src.read_bytes()
        try:
            text = raw_bytes.decode("utf-8-sig")  # a leading byte-order mark is dropped
        except UnicodeDecodeError as exc:
            line = raw_bytes[:exc.start].count(b"\n") + 1
            raise ConfigError(f"not UTF-8 text (byte 0x{raw_bytes[exc.start]:02x}); save the config as UTF-8",
                              where=f"{src}:{line}") from None
    loc = _Locator(src, text)
    try:
        raw = tomllib.loads(text)
    except RecursionError:
        raise ConfigError("invalid TOML: arrays or tables nested too deeply", where=str(src or "<config>")) from None
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(f"invalid TOML: {str(exc).split(' (at')[0]}",
                          where=f"{src or '<config>'}:{m.group(1)}" if m else str(src)) from None
    for parts, value in parse_overrides(overrides):
        _set(raw, parts, value)
        loc.overridden.add(".".join(parts))
    return raw, loc, src


def check_key_names(raw: dict, where, registry=None) -> None:
    """Every section, key and trainer argument name is one the job knows (did-you-mean, file:line), for
    commands that read a config without running it (estimate): a misspelt key must not be ignored."""
    check_section_names(raw, where)
    trainer = raw.get("trainer") or {}
    args = trainer.get("args")
    if not isinstance(trainer.get("name"), str) or not isinstance(args, dict) or not args:
        return
    if registry is None:
        from workbench.plugin_manager import get_registry

        registry = get_registry()
    try:
        spec = registry.trainer(trainer["name"])
    except PluginError as exc:
        raise ConfigError(f"trainer.name: {exc.message}", where=where("trainer.name"), hint=exc.hint) from None
    if spec.config_class:
        check_trainer_args(args, spec.config_class, where)


def load_config(path: str | Path | None, overrides: list[str] | None = None, text: str | None = None,
                check_data: bool = True, registry=None, deep: bool = True) -> JobConfig:
    """Read, override, validate and resolve a job config. Raises ConfigError/DataError/PluginError (one line).

    check_data: detect the data's format and check every row. deep: also build the trainer's
    real config object (in a child process, verdict cached; see workbench.config.realargs).
    """
    raw, loc, src = read_config(path, overrides, text)
    bad = first_bad_number(raw, "")
    if bad:
        keypath = bad[0].lstrip(".")
        raise ConfigError(f"{keypath}: {bad[1]}", where=loc.where(keypath.split("[")[0]))
    secret = first_secret(raw)  # any key: the config is copied into job.toml, command.sh, launch.json, status.json
    if secret:
        keypath, what = secret
        raise ConfigError(f"{keypath}: {what}; export it in your shell instead (the config is copied into "
                          "the run directory)", where=loc.where(keypath.split("[")[0]))

    data = validate_sections(raw, loc.where)
    check_eval_settings(data, loc.where)
    warnings: list[str] = []
    base = src.parent if src else Path.cwd()
    for key in ("path", "tokenizer", "chat_template", "adapter"):
        if data["model"].get(key):
            data["model"][key] = _resolve_path(data["model"][key], base, hub_id=key in ("path", "tokenizer"))
    check_model_paths(data["model"], loc.where)
    if not data["data"]["train"].strip():
        raise ConfigError("data.train: empty; give a data file or hub:NAME", where=loc.where("data.train"))
    for key in ("train", "eval"):
        if data["data"].get(key):
            data["data"][key] = _resolve_path(data["data"][key], base)

    for name in data["launch"]["env"]:
        if is_secret_name(name):
            raise ConfigError(f"launch.env.{name}: looks like a secret; export it in your shell instead "
                              "(the config is copied into the run directory)", where=loc.where(f"launch.env.{name}"))
    for name, value in data["launch"]["env"].items():
        if not isinstance(value, (str, int, float, bool)):
            raise ConfigError(f"launch.env.{name}: expected a string or number, got {type(value).__name__} {value!r}",
                              where=loc.where(f"launch.env.{name}"))

    if registry is None:
        from workbench.plugin_manager import get_registry

        registry = get_registry()
    try:
        spec = registry.trainer(data["trainer"]["name"])
    except PluginError as exc:
        raise ConfigError(f"trainer.name: {exc.message}", where=loc.where("trainer.name"), hint=exc.hint) from None
    for use in spec.models:  # model paths in trainer args (e.g. PPO's reward_model) are relative to the config
        if use.source.startswith("trainer.args."):
            key = use.source.split(".", 2)[2]
            if isinstance(data["trainer"]["args"].get(key), str) and data["trainer"]["args"][key]:
                data["trainer"]["args"][key] = _resolve_path(data["trainer"]["args"][key], base)
    # Started now, so that importing the trainer's library overlaps the checks below (data rows included).
    pending = realargs.Check(data, spec) if deep and spec.config_class else None
    if pending is not None and pending.need_fields:
        pending.fields()  # from the process that builds the object later (one import); needed from here on
    # plugins: the factories, config classes and options of every plugin spec this config uses
    from workbench.plugin_checks import check_config_plugins

    check_config_plugins(data, registry, loc.where)
    for name in data["trainer"]:
        if name not in ("name", "args") and name not in spec.options:
            known = ("name", "args", *spec.options)
            raise ConfigError(f"trainer.{name}: unknown key for trainer '{spec.name}'{_did_you_mean(name, known)}",
                              where=loc.where(f"trainer.{name}"))
    if spec.config_class:
        check_trainer_args(data["trainer"]["args"], spec.config_class, loc.where, data["launch"]["env"])
        check_special_tokens(data, loc.where)
    check_reward_functions(data["trainer"], spec, registry, loc.where)
    for name in data.get("eval", {}).get("evaluators", []):
        try:
            registry.get("evaluators", name)
        except PluginError as exc:
            raise ConfigError(f"eval.evaluators: {exc.message}", where=loc.where("eval.evaluators")) from None
        check_evaluator_own_options(data, name, registry, base, loc.where)
    if data["launch"]["launcher"] not in registry.launchers:
        try:
            registry.get("launchers", data["launch"]["launcher"])
        except PluginError as exc:
            raise ConfigError(f"launch.launcher: {exc.message}", where=loc.where("launch.launcher")) from None
    from workbench.launching.options import check_launch

    check_launch(data, loc.where, base, registry)

    if check_data:
        check_data_kind(data, spec, registry, loc.where, warnings)
    from workbench.config.advice import advise

    fields = trainer_fields(spec.config_class) if spec.config_class else None
    warnings += advise(data, spec, fields, loc.where, registry if check_data else None)
    if pending is not None:  # last: the one check that may wait for an import of the trainer's library
        verdict = pending.result(data)[1]
        check_verdict(verdict, data["trainer"]["args"], spec.config_class, loc.where, warnings,
                      data["launch"]["launcher"])
    return JobConfig(data, src, warnings)


def check_model_paths(model: dict, where) -> None:
    """Local model, tokenizer, chat template and adapter paths exist and hold what loading needs."""
    from workbench.config.model_files import model_folder_problem

    if not model["path"]:
        raise ConfigError("model.path: empty; give a model folder or a Hub id", where=where("model.path"))
    problems = {"path": model_folder_problem(model["path"], tokenizer=not model.get("tokenizer"))}
    if model.get("tokenizer"):
        problems["tokenizer"] = model_folder_problem(model["tokenizer"], config=False, weights=False)
    if model.get("chat_template") and not Path(model["chat_template"]).is_file():
        problems["chat_template"] = f"file not found: {model['chat_template']}"
    if model.get("adapter") and not Path(model["adapter"], "adapter_config.json").is_file():
        problems["adapter"] = (f"not a PEFT adapter folder (no adapter_config.json): {model['adapter']}"
                               if Path(model["adapter"]).is_dir() else f"folder not found: {model['adapter']}")
    for key, problem in problems.items():
        if problem:
            raise ConfigError(f"model.{key}: {problem}", where=where(f"model.{key}"))


def check_special_tokens(data: dict, where) -> None:
    """trainer.args.pad_token / eos_token must be tokens of the model's tokenizer (TRL refuses others as it starts)."""
    from workbench.config.model_files import looks_local, tokenizer_vocabulary

    folder = data["model"].get("tokenizer") or data["model"]["path"]
    args = data["trainer"]["args"]
    vocabulary = None
    for name in ("pad_token", "eos_token"):
        token = args.get(name)
        if not isinstance(token, str) or not token or not looks_local(folder):
            continue
        vocabulary = vocabulary if vocabulary is not None else tokenizer_vocabulary(Path(folder))
        if vocabulary is not None and token not in vocabulary:
            special = sorted(t for t in vocabulary if t.startswith("<") and t.endswith(">"))[:8]
            raise ConfigError(f"trainer.args.{name}: {token!r} is not a token of the tokenizer in {folder}"
                              + (f" (its special tokens: {', '.join(special)})" if special else ""),
                              where=where(f"trainer.args.{name}"))


def check_reward_functions(trainer: dict, spec, registry, where) -> None:
    """Named reward functions (GRPO's `reward_functions`, PPO's `args.reward_function`) exist and take their options."""
    from workbench.training.rewards import build_reward_function, build_reward_functions

    try:
        if "reward_functions" in spec.options:  # a trainer that takes them needs at least one (as its job does)
            weights = trainer["args"].get("reward_weights")
            build_reward_functions(trainer.get("reward_functions") or [], trainer.get("reward_options"), registry,
                                   weights=weights if isinstance(weights, list) else None)
        name = trainer["args"].get("reward_function")
        if isinstance(name, str) and name:
            build_reward_function(name, trainer["args"].get("reward_function_kwargs"), registry,
                                  where="trainer.args.reward_function")
    except ConfigError as exc:
        raise ConfigError(exc.message if exc.where is None or exc.where in exc.message else f"{exc.where}: {exc.message}",
                          where=where(exc.where or "trainer")) from None


def check_data_kind(data: dict, spec, registry, where, warnings: list[str] | None = None) -> str:
    """Detect the data's format (its kind must be one the trainer consumes) and check every row, as the job will.

    Rows are checked with `data check`'s fast path; with `data.max_rows` only the rows the job
    reads. `on_invalid = "fail"` makes any bad row an error; "skip" a warning (an error when no
    row is left). Hub datasets are streamed by the job: only their format is detected here.
    """
    from workbench.data.loading import bad_rows_error, resolve_format
    from workbench.data.readers import is_hub_name

    name = data["data"].get("format", "auto")
    if name != "auto" and name not in registry.data_formats:
        try:  # why it is missing: a name two plugins claim, a typo, a broken plugin that might have it
            registry.data_format(name)
        except PluginError as exc:
            raise DataError(f"data.format: {exc.message}", where=where("data.format"), hint=exc.hint) from None
    for key in ("train", "eval"):
        source = data["data"].get(key)
        if not source:
            continue
        if not is_hub_name(source) and not Path(source).exists():
            raise DataError(f"data.{key}: file not found: {source}", where=where(f"data.{key}"))
        try:
            detection = resolve_format(source, data["data"], registry.data_formats, data["data"]["split"])
            kind = detection.format.kind
            if kind not in spec.data_kinds:
                raise DataError(
                    f"trainer '{spec.name}' needs {' or '.join(spec.data_kinds)} data, but {Path(source).name} "
                    f"is {kind} (format '{detection.format.name}')", where=f"data.{key}")
            if key == "eval" or not data["data"].get("eval"):  # the rows the evaluators score
                check_evaluator_kinds(data, kind, registry, source, detection.format.name, key)
            if is_hub_name(source):
                continue
            bad, total = _bad_rows(source, data["data"], registry.data_formats)
        except DataError as exc:
            keyed = bool(exc.where) and exc.where.startswith("data.")
            raise DataError(f"{exc.where if keyed else f'data.{key}'}: {exc.message}",
                            where=where(exc.where) if keyed else exc.where or where(f"data.{key}"),
                            hint=exc.hint) from None
        if key == "train" and not data["data"].get("eval") and (data["data"].get("eval_fraction") or 0) > 0 \
                and len(bad) < total:
            from workbench.data.cache import check_holdout

            try:  # as the job splits the valid rows
                check_holdout(total - len(bad), data["data"]["eval_fraction"])
            except DataError as exc:
                raise DataError(f"data.eval_fraction: {exc.message}", where=where("data.eval_fraction"),
                                hint=exc.hint) from None
        if not bad:
            continue
        if data["data"]["on_invalid"] == "fail" or len(bad) == total:
            exc = bad_rows_error(bad, total)
            if len(bad) == total:
                exc.hint = "no valid row is left to train on"
            raise DataError(f"data.{key}: {exc.message}", where=where(f"data.{key}"), hint=exc.hint)
        if warnings is not None:
            warnings.append(f"{where(f'data.{key}')}: data.{key}: {len(bad)} of {total} rows are invalid and will be "
                            f"skipped (data.on_invalid = \"skip\"); first: {bad[0].line()}")
    return "ok"


def check_evaluator_kinds(data: dict, kind: str, registry, source: str, format_name: str, key: str) -> None:
    """Each evaluator of `[eval].evaluators` declaring data kinds accepts `kind`, the kind of the rows it will score."""
    for name in (data.get("eval") or {}).get("evaluators") or []:
        spec = registry.evaluators.get(name)
        kinds = tuple(getattr(spec, "data_kinds", ()) or ())
        if kinds and kind not in kinds:
            raise DataError(f"evaluator '{name}' scores {' or '.join(kinds)} rows, but {Path(source).name} is {kind} "
                            f"(format '{format_name}')", where=f"data.{key}",
                            hint="give data.eval rows of that kind, or leave the evaluator out of eval.evaluators")


def _bad_rows(source: str, data_cfg: dict, formats) -> tuple[list, int]:
    """(invalid rows, rows read) of `source`, reading what the job will read."""
    from workbench.data.loading import convert_rows, resolve_format
    from workbench.data.readers import iter_rows
    from workbench.data.validate import check_source

    if data_cfg.get("max_rows"):
        detection = resolve_format(source, data_cfg, formats, data_cfg["split"])
        results = list(convert_rows(iter_rows(source, data_cfg["split"], limit=data_cfg["max_rows"]),
                                    detection.format, data_cfg.get("columns")))
        return [b for _, _, b in results if b], len(results)
    report = check_source(source, formats, data_cfg, data_cfg["split"])
    return report.bad, report.total

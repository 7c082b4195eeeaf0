"""Turns what `workbench eval` is given (a run, a model, an evaluation config) into a validated job config.

Imports no torch: resolution reads only config.json / adapter_config.json / job.toml files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError, RunError

DEFAULT_EVALUATORS = ["perplexity", "generate"]
BASE = "base"  # --checkpoints name of the model a run started from
# Keys of a run's [data] that decide which rows its own post-training evaluation scored.
DATA_KEYS = ("train", "eval", "format", "columns", "split", "on_invalid", "eval_fraction", "max_rows")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


@dataclass
class EvalPlan:
    """An evaluation job before validation: the raw config, the run's name, where it came from."""

    config: dict[str, Any]
    name: str
    source: Path | None = None


def toml_string(value: str) -> str:
    """A TOML basic string (JSON's escaping is valid TOML) for --set overrides."""
    return json.dumps(value)


def _architectures(folder: Path) -> list[str]:
    try:
        return json.loads((folder / "config.json").read_text(encoding="utf-8")).get("architectures") or []
    except (OSError, json.JSONDecodeError):
        return []


def _check_generative(folder: Path, what: str) -> None:
    archs = _architectures(folder)
    if any(a.endswith("ForSequenceClassification") for a in archs):
        raise ConfigError(f"{what} is a {archs[0]} (a reward model); the evaluators score causal language models")


def _has_tokenizer(folder: Path) -> bool:
    return (folder / "tokenizer_config.json").is_file()


def model_from_folder(folder: Path) -> dict[str, Any]:
    """[model] for a local folder: a full model, or a PEFT adapter on the base it names."""
    folder = folder.resolve()
    adapter_cfg = folder / "adapter_config.json"
    if adapter_cfg.is_file():
        base = json.loads(adapter_cfg.read_text(encoding="utf-8")).get("base_model_name_or_path")
        if not base:
            raise ConfigError("adapter_config.json names no base_model_name_or_path", where=str(adapter_cfg))
        if not Path(base).is_absolute() and (folder / base).exists():
            base = str((folder / base).resolve())
        model = {"path": base, "adapter": str(folder)}
    elif (folder / "config.json").is_file():
        _check_generative(folder, str(folder))
        model = {"path": str(folder)}
    else:
        raise ConfigError("not a model folder (no config.json or adapter_config.json)", where=str(folder))
    if _has_tokenizer(folder) and "adapter" in model:
        model["tokenizer"] = str(folder)
    return model


def checkpoint_of(run, checkpoint: str | None) -> Path:
    """The run's checkpoints/<checkpoint> folder (default: final), with a clear error when absent."""
    name = checkpoint or "final"
    folder = run.dir / "checkpoints" / name
    if folder.is_dir():
        return folder
    done = [p.name for p in run.checkpoints()]
    status = run.status().get("status")
    pick = f"; pick one with --checkpoint {done[-1]}" if done else ""
    raise RunError(f"run {run.id} ({status}) has no checkpoints/{name}{pick}")


def model_from_run(run, run_cfg: dict[str, Any], checkpoint: str | None) -> tuple[dict[str, Any], dict | None]:
    """([model], [quantization]) that load what the run trained: a full model, or its adapter on its base."""
    base_model = {k: v for k, v in run_cfg["model"].items() if v is not None}
    if run_cfg["trainer"]["name"] == "evaluate" and checkpoint is None:  # re-evaluate what an evaluation run scored
        return base_model, run_cfg.get("quantization")
    folder = checkpoint_of(run, checkpoint)
    rel = f"{run.id}/checkpoints/{folder.name}"
    if (folder / "adapter_config.json").is_file():
        if base_model.get("adapter"):
            raise ConfigError(f"run {run.id} trained an adapter on base + model.adapter: stacked adapters cannot be "
                              "evaluated; merge the first adapter into a model folder and evaluate that")
        model = {**base_model, "adapter": str(folder)}
        if _has_tokenizer(folder) and not base_model.get("tokenizer"):
            model["tokenizer"] = str(folder)
        return model, run_cfg.get("quantization")
    if not (folder / "config.json").is_file():
        raise ConfigError(f"{rel} holds no model (no config.json or adapter_config.json)")
    _check_generative(folder, rel)
    model = {k: v for k, v in base_model.items() if k != "adapter"}
    model["path"] = str(folder)
    if not _has_tokenizer(folder):  # the run's own tokenizer (its [model] path, or model.tokenizer)
        model["tokenizer"] = base_model.get("tokenizer") or base_model["path"]
    else:
        model.pop("tokenizer", None)
    return model, None  # a full fine-tune was saved unquantized


def _eval_section(evaluators: list[str] | None, given: dict[str, Any] | None) -> dict[str, Any]:
    given = given or {}
    names = list(evaluators or given.get("evaluators") or DEFAULT_EVALUATORS)
    options = {k: v for k, v in (given.get("options") or {}).items() if k in names}
    section = {"evaluators": names, "options": options}
    if given.get("generation"):  # the same generation settings reproduce the same generations
        section["generation"] = dict(given["generation"])
    return section


def data_section(data: str) -> dict[str, Any]:
    """[data] for an evaluation file: its rows are the evaluation rows (data.eval, so held_out = 1)."""
    path = str(Path(data).resolve()) if not data.startswith("hub:") else data
    return {"train": path, "eval": path}


def checkpoint_names(run, wanted: str) -> list[str]:
    """--checkpoints: "all" (base, every checkpoint-N oldest first, final) or a comma-separated list.

    base is the model the run started from (step 0), so curves start where training did.
    """
    if wanted.strip() == "all":
        names = [BASE] + [p.name for p in run.checkpoints()]
        if (run.dir / "checkpoints" / "final").is_dir():
            names.append("final")
        if len(names) == 1:
            raise RunError(f"run {run.id} has no checkpoints yet")
        return names
    names = [n.strip() for n in wanted.split(",") if n.strip()]
    if not names:
        raise ConfigError("--checkpoints: give all, or names like checkpoint-10,checkpoint-20")
    return names


def checkpoint_step(run, name: str) -> int | None:
    """The training step a checkpoint was saved at (final: the run's last step)."""
    if name == BASE:
        return 0
    tail = name.rsplit("-", 1)[-1]
    if name.startswith("checkpoint-") and tail.isdigit():
        return int(tail)
    step = run.summary().get("step")
    return int(step) if isinstance(step, (int, float)) and step > 0 else None


def checkpoint_targets(run, cfg: dict[str, Any], names: list[str]) -> tuple[list[dict[str, Any]], dict | None]:
    """[trainer] checkpoints entries ({name, step, model}) for the run's checkpoints `names`."""
    targets, quant = [], None
    for name in names:
        if name == BASE:  # what the run started from: its [model] (with its own model.adapter, if any)
            model, quant = {k: v for k, v in cfg["model"].items() if v is not None}, cfg.get("quantization")
        else:
            model, quant = model_from_run(run, cfg, name)
        entry: dict[str, Any] = {"name": name, "model": model}
        step = checkpoint_step(run, name)
        if step is not None:
            entry["step"] = step
        targets.append(entry)
    return targets, quant


def plan_for_run(run, data: str | None, evaluators: list[str] | None, checkpoint: str | None,
                 checkpoints: str | None = None) -> EvalPlan:
    """Evaluate a run's checkpoints/final (or --checkpoint) on its own evaluation rows, or on `data`.

    checkpoints: "all" or a list of names: score each of those models in one evaluation run.
    """
    cfg = run.config()
    targets = None
    if checkpoints:
        targets, quant = checkpoint_targets(run, cfg, checkpoint_names(run, checkpoints))
        model = targets[-1]["model"]
    else:
        model, quant = model_from_run(run, cfg, checkpoint)
    config: dict[str, Any] = {
        "run": {"seed": cfg["run"].get("seed", 42), "tags": ["eval", f"of:{run.id}"]},
        "model": model,
        # The run's own [data] selects the rows its post-training evaluators would score (data.eval, the
        # eval_fraction slice with the same seed, else the last train rows).
        "data": data_section(data) if data else {k: cfg["data"][k] for k in DATA_KEYS if cfg["data"].get(k) is not None},
        "trainer": {"name": "evaluate", **({"checkpoints": targets} if targets else {})},
        "eval": _eval_section(evaluators, cfg.get("eval")),
        "launch": {k: cfg["launch"][k] for k in ("launcher", "mixed_precision", "env") if k in cfg.get("launch", {})},
    }
    if quant:
        config["quantization"] = quant
    name = run.raw_status.get("name") or cfg["run"].get("name") or run.id
    if checkpoint:
        name = f"{name}-{checkpoint}"
    elif targets:
        name = f"{name}-checkpoints"
    return EvalPlan(config, f"eval-{name}", run.dir / "job.toml")


def plan_for_model(target: str, data: str | None, evaluators: list[str] | None) -> EvalPlan:
    """Evaluate a model folder (full model or adapter) or Hub id on `data`."""
    folder = Path(target)
    if not folder.is_dir() and not (HUB_ID.match(target) and not folder.exists()):
        raise ConfigError(f"'{target}' is no run, model folder, job config or Hub id")
    if not data:
        raise ConfigError(f"--data FILE is required to evaluate a model ({target} is no run of this workspace)")
    if folder.is_dir():
        model = model_from_folder(folder)
        label = folder.resolve().name
    else:
        model, label = {"path": target}, target.rsplit("/", 1)[-1]
    config = {"model": model, "data": data_section(data), "trainer": {"name": "evaluate"},
              "eval": _eval_section(evaluators, None), "run": {"tags": ["eval"]}}
    return EvalPlan(config, f"eval-{label}")


def config_overrides(data: str | None, evaluators: list[str] | None) -> list[str]:
    """--set lines that apply --data / --evaluator to an evaluation job config."""
    out = []
    if data:
        section = data_section(data)
        out += [f"data.train={toml_string(section['train'])}", f"data.eval={toml_string(section['eval'])}"]
    if evaluators:
        out.append(f"eval.evaluators=[{', '.join(toml_string(e) for e in evaluators)}]")
    return out

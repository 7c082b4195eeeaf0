"""json_valid and json_schema: is the generation JSON, and does it conform to a schema?"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError
from workbench.evaluation import EvalResult
from workbench.training import TrainContext
from workbench_plugins.evaluators.generative import run_scored
from workbench_plugins.evaluators.scoring import SchemaMatch, json_valid, parse_json

WHERE = "eval.options.json_schema"


def _fenced(own: dict, evaluator: str) -> bool:
    fenced = own.get("fenced", True)
    if not isinstance(fenced, bool):
        raise ConfigError(f"must be true or false, got {fenced!r}", where=f"eval.options.{evaluator}.fenced")
    return fenced


def evaluate_json_valid(ctx: TrainContext, **options) -> EvalResult:
    """Share of generations that parse as JSON (the first ``` fenced block, when there is one)."""
    return run_scored(ctx, "json_valid", options, "json_valid",
                      lambda own: lambda gen, ref: json_valid(gen, ref, _fenced(own, "json_valid")),
                      own=("fenced",), need_reference=False)


def load_schema(own: dict, run_dir: Path) -> Any:
    """The schema of `schema` (inline table) or `schema_file` (a .json file; relative: to the config file, made absolute before launch by checks.check_json_schema; else to `run_dir`)."""
    if "schema" in own and "schema_file" in own:
        raise ConfigError("give schema or schema_file, not both", where=WHERE)
    if "schema_file" in own:
        path = Path(own["schema_file"])
        path = path if path.is_absolute() else run_dir / path
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}", where=f"{WHERE}.schema_file") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not JSON: {exc.msg}", where=f"{path}:{exc.lineno}") from None
    return own.get("schema")


def evaluate_json_schema(ctx: TrainContext, **options) -> EvalResult:
    """Share of generations that are JSON conforming to the schema (`schema`, `schema_file`, else each
    row's reference is its schema); `valid_json` is the share that parse at all."""
    def scorer(own: dict):
        return SchemaMatch(load_schema(own, ctx.run_dir), fenced=_fenced(own, "json_schema"), where=WHERE)

    has_schema = "schema" in options or "schema_file" in options
    result = run_scored(ctx, "json_schema", options, "json_schema", scorer, own=("schema", "schema_file", "fenced"),
                        need_reference=not has_schema)
    fenced = options.get("fenced", True)
    valid = sum(parse_json(r["generation"], fenced)[1] is None for r in result.records)
    result.metrics["valid_json"] = valid / len(result.records) if result.records else 0.0
    return result

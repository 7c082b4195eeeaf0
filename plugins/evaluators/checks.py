"""What the built-in evaluators would refuse after training, checked before launch (EvaluatorSpec.check).

Each check builds what its evaluator builds from its own options (a compiled pattern, a schema
validator, a ROUGE scorer) and nothing more: no model, no torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from workbench_plugins.evaluators.examples import positive_int
from workbench_plugins.evaluators.jsonfmt import WHERE, _fenced, load_schema
from workbench_plugins.evaluators.match import _regex
from workbench_plugins.evaluators.preference import check_normalize
from workbench_plugins.evaluators.rouge import _scorer as rouge_scorer
from workbench_plugins.evaluators.scoring import SchemaMatch


def check_regex(options: dict[str, Any], base: Path) -> None:
    _regex(options)


def check_json_valid(options: dict[str, Any], base: Path) -> None:
    _fenced(options, "json_valid")


def check_json_schema(options: dict[str, Any], base: Path) -> dict[str, Any]:
    """A relative schema_file is the config's neighbour: made absolute here, so the job (which runs in the
    run directory) reads the same file."""
    own = dict(options)
    if isinstance(own.get("schema_file"), str) and own["schema_file"]:
        own["schema_file"] = str((base / Path(own["schema_file"]).expanduser()).resolve())
    SchemaMatch(load_schema(own, base), fenced=_fenced(own, "json_schema"), where=WHERE)
    return own


def check_rouge_l(options: dict[str, Any], base: Path) -> None:
    rouge_scorer(options)


def check_perplexity(options: dict[str, Any], base: Path) -> None:
    for key in ("batch_size", "max_length"):
        if key in options:
            positive_int("perplexity", key, options[key])


def check_preference_accuracy(options: dict[str, Any], base: Path) -> None:
    if "batch_size" in options:
        positive_int("preference_accuracy", "batch_size", options["batch_size"])
    check_normalize(options)

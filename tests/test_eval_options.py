"""Evaluator options are checked before launch, also for evaluators that take **options.

Was: every built-in evaluator took **options, so a typo such as `max_rowz = 1` passed
`validate` and failed after training.
"""

from __future__ import annotations

import pytest

from workbench.errors import PluginError
from workbench.plugin_checks import check_config_plugins
from workbench.plugin_manager import build_registry

REGISTRY = build_registry()
BUILTIN = sorted(n for n, s in REGISTRY.evaluators.items() if s.factory.startswith("workbench_plugins."))


def config(name: str, options: dict) -> dict:
    return {"trainer": {"name": "sft"}, "launch": {"launcher": "local"},
            "eval": {"evaluators": [name], "options": {name: options}}}


@pytest.mark.parametrize("name", BUILTIN)
def test_a_misspelled_option_is_refused_with_the_closest_one(name):
    spec = REGISTRY.evaluators[name]
    assert spec.options, f"{name} declares no options"
    first = spec.options[0] if isinstance(spec.options[0], str) else spec.options[0][0]
    wrong = first + "z"
    with pytest.raises(PluginError) as exc:
        check_config_plugins(config(name, {wrong: 1}), REGISTRY, lambda key: f"cfg.toml: {key}")
    assert f"eval.options.{name}.{wrong}" in str(exc.value) and f"did you mean '{first}'" in str(exc.value)


@pytest.mark.parametrize("name", BUILTIN)
def test_every_declared_option_is_accepted(name):
    spec = REGISTRY.evaluators[name]
    check_config_plugins(config(name, {o[0]: o[1] for o in spec.options if not isinstance(o, str)}), REGISTRY,
                         lambda key: key)


def test_a_declared_option_of_the_wrong_type_is_refused():
    with pytest.raises(PluginError, match="option 'max_new_tokens': expected int"):
        check_config_plugins(config("exact_match", {"max_new_tokens": "lots"}), REGISTRY, lambda key: key)

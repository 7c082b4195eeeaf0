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
    wrong = spec.options[0] + "z"
    with pytest.raises(PluginError) as exc:
        check_config_plugins(config(name, {wrong: 1}), REGISTRY, lambda key: f"cfg.toml: {key}")
    assert f"eval.options.{name}.{wrong}" in str(exc.value) and f"did you mean '{spec.options[0]}'" in str(exc.value)


@pytest.mark.parametrize("name", BUILTIN)
def test_every_declared_option_is_accepted(name):
    spec = REGISTRY.evaluators[name]
    check_config_plugins(config(name, {o: 1 for o in spec.options}), REGISTRY, lambda key: key)

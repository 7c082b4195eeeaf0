"""docs/plugins.md documents every hook with an example, and every hook is exercised by a test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from workbench import hookspecs
from workbench.plugin_manager import HOOK_NAMES

REPO = Path(__file__).resolve().parents[1]
DOCS = (REPO / "docs" / "plugins.md").read_text(encoding="utf-8")
PYTHON_BLOCKS = re.findall(r"```python\n(.*?)```", DOCS, flags=re.S)


def test_hooks_are_the_hookspecs():
    assert {"register_trainers", "register_run_panels", "run_event", "register_commands"} <= set(HOOK_NAMES)


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_has_a_section_and_an_example(hook):
    headings = [h for h in re.findall(r"^### (.*)$", DOCS, flags=re.M) if f"`{hook}(" in h]
    assert headings, f"docs/plugins.md has no '### `{hook}(...)`' section"
    assert any(re.search(rf"^def {hook}\(", block, flags=re.M) for block in PYTHON_BLOCKS), \
        f"docs/plugins.md has no python example defining {hook}()"


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_is_in_the_changelog(hook):
    assert hook in hookspecs.HOOK_CHANGELOG, f"hookspecs.HOOK_CHANGELOG lacks {hook}"
    row = re.search(rf"^\| `{hook}` \| ([0-9.]+) \|", DOCS, flags=re.M)
    assert row and row.group(1) == hookspecs.HOOK_CHANGELOG[hook], f"the docs' hook changelog lacks {hook}"


@pytest.mark.parametrize("hook", HOOK_NAMES)
def test_every_hook_is_exercised_by_a_test(hook):
    here = Path(__file__).name
    users = [p.name for p in (REPO / "tests").glob("test_*.py") if p.name != here
             and re.search(rf"def {hook}\(|\b{hook}=", p.read_text(encoding="utf-8"))]
    assert users, f"no test implements the hook {hook} (def {hook}(...) or {hook}=...)"


def test_deprecated_hooks_name_an_existing_replacement():
    for hook, dep in hookspecs.DEPRECATED_HOOKS.items():
        assert dep.replacement in HOOK_NAMES and hook in HOOK_NAMES
        assert f"`{dep.replacement}`" in DOCS and dep.removal in DOCS


def test_python_examples_compile():
    for block in PYTHON_BLOCKS:
        compile(block, "docs/plugins.md", "exec")


@pytest.mark.slow
def test_library_import_paths_in_the_docs_resolve():
    """The TRL classes the docs name exist in the TRL we install (trl:ORPOConfig did not)."""
    from workbench.plugin_checks import import_path_problem

    paths = sorted(set(re.findall(r'"((?:trl|transformers|peft)(?:\.\w+)*:\w+)"', DOCS)))
    assert "trl.experimental.orpo:ORPOConfig" in paths
    problems = [p for p in (import_path_problem(path, full=True) for path in paths) if p]
    assert not problems, problems

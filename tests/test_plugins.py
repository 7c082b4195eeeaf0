"""Plugin discovery: built-ins through the entry-point group, broken and conflicting plugins."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.conftest import CONFIGS, cli
from workbench.errors import PluginError
from workbench.plugin_manager import build_registry


def install_fake_distribution(site, dist: str, module: str, source: str, entry_name: str | None = None):
    """Install a plugin the way pip would: a module plus a .dist-info with an entry point."""
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-1.2.3.dist-info"  # pip normalises the folder name
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[workbench]\n{entry_name or dist} = {module}\n")


GOOD_TRAINER = """
from workbench.hookspecs import hookimpl
from workbench.specs import TrainerSpec

@hookimpl
def register_trainers():
    return [TrainerSpec("{name}", ("conversational",), "x:y")]
"""


def test_builtins_are_registered_through_the_entry_point_group(workspace):
    reg = build_registry(workspace)
    names = {p.name: p for p in reg.plugins}
    assert names["sft"].builtin and names["sft"].status == "ok"
    assert names["sft"].registers == {"trainers": ["sft"]}
    assert {"messages", "sharegpt", "alpaca", "text"} <= set(reg.data_formats)
    assert reg.owner[("trainers", "sft")] == "sft"


def test_broken_third_party_plugin_is_listed_and_cli_still_works(workspace, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    install_fake_distribution(site, "wb-broken", "wb_broken", "import not_a_real_module_xyz\n")
    install_fake_distribution(site, "wb-raises", "wb_raises", """
        from workbench.hookspecs import hookimpl
        @hookimpl
        def register_trainers():
            raise RuntimeError("boom in hook")
    """)
    env = {"PYTHONPATH": str(site)}
    listing = cli("plugins", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    plugins = {p["name"]: p for p in json.loads(listing.stdout)}
    assert plugins["wb-broken"]["status"] == "broken"
    assert "not_a_real_module_xyz" in plugins["wb-broken"]["error"]
    assert plugins["wb-broken"]["version"] == "1.2.3"
    assert plugins["wb-raises"]["status"] == "broken"
    assert "boom in hook" in plugins["wb-raises"]["error"]
    assert plugins["sft"]["status"] == "ok"
    # Other commands are unaffected.
    assert cli("validate", str(CONFIGS / "sft.toml"), env=env).returncode == 0
    assert cli("ls", env=env).returncode == 0


def test_config_naming_a_missing_trainer_gets_one_line_error(workspace, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    install_fake_distribution(site, "wb-broken", "wb_broken", "raise ImportError('needs flash-attn')\n")
    cfg = tmp_path / "c.toml"
    cfg.write_text((CONFIGS / "sft.toml").read_text().replace('[trainer]\nname = "sft"', '[trainer]\nname = "orpo"')
                   .replace("../", str(CONFIGS.parent) + "/"))
    result = cli("validate", str(cfg), env={"PYTHONPATH": str(site)})
    assert result.returncode != 0
    first = result.stderr.strip().splitlines()[0]
    assert "trainer.name" in first and "orpo" in first and "c.toml:" in first
    assert "wb-broken" in result.stderr  # the hint names the broken plugin that might have provided it
    assert "Traceback" not in result.stderr


def test_duplicate_trainer_names_are_an_error_naming_both(workspace, tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    install_fake_distribution(site, "wb-one", "wb_one", GOOD_TRAINER.format(name="fancy"))
    install_fake_distribution(site, "wb-two", "wb_two", GOOD_TRAINER.format(name="fancy"))
    monkeypatch.syspath_prepend(str(site))
    import importlib

    importlib.invalidate_caches()
    reg = build_registry(workspace)
    with pytest.raises(PluginError) as err:
        reg.trainer("fancy")
    assert "wb-one" in str(err.value) and "wb-two" in str(err.value)
    statuses = {reg.plugin("wb-one").status, reg.plugin("wb-two").status}
    assert statuses == {"ok", "conflict"}


def test_allow_deny_and_local_plugin_folder(workspace, monkeypatch):
    local = workspace / ".workbench" / "plugins"
    local.mkdir(parents=True)
    (local / "mytrainer.py").write_text(GOOD_TRAINER.format(name="mine"))
    reg = build_registry(workspace)
    assert "mine" in reg.trainers and reg.plugin("mytrainer").source.endswith("mytrainer.py")

    monkeypatch.setenv("WORKBENCH_PLUGINS_DENY", "mytrainer,dpo")
    reg = build_registry(workspace)
    assert "mine" not in reg.trainers and reg.plugin("mytrainer").status == "disabled"
    assert reg.plugin("dpo").status == "disabled"

    monkeypatch.delenv("WORKBENCH_PLUGINS_DENY")
    monkeypatch.setenv("WORKBENCH_PLUGINS_ALLOW", "sft,formats,local_launcher")
    reg = build_registry(workspace)
    assert set(reg.trainers) == {"sft"}


def test_listing_plugins_imports_no_torch(workspace):
    import subprocess
    import sys

    code = ("import sys; from workbench.plugin_manager import build_registry; build_registry(); "
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'datasets', 'peft') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

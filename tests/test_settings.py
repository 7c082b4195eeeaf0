"""User settings: file locations, workspace overrides, $env: secrets, one-line errors, persistence."""

from __future__ import annotations

import pytest

from tests.conftest import CONFIGS, cli
from workbench.errors import ConfigError, PluginError
from workbench.settings import config_dir, load_settings, plugin_settings, save_user_setting, user_settings_path


def write_user(text: str):
    config_dir().mkdir(parents=True, exist_ok=True)
    user_settings_path().write_text(text)


def test_defaults_without_files(workspace):
    s = load_settings(workspace)
    assert s.theme is None and s.runs_folder == "runs" and s.refresh["runs"] == 0.5 and s.plugins.allow is None


def test_config_dir_is_the_platform_one_unless_overridden(monkeypatch):
    import platformdirs

    monkeypatch.delenv("WORKBENCH_CONFIG_DIR", raising=False)
    assert config_dir() == __import__("pathlib").Path(platformdirs.user_config_dir("workbench", appauthor=False))


def test_workspace_file_overrides_the_user_file(workspace):
    write_user('theme = "workbench-light"\n[refresh]\nruns = 2\ngpu = 3\n[plugin.slack]\nchannel = "#ml"\nlevel = 1\n')
    (workspace / ".workbench").mkdir()
    (workspace / ".workbench" / "settings.toml").write_text('[refresh]\nruns = 1\n[plugin.slack]\nlevel = 2\n')
    s = load_settings(workspace)
    assert s.theme == "workbench-light" and s.refresh["runs"] == 1.0 and s.refresh["gpu"] == 3.0
    assert s.plugin_settings("slack") == {"channel": "#ml", "level": 2}
    assert len(s.files) == 2


def test_env_values_are_read_when_asked_and_missing_ones_are_named(workspace, monkeypatch):
    write_user('[plugin.slack]\nwebhook = "$env:WB_TEST_WEBHOOK"\n')
    assert load_settings(workspace).plugin["slack"]["webhook"] == "$env:WB_TEST_WEBHOOK"  # stored as written
    with pytest.raises(PluginError, match="plugin.slack.webhook: environment variable WB_TEST_WEBHOOK is not set"):
        plugin_settings("slack", workspace)
    monkeypatch.setenv("WB_TEST_WEBHOOK", "https://hooks.example/secret-123")
    assert plugin_settings("slack", workspace) == {"webhook": "https://hooks.example/secret-123"}



def test_a_key_the_plugin_section_lacks_is_one_line_naming_it_and_still_a_key_error(workspace):
    write_user('[plugin.slack]\nchannel = "#ml"\n')
    section = plugin_settings("slack", workspace)
    assert section.get("journal", "default") == "default" and "journal" not in section
    with pytest.raises(PluginError) as info:
        section["journal"]
    assert isinstance(info.value, KeyError)
    assert str(info.value) == "settings: [plugin.slack] journal is not set"
    assert plugin_settings("other", workspace).get("x") is None  # a section that is not there is empty

@pytest.mark.parametrize("text, words", [
    ('thme = "x"\n', ("settings.toml:1", "thme: unknown setting", "did you mean 'theme'")),
    ('[refresh]\nruns = 0\n', ("settings.toml:2", "refresh.runs", "between 0.05")),
    ('[plugins]\nallow = "sft"\n', ("settings.toml:2", "plugins.allow", "list of plugin names")),
    ('runs_folder = "../elsewhere"\n', ("runs_folder", "one folder name")),
    ('theme = \n', ("invalid TOML",)),
])
def test_mistakes_are_one_line_errors_naming_file_and_line(workspace, text, words):
    write_user(text)
    with pytest.raises(ConfigError) as err:
        load_settings(workspace)
    line = err.value.one_line()
    assert "\n" not in line and all(w in line for w in words), line


def test_cli_reports_a_broken_settings_file_in_one_line(workspace):
    write_user('[refresh]\nruns = "fast"\n')
    result = cli("validate", str(CONFIGS / "sft.toml"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "settings.toml:2: refresh.runs" in result.stderr.strip().splitlines()[0]


def test_save_keeps_comments_and_other_keys(workspace):
    write_user('# my settings\n[refresh]\nruns = 2  # slow link\n')
    save_user_setting("theme", "workbench-colorblind")
    text = user_settings_path().read_text()
    assert "# my settings" in text and "# slow link" in text and 'theme = "workbench-colorblind"' in text
    assert load_settings(workspace).theme == "workbench-colorblind"


def test_plugin_allow_and_deny_from_the_settings(workspace, monkeypatch):
    from workbench.plugin_manager import build_registry

    monkeypatch.delenv("WORKBENCH_PLUGINS_ALLOW", raising=False)
    monkeypatch.delenv("WORKBENCH_PLUGINS_DENY", raising=False)
    write_user('[plugins]\ndeny = ["dpo"]\n')
    reg = build_registry(workspace)
    assert reg.plugin("dpo").status == "disabled" and "dpo" not in reg.trainers
    monkeypatch.setenv("WORKBENCH_PLUGINS_DENY", "")  # the environment wins
    assert "dpo" in build_registry(workspace).trainers


def test_runs_folder_setting_moves_runs(workspace):
    from workbench.paths import runs_dir

    (workspace / ".workbench").mkdir()
    (workspace / ".workbench" / "settings.toml").write_text('runs_folder = "experiments"\n')
    assert runs_dir(workspace) == workspace / "experiments"

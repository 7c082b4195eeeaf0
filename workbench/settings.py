"""User settings: one TOML file in the platform config directory, overridden per workspace.

    <config dir>/settings.toml            (platformdirs: ~/.config/workbench on Linux;
                                           $WORKBENCH_CONFIG_DIR wins)
    <workspace>/.workbench/settings.toml  (the same keys; wins over the user file)

    theme = "workbench-dark"          # a built-in, user (<config dir>/themes/*.toml) or plugin theme
    runs_folder = "runs"              # a folder of the workspace (one name, no '/')
    [refresh]                         # seconds between TUI polls
    runs = 0.5
    gpu = 1.0
    detail = 0.5
    [plugins]                         # names as `workbench plugins` lists them; the env vars win
    allow = ["sft", "formats"]
    deny = ["orpo"]
    [keys]                            # palette command names or app actions -> keys
    team-dashboard = "ctrl+d"
    help = "f1"
    [sources]                         # other tools' run folders shown in the Runs tab (workbench watch --add)
    paths = ["/data/tb-logs/qwen", "saves/llama-lora"]   # relative: to the workspace
    [plugin.slack]                    # a plugin's own section: plugin_settings("slack")
    webhook = "$env:SLACK_WEBHOOK"    # read from the environment when asked for, never stored

Values of the form "$env:NAME" are resolved only by `plugin_settings()`, so secrets stay
in the environment and are never copied into run directories or logs.
Mistakes are one-line ConfigErrors naming file:line and the key.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError, PluginError

CONFIG_DIR_ENV = "WORKBENCH_CONFIG_DIR"
FILE_NAME = "settings.toml"
ENV_PREFIX = "$env:"
KEYS = ("theme", "runs_folder", "refresh", "plugins", "keys", "sources", "plugin")
REFRESH_KEYS = {"runs": 0.5, "gpu": 1.0, "detail": 0.5}


def config_dir() -> Path:
    """Where user settings and user themes live: $WORKBENCH_CONFIG_DIR, else the platform's config dir."""
    if os.environ.get(CONFIG_DIR_ENV):
        return Path(os.environ[CONFIG_DIR_ENV])
    import platformdirs

    return Path(platformdirs.user_config_dir("workbench", appauthor=False))


def user_settings_path() -> Path:
    return config_dir() / FILE_NAME


def workspace_settings_path(workspace: Path) -> Path:
    return Path(workspace) / ".workbench" / FILE_NAME


@dataclass(frozen=True)
class PluginFilter:
    allow: list[str] | None = None   # None: every plugin
    deny: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Settings:
    """The merged settings (workspace over user over defaults) and the files they came from."""

    theme: str | None = None
    runs_folder: str = "runs"
    refresh: dict[str, float] = field(default_factory=lambda: dict(REFRESH_KEYS))
    plugins: PluginFilter = field(default_factory=PluginFilter)
    keys: dict[str, str] = field(default_factory=dict)
    plugin: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    """[sources] paths: other tools' run folders (workbench.sources.added), as written."""
    files: tuple[Path, ...] = ()

    def secret_env_names(self) -> list[str]:
        """The variables [plugin.*] reads with "$env:NAME": their values are secrets, never written down."""
        names: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, str) and value.startswith(ENV_PREFIX):
                names.append(value[len(ENV_PREFIX):])
            elif isinstance(value, dict):
                for v in value.values():
                    walk(v)
            elif isinstance(value, list):
                for v in value:
                    walk(v)

        walk(self.plugin)
        return names

    def plugin_settings(self, name: str) -> PluginSettings:
        """[plugin.NAME] with "$env:VAR" values read from the environment (a missing one is an error)."""
        return PluginSettings(name, {k: _resolve_env(v, f"plugin.{name}.{k}") for k, v in self.plugin.get(name, {}).items()})


class MissingSetting(PluginError, KeyError):
    """A key a plugin reads from its [plugin.NAME] section that the settings do not set (still a KeyError)."""

    def __str__(self) -> str:
        return self.one_line()


class PluginSettings(dict):
    """A plugin's settings section: reading a key it lacks is a one-line error naming the section and key."""

    def __init__(self, plugin: str, values: dict[str, Any]):
        super().__init__(values)
        self.plugin = plugin

    def __missing__(self, key: str) -> Any:
        raise MissingSetting(f"[plugin.{self.plugin}] {key} is not set", where="settings",
                             hint=f"add it to settings.toml: [plugin.{self.plugin}] {key} = ...")


def _resolve_env(value: Any, key: str) -> Any:
    if isinstance(value, str) and value.startswith(ENV_PREFIX):
        var = value[len(ENV_PREFIX):]
        if var not in os.environ:
            raise PluginError(f"settings {key}: environment variable {var} is not set", where="settings",
                              hint=f"export {var}=... in the shell that runs workbench")
        return os.environ[var]
    if isinstance(value, dict):
        return {k: _resolve_env(v, f"{key}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve_env(v, key) for v in value]
    return value


def _line_of(text: str, key: str) -> int:
    """The line where `key` (last part of a dotted path) is set, or its [section] header; 1 if unknown."""
    parts = key.split(".")
    patterns = [rf"^\s*\"?{re.escape(parts[-1])}\"?\s*=", rf"^\s*\[{re.escape('.'.join(parts[:-1]) or parts[0])}\]"]
    for pattern in patterns:
        for i, line in enumerate(text.splitlines(), 1):
            if re.match(pattern, line):
                return i
    return 1


def _read(path: Path) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text; save the settings as UTF-8", where=str(path)) from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        m = re.search(r"line (\d+)", str(exc))
        raise ConfigError(f"invalid TOML: {str(exc).split(' (at')[0]}",
                          where=f"{path}:{m.group(1)}" if m else str(path)) from None


def _check(data: dict[str, Any], text: str, path: Path) -> None:
    """Types and known keys of one settings file."""
    import difflib

    def err(key: str, message: str) -> ConfigError:
        return ConfigError(f"{key}: {message}", where=f"{path}:{_line_of(text, key)}")

    for key, value in data.items():
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            raise err(key, "unknown setting" + (f"; did you mean '{close[0]}'?" if close else f" (known: {', '.join(KEYS)})"))
    for key in ("theme", "runs_folder"):
        if key in data and (not isinstance(data[key], str) or not data[key].strip()):
            raise err(key, f"expected a non-empty string, got {data[key]!r}")
    if isinstance(data.get("runs_folder"), str) and not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", data["runs_folder"]):
        raise err("runs_folder", f"expected one folder name inside the workspace (no '/' or '..'), got "
                                 f"{data['runs_folder']!r}")
    for section in ("refresh", "plugins", "keys", "sources", "plugin"):
        if section in data and not isinstance(data[section], dict):
            raise err(section, f"expected a table [{section}], got {type(data[section]).__name__}")
    for key, value in data.get("refresh", {}).items():
        if key not in REFRESH_KEYS:
            raise err(f"refresh.{key}", f"unknown; known: {', '.join(REFRESH_KEYS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.05 <= value <= 3600:
            raise err(f"refresh.{key}", f"expected seconds between 0.05 and 3600, got {value!r}")
    for key, value in data.get("plugins", {}).items():
        if key not in ("allow", "deny"):
            raise err(f"plugins.{key}", "unknown; known: allow, deny")
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise err(f"plugins.{key}", f"expected a list of plugin names, got {value!r}")
    for key, value in data.get("keys", {}).items():
        if not isinstance(value, str) or not value:
            raise err(f"keys.{key}", f"expected a key such as 'ctrl+k', got {value!r}")
    for key, value in data.get("sources", {}).items():
        if key != "paths":
            raise err(f"sources.{key}", "unknown; known: paths")
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise err("sources.paths", f"expected a list of folder paths, got {value!r}")
    for key, value in data.get("plugin", {}).items():
        if not isinstance(value, dict):
            raise err(f"plugin.{key}", "expected a table [plugin.NAME] of that plugin's settings")


def read_settings_file(path: Path) -> dict[str, Any]:
    """One settings file as checked TOML data ({} when it does not exist); ConfigError naming file:line."""
    if not Path(path).is_file():
        return {}
    data, text = _read(Path(path))
    _check(data, text, Path(path))
    return data


_CACHE: dict[tuple, Settings] = {}


def _stamp(path: Path) -> tuple:
    try:
        st = path.stat()
        return (str(path), st.st_mtime_ns, st.st_size)
    except OSError:
        return (str(path), None, None)


def load_settings(workspace: Path | None = None) -> Settings:
    """The merged settings for `workspace` (default: the current one); re-read when a file changes."""
    if workspace is None:
        from workbench.workspace import workspace as current

        workspace = current()
    paths = [user_settings_path(), workspace_settings_path(workspace)]
    key = tuple(_stamp(p) for p in paths)
    if key in _CACHE:
        return _CACHE[key]
    merged: dict[str, Any] = {}
    used = []
    for path in paths:
        if not path.is_file():
            continue
        data, text = _read(path)
        _check(data, text, path)
        used.append(path)
        for k, v in data.items():
            if isinstance(v, dict) and isinstance(merged.get(k), dict):
                merged[k] = {**merged[k], **v} if k != "plugin" else {
                    **merged[k], **{n: {**merged[k].get(n, {}), **s} for n, s in v.items()}}
            else:
                merged[k] = v
    plugins = merged.get("plugins", {})
    settings = Settings(
        theme=merged.get("theme"), runs_folder=merged.get("runs_folder", "runs"),
        refresh={**REFRESH_KEYS, **{k: float(v) for k, v in merged.get("refresh", {}).items()}},
        plugins=PluginFilter(plugins.get("allow"), list(plugins.get("deny", []))),
        keys=dict(merged.get("keys", {})), plugin=dict(merged.get("plugin", {})),
        sources=tuple(merged.get("sources", {}).get("paths", ())), files=tuple(used))
    if len(_CACHE) > 16:
        _CACHE.clear()
    _CACHE[key] = settings
    from workbench.secrets import declare_secret_env

    declare_secret_env(settings.secret_env_names())  # redacted here and in every process started from here
    return settings


def plugin_settings(name: str, workspace: Path | None = None) -> PluginSettings:
    """A plugin's section [plugin.NAME], "$env:VAR" values resolved. Call it where the value is used."""
    return load_settings(workspace).plugin_settings(name)


def save_user_setting(key: str, value: Any) -> Path:
    """Set one top-level or dotted key (e.g. "theme", "refresh.runs") in the user file, keeping its comments."""
    return save_setting(user_settings_path(), key, value)


def save_workspace_setting(workspace: Path, key: str, value: Any) -> Path:
    """Set one key (e.g. "sources.paths") in <workspace>/.workbench/settings.toml, keeping its comments."""
    return save_setting(workspace_settings_path(workspace), key, value)


def save_setting(path: Path, key: str, value: Any) -> Path:
    """Set one top-level or dotted key in the settings file `path`; checked before it replaces the file."""
    import tomlkit

    path.parent.mkdir(parents=True, exist_ok=True)
    doc = tomlkit.parse(path.read_text(encoding="utf-8")) if path.is_file() else tomlkit.document()
    parts = key.split(".")
    table = doc
    for part in parts[:-1]:
        if part not in table:
            table[part] = tomlkit.table()
        table = table[part]
    table[parts[-1]] = value
    text = tomlkit.dumps(doc)
    data = tomllib.loads(text)
    _check(data, text, path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path

"""What settings and plugins add to the TUI: themes, refresh rates, palette commands and their
keys, main-screen tabs and run-detail panels.

`ExtensionsMixin` is mixed into WorkbenchApp; the app calls `setup_extensions()` in its
__init__ and `extensions_ready(registry)` once the plugin registry is built (in a thread,
after the first paint). Run detail calls `update_run_panels(screen, update)` after each poll.
Nothing here imports torch; plugin widgets are imported when first shown. A plugin widget
or command that raises is a notification naming the plugin, never a crash.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from textual.widget import Widget

from workbench.tui.app_api import AppAPI, RunPanelContext, RunRef
from workbench.tui.screens.main import LazyPanel

THEME_ENV = "WORKBENCH_THEME"
PLUGIN_TAB_PREFIX = "plugin-tab-"
PLUGIN_PANEL_PREFIX = "plugin-panel-"
APP_ACTIONS = {"help": "help", "compare": "compare", "palette": "command_palette", "quit": "quit",
               "refresh": "refresh_runs"}


def _resolve(value: Any) -> Callable[..., Any]:
    if callable(value):
        return value
    from workbench.specs import load_object

    return load_object(value)


def _describe(exc: BaseException) -> str:
    from workbench.plugin_runtime import describe

    return describe(exc)


class PluginTab(LazyPanel):
    """A main-screen tab a plugin registered; its widget is built on first show."""

    def __init__(self, spec: Any, plugin: str, **kwargs: Any):
        super().__init__("plugin", **kwargs)
        self.spec, self.plugin = spec, plugin

    def load(self) -> None:  # the main screen's LazyPanel protocol
        if self.loaded:
            return
        self.loaded = True
        from textual.widgets import Static

        try:
            widget = _resolve(self.spec.widget)(self.app.api)
            if not isinstance(widget, Widget):
                raise TypeError(f"returned a {type(widget).__name__}, not a Textual Widget")
        except Exception as exc:  # noqa: BLE001 - a broken tab must not take the app down
            widget = Static(f"plugin {self.plugin}: tab '{self.spec.name}' failed: {_describe(exc)}",
                            classes="plugin-error")
        self.mount(widget)


class ExtensionsMixin:
    """Settings, themes and plugin extension points of the Workbench app."""

    api: AppAPI

    # -- at construction --------------------------------------------------------------------
    def setup_extensions(self) -> None:
        import workbench_themes
        from workbench.errors import WorkbenchError
        from workbench.settings import config_dir, load_settings

        self.api = AppAPI(self)
        self.extension_errors: list[str] = []
        self._persist_theme = False
        self._plugin_tab_ids: list[str] = []
        try:
            self.settings = load_settings(self.workspace)
        except WorkbenchError as exc:
            from workbench.settings import Settings

            self.settings = Settings()
            self.extension_errors.append(exc.one_line())
        for theme in workbench_themes.THEMES:
            self.register_theme(theme)
        for path in workbench_themes.user_theme_files(config_dir()):
            self._register_theme_file(path, "user theme")
        self._wanted_theme = os.environ.get(THEME_ENV) or self.settings.theme or workbench_themes.DEFAULT_THEME
        self._apply_wanted_theme()

    def get_theme_variable_defaults(self) -> dict[str, str]:
        """Status and chart colour variables for every theme (Textual's own ones too)."""
        import workbench_themes

        return dict(workbench_themes.VARIABLE_DEFAULTS)

    def refresh_seconds(self, what: str) -> float:
        """Seconds between polls of `what` (runs, gpu, detail) from the settings."""
        return float(self.settings.refresh.get(what, 0.5))

    def _register_theme_file(self, path: Path, origin: str) -> str | None:
        import workbench_themes

        try:
            theme = workbench_themes.load_theme_file(path)
        except workbench_themes.ThemeFileError as exc:
            self.extension_errors.append(f"{origin}: {exc}")
            return None
        self.register_theme(theme)
        return theme.name

    def _apply_wanted_theme(self) -> bool:
        if self._wanted_theme in self.available_themes:
            self.theme = self._wanted_theme
            return True
        return False

    def watch_theme(self, name: str) -> None:
        """A theme picked in the palette (or anywhere) is saved in the user settings."""
        if not self._persist_theme or name == self.settings.theme:
            return
        from workbench.errors import WorkbenchError
        from workbench.settings import load_settings, save_user_setting

        try:
            save_user_setting("theme", name)
            self.settings = load_settings(self.workspace)
        except (OSError, WorkbenchError) as exc:
            self.notify(f"theme not saved: {exc}", severity="warning")

    # -- once the registry is built --------------------------------------------------------------
    def extensions_ready(self, registry: Any) -> None:
        """Plugin themes, tabs and key bindings; then the saved theme; then report problems."""
        if registry is not None:
            for name, spec in registry.themes.items():
                self._register_theme_file(Path(spec.path), f"plugin {registry.owner_of('themes', name)}")
            self._add_plugin_tabs(registry)
        self._bind_keys(registry)
        if not self._apply_wanted_theme():
            self.extension_errors.append(f"theme '{self._wanted_theme}' is not installed; using {self.theme}")
        self._persist_theme = True
        for line in self.extension_errors:
            self.notify(line, severity="warning", timeout=8)

    def _add_plugin_tabs(self, registry: Any) -> None:
        main = self.main_screen
        if main is None or not registry.tabs:
            return
        from textual.widgets import ContentSwitcher

        from workbench.tui.widgets.bars import TabBar

        switcher = main.query_one("#tabs", ContentSwitcher)
        bar = main.query_one(TabBar)
        for name, spec in registry.tabs.items():
            tab_id = f"{PLUGIN_TAB_PREFIX}{name}"
            if tab_id in self._plugin_tab_ids:
                continue
            self._plugin_tab_ids.append(tab_id)
            switcher.mount(PluginTab(spec, registry.owner_of("tabs", name), id=tab_id))
            bar.tabs = {**bar.tabs, tab_id: spec.title}
            number = len(bar.tabs)
            if number <= 9:
                self.bind(str(number), f"plugin_tab('{name}')", description=spec.title, show=False)
        bar.set_active(bar.active)

    def _bind_keys(self, registry: Any) -> None:
        """Palette commands' own keys, then [keys] of the settings (which win)."""
        keys: dict[str, str] = {}
        if registry is not None:
            keys.update({name: spec.key for name, spec in registry.palette_commands.items() if spec.key})
        keys.update(self.settings.keys)
        for name, key in keys.items():
            if registry is not None and name in registry.palette_commands:
                self.bind(key, f"plugin_command('{name}')", description=registry.palette_commands[name].title,
                          show=False)
            elif name in APP_ACTIONS:
                self.bind(key, APP_ACTIONS[name], description=name, show=False)
            else:
                known = sorted([*APP_ACTIONS, *(registry.palette_commands if registry else ())])
                self.extension_errors.append(f"settings [keys] {name}: no such command (known: {', '.join(known)})")

    # -- actions -----------------------------------------------------------------------------
    def action_plugin_command(self, name: str) -> None:
        registry = getattr(self, "registry", None)
        spec = registry.palette_commands.get(name) if registry is not None else None
        if spec is not None:
            run_plugin_command(self, spec, registry.owner_of("palette_commands", name))

    def action_plugin_tab(self, name: str) -> None:
        self.show_tab(f"{PLUGIN_TAB_PREFIX}{name}")

    def action_refresh_runs(self) -> None:
        self.refresh_runs()

    def extension_palette_commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        """Palette entries: plugin commands, plugin tabs, and one per theme (the choice is saved)."""
        from functools import partial

        import workbench_themes

        cmds: list[tuple[str, str, Callable[[], Any]]] = []
        registry = getattr(self, "registry", None)
        if registry is not None:
            for name, spec in registry.palette_commands.items():
                plugin = registry.owner_of("palette_commands", name)
                key = f" ({spec.key})" if spec.key else ""
                cmds.append((spec.title, f"{spec.help}{key} [plugin {plugin}]",
                             partial(run_plugin_command, self, spec, plugin)))
            for name, spec in registry.tabs.items():
                cmds.append((f"Tab: {spec.title}", f"{spec.description} [plugin {registry.owner_of('tabs', name)}]",
                             partial(self.action_plugin_tab, name)))
        for name in sorted(self.available_themes):
            if name.startswith("workbench-") or name in (registry.themes if registry else {}):
                cmds.append((f"Theme: {name}", workbench_themes.DESCRIPTIONS.get(name, "a theme") + " (saved)",
                             partial(setattr, self, "theme", name)))
        return cmds


def run_plugin_command(app: Any, spec: Any, plugin: str) -> None:
    """Run a palette command with the app API; a failure is a notification naming the plugin."""
    try:
        _resolve(spec.run)(app.api)
    except Exception as exc:  # noqa: BLE001 - a plugin must never take the app down
        app.notify(f"plugin {plugin}: command '{spec.title}' failed: {_describe(exc)}", severity="error")


# -- run detail panels -------------------------------------------------------------------------

class _PanelState:
    def __init__(self) -> None:
        self.metrics: set[str] = set()
        self.shown: dict[str, Widget] = {}
        self.failed: set[str] = set()
        self.config: dict[str, Any] | None = None


def panel_matches(spec: Any, trainer: str, tags: tuple[str, ...], metrics: set[str]) -> bool:
    """Whether a RunPanelSpec applies to a run with this trainer, these tags and these metric names."""
    if not (spec.trainers or spec.tags or spec.metrics):
        return True
    return (trainer in spec.trainers or any(t in spec.tags for t in tags)
            or any(m.startswith(prefix) for prefix in spec.metrics for m in metrics))


def _run_config(screen: Any) -> dict[str, Any]:
    try:
        config = screen.source.config()
    except Exception:  # noqa: BLE001 - a watched HF dir has no job.toml
        return {}
    return config if isinstance(config, dict) else {}


def update_run_panels(screen: Any, update: Any) -> None:
    """Add the plugin panels that match the run (as soon as they do) and pass them each update."""
    state: _PanelState = screen.__dict__.setdefault("_plugin_panels", _PanelState())
    for row in update.metrics or []:
        state.metrics.update(k for k in row if isinstance(k, str))
    registry = getattr(screen.app, "registry", None)
    if registry is None or not registry.run_panels:
        return
    if state.config is None:
        state.config = _run_config(screen)
    status = update.status or {}
    trainer = str(status.get("trainer") or (state.config.get("trainer") or {}).get("name") or "")
    tags = tuple((state.config.get("run") or {}).get("tags") or ())
    for name, spec in registry.run_panels.items():
        if name in state.shown or name in state.failed or not panel_matches(spec, trainer, tags, state.metrics):
            continue
        _add_panel(screen, state, registry, name, spec, status, trainer, tags)
    for name, widget in list(state.shown.items()):
        hook = getattr(widget, "on_run_update", None)
        if hook is None or name in state.failed:
            continue
        try:
            hook(update)
        except Exception as exc:  # noqa: BLE001
            state.failed.add(name)
            screen.notify(f"plugin {registry.owner_of('run_panels', name)}: run panel '{name}' failed: "
                          f"{_describe(exc)}", severity="error")


def _add_panel(screen: Any, state: _PanelState, registry: Any, name: str, spec: Any, status: dict,
               trainer: str, tags: tuple[str, ...]) -> None:
    from textual.widgets import TabbedContent, TabPane

    source = screen.source
    from workbench.sources.rundir import run_of

    run = run_of(source)
    ref = RunRef(getattr(source, "id", getattr(run, "id", "")), Path(getattr(run, "dir", "") or ""),
                 str(status.get("status", "")), trainer, tags)
    plugin = registry.owner_of("run_panels", name)
    try:
        widget = _resolve(spec.widget)(RunPanelContext(screen.app.api, ref, dict(state.config or {})))
        if not isinstance(widget, Widget):
            raise TypeError(f"returned a {type(widget).__name__}, not a Textual Widget")
    except Exception as exc:  # noqa: BLE001
        state.failed.add(name)
        screen.notify(f"plugin {plugin}: run panel '{name}' failed: {_describe(exc)}", severity="error")
        return
    state.shown[name] = widget
    screen.query_one(TabbedContent).add_pane(TabPane(spec.title, widget, id=f"{PLUGIN_PANEL_PREFIX}{name}"))

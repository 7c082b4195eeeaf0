"""`workbench <name>` subcommands that plugins add with `register_commands()`.

The registry is only built when the command line needs it: for `workbench --help`, for
a command that is not built in, or with no command. A built-in command never pays for it.
"""

from __future__ import annotations

import sys
from typing import Any

from workbench.cli.commands import builtin_command_names
from workbench.errors import PluginError, WorkbenchError


def wants_plugin_commands(argv: list[str]) -> bool:
    """Whether argv's command may be a plugin's (or --help lists every command)."""
    skip_next = False
    for arg in argv:
        if skip_next:
            skip_next = False
            continue
        if arg in ("-w", "--workspace"):
            skip_next = True
            continue
        if arg in ("-h", "--help"):
            return True
        if arg.startswith("-"):
            continue
        return arg not in builtin_command_names()
    return False  # no command: the TUI


def _workspace_from(argv: list[str]):
    from pathlib import Path

    for i, arg in enumerate(argv):
        if arg in ("-w", "--workspace") and i + 1 < len(argv):
            return Path(argv[i + 1]).resolve()
        if arg.startswith("--workspace="):
            return Path(arg.split("=", 1)[1]).resolve()
    return None


def _resolve(value: Any, registry: Any, name: str, field: str):
    if callable(value):
        return value
    from workbench.plugin_runtime import load_spec_object

    return load_spec_object(registry, "commands", name, field)


def add_plugin_commands(sub: Any, argv: list[str]) -> None:
    """Add every registered command to the subparsers `sub`; a plugin's failure is a one-line error."""
    from workbench.plugin_manager import get_registry

    try:
        registry = get_registry(_workspace_from(argv))
    except WorkbenchError as exc:  # e.g. a settings file that does not parse
        print(f"warning: plugin commands unavailable: {exc.one_line()}", file=sys.stderr)
        return
    for name, owners in sorted(registry.conflicts.items()):
        if name[0] == "commands":  # two plugins claim it: the command is there, and says so when run
            parser = sub.add_parser(name[1], help=f"(unusable: registered by {' and '.join(owners)})",
                                    add_help=False, prefix_chars="\0")  # whatever follows is not parsed
            parser.add_argument("rest", nargs="*")
            parser.set_defaults(func=_ambiguous(registry, name[1]))
    for name, spec in sorted(registry.commands.items()):
        plugin = registry.owner_of("commands", name)
        parser = sub.add_parser(name, help=f"{spec.help} [plugin {plugin}]", description=spec.help)
        parser.set_defaults(func=_runner(registry, name, plugin))
        if spec.configure is None:
            continue
        try:
            _resolve(spec.configure, registry, name, "configure")(parser)
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - one plugin's parser must not break the CLI
            from workbench.plugin_runtime import describe

            message = exc.one_line() if isinstance(exc, WorkbenchError) else describe(exc)
            parser.set_defaults(func=_broken(f"plugin {plugin}: command '{name}': configure failed: {message}"))


def _ambiguous(registry: Any, name: str):
    def run(args) -> int:
        registry.get("commands", name)  # raises the PluginError naming every plugin that registers it
        return 2

    return run


def _broken(message: str):
    def run(args) -> int:
        raise PluginError(message)

    return run


def _runner(registry: Any, name: str, plugin: str):
    def run(args) -> int:
        from workbench.plugin_runtime import describe

        fn = _resolve(registry.commands[name].run, registry, name, "run")
        try:
            code = fn(args)
        except WorkbenchError:
            raise
        except SystemExit as exc:  # a command may exit with its own code
            return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except Exception as exc:  # noqa: BLE001 - named, not a bare traceback
            raise PluginError(f"command '{name}' failed: {describe(exc)}", where=f"plugin {plugin}") from None
        return int(code or 0)

    return run

"""Entry point of the `workbench` command: dispatches to workbench.cli.commands.*."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from workbench import __version__
from workbench.errors import WorkbenchError


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    import workbench.cli.commands as commands

    parser = argparse.ArgumentParser(
        prog="workbench",
        description="Fine-tune language models from the terminal. With no command, opens the TUI.",
    )
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    parser.add_argument(
        "-w", "--workspace", help="workspace folder holding runs/ (default: $WORKBENCH_WORKSPACE or the current directory)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)
    from workbench.cli.plugin_commands import add_plugin_commands, wants_plugin_commands

    argv = sys.argv[1:] if argv is None else argv
    if wants_plugin_commands(argv):  # `workbench --help` or a command a plugin adds (register_commands)
        add_plugin_commands(sub, argv)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.workspace:
        import os

        os.environ["WORKBENCH_WORKSPACE"] = args.workspace
    if not getattr(args, "func", None):
        if args.command is None:
            args = parser.parse_args(["tui", *([] if argv is None else argv)])
            if not getattr(args, "func", None):
                parser.print_help()
                return 0
        else:
            parser.print_help()
            return 2
    try:
        return int(args.func(args) or 0)
    except WorkbenchError as exc:
        print(f"error: {exc.full()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `workbench show RUN | head`: the reader left, which is fine
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())

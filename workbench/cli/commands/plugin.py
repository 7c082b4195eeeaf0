"""workbench plugin new NAME [--dir DIR] [--kind KIND] (KIND: one of KINDS)"""

from __future__ import annotations

import os

KINDS = ("trainer", "data-format", "evaluator", "reward-function", "launcher", "preset", "run-panel", "tab",
         "cli-command", "lifecycle", "theme")  # = workbench.scaffold.KINDS, kept import-free


def register(sub) -> None:
    p = sub.add_parser("plugin", help="plugin-author tools: `plugin new NAME` writes a ready-to-install plugin package")
    actions = p.add_subparsers(dest="plugin_command", metavar="ACTION")
    new = actions.add_parser("new", help="write a plugin package (pyproject entry point, hooks, README, tests)")
    new.add_argument("name", help="distribution name, e.g. workbench-orpo (registers 'orpo')")
    new.add_argument("--dir", default=".", help="folder to create the package in (default: here)")
    new.add_argument("--kind", choices=KINDS, default="trainer", help="what the plugin registers (default: trainer)")
    new.set_defaults(func=run_new)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def run_new(args) -> int:
    from workbench.scaffold import scaffold

    target = scaffold(args.name, args.dir, args.kind)
    rel = os.path.relpath(target)
    shown = rel if not rel.startswith("..") else str(target)
    print(f"wrote {shown}/ ({args.kind} plugin)")
    for path in sorted(p for p in target.rglob("*") if p.is_file()):
        print(f"  {path.relative_to(target)}")
    print(f"next: pip install -e {shown} && workbench plugins && (cd {shown} && pytest)")
    return 0

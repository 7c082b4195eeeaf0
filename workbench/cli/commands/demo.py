"""workbench demo [--headless]: train the bundled tiny model on the sample chat data."""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("demo", help="train the bundled tiny model on sample data and show it live")
    p.add_argument("--headless", action="store_true", help="print progress instead of opening the TUI")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE")
    p.set_defaults(func=run)


def run(args) -> int:
    from workbench.cli.commands.run import start
    from workbench.cli.follow import follow
    from workbench.paths import sample_data_dir

    config = sample_data_dir() / "configs" / "sft.toml"
    # Long enough (a few seconds on a CPU) to watch the curve being drawn.
    overrides = ["trainer.args.max_steps=300", "trainer.args.save_steps=100", *(args.overrides or [])]
    run = start(str(config), overrides, name="demo")
    if args.headless or not (sys.stdin.isatty() and sys.stdout.isatty()):
        return follow(run, every=20)
    from workbench.tui.app import run_app

    run_app(select_run=run.id)
    return 0

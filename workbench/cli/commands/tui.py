"""workbench tui [RUN] [--gpu-poll S]: the terminal UI (also what `workbench` alone opens)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("tui", help="open the terminal UI (the default with no command)")
    p.add_argument("run", nargs="?", help="open this run's detail at start (id, prefix or `last`)")
    p.add_argument("--gpu-poll", type=float, metavar="SECONDS",
                   help="GPU sampling interval (default $WORKBENCH_GPU_POLL or 1)")
    p.set_defaults(func=run)


def run(args) -> int:
    from workbench.tui.app import run_app

    select = None
    if args.run:
        from workbench.runs.store import find_run

        select = find_run(args.run).id
    run_app(select_run=select, gpu_poll=args.gpu_poll)
    return 0

"""workbench run CONFIG [--detach] [--set key=value ...]"""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("run", help="validate a config and start a supervised run")
    p.add_argument("config", help="job config (TOML)")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--name", help="run name (default: run.name or the trainer)")
    p.add_argument("-d", "--detach", action="store_true", help="start and return at once")
    p.add_argument("-q", "--queue", action="store_true",
                   help="wait in this machine's GPU queue until the GPUs it asks for are free (see workbench queue)")
    p.add_argument("-r", "--machine-rank", type=int, default=None, metavar="K",
                   help="this machine's rank in a multi-machine run (default: launch.machine_rank); K > 0 joins "
                        "the run machine 0 started from the same config (see workbench join)")
    p.add_argument("--join-wait", type=float, default=300.0, metavar="S",
                   help="with --machine-rank K > 0: seconds to wait for machine 0 to start the run (default 300)")
    p.set_defaults(func=run)


def start(config_path: str, overrides: list[str] | None = None, name: str | None = None, quiet: bool = False,
          queue: bool = False, machine_rank: int | None = None, join_wait: float = 300.0):
    """Validate, create the run directory, start its supervisor. Returns the Run.

    queue: the run waits (status queued) in the machine's GPU queue until its GPUs are free.
    machine_rank K > 0 (default launch.machine_rank): no new run; this machine joins the run
    that machine 0 started from the same config.
    """
    from workbench.config import load_config
    from workbench.runs.store import create_run
    from workbench.supervisor import spawn

    if not quiet:
        print(f"validating {config_path} ...", file=sys.stderr)
    config = load_config(config_path, overrides)
    if not quiet:
        from workbench.cli.commands.validate import print_warnings

        print_warnings(config.warnings)
    rank = config.data["launch"].get("machine_rank", 0) if machine_rank is None else machine_rank
    if rank:
        from workbench.cli.commands.join import join
        from workbench.launching.machines import run_to_join

        run = run_to_join(config, rank, wait_s=join_wait)
        message = join(run, rank)
        if not quiet:
            print(message, file=sys.stderr)
        return run
    run = create_run(config, name=name)
    if queue:
        from workbench.queue import enqueue

        enqueue(run)
    spawn(run)
    return run


def run(args) -> int:
    from workbench.cli.follow import follow

    run = start(args.config, args.overrides, args.name, queue=args.queue, machine_rank=args.machine_rank,
                join_wait=args.join_wait)
    if args.detach:
        print(run.id)
        return 0
    try:
        return follow(run)
    except KeyboardInterrupt:
        print(f"\nstill running in the background: workbench logs -f {run.id} | workbench stop {run.id}",
              file=sys.stderr)
        return 130

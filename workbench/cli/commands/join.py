"""workbench join RUN [--machine-rank K] [--detach]: this machine's part of a multi-machine run."""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("join", help="start this machine's supervised part of a multi-machine run "
                                    "(launch.num_machines > 1) that machine 0 started")
    p.add_argument("run", help="run id (the run directory is on a filesystem every machine shares)")
    p.add_argument("-r", "--machine-rank", type=int, default=None, metavar="K",
                   help="this machine's rank, 1..num_machines-1 (default: the lowest one not joined yet)")
    p.add_argument("-d", "--detach", action="store_true", help="start and return at once")
    p.set_defaults(func=run)


def join(run, rank: int | None = None) -> str:
    """Start machine `rank`'s supervisor for `run` (None: the lowest free rank). Returns what it did."""
    from workbench.errors import RunError
    from workbench.launching.machines import claimed
    from workbench.supervisor import spawn

    machines = int(run.config().get("launch", {}).get("num_machines") or 1)
    if machines < 2:
        raise RunError(f"run {run.id} runs on one machine (launch.num_machines = 1): there is nothing to join")
    if rank is not None:
        if not 0 < rank < machines:
            raise RunError(f"--machine-rank {rank}: run {run.id} has machines 1..{machines - 1} to join "
                           "(machine 0 is the one that ran `workbench run`)")
        return spawn(run, machine_rank=rank)
    attempt = int(run.raw_status.get("attempt") or 0)
    free = [r for r in range(1, machines) if not claimed(run.dir, r, attempt)]
    for r in free:
        try:
            return spawn(run, machine_rank=r)
        except RunError as exc:
            if "has already joined" not in str(exc) or r == free[-1]:  # another machine took it just now
                raise
    raise RunError(f"every machine of run {run.id} (1..{machines - 1}) has joined attempt {attempt} already")


def run(args) -> int:
    from workbench.cli.follow import follow
    from workbench.runs.store import find_run

    r = find_run(args.run)
    print(join(r, args.machine_rank), file=sys.stderr)
    if args.detach:
        print(r.id)
        return 0
    return follow(r, skip_existing=True)

"""workbench stop RUN [--now]"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("stop", help="stop a run: every rank saves a checkpoint and exits (--now: kill)")
    p.add_argument("run")
    p.add_argument("--now", action="store_true", help="terminate at once (SIGTERM, then SIGKILL), no checkpoint")
    p.add_argument("--wait", action="store_true", help="wait until the run has ended")
    p.set_defaults(func=run)


def run(args) -> int:
    import time

    from workbench.runs.control import request_stop
    from workbench.runs.store import FINAL, find_run

    r = find_run(args.run)
    print(request_stop(r, now=args.now))
    while args.wait and r.status()["status"] not in FINAL:
        time.sleep(0.25)
    if args.wait:
        print(r.status()["status"])
    return 0

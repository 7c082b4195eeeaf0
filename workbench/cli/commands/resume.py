"""workbench resume RUN [--detach]"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("resume", help="continue a stopped, failed or lost run from its last complete checkpoint "
                                      "(or re-attach to its job when that outlived its supervisor)")
    p.add_argument("run")
    p.add_argument("-d", "--detach", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from workbench.cli.follow import follow
    from workbench.runs.control import resume
    from workbench.runs.store import find_run

    import sys

    r = find_run(args.run)
    print(resume(r), file=sys.stderr)
    if args.detach:
        print(r.id)
        return 0
    return follow(r, skip_existing=True)

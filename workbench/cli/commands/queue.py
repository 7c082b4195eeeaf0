"""workbench queue [list | move RUN POSITION | top RUN | cancel RUN]: this machine's GPU queue."""

from __future__ import annotations

import json
import time


def register(sub) -> None:
    p = sub.add_parser("queue", help="list, reorder or cancel runs waiting for GPUs (workbench run --queue)")
    p.add_argument("action", nargs="?", default="list", choices=("list", "move", "top", "cancel"))
    p.add_argument("run", nargs="?", help="run id (move, top, cancel)")
    p.add_argument("position", nargs="?", type=int, help="new position, 0 = next to start (move)")
    p.add_argument("--json", action="store_true", help="list as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from workbench import numbers, queue
    from workbench.errors import RunError
    from workbench.runs.store import find_run

    if args.action == "list":
        rows = queue.describe()
        if args.json:
            print(json.dumps(rows))
            return 0
        if not rows:
            print("the queue is empty")
            return 0
        print(f"{'#':>2}  {'run':<32} {'gpus':<8} {'waiting':>8}")
        for row in rows:
            waited = numbers.duration(time.time() - (row["queued_since"] or time.time()))
            mark = "  (cancelling)" if row["cancelling"] else ""
            print(f"{row['position']:>2}  {row['id']:<32} {row['gpus']:<8} {waited:>8}{mark}")
        return 0
    if not args.run:
        raise RunError(f"workbench queue {args.action} needs a run id")
    target = find_run(args.run)
    if args.action == "cancel":
        print(queue.cancel(target))
    elif args.action == "top":
        queue.move(target, 0)
        print(f"{target.id} is next")
    else:
        if args.position is None:
            raise RunError("workbench queue move RUN POSITION: give the new position (0 = next)")
        print(f"{target.id} is now at position {queue.move(target, args.position)}")
    return 0

"""workbench logs RUN [-f]"""

from __future__ import annotations

import sys
import time


def register(sub) -> None:
    p = sub.add_parser("logs", help="print a run's console log")
    p.add_argument("run")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until the run ends")
    p.add_argument("-n", "--lines", type=int, default=0, help="only the last N lines")
    p.set_defaults(func=run)


def run(args) -> int:
    from workbench.runs.files import tail_text
    from workbench.runs.store import FINAL, find_run

    r = find_run(args.run)
    path = r.path("console.log")
    if args.lines:
        for line in tail_text(path, args.lines):
            print(line)
        offset = path.stat().st_size if path.exists() else 0
    else:
        offset = 0
    while True:
        if path.exists() and path.stat().st_size > offset:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
            offset += len(data)
            sys.stdout.write(data.decode("utf-8", errors="replace"))
            sys.stdout.flush()
        if not args.follow or (r.status()["status"] in FINAL and path.stat().st_size <= offset):
            return 0
        time.sleep(0.25)

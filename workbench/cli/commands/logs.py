"""workbench logs RUN [-f]"""

from __future__ import annotations

import codecs
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
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character split across reads stays whole
    while True:
        ended = r.status()["status"] in FINAL  # read before the log, so its last lines are not missed
        try:
            with open(path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:  # not written yet, or a run that never started
            data = b""
        offset += len(data)
        if data:
            sys.stdout.write(decoder.decode(data))
            sys.stdout.flush()
        if not args.follow or (ended and not data):
            return 0
        time.sleep(0.25)

"""workbench logs RUN [-f]"""

from __future__ import annotations

import codecs
import sys
import time


def register(sub) -> None:
    p = sub.add_parser("logs", help="print a run's console log")
    p.add_argument("run")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing until the run ends")
    p.add_argument("-n", "--lines", type=int, default=0, help="only the last N lines (0: all)")
    p.set_defaults(func=run)


def run(args) -> int:
    import os

    from workbench.errors import ConfigError
    from workbench.runs.jsonl import TextFollower
    from workbench.runs.store import FINAL, find_run

    if args.lines < 0:
        raise ConfigError(f"-n/--lines: must be at least 0 (0 = all), got {args.lines}")
    r = find_run(args.run)
    path = r.path("console.log")
    offset, inode = 0, None
    if args.lines:
        tail = TextFollower(path, keep=args.lines)
        tail.read()
        for line in tail.lines:
            print(line)
        try:
            st = os.stat(path)
            offset, inode = st.st_size, st.st_ino
        except OSError:
            pass
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")  # a character split across reads stays whole
    while True:
        ended = r.status()["status"] in FINAL  # read before the log, so its last lines are not missed
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                if inode is not None and (st.st_ino != inode or st.st_size < offset):
                    offset = 0  # replaced or truncated: it starts again
                    print("--- console.log was replaced; from its start ---", file=sys.stderr)
                inode = st.st_ino
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

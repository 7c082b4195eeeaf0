"""workbench ls [--json]"""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("ls", help="list the workspace's runs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from workbench.errors import ConfigError
    from workbench.paths import workspace
    from workbench.runs.files import json_safe
    from workbench.runs.store import list_runs
    from workbench.secrets import redact_data

    if not workspace().is_dir():  # a mistyped -w / $WORKBENCH_WORKSPACE is not an empty workspace
        raise ConfigError("workspace folder not found", where=str(workspace()),
                          hint="-w DIR or $WORKBENCH_WORKSPACE names the folder holding runs/")
    rows = redact_data([r.summary() for r in list_runs()])
    if args.json:
        print(json.dumps(json_safe(rows), indent=1))
        return 0
    if not rows:
        print("no runs yet: workbench run CONFIG, or workbench demo")
        return 0
    from workbench.numbers import duration, num

    table = [(r["id"], r["status"] or "?", r["trainer"] or "?",
              f"{r['step']}/{r['max_steps']}" if r["max_steps"] else str(r["step"]),
              num(r["loss"]) if isinstance(r["loss"], (int, float)) else "-", duration(r["elapsed"]))
             for r in rows]
    head = ("ID", "STATUS", "TRAINER", "STEP", "LOSS", "ELAPSED")
    w = [max(len(str(c)) for c in col) for col in zip(head, *table)]  # sized from every value: nothing cut
    for row in (head, *table):
        print(f"{row[0]:{w[0]}} {row[1]:{w[1]}} {row[2]:{w[2]}} {row[3]:>{w[3]}} {row[4]:>{w[4]}} {row[5]:>{w[5]}}")
    return 0

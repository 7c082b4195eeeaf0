"""workbench ls [--json]"""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("ls", help="list the workspace's runs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def run(args) -> int:
    from workbench.runs.files import json_safe
    from workbench.runs.store import list_runs
    from workbench.secrets import redact_data

    rows = redact_data([r.summary() for r in list_runs()])
    if args.json:
        print(json.dumps(json_safe(rows), indent=1))
        return 0
    if not rows:
        print("no runs yet: workbench run CONFIG, or workbench demo")
        return 0
    print(f"{'ID':34} {'STATUS':10} {'TRAINER':8} {'STEP':>11} {'LOSS':>8} {'ELAPSED':>8}")
    for r in rows:
        step = f"{r['step']}/{r['max_steps']}" if r["max_steps"] else str(r["step"])
        loss = f"{r['loss']:.4f}" if isinstance(r["loss"], (int, float)) else "-"
        print(f"{r['id'][:34]:34} {r['status'] or '?':10} {r['trainer'] or '?':8} {step:>11} {loss:>8} "
              f"{fmt_duration(r['elapsed']):>8}")
    return 0

"""workbench show RUN [--json]"""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("show", help="a run's status, progress, last metrics and events")
    p.add_argument("run", help="run id (or unique prefix, or `last`)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def evaluation_scores(rows: list[dict]) -> dict[str, dict[str, float]]:
    """{evaluator: {metric: value}} from metric rows of kind "evaluation" (keys eval/<evaluator>/<metric>)."""
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        if row.get("kind") != "evaluation":
            continue
        for key, value in row.items():
            parts = key.split("/", 2)
            if len(parts) == 3 and parts[0] == "eval":
                out.setdefault(parts[1], {})[parts[2]] = value
    return out


def last_eval(rows: list[dict]) -> dict | None:
    """The eval rows of the last evaluated step merged into one: the Trainer's eval_loss and the
    evaluators' eval/<evaluator>/<metric> of that step are separate rows of kind "eval"."""
    evals = [m for m in rows if m.get("kind") == "eval"]
    if not evals:
        return None
    step = evals[-1].get("step")
    merged: dict = {}
    for m in evals:
        if m.get("step") == step:
            merged.update(m)
    return merged


def machine_line(m: dict) -> str:
    """'machine 1  gpu-b  failed (killed by SIGKILL)  pid 4242  exit -9 SIGKILL' for one entry of status.json's machines."""
    line = f"machine {m.get('rank', '?')}  {m.get('host', '?')}  {m.get('status', '?')}"
    if m.get("reason"):
        line += f" ({m['reason']})"
    if m.get("pid"):
        line += f"  pid {m['pid']}"
    if m.get("exit_code") is not None:
        line += f"  exit {m['exit_code']}" + (f" {m['signal']}" if m.get("signal") else "")
    return line


def run(args) -> int:
    from workbench.numbers import duration, num
    from workbench.runs.files import json_safe
    from workbench.runs.jsonl import tail_jsonl
    from workbench.runs.store import find_run
    from workbench.secrets import redact_data

    r = find_run(args.run)
    info = r.summary()
    rows = tail_jsonl(r.path("metrics.jsonl"))
    info["last_metrics"] = next((m for m in reversed(rows) if m.get("kind", "train") == "train"), None)
    info["last_eval"] = last_eval(rows)
    info["evaluation"] = evaluation_scores(rows)
    info["events"] = tail_jsonl(r.path("events.jsonl"))[-10:]
    checks = r.checkpoint_checks()
    info["checkpoints"] = [c.path.name for c in checks if c.complete]
    info["damaged_checkpoints"] = {c.path.name: c.problem for c in checks if not c.complete}
    info["damaged_lines"] = {name: [str(d) for d in bad[:20]] + ([f"... {len(bad) - 20} more"] if len(bad) > 20 else [])
                             for name, bad in r.damaged_lines().items()}
    info = redact_data(info)
    if args.json:
        print(json.dumps(json_safe(info), indent=1))
        return 0
    why = info.get("reason") or (f"pending: {info['queue_reason']}" if info.get("queue_reason") else None)
    print(f"{info['id']}  {info['status']}" + (f" ({why})" if why else ""))
    print(f"  dir       {info['dir']}")
    print(f"  trainer   {info['trainer']}   step {info['step']}/{info['max_steps'] or '?'}   "
          f"world size {info['world_size']}")
    times = [f"elapsed {duration(info['elapsed'])}", f"wall {duration(info['wall'])}"]
    if (info.get("attempt") or 1) > 1:
        times.append(f"attempt {info['attempt']}")
    if info.get("eta") is not None:
        times.append(f"ETA {duration(info['eta'])}")
    print("  time      " + "   ".join(times))
    if info["exit_code"] is not None:
        print(f"  exit      code {info['exit_code']}" + (f", signal {info['signal']}" if info["signal"] else ""))
    for m in info.get("machines") or []:
        print("  " + machine_line(m))
    st = r.raw_status
    if st.get("slurm_job_id"):
        print(f"  slurm     job {st['slurm_job_id']}  {st.get('slurm_state') or '?'}"
              + (f"  nodes {st['slurm_nodes']}" if st.get("slurm_nodes") else "")
              + (f"  (jobs {', '.join(map(str, st['slurm_job_ids']))})" if len(st.get("slurm_job_ids") or []) > 1 else ""))
    if info["last_metrics"]:
        m = {k: v for k, v in info["last_metrics"].items() if k not in ("time", "kind")}
        print("  metrics   " + "  ".join(f"{k}={num(v)}" for k, v in m.items()))
    for evaluator, scores in info["evaluation"].items():
        print(f"  evaluated {evaluator}: " + "  ".join(f"{k}={num(v)}" for k, v in scores.items()))
    if info["checkpoints"]:
        print(f"  checkpoints {', '.join(info['checkpoints'])}")
    for name, problem in info["damaged_checkpoints"].items():
        print(f"  unusable  {name}: {problem}")
    for name, bad in info["damaged_lines"].items():
        print(f"  damaged   {name}: {len(bad)} line(s): {'; '.join(bad[:3])}")
    for e in info["events"]:
        data = {k: v for k, v in e.items() if k not in ("time", "event")}
        print(f"  event     {e['event']} {json.dumps(data)}")
    return 0

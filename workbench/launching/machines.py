"""One run on several machines: each machine's supervisor, its status file, and peer failure.

Layout in the (shared) run directory:

    machines/<rank>.json   one per machine: host, supervisor pid, status, exit code, heartbeat
    console.<rank>.log     machine K's job output (K > 0; machine 0 writes console.log)

Machine 0's supervisor owns status.json (the run as a whole); every machine's supervisor
writes its own machines/<rank>.json about once a second (`heartbeat`) and checks its peers
with `peer_failure`: a peer that failed, or whose heartbeat is older than STALE_S while it
should be running, fails the run on this machine too (the job is stopped at once rather than
waiting for the process group's collective timeout). metrics.jsonl stays one stream: only
the global rank 0 (on machine 0) writes it.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

MACHINES_DIR = "machines"
STALE_S = 10.0
FINAL = ("completed", "failed", "stopped", "lost")


def machine_argv(argv: list[str], rank: int) -> list[str]:
    """The plan's `accelerate launch ...` for machine `rank` (the command line overrides accelerate.yaml)."""
    if rank == 0:
        return list(argv)
    try:
        at = argv.index("launch") + 1
    except ValueError:
        raise ValueError("a multi-machine run needs `accelerate launch` in its command") from None
    return [*argv[:at], "--machine_rank", str(rank), *argv[at:]]


def console_name(rank: int) -> str:
    return "console.log" if rank == 0 else f"console.{rank}.log"


def machine_path(run_dir: Path, rank: int) -> Path:
    return Path(run_dir) / MACHINES_DIR / f"{rank}.json"


def write_machine(run_dir: Path, rank: int, **fields: Any) -> dict[str, Any]:
    """Update machine `rank`'s status file atomically; `heartbeat` is always refreshed."""
    path = machine_path(run_dir, rank)
    path.parent.mkdir(exist_ok=True)
    current = read_machine(run_dir, rank) or {"rank": rank, "host": socket.gethostname()}
    current.update(fields, heartbeat=time.time())
    tmp = path.with_suffix(f".tmp.{os.getpid()}")
    tmp.write_text(json.dumps(current), encoding="utf-8")
    os.replace(tmp, path)
    return current


def read_machine(run_dir: Path, rank: int) -> dict[str, Any] | None:
    try:
        data = json.loads(machine_path(run_dir, rank).read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else None
    except (OSError, json.JSONDecodeError):
        return None


def read_machines(run_dir: Path, num_machines: int) -> list[dict[str, Any]]:
    """Every machine's status (a machine that never joined reads as waiting)."""
    return [read_machine(run_dir, r) or {"rank": r, "status": "waiting"} for r in range(num_machines)]


def peer_failure(run_dir: Path, rank: int, num_machines: int, now: float | None = None,
                 stale_s: float = STALE_S) -> str | None:
    """Why this machine's job must stop because of another machine, or None while all is well."""
    now = time.time() if now is None else now
    for peer in read_machines(run_dir, num_machines):
        if peer["rank"] == rank or peer.get("status") == "waiting":
            continue
        state = peer.get("status")
        if state in ("failed", "lost"):
            return f"machine {peer['rank']} ({peer.get('host', '?')}) {state}: {peer.get('reason') or 'no reason'}"
        if state not in FINAL and now - float(peer.get("heartbeat") or 0) > stale_s:
            return (f"machine {peer['rank']} ({peer.get('host', '?')}) stopped answering "
                    f"(no heartbeat for {now - float(peer.get('heartbeat') or 0):.0f} s)")
    return None

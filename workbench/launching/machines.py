"""One run on several machines: each machine's supervisor, its status file, and peer failure.

Layout in the (shared) run directory:

    machines/<rank>.json            one per machine: host, supervisor pid, status, exit code, heartbeat
    machines/<rank>.attempt-<N>     machine K's claim on attempt N (created exclusively: one joiner wins)
    console.<rank>.log              machine K's job output (K > 0; machine 0 writes console.log)
    supervisor.<rank>.lock, job.<rank>.lock, supervisor.<rank>.log, gpu.<rank>.jsonl   likewise

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
HEARTBEAT_S = 1.0
FINAL = ("completed", "failed", "stopped", "lost")
SHOWN = ("rank", "host", "status", "pid", "job_pid", "attempt", "exit_code", "signal", "reason", "started",
         "ended", "resume_checkpoint")
"""The fields of each machine that machine 0 copies into status.json (`machines`)."""


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


def per_machine(name: str, rank: int) -> str:
    """A run file of machine `rank`: supervisor.lock -> supervisor.1.lock (machine 0 keeps the plain name)."""
    if rank == 0:
        return name
    stem, dot, ext = name.rpartition(".")
    return f"{stem}.{rank}.{ext}" if dot else f"{name}.{rank}"


def claim(run_dir: Path, rank: int, attempt: int, holder: dict[str, Any]) -> dict[str, Any] | None:
    """Take machine `rank` of attempt `attempt` (an exclusive create: works across NFS clients,
    unlike flock). None when taken; else what the holder that got there first wrote."""
    path = Path(run_dir) / MACHINES_DIR / f"{rank}.attempt-{attempt}"
    path.parent.mkdir(exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        try:
            return json.loads(path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(holder))
    return None


def claimed(run_dir: Path, rank: int, attempt: int) -> bool:
    return (Path(run_dir) / MACHINES_DIR / f"{rank}.attempt-{attempt}").exists()


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


def read_machines(run_dir: Path, num_machines: int, attempt: int | None = None) -> list[dict[str, Any]]:
    """Every machine's status (a machine that never joined, or not this attempt, reads as waiting)."""
    out = []
    for r in range(num_machines):
        m = read_machine(run_dir, r)
        if m is None or (attempt is not None and m.get("attempt") != attempt):
            m = {"rank": r, "status": "waiting"}
        out.append(m)
    return out


def describe(machine: dict[str, Any]) -> str:
    return f"machine {machine['rank']} ({machine.get('host', '?')})"


def _failure(peer: dict[str, Any]) -> str | None:
    state = peer.get("status")
    if state in ("failed", "lost"):
        return f"{describe(peer)} {state}: {peer.get('reason') or 'no reason'}"
    return None


def peer_failure(run_dir: Path, rank: int, num_machines: int, now: float | None = None,
                 stale_s: float = STALE_S, attempt: int | None = None) -> str | None:
    """Why this machine's job must stop because of another machine, or None while all is well."""
    now = time.time() if now is None else now
    for peer in read_machines(run_dir, num_machines, attempt):
        if peer["rank"] == rank or peer.get("status") == "waiting":
            continue
        why = _failure(peer)
        if why:
            return why
        if peer.get("status") not in FINAL and now - float(peer.get("heartbeat") or 0) > stale_s:
            return (f"{describe(peer)} stopped answering "
                    f"(no heartbeat for {now - float(peer.get('heartbeat') or 0):.0f} s)")
    return None


class PeerWatch:
    """`peer_failure` for a supervisor that asks once a second. Silence is judged on this
    machine's own clock (a heartbeat value that has not changed for `stale_s`), so clocks
    that disagree between hosts do not fail a run."""

    def __init__(self, run_dir: Path, rank: int, num_machines: int, attempt: int, stale_s: float = STALE_S):
        self.run_dir, self.rank, self.num_machines, self.attempt, self.stale_s = (
            Path(run_dir), rank, num_machines, attempt, stale_s)
        self._seen: dict[int, tuple[Any, float]] = {}

    def machines(self) -> list[dict[str, Any]]:
        return read_machines(self.run_dir, self.num_machines, self.attempt)

    def silence(self, peer: dict[str, Any], now: float) -> float:
        """Seconds (on this machine's clock) since `peer`'s heartbeat last changed."""
        beat = peer.get("heartbeat")
        last, since = self._seen.get(peer["rank"], (None, now))
        if beat != last:
            self._seen[peer["rank"]] = (beat, now)
            return 0.0
        return now - since

    def failure(self, now: float | None = None) -> str | None:
        """Why this machine's job must stop because of a peer (failed, lost or silent), or None."""
        now = time.monotonic() if now is None else now
        for peer in self.machines():
            if peer["rank"] == self.rank or peer.get("status") == "waiting":
                continue
            why = _failure(peer)
            if why:
                return why
            quiet = self.silence(peer, now)
            if peer.get("status") not in FINAL and quiet > self.stale_s:
                return f"{describe(peer)} stopped answering (no heartbeat for {quiet:.0f} s)"
        return None

    def ended(self, rank: int = 0) -> dict[str, Any] | None:
        """Machine `rank`'s file once it has ended cleanly (completed or stopped), else None."""
        peer = self.machines()[rank]
        return peer if peer.get("status") in ("completed", "stopped") else None


def wait_final(run_dir: Path, num_machines: int, attempt: int, timeout: float,
               stale_s: float = STALE_S) -> list[dict[str, Any]]:
    """Every machine's file once each joined machine's is final (machine 0 calls this before
    writing the run's final status). A machine still not final after `timeout`, or silent for
    `stale_s`, is reported lost."""
    watch = PeerWatch(run_dir, -1, num_machines, attempt, stale_s)
    deadline = time.monotonic() + timeout
    while True:
        machines = watch.machines()
        now = time.monotonic()
        pending = [m for m in machines if m.get("status") not in (*FINAL, "waiting")]
        given_up = [m for m in pending if watch.silence(m, now) > stale_s or now > deadline]
        if len(given_up) == len(pending):
            for m in given_up:
                m.update(status="lost", reason="did not report the end of its job")
            return machines
        time.sleep(0.25)


def _root_failure(machines: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The first machine that failed on its own (not because a peer did), or None when none failed."""
    joined = [m for m in machines if m.get("status") != "waiting"]
    failed = [m for m in joined if m.get("status") == "failed"
              or (m.get("status") == "lost" and machines[0].get("status") != "completed")]
    if not failed:
        return None
    causes = [m for m in failed if not m.get("peer_caused")] or failed
    return min(causes, key=lambda m: (m.get("ended") or float("inf"), m["rank"]))


def run_verdict(machines: list[dict[str, Any]]) -> dict[str, Any]:
    """What changes in the run's final status given every machine's final state: a failed
    machine fails the run, and the first machine that failed on its own (not because a peer
    did) is named as the cause. Empty when machine 0's own verdict stands."""
    root = _root_failure(machines)
    if root is None:
        return {}
    reason = root.get("reason") if root["rank"] == 0 else _failure(root)
    return {"status": "failed", "reason": reason, "exit_code": root.get("exit_code"),
            "signal": root.get("signal"), "failed_machine": root["rank"]}


def attributed(machines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The machines with each later failure put down to the first one: a job that died of its peer's
    end on its own (gloo's 'Connection closed by peer') before its supervisor saw that peer fail is
    peer-caused too, with its own error kept after the cause."""
    root = _root_failure(machines)
    if root is None:
        return machines
    out = []
    for m in machines:
        later = (m["rank"] != root["rank"] and m.get("status") == "failed" and not m.get("peer_caused")
                 and (m.get("ended") or 0) >= (root.get("ended") or 0))
        out.append({**m, "peer_caused": True, "reason": f"{_failure(root)}; its job: {m.get('reason')}"}
                   if later else m)
    return out


def summary(machines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What status.json lists as `machines` (no heartbeat: it would rewrite status.json every second)."""
    return [{k: m.get(k) for k in SHOWN if m.get(k) is not None} for m in machines]


def _rendezvous(launch: dict[str, Any]) -> tuple:
    return (launch.get("num_machines"), launch.get("main_process_ip"), launch.get("main_process_port"),
            launch.get("num_processes"))


def run_to_join(config: Any, rank: int, workspace: Path | None = None, wait_s: float = 0.0):
    """The newest active run of the workspace made from the same config file (same rendezvous
    in [launch]) whose machine `rank` has not joined its current attempt; waits up to `wait_s`
    for machine 0 to start it. RunError when there is none."""
    from workbench.errors import RunError
    from workbench.paths import runs_dir
    from workbench.runs.store import list_runs

    source = str(config.source) if getattr(config, "source", None) else None
    wanted = _rendezvous(config.data["launch"])
    machines = int(config.data["launch"].get("num_machines") or 1)
    if not 0 < rank < machines:
        raise RunError(f"machine rank {rank}: launch.num_machines = {machines}, so the machines that join are "
                       f"1..{machines - 1}" if machines > 1 else
                       f"machine rank {rank}: launch.num_machines = 1 (one machine): there is nothing to join",
                       where=source)
    deadline = time.monotonic() + wait_s
    while True:
        for run in reversed(list_runs(workspace)):
            st = run.status()
            attempt = int(st.get("attempt") or 0)
            if (st.get("config_source") != source or st.get("status") not in ("starting", "running")
                    or attempt < 1 or claimed(run.dir, rank, attempt)):
                continue
            try:
                if _rendezvous(run.config().get("launch", {})) == wanted:
                    return run
            except (OSError, ValueError):
                continue
        if time.monotonic() >= deadline:
            raise RunError(f"no run of {source or 'this config'} is waiting for machine {rank} in "
                           f"{runs_dir(workspace)}" + (f" (waited {wait_s:.0f} s)" if wait_s else ""),
                           hint="start it on machine 0 first (workbench run CONFIG there), or join a run by id: "
                                f"workbench join RUN --machine-rank {rank}")
        time.sleep(0.5)

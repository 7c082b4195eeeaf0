"""The GPU queue of one machine: queued runs start in order once the GPUs they ask for are free.

A queued run is an ordinary run directory whose status.json says `"queue": true` and
`"status": "queued"`; its own detached supervisor waits in `wait_for_turn(run)` before it
starts the job. Nothing else runs: no daemon that a closed SSH session could kill, and the
queue is just the run directories, so it survives the TUI, the shell and the supervisor's
restarts. Order is `queue_order` (seconds since the epoch when queued; `move` renumbers).

GPUs are free when no other active workbench run of the workspace holds them and NVML shows
them idle (no compute processes, little memory and utilisation in use).
"""

from __future__ import annotations

import fcntl
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from workbench.errors import RunError
from workbench.paths import runs_dir
from workbench.runs.files import STOP_REQUEST
from workbench.runs.store import Run, list_runs

POLL_S = 1.0
IDLE_UTIL_PERCENT = 10.0
IDLE_MEM_BYTES = 2 * 1024**3
HOLDING = ("starting", "running", "stopping")


class QueueCancelled(Exception):
    """The queued run was cancelled before its turn (`workbench queue cancel` / `workbench stop`)."""


@contextmanager
def _queue_lock(workspace: Path) -> Iterator[None]:
    """One decision at a time: two supervisors never take the same free GPU."""
    path = runs_dir(workspace) / ".queue.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _workspace_of(run: Run) -> Path:
    return run.dir.parent.parent


def enqueue(run: Run) -> Run:
    """Mark a new run (status queued, supervisor not started yet) as waiting in the queue."""
    run.update_status(queue=True, queue_order=time.time())
    return run


def queued_runs(workspace: Path | None = None) -> list[Run]:
    """Runs waiting in the queue, first to start first."""
    out = []
    for run in list_runs(workspace):
        st = run.raw_status
        if st.get("queue") and st.get("status") == "queued" and run.status().get("status") == "queued":
            out.append(run)
    return sorted(out, key=lambda r: (float(r.raw_status.get("queue_order") or 0), r.raw_status.get("created") or 0))


def wanted_gpus(run: Run) -> tuple[list[int] | None, int]:
    """(the GPU indices it names, or None for any) and how many it needs."""
    launch = run.config().get("launch", {})
    count = int(launch.get("num_processes", 1))
    ids = str(launch.get("gpu_ids", "all")).replace(" ", "")
    if ids != "all":
        named = [int(i) for i in ids.split(",") if i.isdigit()]
        return named, len(named)
    return None, count


def held_gpus(run: Run) -> set[int]:
    """GPUs an active run uses: the ones the queue gave it, else what its config names (all = 0..n-1)."""
    st = run.raw_status
    if st.get("queue_gpus") is not None:
        return set(st["queue_gpus"])
    named, count = wanted_gpus(run)
    return set(named) if named is not None else set(range(count))


def _nvml_busy(backend) -> tuple[int | None, set[int]]:
    """(GPU count, indices NVML shows in use) or (None, set()) without NVML."""
    if backend is None:
        return None, set()
    busy = set()
    samples = backend.sample()
    for s in samples:
        if s.processes or (s.util_percent or 0) > IDLE_UTIL_PERCENT or (s.mem_used_bytes or 0) > IDLE_MEM_BYTES:
            busy.add(s.index)
    return len(samples), busy


def free_gpus_for(run: Run, backend=None) -> list[int] | None:
    """The GPUs `run` would get now, or None when they are not all free."""
    named, count = wanted_gpus(run)
    taken: set[int] = set()
    for other in list_runs(_workspace_of(run)):
        if other.dir != run.dir and other.status().get("status") in HOLDING:
            taken |= held_gpus(other)
    total, busy = _nvml_busy(backend)
    taken |= busy
    if named is not None:
        return named if not set(named) & taken else None
    pool = range(total) if total is not None else range(max(count, max(taken, default=-1) + 1 + count))
    free = [i for i in pool if i not in taken]
    return free[:count] if len(free) >= count else None


def wait_for_turn(run: Run, poll_s: float = POLL_S, backend: Any = "auto") -> list[int]:
    """Block until `run` is first in the queue and its GPUs are free; returns the GPU indices it gets.

    Called by the run's supervisor before it starts the job. The status becomes "starting" (with
    queue_gpus and cuda_visible_devices) under the queue lock, so the next run sees the GPUs taken.
    Raises QueueCancelled when a stop request arrives first.
    """
    if backend == "auto":
        from workbench.telemetry import open_backend

        backend = open_backend()
    try:
        while True:
            if run.path(STOP_REQUEST).exists():
                raise QueueCancelled(run.id)
            with _queue_lock(_workspace_of(run)):
                order = queued_runs(_workspace_of(run))
                if order and order[0].dir == run.dir:
                    gpus = free_gpus_for(run, backend)
                    if gpus is not None:
                        run.update_status(status="starting", queue_gpus=gpus, queue_started=time.time(),
                                          cuda_visible_devices=",".join(map(str, gpus)))
                        return gpus
                position = next((i for i, r in enumerate(order) if r.dir == run.dir), None)
                run.update_status(queue_position=position)
            time.sleep(poll_s)
    finally:
        if backend is not None and hasattr(backend, "close"):
            backend.close()


def move(run: Run, position: int) -> int:
    """Put a queued run at `position` (0 = next to start); returns the position it got."""
    with _queue_lock(_workspace_of(run)):
        order = [r for r in queued_runs(_workspace_of(run)) if r.dir != run.dir]
        if run.raw_status.get("status") != "queued" or not run.raw_status.get("queue"):
            raise RunError(f"run {run.id} is not waiting in the queue ({run.raw_status.get('status')})")
        position = max(0, min(position, len(order)))
        keys = [float(r.raw_status.get("queue_order") or 0) for r in order]
        if not keys:
            new = time.time()
        elif position == 0:
            new = keys[0] - 1.0
        elif position == len(keys):
            new = keys[-1] + 1.0
        else:
            new = (keys[position - 1] + keys[position]) / 2
        run.update_status(queue_order=new)
    return position


def cancel(run: Run) -> str:
    """Cancel a queued run: its supervisor sees the stop request and ends it as stopped, never starting it."""
    if not run.raw_status.get("queue") or run.raw_status.get("status") != "queued":
        raise RunError(f"run {run.id} is not waiting in the queue ({run.raw_status.get('status')})")
    refused = run.write_stop_request()
    if refused:
        raise RunError(f"cannot cancel {run.id}: the run directory refuses the stop request ({refused})")
    return f"cancelled {run.id} (it will not start)"


def describe(workspace: Path | None = None) -> list[dict[str, Any]]:
    """Rows for `workbench queue` and the TUI: position, id, GPUs wanted, waiting since."""
    rows = []
    for i, run in enumerate(queued_runs(workspace)):
        named, count = wanted_gpus(run)
        st = run.raw_status
        rows.append({"position": i, "id": run.id, "name": st.get("name"), "trainer": st.get("trainer"),
                     "gpus": ",".join(map(str, named)) if named is not None else f"any {count}",
                     "queued_since": st.get("created"),
                     "cancelling": run.path(STOP_REQUEST).exists()})
    return rows

"""The detached process that owns one run: starts the job, watches it, writes its fate.

Started by `workbench run` / `resume` / the TUI through `spawn()`, as
`python -m workbench.supervisor RUN_DIR`; it detaches (own session, no terminal), so
closing the TUI or losing SSH never touches the job.

Ownership: the supervisor holds the run's `supervisor.lock` for its whole life and hands
`job.lock` to the job (see workbench.runs.locks), so two supervisors, or two jobs, can
never share a run directory. The job writes its output through its own small writer
process (workbench.console_writer), not through the supervisor: a supervisor that
crashes leaves the job training, and the next `workbench resume` adopts it.

`spawn()` waits for the supervisor's answer on a pipe: "ok <what it did>" once the run
is taken, or "error <why>" with nothing on disk changed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from workbench.errors import RunError
from workbench.launching.machines import (HEARTBEAT_S, PeerWatch, attributed, claim, console_name, describe, machine_argv,
                                          per_machine, run_verdict, summary, wait_final, write_machine)
from workbench.runs.files import read_json
from workbench.runs.jsonl import read_jsonl, tail_jsonl
from workbench.runs.locks import JOB_LOCK, SUPERVISOR_LOCK, RunLock
from workbench.runs.files import STOP_REQUEST
from workbench.runs.store import Run, attempt_start, process_alive, process_start_time

KILL_GRACE_S = 10.0
PEER_END_GRACE_S = 30.0
"""Machine K > 0: how long its job may outlive machine 0's clean end before it is killed."""
PEER_KILL_GRACE_S = 3.0
"""A job whose peer machine failed is stuck in a collective: SIGTERM, then SIGKILL this soon."""
FINAL_WAIT_S = PEER_END_GRACE_S + KILL_GRACE_S + 20.0
"""Machine 0: how long it waits for the other machines' final word before writing the run's."""
GPU_SAMPLE_S = 1.0
WATCH_S = 0.5
HANDLE_ERRORS_S = 600.0
"""A JobHandle (e.g. Slurm's) that cannot say how its job is for this long fails the run."""
# How launchers report a rank killed by a signal.
SIGNAL_PATTERNS = [
    re.compile(r"died with <Signals\.(SIG[A-Z0-9]+): (\d+)>"),
    re.compile(r"Signal (\d+) \((SIG[A-Z0-9]+)\) received"),
    re.compile(r"exitcode\s*:\s*-(\d+)"),
]


def signal_from_output(line: str) -> str | None:
    for pat in SIGNAL_PATTERNS:
        m = pat.search(line)
        if not m:
            continue
        for g in m.groups():
            if g.startswith("SIG"):
                return g
        try:
            return signal.Signals(int(m.group(1))).name
        except ValueError:
            return None
    return None


def _signal_name(number: int) -> str | None:
    try:
        return signal.Signals(number).name
    except ValueError:
        return None


def _console_signal(run: Run, since: int = 0, name: str = "console.log") -> str | None:
    """A rank's death by signal, as the launcher reported it in this attempt's console output."""
    try:
        with open(run.path(name), "rb") as f:
            f.seek(max(since, os.fstat(f.fileno()).st_size - 65536))
            text = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    found = None
    for line in text.splitlines():
        found = signal_from_output(line) or found
    return found


def group_members(pgid: Any) -> list[int]:
    """Live (non-zombie) processes of process group `pgid`. Zombies do not count: an init
    that never reaps (some containers) keeps a killed job's children as zombies forever."""
    import psutil

    if not isinstance(pgid, int) or isinstance(pgid, bool) or pgid <= 1:
        return []
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []
    except PermissionError:  # exists, owned by someone else
        return [pgid]
    out = []
    for proc in psutil.process_iter(["pid", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(proc.pid) == pgid:
                out.append(proc.pid)
        except (OSError, psutil.Error):
            continue
    return sorted(out)


def _group_alive(pgid: Any) -> bool:
    return bool(group_members(pgid))


# --- jobs: what the supervisor waits on ------------------------------------------------------
class LocalJob:
    """The job as a child process in its own process group, output to its console writer."""

    def __init__(self, run: Run, argv: list[str], env: dict[str, str], job_lock: RunLock, console: str = "console.log"):
        self.run = run
        try:
            self.console_start = os.path.getsize(run.path(console))
        except OSError:
            self.console_start = 0
        self.console = console
        self.env = env
        read_end, write_end = os.pipe()
        # The supervisor keeps the pipe's read end too: a console writer that dies (kill -9, the OOM
        # killer) then leaves the job blocked at worst, never killed by a broken pipe, and a new
        # writer takes over the same pipe (keep_writer).
        self.read_fd: int | None = read_end
        try:
            self.writer = self._start_writer()
            self.proc = subprocess.Popen(argv, cwd=run.dir, env=env, stdin=subprocess.DEVNULL, stdout=write_end,
                                         stderr=write_end, start_new_session=True,
                                         pass_fds=(job_lock.inheritable_fd(),))
        except BaseException:
            self._close_pipe()
            raise
        finally:
            os.close(write_end)
        self.pgid = self.proc.pid
        self.ended_at: float | None = None
        self._seen: dict[int, float | None] = {}  # every process of the job seen alive: pid -> start time
        job_lock.write_holder({"pid": self.proc.pid, "pgid": self.pgid, "host": socket.gethostname(),
                               "started": process_start_time(self.proc.pid)})
        job_lock.release()  # the job holds it now, for exactly as long as it lives

    def _start_writer(self) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "workbench.console_writer", str(self.run.path(self.console))],
                                stdin=self.read_fd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                env=self.env, start_new_session=True)

    def _close_pipe(self) -> None:
        if self.read_fd is not None:
            os.close(self.read_fd)
            self.read_fd = None

    def keep_writer(self) -> bool:
        """Start a new console writer on the job's pipe when the last one was killed; True if it did."""
        rc = self.writer.poll()
        if rc is None or rc == 0 or self.read_fd is None:  # alive, or ended at the pipe's end (the job's)
            return False
        what = f"killed by {_signal_name(-rc) or -rc}" if rc < 0 else f"exit code {rc}"
        try:
            with open(self.run.path(self.console), "a", encoding="utf-8") as f:
                f.write(f"workbench: the console writer died ({what}); a new one goes on "
                        "(the line it was writing may be incomplete)\n")
            self.writer = self._start_writer()
        except OSError as exc:
            print(f"supervisor: cannot restart the console writer: {exc}", file=sys.stderr)
            return False
        return True

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self) -> int:
        rc = self.proc.wait()
        self.ended_at = time.time()
        self.end_leftovers()
        self.keep_writer()  # what is left in the pipe still reaches console.log
        try:
            self.writer.wait(timeout=10)  # its last lines are in console.log before the final status
        except subprocess.TimeoutExpired:
            pass
        self._close_pipe()
        return rc

    def pids(self) -> list[int]:
        import psutil

        try:
            root = psutil.Process(self.proc.pid)
            children = root.children(recursive=True)
        except psutil.Error:
            return []
        for child in children:
            if child.pid not in self._seen:
                try:
                    self._seen[child.pid] = child.create_time()
                except psutil.Error:
                    continue
        return sorted([root.pid] + [c.pid for c in children])

    def end_leftovers(self, grace: float = 3.0) -> None:
        """Processes of the job that outlived its leader: torch's launcher starts each rank in a
        session of its own, so a launcher killed by SIGKILL leaves its ranks training, unwatched
        (on several machines, holding up the others). SIGTERM, then SIGKILL after `grace`."""
        left = [pid for pid, started in self._seen.items() if process_alive(pid, started)]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in left:
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            deadline = time.time() + grace
            while left and time.time() < deadline:
                time.sleep(0.1)
                left = [pid for pid in left if process_alive(pid, self._seen[pid])]
            if not left:
                return


class AdoptedJob:
    """A job that outlived its supervisor: watched through its job.lock and process group."""

    def __init__(self, run: Run, pgid: int | None):
        self.run = run
        self.pgid = pgid
        self.lock = RunLock(run.path(JOB_LOCK))

    def poll(self) -> int | None:
        """None while the job holds job.lock; then -1 (its exit code is unknowable)."""
        if self.lock.acquire():
            self.lock.release()
            return -1
        return None

    def wait(self) -> int:
        while self.poll() is None:
            time.sleep(WATCH_S)
        return -1

    def pids(self) -> list[int]:
        return group_members(self.pgid)


class Supervisor:
    def __init__(self, run: Run, resume: bool, ready_fd: int | None = None, expect_attempt: int | None = None,
                 machine_rank: int = 0):
        self.run = run
        self.rank = machine_rank
        """This supervisor's machine of a multi-machine run (0: the one that owns status.json)."""
        self.num_machines = 1
        """Machines this supervisor coordinates with (1: none, e.g. one machine or a Slurm job)."""
        self.attempt = 0
        self.peer_fate: dict[str, Any] | None = None
        """Set when this machine's job was ended because of another machine (or, on K > 0, SIGTERM)."""
        self._status_lock = threading.Lock()
        self._machine_lock = threading.Lock()
        self._machine_closed = False
        self.resume = resume
        self.ready_fd = ready_fd
        self.expect_attempt = expect_attempt
        self.job: Any = None
        self.handle: Any = None           # a launcher's JobHandle, for jobs that are not local processes
        self.killed_by_us = False
        self.stop_now = threading.Event()
        self.done = threading.Event()
        self.took_run = False
        """True once status.json says this supervisor owns the run."""
        self.hooks: Any = None
        self.hooks_thread: threading.Thread | None = None
        self.visible_devices: str | None = os.environ.get("CUDA_VISIBLE_DEVICES")
        """The job's CUDA_VISIBLE_DEVICES (launch.env, the GPU queue): the GPUs gpu.jsonl samples."""

    # --- the answer to spawn() --------------------------------------------------------------
    def say(self, word: str, message: str) -> None:
        if self.ready_fd is None:
            return
        try:
            os.write(self.ready_fd, f"{word} {message}\n".encode())
            os.close(self.ready_fd)
        except OSError:
            pass
        self.ready_fd = None

    def refuse(self, message: str) -> int:
        self.say("error", message)
        print(f"supervisor: {message}", file=sys.stderr)
        return 1

    # --- lifecycle -------------------------------------------------------------------------
    def main(self) -> int:
        run = self.run
        self.num_machines = self._machines_of_run()
        lock = RunLock(run.path(per_machine(SUPERVISOR_LOCK, self.rank)))
        try:
            taken = lock.acquire({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()})
        except OSError as exc:
            return self.refuse(f"cannot lock the run directory: {exc.strerror or exc}")
        if not taken:
            other = lock.holder().get("pid")
            return self.refuse(f"run {run.id} is already owned by another supervisor (pid {other or '?'})")
        st = run.raw_status
        if st.get("private"):
            os.umask(0o077)
        if self.rank > 0:
            return self.main_of_machine()
        if self.expect_attempt is not None and int(st.get("attempt") or 0) != self.expect_attempt:
            return self.refuse(f"run {run.id} changed meanwhile (attempt {st.get('attempt')} started by another "
                               f"command); look again with workbench show {run.id}")
        job_lock = RunLock(run.path(JOB_LOCK))
        if not job_lock.acquire():
            return self.adopt(job_lock.holder())
        try:
            return self.start(job_lock)
        finally:
            job_lock.release()

    def start(self, job_lock: RunLock) -> int:
        run = self.run
        pgid = run.raw_status.get("job_pgid")
        if _group_alive(pgid):  # a job from before job.lock existed, or one whose launcher died first
            return self.refuse(f"run {run.id} is lost but its job (process group {pgid}) is still running; "
                               f"end it first: workbench stop --now {run.id}")
        try:
            plan = run.launch_plan()
        except RunError as exc:
            return self.refuse(exc.one_line())
        if plan.get("job"):
            try:
                self.handle = self._make_handle(plan, self._job_env(plan))
            except Exception as exc:  # noqa: BLE001 - a broken job handle is the run's answer, not a crash
                return self.refuse(f"cannot load the job handle {plan['job']}: {exc}")
            if getattr(self.handle, "attached", None) and self.handle.attached():
                return self.adopt_handle()
        resume_from = None
        if self.resume:
            try:
                resume_from = pick_checkpoint(run)
            except RunError as exc:
                return self.refuse(exc.one_line())
            run.close_lost_attempt()  # before prepare_resume rewrites metrics.jsonl
        st = run.raw_status
        env = self._job_env(plan)
        queued = bool(st.get("queue")) and not self.resume and st.get("status") == "queued"
        changes = {"status": "queued" if queued else "starting", "supervisor_pid": os.getpid(),
                   "supervisor_start": process_start_time(os.getpid()), "attempt": int(st.get("attempt") or 0) + 1,
                   "exit_code": None, "signal": None, "reason": None, "ended": None, "adopted": None,
                   "recovered": None, "host": socket.gethostname()}
        if resume_from is not None:
            env["WORKBENCH_RESUME"] = prepare_resume(run, resume_from)
        changes["resume_checkpoint"] = env.get("WORKBENCH_RESUME")  # the other machines resume from it too
        run.update_status(**changes)
        self.took_run = True
        self._blank_result()
        signal.signal(signal.SIGTERM, self._on_terminate)
        signal.signal(signal.SIGINT, self._on_terminate)
        if queued:  # the GPU queue (workbench run --queue): wait here, detached, for this run's turn
            from workbench.queue import QueueCancelled, wait_for_turn

            self.say("ok", f"queued {run.id}")
            try:
                gpus = wait_for_turn(run)
            except QueueCancelled:
                self._write_final(status="stopped", reason="cancelled while queued", ended=time.time())
                return 0
            if gpus:
                env["CUDA_VISIBLE_DEVICES"] = ",".join(map(str, gpus))
        self.visible_devices = env.get("CUDA_VISIBLE_DEVICES")
        self._begin_attempt()
        try:
            if self.handle is not None:
                self.handle = self._make_handle(plan, env)  # with this attempt's environment (resume, GPUs)
                fields = self.handle.start() or {}
                run.update_status(**{"status": "running", **fields})  # the handle may say queued (Slurm: pending)
            else:
                self.job = LocalJob(run, plan["argv"], env, job_lock)
                run.update_status(status="running", job_pid=self.job.proc.pid, job_pgid=self.job.pgid,
                                  job_pids=[self.job.proc.pid], cuda_visible_devices=env.get("CUDA_VISIBLE_DEVICES"))
        except Exception as exc:  # noqa: BLE001 - cannot start: the run says why
            message = f"cannot start job: {exc}"
            self._append_console(f"workbench: {message}\n")
            self._write_final(status="failed", reason=message, ended=time.time())
            return self.refuse(message)
        what = f"resumed {run.id} from {Path(resume_from).name}" if resume_from else f"started {run.id}"
        self.say("ok", what)
        return self._supervise(hooks_started=True)

    def _begin_attempt(self) -> None:
        """The clock of this attempt starts now (a queued run's once its turn has come)."""
        st = self.run.raw_status
        now = time.time()
        attempts = [a for a in (st.get("attempts") or []) if isinstance(a, dict)]
        changes: dict[str, Any] = {"status": "starting", "attempts": attempts + [{"started": now, "ended": None}]}
        if not st.get("started"):
            changes["started"] = now
        self.run.update_status(**changes)

    def _make_handle(self, plan: dict[str, Any], env: dict[str, str]) -> Any:
        from workbench.launching import LaunchPlan
        from workbench.specs import load_object

        return load_object(plan["job"])(self.run, LaunchPlan(plan["argv"], plan.get("env") or {}, {}, plan["job"]), env)

    def adopt_handle(self) -> int:
        """The run's external job (e.g. a Slurm batch job) outlived its supervisor: watch it."""
        run = self.run
        run.update_status(supervisor_pid=os.getpid(), supervisor_start=process_start_time(os.getpid()),
                          adopted=time.time(), reason=None, **(self.handle.live() or {}))
        self.took_run = True
        self._event("adopted", reason="the job outlived its supervisor")
        signal.signal(signal.SIGTERM, self._on_terminate)
        signal.signal(signal.SIGINT, self._on_terminate)
        self.say("ok", f"re-attached to the running job of {run.id}")
        return self._supervise()

    def adopt(self, holder: dict[str, Any]) -> int:
        """A job still runs in this directory without a supervisor: watch it to its end."""
        run = self.run
        st = run.raw_status
        pgid = holder.get("pgid") or st.get("job_pgid")
        self.job = AdoptedJob(run, pgid)
        self.visible_devices = st.get("cuda_visible_devices", self.visible_devices)
        run.update_status(status="stopping" if run.path(STOP_REQUEST).exists() else "running",
                          supervisor_pid=os.getpid(), supervisor_start=process_start_time(os.getpid()),
                          job_pgid=pgid, adopted=time.time(), reason=None)
        self.took_run = True
        self._event("adopted", pgid=pgid, reason="the job outlived its supervisor")
        signal.signal(signal.SIGTERM, self._on_terminate)
        signal.signal(signal.SIGINT, self._on_terminate)
        self.say("ok", f"adopted the running job of {run.id} (process group {pgid or '?'})")
        return self._supervise()

    def _supervise(self, hooks_started: bool = False) -> int:
        threads = [threading.Thread(target=self._watch, daemon=True),
                   threading.Thread(target=self._sample_gpus, daemon=True)]
        if self.rank == 0:  # machine 0 calls the run's hooks, in a thread of their own
            self.hooks_thread = threading.Thread(target=self._call_hooks, args=(hooks_started,), daemon=True,
                                                 name="run-hooks")
            self.hooks_thread.start()
        if self.num_machines > 1:
            if self.rank == 0:
                self.attempt = int(self.run.raw_status.get("attempt") or 0)
            threads.append(threading.Thread(target=self._heartbeat, daemon=True))
        for t in threads:
            t.start()
        if self.handle is not None:
            fate = self._wait_handle()
            self.done.set()
            threads[0].join(timeout=5)
            self._finish(fate.get("exit_code"), fate)
            return 0
        rc = self.job.wait()
        self.done.set()
        for t in threads[:1] + threads[2:]:
            t.join(timeout=5)  # no status write of the watcher (or the heartbeat) races the final one
        self._finish(None if isinstance(self.job, AdoptedJob) else rc)
        return 0

    def _wait_handle(self) -> dict[str, Any]:
        failing_since = None
        while True:
            try:
                fate = self.handle.poll()
                if fate is not None:
                    return fate
                live = self.handle.live() or {}
                failing_since = None
            except Exception as exc:  # noqa: BLE001 - e.g. slurmctld busy: the job itself is fine, ask again
                failing_since = failing_since or time.time()
                print(f"supervisor: job handle: {exc}", file=sys.stderr)
                if time.time() - failing_since > HANDLE_ERRORS_S:
                    return {"status": "failed", "exit_code": None, "signal": None,
                            "reason": f"the job could not be watched for {HANDLE_ERRORS_S:.0f} s: {exc}"}
                live = {}
            if live:
                self._update(**live)
            time.sleep(WATCH_S)

    def _handle_call(self, method: Any, **kwargs: Any) -> None:
        """A JobHandle call from a watcher thread: an error is logged, never ends the watching."""
        try:
            method(**kwargs)
        except Exception as exc:  # noqa: BLE001
            print(f"supervisor: job handle {getattr(method, '__name__', method)}: {exc}", file=sys.stderr)

    # --- the job's environment and resume -------------------------------------------------------
    def _job_env(self, plan: dict[str, Any]) -> dict[str, str]:
        env = dict(os.environ)
        env.update({str(k): str(v) for k, v in self.run.config().get("launch", {}).get("env", {}).items()})
        env.update({str(k): str(v) for k, v in (plan.get("env") or {}).items()})
        env["PYTHONUNBUFFERED"] = "1"
        env["WORKBENCH_RUN_DIR"] = str(self.run.dir)
        # The job runs inside its run directory; plugins of the run's workspace still apply.
        env["WORKBENCH_WORKSPACE"] = str(self.run.dir.parent.parent)
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # CUDA indices = NVML indices for the GPU panel
        env.pop("WORKBENCH_RESUME", None)
        return env

    # --- threads ---------------------------------------------------------------------------
    def _watch(self) -> None:
        """Track the job's processes; enforce stop requests and --now; pass events to hooks."""
        stop_seen_at = None
        try:
            grace = float(self.run.config().get("run", {}).get("stop_grace_seconds", 120.0))
        except (OSError, ValueError):
            grace = 120.0
        last_pids: list[int] = []
        while not self.done.wait(WATCH_S):
            if isinstance(self.job, LocalJob) and self.job.keep_writer():
                self._event("console_writer_restarted")
            if self.job is not None:
                pids = self.job.pids() or last_pids
                if pids != last_pids and not self.done.is_set():
                    last_pids = pids
                    self._update(job_pids=pids)
            if self.stop_now.is_set():
                self._kill_job()
                return
            if (read_json(self.run.path(STOP_REQUEST)) or {}).get("now"):
                # `stop --now` from another machine (it cannot signal us), or on machine K > 0: the
                # request reached machine 0's supervisor, and this one ends its part too.
                self.stop_now.set()
                self._kill_job()
                return
            if self.run.path(STOP_REQUEST).exists():
                if stop_seen_at is None and not self.done.is_set():
                    stop_seen_at = time.time()
                    self._update(status="stopping")
                    if self.handle is not None:
                        self._handle_call(self.handle.stop, now=False)
                elif stop_seen_at is not None and time.time() - stop_seen_at > grace:
                    self._kill_job()
                    return
            elif stop_seen_at is not None and self.handle is not None:
                stop_seen_at = None  # the handle resubmitted the job (e.g. after a Slurm time limit): a new grace

    def _call_hooks(self, started: bool) -> None:
        """run_started, then run_event for each new event (a raising one: a plugin_error event).
        Not in the watcher: a plugin that hangs (each call waits up to its timeout) must never
        hold up a stop request, --now or the stop grace."""
        hooks = self._hooks()
        if started:
            hooks.started()
        while not self.done.wait(WATCH_S):
            hooks.poll_events()

    def _sample_gpus(self) -> None:
        try:
            from workbench.telemetry import open_backend, write_gpu_jsonl
        except ImportError:
            return
        try:
            backend = open_backend()
        except Exception:  # noqa: BLE001 - telemetry must never hurt the job
            return
        if backend is None:
            return
        indices = None
        if self.visible_devices is not None:  # indices or GPU UUIDs, as CUDA reads them
            from workbench.telemetry import parse_visible_devices

            try:
                found = parse_visible_devices(self.visible_devices, backend.sample())
            except Exception:  # noqa: BLE001
                found = None
            indices = sorted(found) if found is not None else None
        path = self.run.path(per_machine("gpu.jsonl", self.rank))
        while not self.done.wait(GPU_SAMPLE_S):
            if not self.run.dir.is_dir():
                break
            try:
                write_gpu_jsonl(path, backend.sample(indices))
            except Exception:  # noqa: BLE001
                continue
        backend.close()

    # --- several machines: machine K's supervisor, heartbeats, and the run's verdict --------------
    def _machines_of_run(self) -> int:
        """launch.num_machines when this supervisor's job is a local process (a Slurm job's
        nodes are Slurm's to coordinate)."""
        try:
            launch = self.run.config().get("launch", {})
            if self.run.launch_plan().get("job"):
                return 1
            return max(1, int(launch.get("num_machines") or 1))
        except (OSError, ValueError, RunError):
            return 1

    def main_of_machine(self) -> int:
        """Machine K > 0 joins the attempt machine 0 has started: the run's command with
        --machine_rank K, its output in console.K.log, its state in machines/K.json."""
        run, rank = self.run, self.rank
        job_lock = RunLock(run.path(per_machine(JOB_LOCK, rank)))
        if not job_lock.acquire():
            pid = job_lock.holder().get("pid")
            return self.refuse(f"machine {rank} of run {run.id} still has a job running here (pid {pid or '?'})")
        try:
            return self._join(job_lock)
        finally:
            job_lock.release()

    def _join(self, job_lock: RunLock) -> int:
        run, rank = self.run, self.rank
        if rank >= self.num_machines:
            return self.refuse(f"run {run.id} runs on {self.num_machines} machine(s) (launch.num_machines): "
                               f"there is no machine {rank} to join")
        st = run.status()
        attempt = int(st.get("attempt") or 0)
        if st.get("status") not in ("starting", "running") or attempt < 1:
            return self.refuse(f"run {run.id} is {st.get('status')}: machine 0 starts it (workbench run / resume), "
                               "then the other machines join")
        try:
            plan = run.launch_plan()
            argv = machine_argv(plan["argv"], rank)
        except (RunError, ValueError) as exc:
            return self.refuse(exc.one_line() if isinstance(exc, RunError) else str(exc))
        host = socket.gethostname()
        other = claim(run.dir, rank, attempt, {"pid": os.getpid(), "host": host, "since": time.time()})
        if other is not None:
            return self.refuse(f"machine {rank} of run {run.id} has already joined attempt {attempt} "
                               f"(host {other.get('host', '?')}, pid {other.get('pid', '?')})")
        self.attempt = attempt
        env = self._job_env(plan)
        checkpoint = st.get("resume_checkpoint")
        if checkpoint:
            env["WORKBENCH_RESUME"] = checkpoint  # every machine resumes from machine 0's choice
        self.visible_devices = env.get("CUDA_VISIBLE_DEVICES")
        self.took_run = True
        signal.signal(signal.SIGTERM, self._on_terminate)
        signal.signal(signal.SIGINT, self._on_terminate)
        self._write_machine(host=host, status="starting", pid=os.getpid(), attempt=attempt,
                            started=time.time(), ended=None, exit_code=None, signal=None, reason=None,
                            peer_caused=None, job_pid=None, job_pgid=None, resume_checkpoint=checkpoint)
        try:
            self.job = LocalJob(run, argv, env, job_lock, console=console_name(rank))
        except Exception as exc:  # noqa: BLE001 - cannot start: this machine's file says why
            message = f"cannot start job: {exc}"
            self._append_console(f"workbench: {message}\n")
            self._write_final(status="failed", reason=message)
            return self.refuse(message)
        self._update(status="running", job_pid=self.job.proc.pid, job_pgid=self.job.pgid)
        self.say("ok", f"machine {rank} joined {run.id}" + (f" from {Path(checkpoint).name}" if checkpoint else ""))
        return self._supervise()

    def _write_machine(self, final: bool = False, **fields: Any) -> None:
        """Update machines/<rank>.json (and its heartbeat); after the final write, nothing more."""
        with self._machine_lock:
            if self._machine_closed:
                return
            try:
                write_machine(self.run.dir, self.rank, **fields)
            except OSError as exc:
                print(f"supervisor: cannot write machines/{self.rank}.json: {exc}", file=sys.stderr)
            self._machine_closed = final

    def _heartbeat(self) -> None:
        """About once a second: this machine's file (heartbeat), then its peers: a failed or
        silent peer ends this machine's job at once; machine 0 lists the machines in status.json."""
        watch = PeerWatch(self.run.dir, self.rank, self.num_machines, self.attempt)
        state: dict[str, Any] = {"listed": None, "machine0_ended_at": None}
        if self.rank == 0:  # a new attempt: nothing of the last one's end stays in machines/0.json
            self._write_machine(ended=None, exit_code=None, signal=None, reason=None, peer_caused=None)
        while True:
            try:
                self._beat(watch, state)
            except Exception as exc:  # noqa: BLE001 - one bad read must not end peer watching
                print(f"supervisor: heartbeat: {type(exc).__name__}: {exc}", file=sys.stderr)
            if self.done.wait(HEARTBEAT_S):
                return

    def _beat(self, watch: PeerWatch, state: dict[str, Any]) -> None:
        if self.rank == 0:
            st = self.run.raw_status
            self._write_machine(host=socket.gethostname(), status=st.get("status"), pid=os.getpid(),
                                attempt=self.attempt, started=attempt_start(st), job_pid=st.get("job_pid"),
                                job_pgid=st.get("job_pgid"), resume_checkpoint=st.get("resume_checkpoint"))
        else:
            self._write_machine()
        if self.peer_fate is None:
            why = watch.failure()
            if why:
                self._end_for_peer({"status": "failed", "reason": why})
            elif self.rank > 0 and (ended := watch.ended(0)) is not None:
                state["machine0_ended_at"] = state["machine0_ended_at"] or time.monotonic()
                if time.monotonic() - state["machine0_ended_at"] > PEER_END_GRACE_S:
                    self._end_for_peer({"status": ended["status"], "reason": f"{describe(ended)} had "
                                        f"{ended['status']} but this machine's job did not end: killed"})
        if self.rank == 0:
            listed = summary(watch.machines())
            if listed != state["listed"] and not self.done.is_set():
                state["listed"] = listed
                self._update(machines=listed)

    def _end_for_peer(self, fate: dict[str, Any]) -> None:
        self.peer_fate = {**fate, "peer_caused": True}
        self._append_console(f"workbench: {fate['reason']}: ending this machine's job\n")
        # No checkpoint is possible without the peer: SIGKILL soon. The heartbeat goes on meanwhile.
        threading.Thread(target=self._kill_job, args=(PEER_KILL_GRACE_S,), daemon=True).start()

    def _finish_machine(self, rc: int | None) -> None:
        """Machine K's final word, in machines/K.json only (status.json and events are machine 0's)."""
        stop = read_json(self.run.path(STOP_REQUEST))
        sig = _signal_name(-rc) if rc is not None and rc < 0 else None
        sig = sig or _console_signal(self.run, getattr(self.job, "console_start", 0), console_name(self.rank))
        fields: dict[str, Any] = {"exit_code": rc, "signal": sig if rc not in (0, None) else None, "peer_caused": None,
                                  "ended": getattr(self.job, "ended_at", None) or time.time()}
        if self.peer_fate is not None:
            fields.update(self.peer_fate)
        elif stop is not None and (rc == 0 or self.killed_by_us or stop.get("now")):
            fields.update(status="stopped", reason="on request")
        elif rc == 0:
            fields.update(status="completed", reason=None)
        else:
            fields.update(status="failed", reason=f"killed by {sig}" if sig else
                          "the job's exit status is unknown" if rc is None else f"exit code {rc}")
        self._write_final(**fields)

    def _final_across_machines(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Machine 0: record its own end, wait for every other machine's, then the run's verdict."""
        own = {k: changes.get(k) for k in ("status", "reason", "exit_code", "signal")}
        ended = getattr(self.job, "ended_at", None) or changes.get("ended") or time.time()  # when its job ended
        self._write_machine(final=True, **own, ended=ended, peer_caused=changes.pop("peer_caused", None))
        attempt = self.attempt or int(self.run.raw_status.get("attempt") or 0)
        machines = wait_final(self.run.dir, self.num_machines, attempt, FINAL_WAIT_S)
        verdict = run_verdict(machines)
        if verdict:
            changes.update(verdict)
        changes["machines"] = summary(attributed(machines))
        return changes

    # --- stopping --------------------------------------------------------------------------
    def _on_terminate(self, signum, frame) -> None:
        self.killed_by_us = True
        if self.rank > 0:  # this machine is going away: not a stop request for the whole run
            self.peer_fate = self.peer_fate or {"status": "failed", "reason": f"its supervisor got "
                                                f"{_signal_name(signum) or signum}: job killed"}
            self.stop_now.set()
            return
        try:
            self.run.path(STOP_REQUEST).write_text(json.dumps({"now": True, "time": time.time()}))
        except OSError:
            pass
        self.stop_now.set()

    def _kill_job(self, grace: float = KILL_GRACE_S) -> None:
        self.killed_by_us = True
        if self.handle is not None:
            self._handle_call(self.handle.stop, now=True)
            return
        pgid = getattr(self.job, "pgid", None)
        if not pgid or self.job.poll() is not None:
            return
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.time() + grace
        while time.time() < deadline and self.job.poll() is None:
            time.sleep(0.1)
        if self.job.poll() is None:
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    # --- the final word --------------------------------------------------------------------------
    def _finish(self, rc: int | None, fate: dict[str, Any] | None = None) -> None:
        run = self.run
        if not run.dir.is_dir():
            print(f"supervisor: run directory {run.dir} was deleted; nothing to record", file=sys.stderr)
            return
        if self.rank > 0:
            return self._finish_machine(rc)
        result = read_json(run.path("result.json")) or {}
        stop_requested = run.path(STOP_REQUEST).exists()
        sig = _signal_name(-rc) if rc is not None and rc < 0 else None
        sig = sig or _console_signal(run, getattr(self.job, "console_start", 0))
        changes: dict[str, Any] = {"ended": time.time(), "exit_code": rc, "signal": sig if rc not in (0, None) else None}
        outcome = result.get("outcome")
        if fate is not None:  # a JobHandle knows its job's fate (and may add fields, e.g. slurm_state)
            changes.update({k: v for k, v in fate.items() if k not in ("ended", "attempt", "attempts", "started")})
            if changes.get("status") == "completed" and outcome not in (None, "completed"):
                changes.update(status="failed", reason=result.get("reason") or f"job ended as {outcome}")
        elif stop_requested and (rc == 0 or self.killed_by_us or outcome == "stopped"):
            changes.update(status="stopped", reason="on request" + (", killed" if self.killed_by_us else ""))
        elif outcome == "completed" and rc in (0, None):
            changes.update(status="completed", reason=None)
        elif outcome and outcome != "completed":
            changes.update(status="failed", reason=result.get("reason") or f"job ended as {outcome}")
        elif rc == 0:
            changes.update(status="failed", reason="job exited without finishing")
        else:
            errors = [e for e in tail_jsonl(run.path("events.jsonl"), 262144)
                      if e.get("event") in ("error", "oom", "no_space")]
            if errors:
                reason = errors[-1].get("message")
            elif rc is None:
                reason = "the job ended while no supervisor watched it; its exit status is unknown"
            else:
                reason = f"killed by {sig}" if sig else f"exit code {rc}"
            changes.update(status="failed", reason=reason)
        if self.peer_fate is not None:  # ended because another machine failed: that is the reason
            changes.update(self.peer_fate)
        st = self._write_final(**changes)
        self._event("ended", status=st.get("status"), exit_code=rc, signal=changes["signal"])
        thread = self.hooks_thread
        if thread is not None:
            thread.join(timeout=2 * WATCH_S)
        # A plugin still hanging in a hook: run_finished only, not one more wait per pending event.
        self._hooks().finished(events=thread is None or not thread.is_alive())

    def _write_final(self, **changes: Any) -> dict[str, Any]:
        if self.rank > 0:
            self._write_machine(final=True, **{"ended": time.time(), **changes})
            return changes
        if self.num_machines > 1:
            changes = self._final_across_machines(changes)
        st = self.run.raw_status
        attempts = [a for a in (st.get("attempts") or []) if isinstance(a, dict)]
        if attempts and not attempts[-1].get("ended"):
            attempts[-1] = {**attempts[-1], "ended": changes.get("ended") or time.time()}
            changes["attempts"] = attempts
        try:
            return self.run.update_status(**changes)
        except OSError as exc:
            print(f"supervisor: cannot write the final status ({exc}); it was: {json.dumps(changes)}", file=sys.stderr)
            return {**st, **changes}

    # --- small safe writers -------------------------------------------------------------------------
    def _blank_result(self) -> None:
        """An empty result.json for this attempt: the job fills it in, in place if it must
        (a run directory that stops accepting new files must not lose the job's last word)."""
        try:
            with open(self.run.path("result.json"), "w", encoding="utf-8") as f:
                f.write(" " * 256 + "\n")
        except OSError:
            pass

    def _update(self, **changes: Any) -> None:
        if self.rank > 0:  # machine K's state lives in machines/K.json; status.json is machine 0's
            self._write_machine(**changes)
            return
        try:
            with self._status_lock:  # the watcher and the heartbeat threads both write
                if self.run.dir.is_dir():
                    self.run.update_status(**changes)
        except OSError as exc:
            print(f"supervisor: cannot update status.json: {exc}", file=sys.stderr)

    def _event(self, name: str, **data: Any) -> None:
        if self.run.dir.is_dir():
            _event(self.run, name, **data)

    def _append_console(self, text: str) -> None:
        from workbench.secrets import redact

        try:
            with open(self.run.path(console_name(self.rank)), "a", encoding="utf-8") as f:
                f.write(redact(text))  # e.g. a job handle's error quoting its environment
        except OSError:
            pass

    def _hooks(self) -> Any:
        """The run's lifecycle hooks (plugins' run_started / run_event / run_finished); never raise."""
        if self.hooks is None:
            from workbench.run_hooks import RunHooks

            self.hooks = RunHooks(self.run)
        return self.hooks


# --- resume ---------------------------------------------------------------------------------------------
def _event(run: Run, name: str, **data: Any) -> None:
    from workbench.secrets import redact_data

    row = {"time": round(time.time(), 3), "event": name, **data}
    try:
        with open(run.path("events.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(redact_data(row)) + "\n")
    except OSError as exc:
        print(f"supervisor: cannot append to events.jsonl: {exc}", file=sys.stderr)


def pick_checkpoint(run: Run) -> Path:
    """The newest complete checkpoint; each newer, damaged one is named in a checkpoint_skipped event."""
    checks = run.checkpoint_checks()
    complete = [c for c in checks if c.complete]
    if not complete:
        found = "; ".join(f"{c.path.name}: {c.problem}" for c in checks[-3:])
        raise RunError(f"run {run.id} has no complete checkpoint to resume from" + (f" ({found})" if found else ""))
    best = complete[-1]
    for c in checks:
        if c.step > best.step:
            _event(run, "checkpoint_skipped", checkpoint=c.path.name, problem=c.problem, using=best.path.name)
    return best.path


def prepare_resume(run: Run, ckpt: Path | None = None) -> str:
    """Continue from `ckpt` (default: the newest complete one): drop the metric rows logged
    after it, clear a stop request, note the event. Returns the checkpoint's path.

    Also used by job handles that resubmit a job by themselves (Slurm after a time limit)."""
    ckpt = Path(ckpt) if ckpt is not None else pick_checkpoint(run)
    step = int(ckpt.name.split("-")[-1])
    metrics = run.path("metrics.jsonl")
    if metrics.exists():
        rows, _ = read_jsonl(metrics)
        keep = [r for r in rows if not isinstance(r.get("step"), int) or r["step"] <= step]
        tmp = metrics.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")
        os.replace(tmp, metrics)
    try:
        os.unlink(run.path(STOP_REQUEST))
    except FileNotFoundError:
        pass
    _event(run, "resumed", step=step, checkpoint=ckpt.name)
    run.update_status(resumed_from_step=step)
    return str(ckpt)


# --- starting a supervisor ----------------------------------------------------------------------
def spawn(run: Run, resume: bool = False, expect_attempt: int | None = None, wait_s: float = 60.0,
          machine_rank: int = 0) -> str:
    """Start a detached supervisor for `run` and return what it did ("started ...",
    "resumed ... from checkpoint-N", "adopted ...", "machine K joined ..."); RunError when it
    refused the run (a brand-new run then ends `failed` with that reason, not `lost` a minute
    later). machine_rank K > 0: this machine's part of a multi-machine run."""
    try:
        return _spawn(run, resume, expect_attempt, wait_s, machine_rank)
    except RunError as exc:
        st = run.raw_status
        if not resume and not machine_rank and st.get("status") == "queued" and not st.get("supervisor_pid"):
            try:
                run.update_status(status="failed", reason=exc.one_line(), ended=time.time())
            except OSError:
                pass
        raise


def _spawn(run: Run, resume: bool, expect_attempt: int | None, wait_s: float, machine_rank: int) -> str:
    read_end, write_end = os.pipe()
    argv = [sys.executable, "-m", "workbench.supervisor", str(run.dir), "--daemonize", "--ready-fd", str(write_end)]
    if resume:
        argv.append("--resume")
    if machine_rank:
        argv += ["--machine-rank", str(machine_rank)]
    if expect_attempt is not None:
        argv += ["--expect-attempt", str(expect_attempt)]
    import tempfile

    # A file, not a pipe, for its stderr: the daemon inherits it until it redirects its output.
    with tempfile.TemporaryFile() as errors:
        try:
            # The intermediate process forks the real supervisor and exits at once, so no zombie stays with us.
            started = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                                     start_new_session=True, pass_fds=(write_end,))
        except OSError as exc:
            os.close(read_end)
            raise RunError(f"cannot start the supervisor of {run.id}: {exc.strerror or exc}") from None
        finally:
            os.close(write_end)
        if started.returncode != 0:
            os.close(read_end)
            errors.seek(0)
            tail = (errors.read().decode("utf-8", errors="replace").strip().splitlines() or [""])[-1]
            raise RunError(f"the supervisor of {run.id} could not start (exit code {started.returncode})"
                           + (f": {tail}" if tail else ""))
    answer = b""
    deadline = time.time() + wait_s
    try:
        while time.time() < deadline:
            ready, _, _ = select.select([read_end], [], [], max(0.0, deadline - time.time()))
            if not ready:
                break
            chunk = os.read(read_end, 4096)
            if not chunk:
                break
            answer += chunk
    finally:
        os.close(read_end)
    word, _, message = answer.decode("utf-8", errors="replace").strip().partition(" ")
    if word == "ok":
        return message
    if word == "error":
        raise RunError(message)
    log = run.path(per_machine("supervisor.log", machine_rank))
    raise RunError(f"the supervisor of {run.id} exited without taking the run; see {log}")


_LOG_PUMP: threading.Thread | None = None


def _close_log() -> None:
    """Flush what this process printed into supervisor.log before it exits."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    if _LOG_PUMP is None:
        return
    for fd in (1, 2):
        try:
            os.close(fd)
        except OSError:
            pass
    _LOG_PUMP.join(timeout=2)


def _redirect_output_redacted(log_path: Path, private: bool) -> None:
    """fds 1 and 2 of this process (and its hooks' subprocesses) -> supervisor.log, redacted."""
    from workbench.secrets import RedactingLineWriter

    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600 if private else 0o644)
    read_end, write_end = os.pipe()
    out = os.fdopen(fd, "ab", buffering=0)
    writer = RedactingLineWriter(out)

    def pump() -> None:
        while True:
            data = os.read(read_end, 65536)
            if not data:
                break
            try:
                writer.write(data)
            except OSError:
                continue

    global _LOG_PUMP
    _LOG_PUMP = threading.Thread(target=pump, daemon=True, name="supervisor-log")
    _LOG_PUMP.start()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
    sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.supervisor")
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--daemonize", action="store_true")
    parser.add_argument("--ready-fd", type=int, default=None)
    parser.add_argument("--expect-attempt", type=int, default=None)
    parser.add_argument("--machine-rank", type=int, default=0)
    args = parser.parse_args(argv)
    run = Run(Path(args.run_dir).resolve())
    try:  # the settings' "$env:NAME" secrets are redacted from supervisor.log, the job and its console too
        from workbench.settings import load_settings

        load_settings(run.dir.parent.parent)
    except Exception:  # noqa: BLE001 - a broken settings file is the plugins' problem, reported where they load
        pass
    if args.daemonize:
        if os.fork() > 0:
            os._exit(0)
        if os.getpgrp() != os.getpid():
            os.setsid()
        try:
            _redirect_output_redacted(run.path(per_machine("supervisor.log", args.machine_rank)),
                                      bool(run.raw_status.get("private")))
        except OSError:
            pass
    sup = Supervisor(run, args.resume, args.ready_fd, args.expect_attempt, args.machine_rank)
    try:
        return sup.main()
    except BaseException as exc:  # noqa: BLE001 - whatever happens, the run gets a final word
        import traceback

        traceback.print_exc()
        if sup.took_run:
            sup._write_final(status="failed", reason=f"supervisor error: {exc}", ended=time.time())
        if sup.ready_fd is not None:  # it never took the run: leave status.json as it was
            sup.refuse(f"supervisor error: {exc}")
        return 1
    finally:
        _close_log()


if __name__ == "__main__":
    sys.exit(main())

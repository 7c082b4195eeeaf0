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
from workbench.runs.files import read_json
from workbench.runs.jsonl import read_jsonl, tail_jsonl
from workbench.runs.locks import JOB_LOCK, SUPERVISOR_LOCK, RunLock
from workbench.runs.store import Run, process_start_time
from workbench.runs.files import STOP_REQUEST

KILL_GRACE_S = 10.0
GPU_SAMPLE_S = 1.0
WATCH_S = 0.5
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


def _console_signal(run: Run, since: int = 0) -> str | None:
    """A rank's death by signal, as the launcher reported it in this attempt's console output."""
    try:
        with open(run.path("console.log"), "rb") as f:
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

    def __init__(self, run: Run, argv: list[str], env: dict[str, str], job_lock: RunLock):
        self.run = run
        try:
            self.console_start = os.path.getsize(run.path("console.log"))
        except OSError:
            self.console_start = 0
        read_end, write_end = os.pipe()
        try:
            self.writer = subprocess.Popen([sys.executable, "-m", "workbench.console_writer", str(run.path("console.log"))],
                                           stdin=read_end, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                           env=env, start_new_session=True)
            self.proc = subprocess.Popen(argv, cwd=run.dir, env=env, stdin=subprocess.DEVNULL, stdout=write_end,
                                         stderr=write_end, start_new_session=True,
                                         pass_fds=(job_lock.inheritable_fd(),))
        finally:
            os.close(read_end)
            os.close(write_end)
        self.pgid = self.proc.pid
        job_lock.write_holder({"pid": self.proc.pid, "pgid": self.pgid, "host": socket.gethostname(),
                               "started": process_start_time(self.proc.pid)})
        job_lock.release()  # the job holds it now, for exactly as long as it lives

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self) -> int:
        rc = self.proc.wait()
        try:
            self.writer.wait(timeout=10)  # its last lines are in console.log before the final status
        except subprocess.TimeoutExpired:
            pass
        return rc

    def pids(self) -> list[int]:
        import psutil

        try:
            root = psutil.Process(self.proc.pid)
            return sorted([root.pid] + [c.pid for c in root.children(recursive=True)])
        except psutil.Error:
            return []


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
    def __init__(self, run: Run, resume: bool, ready_fd: int | None = None, expect_attempt: int | None = None):
        self.run = run
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
        lock = RunLock(run.path(SUPERVISOR_LOCK))
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
        st = run.raw_status
        env = self._job_env(plan)
        queued = bool(st.get("queue")) and not self.resume and st.get("status") == "queued"
        changes = {"status": "queued" if queued else "starting", "supervisor_pid": os.getpid(),
                   "supervisor_start": process_start_time(os.getpid()), "attempt": int(st.get("attempt") or 0) + 1,
                   "exit_code": None, "signal": None, "reason": None, "ended": None, "adopted": None,
                   "recovered": None, "host": socket.gethostname()}
        if resume_from is not None:
            env["WORKBENCH_RESUME"] = prepare_resume(run, resume_from)
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
        self._begin_attempt()
        try:
            if self.handle is not None:
                self.handle = self._make_handle(plan, env)  # with this attempt's environment (resume, GPUs)
                fields = self.handle.start() or {}
                run.update_status(status="running", **fields)
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
        self._hooks().started()
        return self._supervise()

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
        run.update_status(status="stopping" if run.path(STOP_REQUEST).exists() else "running",
                          supervisor_pid=os.getpid(), supervisor_start=process_start_time(os.getpid()),
                          job_pgid=pgid, adopted=time.time(), reason=None)
        self.took_run = True
        self._event("adopted", pgid=pgid, reason="the job outlived its supervisor")
        signal.signal(signal.SIGTERM, self._on_terminate)
        signal.signal(signal.SIGINT, self._on_terminate)
        self.say("ok", f"adopted the running job of {run.id} (process group {pgid or '?'})")
        return self._supervise()

    def _supervise(self) -> int:
        threads = [threading.Thread(target=self._watch, daemon=True),
                   threading.Thread(target=self._sample_gpus, daemon=True)]
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
        threads[0].join(timeout=5)  # no status write of the watcher races the final one
        self._finish(None if isinstance(self.job, AdoptedJob) else rc)
        return 0

    def _wait_handle(self) -> dict[str, Any]:
        while True:
            fate = self.handle.poll()
            if fate is not None:
                return fate
            live = self.handle.live() or {}
            if live:
                self._update(**live)
            time.sleep(WATCH_S)

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
        hooks = self._hooks()
        last_pids: list[int] = []
        while not self.done.wait(WATCH_S):
            if self.job is not None:
                pids = self.job.pids() or last_pids
                if pids != last_pids and not self.done.is_set():
                    last_pids = pids
                    self._update(job_pids=pids)
            hooks.poll_events()  # run_event hooks for each new event (a raising one: a plugin_error event)
            if self.stop_now.is_set():
                self._kill_job()
                return
            if self.run.path(STOP_REQUEST).exists():
                if stop_seen_at is None and not self.done.is_set():
                    stop_seen_at = time.time()
                    self._update(status="stopping")
                    if self.handle is not None:
                        self.handle.stop(now=False)
                elif stop_seen_at is not None and time.time() - stop_seen_at > grace:
                    self._kill_job()
                    return

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
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        indices = [int(i) for i in visible.split(",") if i.strip().isdigit()] if visible else None
        path = self.run.path("gpu.jsonl")
        while not self.done.wait(GPU_SAMPLE_S):
            if not self.run.dir.is_dir():
                break
            try:
                write_gpu_jsonl(path, backend.sample(indices))
            except Exception:  # noqa: BLE001
                continue
        backend.close()

    # --- stopping --------------------------------------------------------------------------
    def _on_terminate(self, signum, frame) -> None:
        self.killed_by_us = True
        try:
            self.run.path(STOP_REQUEST).write_text(json.dumps({"now": True, "time": time.time()}))
        except OSError:
            pass
        self.stop_now.set()

    def _kill_job(self) -> None:
        self.killed_by_us = True
        if self.handle is not None:
            self.handle.stop(now=True)
            return
        pgid = getattr(self.job, "pgid", None)
        if not pgid or self.job.poll() is not None:
            return
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.time() + KILL_GRACE_S
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
        result = read_json(run.path("result.json")) or {}
        stop_requested = run.path(STOP_REQUEST).exists()
        sig = _signal_name(-rc) if rc is not None and rc < 0 else None
        sig = sig or _console_signal(run, getattr(self.job, "console_start", 0))
        changes: dict[str, Any] = {"ended": time.time(), "exit_code": rc, "signal": sig if rc not in (0, None) else None}
        outcome = result.get("outcome")
        if fate is not None:  # a JobHandle knows its job's fate
            changes.update({k: v for k, v in fate.items() if k in ("status", "reason", "exit_code", "signal")})
            if changes.get("status") == "completed" and outcome not in (None, "completed"):
                changes.update(status="failed", reason=result.get("reason") or f"job ended as {outcome}")
        elif stop_requested and (rc == 0 or self.killed_by_us or outcome == "stopped"):
            changes.update(status="stopped", reason="stopped on request" + (" (killed)" if self.killed_by_us else ""))
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
        st = self._write_final(**changes)
        self._event("ended", status=st.get("status"), exit_code=rc, signal=changes["signal"])
        self._hooks().finished()

    def _write_final(self, **changes: Any) -> dict[str, Any]:
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
        try:
            if self.run.dir.is_dir():
                self.run.update_status(**changes)
        except OSError as exc:
            print(f"supervisor: cannot update status.json: {exc}", file=sys.stderr)

    def _event(self, name: str, **data: Any) -> None:
        if self.run.dir.is_dir():
            _event(self.run, name, **data)

    def _append_console(self, text: str) -> None:
        try:
            with open(self.run.path("console.log"), "a", encoding="utf-8") as f:
                f.write(text)
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
def spawn(run: Run, resume: bool = False, expect_attempt: int | None = None, wait_s: float = 60.0) -> str:
    """Start a detached supervisor for `run` and return what it did ("started ...",
    "resumed ... from checkpoint-N", "adopted ..."); RunError when it refused the run."""
    read_end, write_end = os.pipe()
    argv = [sys.executable, "-m", "workbench.supervisor", str(run.dir), "--daemonize", "--ready-fd", str(write_end)]
    if resume:
        argv.append("--resume")
    if expect_attempt is not None:
        argv += ["--expect-attempt", str(expect_attempt)]
    try:
        # The intermediate process forks the real supervisor and exits at once, so no zombie stays with us.
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       start_new_session=True, check=True, pass_fds=(write_end,))
    finally:
        os.close(write_end)
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
    raise RunError(f"the supervisor of {run.id} exited without taking the run; see {run.path('supervisor.log')}")


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
    args = parser.parse_args(argv)
    run = Run(Path(args.run_dir).resolve())
    if args.daemonize:
        if os.fork() > 0:
            os._exit(0)
        if os.getpgrp() != os.getpid():
            os.setsid()
        try:
            _redirect_output_redacted(run.path("supervisor.log"), bool(run.raw_status.get("private")))
        except OSError:
            pass
    sup = Supervisor(run, args.resume, args.ready_fd, args.expect_attempt)
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

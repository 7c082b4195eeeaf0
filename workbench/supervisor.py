"""The detached process that owns one run: launches the job, watches it, writes its fate.

Started by `workbench run` / the TUI as `python -m workbench.supervisor RUN_DIR`; it
detaches (own session, no terminal), so closing the TUI or losing SSH never touches
the job. It always writes a final status, even when the job dies hard.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from workbench.runs.files import iter_jsonl
from workbench.secrets import redact, secret_values
from workbench.runs.store import Run, process_start_time
from workbench.training.reporter import STOP_REQUEST

KILL_GRACE_S = 10.0
GPU_SAMPLE_S = 1.0
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


class Supervisor:
    def __init__(self, run: Run, resume: bool):
        self.run = run
        self.resume = resume
        self.proc: subprocess.Popen | None = None
        self.killed_by_us = False
        self.seen_signal: str | None = None
        self.stop_now = threading.Event()
        self.done = threading.Event()
        self.hooks = None

    # --- lifecycle -------------------------------------------------------------------------
    def main(self) -> int:
        run = self.run
        st = run.raw_status
        pid = os.getpid()
        changes = {"status": "starting", "supervisor_pid": pid, "supervisor_start": process_start_time(pid),
                   "attempt": int(st.get("attempt", 0)) + 1, "exit_code": None, "signal": None, "reason": None,
                   "ended": None}
        if not st.get("started"):
            changes["started"] = time.time()
        run.update_status(**changes)
        env = self._job_env()
        if self.resume:
            env["WORKBENCH_RESUME"] = self._prepare_resume()
        signal.signal(signal.SIGTERM, self._on_terminate)
        signal.signal(signal.SIGINT, self._on_terminate)

        argv = run.raw_status["argv"]
        console = open(run.path("console.log"), "ab")
        try:
            self.proc = subprocess.Popen(argv, cwd=run.dir, env=env, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            console.write(f"workbench: cannot start job: {exc}\n".encode())
            run.update_status(status="failed", reason=f"cannot start job: {exc}", ended=time.time())
            return 1
        run.update_status(status="running", job_pid=self.proc.pid, job_pgid=self.proc.pid, job_pids=[self.proc.pid],
                          cuda_visible_devices=env.get("CUDA_VISIBLE_DEVICES"))
        from workbench.run_hooks import RunHooks  # plugins' run_started / run_event / run_finished

        self.hooks = RunHooks(run)
        self.hooks.started()
        threads = [threading.Thread(target=self._pump, args=(console, secret_values(env)), daemon=True),
                   threading.Thread(target=self._watch, daemon=True),
                   threading.Thread(target=self._sample_gpus, daemon=True),
                   threading.Thread(target=self.hooks.follow, args=(self.done,), daemon=True)]
        for t in threads:
            t.start()
        rc = self.proc.wait()
        self.done.set()
        for t in threads[:2]:  # output fully written; no status write of the watcher races the final one
            t.join(timeout=5)
        console.close()
        self._finish(rc)
        return 0

    def _job_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update({str(k): str(v) for k, v in self.run.config().get("launch", {}).get("env", {}).items()})
        env["PYTHONUNBUFFERED"] = "1"
        env["WORKBENCH_RUN_DIR"] = str(self.run.dir)
        # The job runs inside its run directory; plugins of the run's workspace still apply.
        env["WORKBENCH_WORKSPACE"] = str(self.run.dir.parent.parent)
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # CUDA indices = NVML indices for the GPU panel
        env.pop("WORKBENCH_RESUME", None)
        return env

    def _prepare_resume(self) -> str:
        """Continue from the last checkpoint: drop metric rows logged after it, note the event."""
        run = self.run
        ckpts = run.checkpoints()
        if not ckpts:
            raise SystemExit("no checkpoint to resume from")
        ckpt = ckpts[-1]
        step = int(ckpt.name.split("-")[-1])
        metrics = run.path("metrics.jsonl")
        if metrics.exists():
            keep = [r for r in iter_jsonl(metrics) if int(r.get("step", 0)) <= step]
            tmp = metrics.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")
            os.replace(tmp, metrics)
        try:
            os.unlink(run.path(STOP_REQUEST))
        except FileNotFoundError:
            pass
        with open(run.path("events.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps({"time": round(time.time(), 3), "event": "resumed", "step": step,
                                "checkpoint": ckpt.name}) + "\n")
        run.update_status(resumed_from_step=step)
        return str(ckpt)

    # --- threads ---------------------------------------------------------------------------
    def _pump(self, console, secrets: list[str]) -> None:
        assert self.proc and self.proc.stdout
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace")
            if secrets:
                line = redact(line, secrets)
            sig = signal_from_output(line)
            if sig:
                self.seen_signal = sig
            console.write(line.encode("utf-8"))
            console.flush()

    def _watch(self) -> None:
        """Track the job's process tree; enforce stop requests and --now."""
        import psutil

        stop_seen_at = None
        grace = float(self.run.config().get("run", {}).get("stop_grace_seconds", 120.0))
        last_pids: list[int] = []
        while not self.done.wait(0.5):
            try:
                root = psutil.Process(self.proc.pid)
                pids = sorted([root.pid] + [c.pid for c in root.children(recursive=True)])
            except psutil.Error:
                pids = last_pids
            if pids != last_pids and not self.done.is_set():
                last_pids = pids
                self.run.update_status(job_pids=pids)
            if self.stop_now.is_set():
                self._kill_job()
                return
            if self.run.path(STOP_REQUEST).exists():
                if stop_seen_at is None and not self.done.is_set():
                    stop_seen_at = time.time()
                    self.run.update_status(status="stopping")
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
        if not self.proc or self.proc.poll() is not None:
            return
        self.killed_by_us = True
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.time() + KILL_GRACE_S
        while time.time() < deadline and self.proc.poll() is None:
            time.sleep(0.1)
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _finish(self, rc: int) -> None:
        run = self.run
        result = {}
        try:
            result = json.loads(run.path("result.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        stop_requested = run.path(STOP_REQUEST).exists()
        sig = signal.Signals(-rc).name if rc < 0 else self.seen_signal
        changes = {"ended": time.time(), "exit_code": rc, "signal": sig if rc != 0 else None}
        if stop_requested and (rc == 0 or self.killed_by_us):
            changes.update(status="stopped", reason="stopped on request" + (" (killed)" if self.killed_by_us else ""))
        elif rc == 0 and result.get("outcome") == "completed":
            changes.update(status="completed", reason=None)
        elif rc == 0:
            changes.update(status="failed", reason=result.get("reason") or "job exited without finishing")
        else:
            errors = [e for e in iter_jsonl(run.path("events.jsonl")) if e.get("event") in ("error", "oom")]
            reason = errors[-1].get("message") if errors else (f"killed by {sig}" if sig else f"exit code {rc}")
            changes.update(status="failed", reason=reason)
        st = run.update_status(**changes)
        with open(run.path("events.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps({"time": round(time.time(), 3), "event": "ended", "status": st["status"],
                                "exit_code": rc, "signal": changes["signal"]}) + "\n")
        if self.hooks is not None:
            self.hooks.finished()  # never raises; a plugin's error becomes a plugin_error event


def spawn(run: Run, resume: bool = False, wait_s: float = 10.0) -> int:
    """Start a detached supervisor for `run`; returns its pid once it has taken the run."""
    argv = [sys.executable, "-m", "workbench.supervisor", str(run.dir)] + (["--resume"] if resume else [])
    before = run.raw_status.get("supervisor_pid")
    # The intermediate process forks the real supervisor and exits at once, so no zombie stays with us.
    subprocess.run(argv + ["--daemonize"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, start_new_session=True, check=True)
    deadline = time.time() + wait_s
    while time.time() < deadline:
        pid = run.raw_status.get("supervisor_pid")
        if pid and pid != before:
            return pid
        time.sleep(0.05)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workbench.supervisor")
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--daemonize", action="store_true")
    args = parser.parse_args(argv)
    run = Run(Path(args.run_dir).resolve())
    if args.daemonize:
        if os.fork() > 0:
            os._exit(0)
        os.setsid() if os.getpgrp() != os.getpid() else None
        log = os.open(run.path("supervisor.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
    try:
        return Supervisor(run, args.resume).main()
    except BaseException as exc:  # noqa: BLE001 - whatever happens, the run gets a final word
        import traceback

        traceback.print_exc()
        run.update_status(status="failed", reason=f"supervisor error: {exc}", ended=time.time())
        return 1


if __name__ == "__main__":
    sys.exit(main())

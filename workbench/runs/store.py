"""The run directory of a job, and the workspace's collection of them.

    runs/<id>/job.toml  command.sh  accelerate.yaml  status.json  metrics.jsonl
              gpu.jsonl  events.jsonl  console.log  checkpoints/
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import __version__
from workbench.errors import RunError
from workbench.paths import runs_dir
from workbench.runs.checkpoints import CheckpointCheck, scan
from workbench.runs.files import STOP_REQUEST, read_json, write_json_atomic, write_json_file
from workbench.runs.jsonl import DamagedLine, read_jsonl, tail_jsonl

ACTIVE = ("queued", "starting", "running", "stopping")
FINAL = ("completed", "failed", "stopped", "lost")
DELETED = "run directory was deleted"
"""The reason of a run whose directory vanished under a viewer."""
QUEUED_TIMEOUT_S = 60.0
OUTCOMES = {"completed": "completed", "stopped": "stopped", "failed": "failed", "nan": "failed"}
"""result.json's outcome (the job's own word) -> the run's final status."""
_NUMBERS = ("created", "started", "ended", "supervisor_pid", "supervisor_start", "job_pgid", "max_steps",
            "resumed_from_step", "world_size", "exit_code", "attempt")
LAUNCH_FILE = "launch.json"
"""The job's command, environment and job handle, fixed at creation (status.json holds only state)."""


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-")[:40] or "run"


def process_alive(pid: int | None, started: float | None) -> bool:
    """Is `pid` alive and the same process that started at `started` (not a recycled pid)?"""
    if not pid:
        return False
    try:
        import psutil

        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 1.0
    except Exception:  # noqa: BLE001 - NoSuchProcess, AccessDenied
        return False


def process_start_time(pid: int) -> float | None:
    try:
        import psutil

        return psutil.Process(pid).create_time()
    except Exception:  # noqa: BLE001
        return None


@dataclass
class Run:
    """A run directory and what its files say."""

    dir: Path

    @property
    def id(self) -> str:
        return self.dir.name

    def path(self, name: str) -> Path:
        return self.dir / name

    @property
    def raw_status(self) -> dict[str, Any]:
        st = read_json(self.dir / "status.json")
        if st is None and not self.dir.is_dir():  # removed under a viewer: final, so followers stop waiting
            return {"status": "lost", "reason": DELETED}
        if st is None:  # truncated, emptied or hand-damaged: rebuilt from the run's own files
            return self.recovered_status("status.json is unreadable")
        bad = [k for k in _NUMBERS if k in st and st[k] is not None
               and (not isinstance(st[k], (int, float)) or isinstance(st[k], bool))]
        for key in bad:  # viewers do arithmetic on these; a damaged value must not crash them
            del st[key]
        if not isinstance(st.get("attempts"), list):
            st.pop("attempts", None)
        if bad:
            st["reason"] = f"status.json: bad value for {', '.join(bad)}"
        return st

    def recovered_status(self, why: str) -> dict[str, Any]:
        """What can be known of a run whose status.json is lost: from job.toml and its files."""
        st: dict[str, Any] = {"id": self.id, "status": "unknown", "reason": why, "recovered": True}
        try:
            cfg = self.config()
            st.update(trainer=cfg.get("trainer", {}).get("name"), name=cfg.get("run", {}).get("name") or self.id,
                      world_size=cfg.get("launch", {}).get("num_processes"),
                      max_steps=cfg.get("trainer", {}).get("args", {}).get("max_steps"))
        except (OSError, ValueError):
            pass
        try:
            st["created"] = (self.dir / "job.toml").stat().st_mtime
        except OSError:
            pass
        begins = [e for e in self.events() if e.get("event") in ("train_begin", "resumed")]
        if begins and begins[-1].get("max_steps"):
            st["max_steps"] = begins[-1]["max_steps"]
        if self.checkpoints():
            st["resumable"] = True
        return st

    def status(self) -> dict[str, Any]:
        """status.json, with an active run whose supervisor is gone reported as `lost`."""
        st = dict(self.raw_status)
        state = st.get("status")
        if state in ACTIVE and st.get("host", socket.gethostname()) == socket.gethostname():
            pid = st.get("supervisor_pid")
            if pid and not process_alive(pid, st.get("supervisor_start")):
                st.update(self.unwatched_end(st) or {"status": "lost", "reason": "supervisor process is gone"})
            elif not pid and time.time() - st.get("created", time.time()) > QUEUED_TIMEOUT_S:
                st["status"], st["reason"] = "lost", "supervisor never started"
        return st

    def unwatched_end(self, st: dict[str, Any]) -> dict[str, Any] | None:
        """How the job of an active run whose supervisor is gone ended, when it ended on its own
        (its supervisor was killed, the job trained on to its end): from the result.json the job
        wrote in this attempt, once the job's process is gone. None while it may still run."""
        from workbench.runs.locks import JOB_LOCK, RunLock

        path = self.dir / "result.json"
        result = read_json(path)
        if not result or result.get("outcome") not in OUTCOMES:
            return None
        try:
            written = path.stat().st_mtime
        except OSError:
            return None
        begun = attempt_start(st)
        if not isinstance(begun, (int, float)) or written <= begun:
            return None  # an earlier attempt's word
        job = RunLock(self.dir / JOB_LOCK).holder()  # read only: the lock itself is the supervisor's to take
        if process_alive(job.get("pid"), job.get("started")):
            return None  # still exiting: lost until it is gone (resume adopts it meanwhile)
        status = OUTCOMES[result["outcome"]]
        why = result.get("reason") if status == "failed" else None
        return {"status": status, "ended": written,
                "reason": (f"{why}; " if why else "") + "ended while no supervisor watched it (from result.json)"}

    def update_status(self, **changes: Any) -> dict[str, Any]:
        """Merge `changes` into status.json (atomically; reasons redacted)."""
        from workbench.secrets import redact

        st = self.raw_status
        st.update(changes)
        if isinstance(st.get("reason"), str):
            st["reason"] = redact(st["reason"])
        write_json_file(self.dir / "status.json", st)
        return st

    def config(self) -> dict[str, Any]:
        import tomllib

        return tomllib.loads((self.dir / "job.toml").read_text(encoding="utf-8"))

    def metrics(self) -> list[dict[str, Any]]:
        return read_jsonl(self.dir / "metrics.jsonl")[0]

    def events(self) -> list[dict[str, Any]]:
        return read_jsonl(self.dir / "events.jsonl")[0]

    def damaged_lines(self) -> dict[str, list[DamagedLine]]:
        """{file name: its damaged lines} for the run's JSONL files that have any."""
        out = {}
        for name in ("metrics.jsonl", "events.jsonl", "gpu.jsonl"):
            bad = read_jsonl(self.dir / name)[1]
            if bad:
                out[name] = bad
        return out

    def write_stop_request(self, now: bool = False) -> str | None:
        """Ask the job to stop (stop.request, and its event); the OS's reason when the run
        directory refuses the file, else None."""
        import json

        try:
            tmp = self.dir / (STOP_REQUEST + ".tmp")
            tmp.write_text(json.dumps({"time": time.time(), "now": now}))
            os.replace(tmp, self.dir / STOP_REQUEST)
        except OSError as exc:
            return exc.strerror or str(exc)
        try:
            with open(self.dir / "events.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps({"time": round(time.time(), 3), "event": "stop_requested", "now": now}) + "\n")
        except OSError:
            pass
        return None

    def launch_plan(self) -> dict[str, Any]:
        """{argv, env, job} of launch.json (runs made before it existed: argv from status.json)."""
        plan = read_json(self.dir / LAUNCH_FILE)
        if plan is None:
            argv = (read_json(self.dir / "status.json") or {}).get("argv")
            if not argv:
                raise RunError(f"{LAUNCH_FILE} is missing or damaged: the job's command is unknown",
                               where=str(self.dir / LAUNCH_FILE))
            plan = {"argv": argv}
        plan.setdefault("env", {})
        plan.setdefault("job", None)
        return plan

    def checkpoint_checks(self) -> list[CheckpointCheck]:
        """Every checkpoint-N folder, oldest first, each with what (if anything) is wrong with it."""
        return scan(self.dir / "checkpoints")

    def checkpoints(self) -> list[Path]:
        """Complete (sealed, nothing missing) checkpoints, oldest first."""
        return [c.path for c in self.checkpoint_checks() if c.complete]

    def summary(self) -> dict[str, Any]:
        """What `ls` and the TUI's table show: cheap (reads only the tails of files)."""
        st = self.status()
        rows = [r for r in tail_jsonl(self.dir / "metrics.jsonl") if r.get("kind") != "evaluation"]
        train = [r for r in rows if r.get("kind", "train") == "train"]
        last = train[-1] if train else (rows[-1] if rows else {})
        last_loss = next((r["loss"] for r in reversed(train) if "loss" in r), None)
        max_steps = st.get("max_steps")
        if not max_steps:
            begin = [e for e in tail_jsonl(self.dir / "events.jsonl", 65536) if e.get("event") == "train_begin"]
            max_steps = begin[-1].get("max_steps") if begin else None
        step = last.get("step", 0) if isinstance(last.get("step", 0), int) else 0
        state = st.get("status")
        last_alive = None
        if st.get("started") and not st.get("ended") and state in FINAL:  # e.g. lost: its last sign of life
            last_alive = self._last_sign_of_life()
        elapsed, wall = running_time(st, last_alive)
        eta = None
        if state == "running" and step and isinstance(max_steps, int) and 0 < step < max_steps:
            rate = step_rate(train, attempt_start(st))
            if rate:
                eta = (max_steps - step) / rate
        return {
            "id": self.id, "dir": str(self.dir), "status": state, "trainer": st.get("trainer"),
            "name": st.get("name"), "step": step, "max_steps": max_steps, "loss": last_loss,
            "tokens_per_second": last.get("tokens_per_second"), "epoch": last.get("epoch"),
            "elapsed": elapsed, "wall": wall, "eta": eta, "attempt": st.get("attempt"),
            "exit_code": st.get("exit_code"), "signal": st.get("signal"),
            "reason": st.get("reason"), "created": st.get("created"), "world_size": st.get("world_size"),
            "machines": st.get("machines") if isinstance(st.get("machines"), list) else None,
            "queue_reason": st.get("queue_reason") if state == "queued" else None,
        }

    def close_lost_attempt(self) -> float | None:
        """Give the last attempt an end when it has none (its supervisor died: a lost run), before a
        resume starts the next one: the time of the job's last logged row or event. Without it the
        lost attempt counted 0 s and a resumed run's elapsed time lost everything before the crash.
        Returns the end written (None: nothing to close)."""
        st = self.raw_status
        attempts = [a for a in (st.get("attempts") or []) if isinstance(a, dict)]
        if not attempts or attempts[-1].get("ended") is not None or not isinstance(attempts[-1].get("started"), (int, float)):
            return None
        times = [r["time"] for name in ("metrics.jsonl", "events.jsonl") for r in tail_jsonl(self.dir / name)[-1:]
                 if isinstance(r.get("time"), (int, float))]
        if not times:
            return None
        end = max(float(attempts[-1]["started"]), max(times))
        attempts[-1] = {**attempts[-1], "ended": end}
        self.update_status(attempts=attempts)
        return end

    def _last_sign_of_life(self) -> float | None:
        times = []
        for n in ("status.json", "metrics.jsonl", "console.log", "events.jsonl"):
            try:
                times.append((self.dir / n).stat().st_mtime)
            except OSError:
                continue
        return max(times) if times else None


def attempt_start(st: dict[str, Any]) -> float | None:
    """When the current attempt (the latest start or resume) began."""
    attempts = st.get("attempts") or []
    if attempts and isinstance(attempts[-1], dict) and isinstance(attempts[-1].get("started"), (int, float)):
        return float(attempts[-1]["started"])
    return st.get("started")


def running_time(st: dict[str, Any], last_alive: float | None = None) -> tuple[float | None, float | None]:
    """(elapsed, wall): seconds spent running (all attempts summed) and since the first start.

    A run that sat stopped for a day before its resume has a long wall time and an elapsed
    time of only its attempts.
    """
    started = st.get("started")
    if not isinstance(started, (int, float)):
        return None, None
    now = time.time()
    end_of_run = st.get("ended") or last_alive or now
    wall = max(0.0, end_of_run - started)
    attempts = [a for a in (st.get("attempts") or []) if isinstance(a, dict)
                and isinstance(a.get("started"), (int, float))]
    if not attempts:
        return wall, wall
    total = 0.0
    for i, a in enumerate(attempts):
        end = a.get("ended")
        if not isinstance(end, (int, float)):
            end = end_of_run if i == len(attempts) - 1 else a["started"]
        total += max(0.0, end - a["started"])
    return total, wall


def step_rate(train_rows: list[dict[str, Any]], since: float | None, window: int = 20,
              settled_s: float = 30.0) -> float | None:
    """Steps per second over the latest rows of one attempt.

    The current attempt's rows once they span `window` rows or `settled_s` seconds; before
    that (right after a resume, while the first steps are still warming up) the rows logged
    before it, the same job's settled speed; never a span that includes the stopped time.
    """
    timed = [(r["time"], r["step"]) for r in train_rows
             if isinstance(r.get("time"), (int, float)) and isinstance(r.get("step"), int)]
    current = [t for t in timed if since is not None and t[0] >= since]
    earlier = [t for t in timed if since is None or t[0] < since]

    def rate(span: list[tuple[float, int]]) -> float | None:
        span = span[-window:]
        if len(span) >= 2 and span[-1][0] > span[0][0] and span[-1][1] > span[0][1]:
            return (span[-1][1] - span[0][1]) / (span[-1][0] - span[0][0])
        return None

    settled = len(current) >= window or (len(current) >= 2 and current[-1][0] - current[0][0] >= settled_s)
    if since is not None and not settled and rate(earlier):
        return rate(earlier)
    return rate(current) or rate(earlier)


def find_run(ref: str, workspace: Path | None = None) -> Run:
    """A run by id, unique id prefix, directory path, or `last`."""
    path = Path(ref)
    if path.is_dir() and (path / "status.json").exists():
        return Run(path.resolve())
    root = runs_dir(workspace)
    runs = list_runs(workspace)
    if ref in ("last", "latest", "-1") and runs:
        return runs[-1]
    exact = [r for r in runs if r.id == ref]
    if exact:
        return exact[0]
    matches = [r for r in runs if r.id.startswith(ref) or r.id.endswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise RunError(f"'{ref}' matches {len(matches)} runs: {', '.join(r.id for r in matches[:5])}")
    raise RunError(f"no run '{ref}' in {root}")


def list_runs(workspace: Path | None = None) -> list[Run]:
    """Every run of the workspace, oldest first."""
    root = runs_dir(workspace)
    if not root.is_dir():
        return []
    runs = [Run(p) for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / "status.json").exists()]
    return sorted(runs, key=lambda r: (r.raw_status.get("created") or 0, r.id))


def new_run_id(name: str) -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + _slug(name)


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def job_toml(config: dict[str, Any], source: Path | None) -> str:
    """The resolved config as TOML (unset optional keys are left out: TOML has no null)."""
    import tomlkit  # only when creating runs: keeps the TUI's start-up light

    config = _drop_none(config)
    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"Resolved by workbench {__version__} from {source or '<inline>'}; the job's only input."))
    for section, values in config.items():
        doc[section] = values
    return tomlkit.dumps(doc)


def create_run(config, workspace: Path | None = None, name: str | None = None) -> Run:
    """Make a run directory for a validated JobConfig, atomically: all its files or nothing."""
    import errno

    data = config.data
    root = runs_dir(workspace)
    label = name or data["run"].get("name") or data["trainer"]["name"]
    from workbench.secrets import secret_in

    why = secret_in(label)
    if why:  # it would name the run directory and sit in status.json
        raise RunError(f"run name: {why}; choose another name")
    try:
        root.mkdir(parents=True, exist_ok=True)
        for n in range(1, 1000):
            run_id = new_run_id(label) + (f"-{n}" if n > 1 else "")
            if (root / run_id).exists():
                continue
            try:
                return _build_run(config, root, run_id, label)
            except OSError as exc:  # another `workbench run` took this id between our check and our rename
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY) or not (root / run_id).exists():
                    raise
    except OSError as exc:
        raise RunError(f"cannot create a run directory: {exc.strerror or exc}", where=str(root)) from None
    raise RunError("no free run id", where=str(root))


def _build_run(config, root: Path, run_id: str, label: str) -> Run:
    """Write every file of run `run_id` under runs/.staging-*, then rename it into place."""
    from workbench.plugin_manager import get_registry
    from workbench.specs import load_object

    data = config.data
    private = bool(data["run"].get("private"))
    staging = root / f".staging-{run_id}-{os.getpid()}"
    old_umask = os.umask(0o077) if private else None
    try:
        staging.mkdir()
    finally:
        if old_umask is not None:
            os.umask(old_umask)
    try:
        final = root / run_id
        spec = get_registry().get("launchers", data["launch"]["launcher"])
        plan = load_object(spec.factory)().plan(final, data)
        files = {"job.toml": job_toml(data, config.source), **plan.files}
        env = "".join(f"export {k}={shlex.quote(str(v))}\n" for k, v in plan.env.items())
        files["command.sh"] = ("#!/usr/bin/env bash\n# Reruns this job by hand, without the workbench supervisor.\n"
                               f"cd {shlex.quote(str(final))}\n{env}exec {shlex.join(plan.argv)} \"$@\"\n")
        for fname, text in files.items():
            (staging / fname).write_text(text, encoding="utf-8")
        mode = 0o600 if private else 0o644
        for fname in files:
            os.chmod(staging / fname, mode | (0o100 if fname == "command.sh" else 0))
        os.chmod(staging / "command.sh", 0o700 if private else 0o755)
        (staging / "checkpoints").mkdir(mode=0o700 if private else 0o777)
        write_json_atomic(staging / LAUNCH_FILE, {"argv": plan.argv, "env": plan.env, "job": plan.job})
        write_json_atomic(staging / "status.json", {
            "id": run_id, "status": "queued", "trainer": data["trainer"]["name"], "name": label,
            "created": time.time(), "host": socket.gethostname(), "world_size": data["launch"]["num_processes"] * data["launch"]["num_machines"],
            "max_steps": data["trainer"]["args"].get("max_steps"), "attempt": 0, "attempts": [],
            "private": private, "config_source": str(config.source) if config.source else None,
        })
        os.rename(staging, final)
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Run(final)

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
from workbench.runs.files import iter_jsonl, read_json, tail_jsonl, write_json_atomic

ACTIVE = ("queued", "starting", "running", "stopping")
FINAL = ("completed", "failed", "stopped", "lost")
QUEUED_TIMEOUT_S = 60.0
_NUMBERS = ("created", "started", "ended", "supervisor_pid", "supervisor_start", "job_pgid", "max_steps",
            "resumed_from_step", "world_size", "exit_code", "attempt")


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
            return {"status": "lost", "reason": "run directory was deleted"}
        if st is None:  # hand-edited or damaged: still listed, with the reason
            return {"status": "unknown", "reason": "status.json is unreadable"}
        bad = [k for k in _NUMBERS if k in st and st[k] is not None
               and (not isinstance(st[k], (int, float)) or isinstance(st[k], bool))]
        for key in bad:  # viewers do arithmetic on these; a damaged value must not crash them
            del st[key]
        if bad:
            st["reason"] = f"status.json: bad value for {', '.join(bad)}"
        return st

    def status(self) -> dict[str, Any]:
        """status.json, with an active run whose supervisor is gone reported as `lost`."""
        st = dict(self.raw_status)
        state = st.get("status")
        if state in ACTIVE and st.get("host", socket.gethostname()) == socket.gethostname():
            pid = st.get("supervisor_pid")
            if pid and not process_alive(pid, st.get("supervisor_start")):
                st["status"], st["reason"] = "lost", "supervisor process is gone"
            elif not pid and time.time() - st.get("created", time.time()) > QUEUED_TIMEOUT_S:
                st["status"], st["reason"] = "lost", "supervisor never started"
        return st

    def update_status(self, **changes: Any) -> dict[str, Any]:
        st = self.raw_status
        st.update(changes)
        write_json_atomic(self.dir / "status.json", st)
        return st

    def config(self) -> dict[str, Any]:
        import sys

        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover
            import tomli as tomllib
        return tomllib.loads((self.dir / "job.toml").read_text(encoding="utf-8"))

    def metrics(self) -> list[dict[str, Any]]:
        return list(iter_jsonl(self.dir / "metrics.jsonl"))

    def events(self) -> list[dict[str, Any]]:
        return list(iter_jsonl(self.dir / "events.jsonl"))

    def checkpoints(self) -> list[Path]:
        """Complete checkpoints, oldest first."""
        out = []
        for p in (self.dir / "checkpoints").glob("checkpoint-*"):
            if p.is_dir() and p.name.split("-")[-1].isdigit() and (p / "trainer_state.json").exists():
                out.append(p)
        return sorted(out, key=lambda p: int(p.name.split("-")[-1]))

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
        step = last.get("step", 0)
        started, ended = st.get("started"), st.get("ended")
        if started and not ended and st.get("status") in FINAL:  # e.g. lost: stop the clock at its last sign of life
            ended = max((self.dir / n).stat().st_mtime for n in ("status.json", "metrics.jsonl", "console.log")
                        if (self.dir / n).exists())
        elapsed = ((ended or time.time()) - started) if started else None
        eta = None
        if elapsed and step and max_steps and st["status"] == "running" and step < max_steps:
            first_step = st.get("resumed_from_step") or 0
            done = step - first_step
            if done > 0:
                eta = elapsed / done * (max_steps - step)
        return {
            "id": self.id, "dir": str(self.dir), "status": st.get("status"), "trainer": st.get("trainer"),
            "name": st.get("name"), "step": step, "max_steps": max_steps, "loss": last_loss,
            "tokens_per_second": last.get("tokens_per_second"), "epoch": last.get("epoch"),
            "elapsed": elapsed, "eta": eta, "exit_code": st.get("exit_code"), "signal": st.get("signal"),
            "reason": st.get("reason"), "created": st.get("created"), "world_size": st.get("world_size"),
        }


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
    staging = root / f".staging-{run_id}-{os.getpid()}"
    staging.mkdir()
    try:
        final = root / run_id
        spec = get_registry().get("launchers", data["launch"]["launcher"])
        plan = load_object(spec.factory)().plan(final, data)
        (staging / "job.toml").write_text(job_toml(data, config.source), encoding="utf-8")
        for fname, text in plan.files.items():
            (staging / fname).write_text(text, encoding="utf-8")
        env = "".join(f"export {k}={shlex.quote(str(v))}\n" for k, v in plan.env.items())
        (staging / "command.sh").write_text(
            "#!/usr/bin/env bash\n# Reruns this job by hand, without the workbench supervisor.\n"
            f"cd {shlex.quote(str(final))}\n{env}exec {shlex.join(plan.argv)} \"$@\"\n", encoding="utf-8")
        os.chmod(staging / "command.sh", 0o755)
        (staging / "checkpoints").mkdir()
        write_json_atomic(staging / "status.json", {
            "id": run_id, "status": "queued", "trainer": data["trainer"]["name"], "name": label,
            "created": time.time(), "host": socket.gethostname(), "world_size": data["launch"]["num_processes"] * data["launch"]["num_machines"],
            "max_steps": data["trainer"]["args"].get("max_steps"), "attempt": 0,
            "argv": plan.argv, "env": plan.env, "job": plan.job,
            "config_source": str(config.source) if config.source else None,
        })
        os.rename(staging, final)
    except BaseException:
        import shutil

        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Run(final)

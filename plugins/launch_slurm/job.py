"""SlurmJob: the supervisor's handle on a run's batch job (the JobHandle protocol).

start() submits slurm.sbatch with sbatch and records the job id; poll() maps Slurm's job state
to the run's final state (None while the job is pending or running); live() gives the fields
to merge into status.json (queued with Slurm's pending reason, running, the nodes); stop()
signals the batch script (every rank checkpoints), stop(now=True) cancels. With
[launch.slurm] resubmit = N a job ended by its time limit, a preemption or a node failure is
resubmitted from its last checkpoint, up to N times. Job state comes from `scontrol show job`
(Slurm keeps finished jobs for MinJobAge seconds; accounting need not be enabled).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from typing import Any

from workbench_plugins.launch_slurm.sbatch import STOP_REQUEST, TIME_LIMIT_MARK
from workbench_plugins.launch_slurm.states import final_state, is_active

QUERY_TIMEOUT_S = 30


class SlurmError(RuntimeError):
    """sbatch/scontrol/scancel failed (the message is Slurm's)."""


def _slurm(*argv: str, env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=QUERY_TIMEOUT_S, env=env)
    except FileNotFoundError:
        raise SlurmError(f"{argv[0]}: not found (is this a Slurm login node?)") from None
    except subprocess.TimeoutExpired:
        raise SlurmError(f"{argv[0]}: no answer from Slurm in {QUERY_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        raise SlurmError(f"{' '.join(argv[:2])}: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def parse_scontrol(text: str) -> dict[str, str]:
    """`scontrol show job -o ID` -> {"JobState": "RUNNING", "Reason": "None", ...}."""
    return dict(re.findall(r"(\w+(?:\:\w+)?)=(\S*)", text.strip()))


class SlurmJob:
    """A run's Slurm batch job, as the supervisor sees it."""

    def __init__(self, run, plan, env: dict[str, str]):
        self.run, self.plan, self.env = run, plan, dict(env)
        st = run.raw_status
        self.job_id: str | None = st.get("slurm_job_id")
        self.submitted_at: float = st.get("slurm_submitted") or 0.0
        self.resubmits: int = int(st.get("slurm_resubmits") or 0)
        self.max_resubmits: int = int((run.config().get("launch", {}).get("slurm") or {}).get("resubmit", 0))
        self.stop_asked = False
        self._last: dict[str, str] = {}

    # --- JobHandle protocol ------------------------------------------------------------------
    def start(self) -> dict[str, Any]:
        """sbatch slurm.sbatch; the fields to record in status.json."""
        self._clear_marks()
        out = _slurm(*self.plan.argv, env=self.env)
        self.job_id = out.strip().split(";")[0]
        self.submitted_at = time.time()
        ids = list(self.run.raw_status.get("slurm_job_ids") or []) + [self.job_id]
        self._event("submitted", job_id=self.job_id)
        return {"slurm_job_id": self.job_id, "slurm_job_ids": ids, "slurm_submitted": self.submitted_at,
                "slurm_state": "PENDING", "status": "queued"}

    def live(self) -> dict[str, Any]:
        """Status fields while the job lives: queued (with Slurm's reason) or running, and where."""
        info = self._query() or self._last
        state = info.get("JobState", "UNKNOWN")
        fields: dict[str, Any] = {"slurm_job_id": self.job_id, "slurm_state": state,
                                  "slurm_resubmits": self.resubmits}
        if state == "PENDING":
            reason = info.get("Reason")
            fields.update(status="queued", queue_reason=None if reason in (None, "", "None") else reason)
        elif is_active(state):
            fields.update(status="stopping" if self.stop_asked else "running", queue_reason=None,
                          slurm_nodes=info.get("NodeList"))
        return fields

    def poll(self) -> dict[str, Any] | None:
        """None while the job is pending or running; else the final {status, exit_code, signal, reason}."""
        info = self._query()
        if info is None:  # purged from slurmctld's memory (older than MinJobAge): the run's files decide
            info = {"JobState": "COMPLETED" if self._result() else "UNKNOWN", "ExitCode": "0:0"}
        state = info.get("JobState", "UNKNOWN")
        if is_active(state):
            return None
        final = final_state(state, info, self._result(), self.stop_asked or self._user_stop(),
                            self.run.path(TIME_LIMIT_MARK).exists())
        if final.get("resubmittable") and self._resubmit(final["reason"]):
            return None
        final.pop("resubmittable", None)
        if final["status"] == "failed":  # the job's own last error says more than Slurm's state
            errors = [e for e in self.run.events() if e.get("event") in ("error", "oom")
                      and e.get("time", 0) >= self.submitted_at - 1]
            if errors and errors[-1].get("message"):
                final["reason"] = errors[-1]["message"]
        final["slurm_state"] = state
        return final

    def attached(self) -> bool:
        """True when the batch job recorded in status.json still lives: a new supervisor (after the
        old one died) then watches that job instead of submitting another."""
        try:
            info = self._query()
        except SlurmError:
            return False
        return bool(info) and is_active(info.get("JobState", "UNKNOWN"))

    def stop(self, now: bool = False) -> None:
        """Graceful: the batch script gets USR2 and asks every rank to checkpoint; now: scancel.

        The supervisor calls stop(now=False) for any stop request it sees, also the one the batch
        script wrote itself at the time-limit signal: that one is not the user's, and the run may
        then be resubmitted."""
        if not self.job_id:
            return
        if not now and not self._user_stop() and self.run.path(TIME_LIMIT_MARK).exists():
            return
        self.stop_asked = True
        if now or self._last.get("JobState") == "PENDING":  # a pending job has nothing to checkpoint
            _slurm("scancel", self.job_id)
        else:
            _slurm("scancel", "--batch", "--signal=USR2", self.job_id)

    # --- helpers -------------------------------------------------------------------------------
    def _query(self) -> dict[str, str] | None:
        if not self.job_id:
            return None
        try:
            out = _slurm("scontrol", "show", "job", "-o", self.job_id)
        except SlurmError as exc:
            if "Invalid job id" in str(exc):
                return None
            raise
        self._last = parse_scontrol(out)
        return self._last

    def _result(self) -> dict[str, Any] | None:
        """result.json written by this submission's job (not an earlier attempt's)."""
        path = self.run.path("result.json")
        try:
            if path.stat().st_mtime + 1 < self.submitted_at:
                return None
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def _user_stop(self) -> bool:
        try:
            return "slurm time limit" not in self.run.path(STOP_REQUEST).read_text()
        except OSError:
            return False

    def _clear_marks(self) -> None:
        for name in (TIME_LIMIT_MARK,):
            try:
                os.unlink(self.run.path(name))
            except FileNotFoundError:
                pass

    def _resubmit(self, reason: str) -> bool:
        """Submit again from the last checkpoint, when allowed and there is one."""
        if self.resubmits >= self.max_resubmits or self.stop_asked or not self.run.checkpoints():
            return False
        from workbench.supervisor import prepare_resume

        checkpoint = prepare_resume(self.run)
        self.env["WORKBENCH_RESUME"] = checkpoint
        self.resubmits += 1
        previous = self.job_id
        fields = self.start()
        self._event("resubmitted", reason=reason, previous_job_id=previous, job_id=self.job_id,
                    checkpoint=os.path.basename(checkpoint), resubmit=self.resubmits)
        st = self.run.raw_status
        now = time.time()
        attempts = [a for a in (st.get("attempts") or []) if isinstance(a, dict)]
        if attempts and not attempts[-1].get("ended"):
            attempts[-1] = {**attempts[-1], "ended": now}
        self.run.update_status(**fields, slurm_resubmits=self.resubmits, attempt=int(st.get("attempt") or 0) + 1,
                               attempts=attempts + [{"started": now, "ended": None}],
                               resume_checkpoint=checkpoint)
        return True

    def _event(self, name: str, **fields: Any) -> None:
        with open(self.run.path("events.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps({"time": round(time.time(), 3), "event": f"slurm_{name}", **fields}) + "\n")

#!/usr/bin/env python3
"""A real one-node Slurm cluster on this machine, for the Slurm launcher's tests (and CI).

    python scripts/slurm_local.py up      # install (apt, as root) if needed, configure, start; idempotent
    python scripts/slurm_local.py status  # "running" or why not
    python scripts/slurm_local.py down    # stop the daemons it started (by pid)

`up` prints one line: "ok: ..." (exit 0); "unavailable: REASON" (exit 3) when Slurm cannot be
installed here (not root, no apt); "failed: REASON" (exit 1) when it is installed but does not come up. The daemons, their state and logs live in STATE_DIR;
/etc/slurm/slurm.conf is written only when absent or written by this script before.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

STATE_DIR = Path(os.environ.get("WORKBENCH_SLURM_DIR", "/var/tmp/workbench-slurm"))
CONF = Path("/etc/slurm/slurm.conf")
MARKER = "# written by workbench scripts/slurm_local.py"
PACKAGES = ["slurm-wlm", "munge"]


def _run(*argv: str, timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, check=check)


def installed() -> bool:
    return all(shutil.which(b) for b in ("sbatch", "slurmctld", "slurmd", "munged"))


class Unavailable(Exception):
    """Slurm cannot be installed on this machine."""


def install() -> str | None:
    """Install the packages with apt; None when done, else why not."""
    if installed():
        return None
    if os.geteuid() != 0:
        return "Slurm is not installed and installing it needs root (apt-get install slurm-wlm munge)"
    if not shutil.which("apt-get"):
        return "Slurm is not installed and there is no apt-get here"
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for argv in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", *PACKAGES]):
        proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [""]
            return f"{' '.join(argv)} failed: {tail[0]}"
    return None if installed() else "apt installed the packages but sbatch/slurmctld/slurmd/munged are missing"


def conf_text() -> str:
    host = socket.gethostname().split(".")[0]
    cpus = os.cpu_count() or 1
    mem_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    d = STATE_DIR
    return f"""{MARKER}
ClusterName=wb
SlurmctldHost={host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
JobAcctGatherType=jobacct_gather/none
MinJobAge=3600
KillWait=20
NodeName={host} CPUs={cpus} RealMemory={max(256, mem_mib - 1024)} State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
"""


def _pid_alive(pidfile: Path) -> bool:
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
        return True
    except (OSError, ValueError):
        return False


def node_idle() -> bool:
    proc = _run("sinfo", "-h", "-o", "%t", timeout=15)
    return proc.returncode == 0 and any(s.strip().rstrip("*") in ("idle", "mix", "alloc") for s in proc.stdout.split())


def up() -> tuple[bool, str]:
    reason = install()
    if reason:
        raise Unavailable(reason)
    if CONF.exists() and MARKER not in CONF.read_text():
        if node_idle():
            return True, f"using the existing cluster of {CONF}"
        return False, f"{CONF} exists (not written by this script) and its cluster is not up"
    for sub in ("state", "spool"):
        (STATE_DIR / sub).mkdir(parents=True, exist_ok=True)
    text = conf_text()
    CONF.parent.mkdir(parents=True, exist_ok=True)
    if not CONF.exists() or CONF.read_text() != text:
        CONF.write_text(text)
    munge_dir = Path("/run/munge")
    if not _run("munge", "-n").returncode == 0:
        munge_dir.mkdir(parents=True, exist_ok=True)
        shutil.chown(munge_dir, "munge", "munge")
        if not Path("/etc/munge/munge.key").exists():
            _run("/usr/sbin/mungekey", "--create")
            shutil.chown("/etc/munge/munge.key", "munge", "munge")
        _run("su", "-s", "/bin/sh", "munge", "-c", "/usr/sbin/munged")
    if not _pid_alive(STATE_DIR / "slurmctld.pid"):
        _run("slurmctld")
    if not _pid_alive(STATE_DIR / "slurmd.pid"):
        _run("slurmd")
    deadline = time.time() + 60
    while time.time() < deadline:
        if node_idle():
            return True, f"one-node cluster up ({CONF}, state in {STATE_DIR})"
        state = _run("sinfo", "-h", "-o", "%t", timeout=15).stdout.strip()
        if state.startswith(("down", "drain")):
            _run("scontrol", "update", f"nodename={socket.gethostname().split('.')[0]}", "state=resume")
        time.sleep(0.5)
    logs = (STATE_DIR / "slurmctld.log")
    tail = logs.read_text().strip().splitlines()[-1:] if logs.exists() else ["no log"]
    return False, f"Slurm started but the node is not idle after 60 s ({tail[0]})"


def down() -> str:
    stopped = []
    for name in ("slurmd", "slurmctld"):
        pidfile = STATE_DIR / f"{name}.pid"
        try:
            pid = int(pidfile.read_text().strip())
            os.kill(pid, signal.SIGTERM)
            stopped.append(f"{name} {pid}")
        except (OSError, ValueError):
            continue
    return "stopped " + (", ".join(stopped) or "nothing")


def main(argv: list[str]) -> int:
    cmd = argv[0] if argv else "up"
    if cmd == "up":
        try:
            ok, message = up()
        except Unavailable as exc:
            print(f"unavailable: {exc}")
            return 3
        print(("ok: " if ok else "failed: ") + message)
        return 0 if ok else 1
    if cmd == "status":
        print("running" if installed() and node_idle() else "not running")
        return 0
    if cmd == "down":
        print(down())
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""slurm.sbatch: the batch script of a run (rerunnable by hand with `sbatch slurm.sbatch`)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

from workbench.runs.files import STOP_REQUEST

TIME_LIMIT_MARK = "slurm.timelimit"   # the batch script got the time-limit signal

TEMPLATE = """#!/bin/bash
# Written by workbench for run {run_id}; submit again by hand with: sbatch {script}
{sbatch}
set -u
RUN_DIR={run_dir}
cd "$RUN_DIR"
# The job's output reaches console.log through the redacting writer, as a local job's does: no
# secret it prints lands in the run directory (Slurm's own lines still come via --output).
exec > >(exec {python} -m workbench.console_writer "$RUN_DIR/console.log") 2>&1
WRITER=$!
# Rendezvous from Slurm's environment: the first host of the allocation is machine 0, each node's
# SLURM_NODEID is its machine rank; the port is fixed per job so every node agrees on it.
MAIN_HOST=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
PORT=${{WORKBENCH_MAIN_PORT:-$((20000 + SLURM_JOB_ID % 20000))}}

request_stop() {{  # every rank sees the file (shared filesystem), saves a checkpoint and exits
    printf '{{"time": %s, "now": false, "reason": "%s"}}\\n' "$(date +%s)" "$1" > "$RUN_DIR/{stop}.tmp"
    mv "$RUN_DIR/{stop}.tmp" "$RUN_DIR/{stop}"
}}
trap 'echo "workbench: Slurm time limit is near: saving a checkpoint" >&2; touch "$RUN_DIR/{mark}"; request_stop "slurm time limit"' USR1
trap 'echo "workbench: stop requested: saving a checkpoint" >&2; request_stop "stop requested"' USR2

echo "workbench: job $SLURM_JOB_ID on $SLURM_JOB_NODELIST (main $MAIN_HOST:$PORT)" >&2
srun --kill-on-bad-exit=1 --ntasks-per-node=1 bash -c \\
  'exec {accelerate} launch --config_file {config_file} --num_machines "$SLURM_NNODES" --machine_rank "$SLURM_NODEID" --main_process_ip "$0" --main_process_port "$1" -m workbench.worker {run_dir}' \\
  "$MAIN_HOST" "$PORT" &
JOB=$!
while true; do
    wait "$JOB"
    rc=$?
    kill -0 "$JOB" 2>/dev/null || break   # a trapped signal ended the wait, not the job: keep waiting
done
exec >&- 2>&-   # the writer sees EOF: its last lines land before the step ends
wait "$WRITER" 2>/dev/null
exit $rc
"""


def sbatch_options(run_id: str, run_dir: Path, slurm: dict) -> list[str]:
    opts = [f"--job-name=wb-{run_id}", f"--output={run_dir / 'console.log'}", "--open-mode=append",
            f"--nodes={slurm['nodes']}", "--ntasks-per-node=1", f"--signal=B:USR1@{slurm['signal_seconds']}"]
    if slurm["gpus_per_node"]:
        opts.append(f"--gpus-per-node={slurm['gpus_per_node']}")
    for key, flag in (("cpus_per_task", "cpus-per-task"), ("mem", "mem"), ("time", "time"),
                      ("partition", "partition"), ("account", "account"), ("qos", "qos")):
        if slurm.get(key) is not None:
            opts.append(f"--{flag}={slurm[key]}")
    for line in slurm["sbatch_lines"]:
        opts.append(line[len("#SBATCH "):].strip() if line.startswith("#SBATCH ") else line)
    return opts


def render(run_dir: Path, slurm: dict, accelerate: str, config_file: Path, python: str = sys.executable) -> str:
    return TEMPLATE.format(
        run_id=run_dir.name, script=shlex.quote(str(run_dir / "slurm.sbatch")),
        sbatch="\n".join(f"#SBATCH {opt}" for opt in sbatch_options(run_dir.name, run_dir, slurm)),
        run_dir=shlex.quote(str(run_dir)), accelerate=shlex.quote(accelerate), python=shlex.quote(python),
        config_file=shlex.quote(str(config_file)), stop=STOP_REQUEST, mark=TIME_LIMIT_MARK)

"""[launch.slurm]: the batch job's resources and the launcher's behaviour."""

from __future__ import annotations

import re

from workbench.config.schema import Key
from workbench.errors import ConfigError
from workbench.launching.options import check_table

SLURM_KEYS: dict[str, Key] = {
    "partition": Key("str?", None, "partition (queue) to submit to; unset: the cluster's default"),
    "time": Key("str?", None, "time limit: minutes, HH:MM:SS or D-HH:MM:SS; unset: the partition's"),
    "nodes": Key("int?", None, "nodes (machines); unset: launch.num_machines", low=1),
    "gpus_per_node": Key("int", 0, "GPUs to allocate on each node (0: none requested)", low=0),
    "cpus_per_task": Key("int?", None, "CPUs per node (one task per node runs accelerate launch)", low=1),
    "mem": Key("str?", None, "memory per node, e.g. 64G (0: all of it)"),
    "account": Key("str?", None, "account to charge"),
    "qos": Key("str?", None, "quality of service"),
    "sbatch_lines": Key("list", [], "extra sbatch options, e.g. [\"--exclusive\", \"--constraint=a100\"]"),
    "signal_seconds": Key("int", 120, "seconds before the time limit at which every rank saves a checkpoint "
                          "and stops", low=1),
    "resubmit": Key("int", 0, "times to resubmit by itself from the last checkpoint after a time limit, "
                    "preemption or node failure", low=0),
}
TIME = re.compile(r"^(\d+|\d+:\d{2}|\d+:\d{2}:\d{2}|\d+-\d+|\d+-\d+:\d{2}|\d+-\d+:\d{2}:\d{2}|UNLIMITED|INFINITE)$")
MEM = re.compile(r"^\d+[KMGT]?$")


def check_slurm(config: dict, where) -> dict:
    """Check [launch.slurm] (in place: defaults filled, launch.num_machines = nodes)."""
    launch = config["launch"]
    slurm = check_table(launch.get("slurm") or {}, SLURM_KEYS, "launch.slurm", where)
    if slurm["time"] is not None and not TIME.match(slurm["time"]):
        raise ConfigError(f"launch.slurm.time: {slurm['time']!r} is not a Slurm time (minutes, HH:MM:SS, "
                          "D-HH:MM:SS)", where=where("launch.slurm.time"))
    if slurm["mem"] is not None and not MEM.match(slurm["mem"]):
        raise ConfigError(f"launch.slurm.mem: {slurm['mem']!r} is not a size like 64G", where=where("launch.slurm.mem"))
    for line in slurm["sbatch_lines"]:
        if not isinstance(line, str) or not (line.startswith("--") or line.startswith("-") or
                                             line.startswith("#SBATCH ")):
            raise ConfigError(f"launch.slurm.sbatch_lines: {line!r} is not an sbatch option (like \"--exclusive\")",
                              where=where("launch.slurm.sbatch_lines"))
    nodes = slurm["nodes"] or launch["num_machines"]
    if launch["num_machines"] not in (1, nodes):
        raise ConfigError(f"launch.num_machines = {launch['num_machines']} and launch.slurm.nodes = {nodes} disagree",
                          where=where("launch.slurm.nodes"))
    for key in ("machine_rank", "main_process_ip"):
        if launch.get(key):
            raise ConfigError(f"launch.{key}: set by Slurm for each node (SLURM_NODEID, the first host of the "
                              "allocation); remove it", where=where(f"launch.{key}"))
    slurm["nodes"] = nodes
    launch["num_machines"] = nodes
    launch["slurm"] = slurm
    return slurm

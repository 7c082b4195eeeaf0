"""workbench estimate CONFIG [--set K=V ...] [--json] [--gpu-mem GIB]: per-GPU memory of a job before launching it.

The config's names are checked like validate checks them (a misspelt key would silently give the default's
numbers), but not its data or model weights: a model folder with only config.json, or a Hub id, is enough."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    p = sub.add_parser("estimate", help="estimate per-GPU memory of a job config (no weights loaded) and whether it fits")
    p.add_argument("config", help="job config TOML")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE", help="override a config key")
    p.add_argument("--json", action="store_true", help="print the estimate as JSON")
    p.add_argument("--gpu-mem", type=float, metavar="GIB",
                   help="compare with GPUs of this much free memory instead of the GPUs present")
    p.set_defaults(func=run)


def _trainer_models(name: str | None) -> tuple:
    """The trainer's declared ModelUse list from the plugin registry; a lone policy if unavailable."""
    from workbench.specs import ModelUse

    try:
        from workbench.plugin_manager import get_registry

        return tuple(get_registry().trainer(name).models)
    except Exception:  # noqa: BLE001 - no registry yet, or an unknown trainer: estimate the policy alone
        return (ModelUse("policy", trainable=True),)


def _present_gpus() -> list[dict] | None:
    """Memory of the GPUs on this machine through the telemetry backend, if there is one."""
    try:
        from workbench.telemetry.backend import open_backend

        backend = open_backend()
        if backend is None:
            return None
        try:
            return [{"index": s.index, "mem_total_bytes": s.mem_total_bytes, "mem_used_bytes": s.mem_used_bytes or 0}
                    for s in backend.sample() if s.mem_total_bytes]
        finally:
            backend.close()
    except Exception:  # noqa: BLE001 - telemetry is optional here
        return None


def run(args) -> int:
    from workbench.estimate import estimate
    from workbench.estimate.fit import gib

    from workbench.config.loader import check_key_names, read_config

    path = Path(args.config)
    config, loc, _ = read_config(path, args.overrides)
    check_key_names(config, loc.where)
    trainer = config.get("trainer") if isinstance(config.get("trainer"), dict) else {}
    models = _trainer_models(trainer.get("name"))
    if args.gpu_mem is not None:
        if args.gpu_mem <= 0:
            print("error: --gpu-mem must be a positive number of GiB", file=sys.stderr)
            return 2
        launch = config.get("launch") if isinstance(config.get("launch"), dict) else {}
        count = launch.get("num_processes", 1) if isinstance(launch.get("num_processes", 1), int) else 1
        gpus = [{"index": i, "mem_total_bytes": gib(args.gpu_mem), "mem_used_bytes": 0} for i in range(max(1, count))]
    else:
        gpus = _present_gpus()
    result = estimate(config, models, gpus, base_dir=path.resolve().parent, source=str(path))
    print(result.to_json() if args.json else result.format_table())
    return 0 if result.verdict != "exceeds" else 1

"""workbench validate CONFIG [--set ...]"""

from __future__ import annotations

import sys


def register(sub) -> None:
    p = sub.add_parser("validate", help="check a job config (keys, values, trainer args, model files, every data row) "
                                        "without running")
    p.add_argument("config")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE")
    p.set_defaults(func=run)


def print_warnings(warnings: list[str]) -> None:
    """Warnings of a config that runs but probably not as meant (to stderr, before the verdict)."""
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)


def run(args) -> int:
    from workbench.config import load_config

    cfg = load_config(args.config, args.overrides)
    print_warnings(cfg.warnings)
    peft = "LoRA" if cfg.data.get("peft") else "full"
    quant = f", {cfg.data['quantization']['bits']}-bit" if cfg.data.get("quantization") else ""
    print(f"ok: {args.config}: trainer {cfg.trainer_name} ({peft}{quant}), "
          f"{cfg['launch']['num_processes']} process(es), data {cfg['data']['train']}"
          + (f", {len(cfg.warnings)} warning(s)" if cfg.warnings else ""))
    return 0

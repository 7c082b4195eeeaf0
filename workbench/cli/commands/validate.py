"""workbench validate CONFIG [--set ...]"""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("validate", help="check a job config (keys, types, trainer args, data kind) without running")
    p.add_argument("config")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE")
    p.set_defaults(func=run)


def run(args) -> int:
    from workbench.config import load_config

    cfg = load_config(args.config, args.overrides)
    peft = "LoRA" if cfg.data.get("peft") else "full"
    quant = f", {cfg.data['quantization']['bits']}-bit" if cfg.data.get("quantization") else ""
    print(f"ok: {args.config}: trainer {cfg.trainer_name} ({peft}{quant}), "
          f"{cfg['launch']['num_processes']} process(es), data {cfg['data']['train']}")
    return 0

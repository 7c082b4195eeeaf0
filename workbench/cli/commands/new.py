"""workbench new PRESET [PATH] [--force] | workbench new --list"""

from __future__ import annotations

import os


def register(sub) -> None:
    p = sub.add_parser("new", help="write a job config from a preset (paths made absolute: runs from anywhere)")
    p.add_argument("preset", nargs="?", help="preset name (see --list)")
    p.add_argument("path", nargs="?", help="file (or folder) to write; default: PRESET.toml here")
    p.add_argument("--list", action="store_true", help="list the presets and what each does")
    p.add_argument("-f", "--force", action="store_true", help="overwrite an existing file")
    p.set_defaults(func=run)


def run(args) -> int:
    from workbench.config.presets import get_preset, presets, write_preset
    from workbench.errors import ConfigError

    if args.list:
        table = presets()
        width = max((len(n) for n in table), default=0)
        for name, spec in table.items():
            print(f"{name:<{width}}  {spec.description}")
        return 0
    if not args.preset:
        raise ConfigError("name a preset (workbench new --list shows them)")
    spec = get_preset(args.preset)
    target = write_preset(spec, args.path or f"{spec.name}.toml", force=args.force)
    shown = os.path.relpath(target) if not os.path.relpath(target).startswith("..") else str(target)
    print(f"wrote {shown} from preset '{spec.name}'; next: workbench validate {shown} && workbench run {shown}")
    return 0

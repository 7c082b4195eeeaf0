"""workbench plugins [--json]"""

from __future__ import annotations

import json


def register(sub) -> None:
    p = sub.add_parser("plugins", help="list plugins, what each registers, and broken ones with their error")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    from workbench.plugin_manager import get_registry

    reg = get_registry()
    if args.json:
        print(json.dumps([p.to_json() for p in reg.plugins], indent=1))
        return 0
    for p in reg.plugins:
        mark = {"ok": "ok", "broken": "BROKEN", "disabled": "disabled", "conflict": "CONFLICT"}.get(p.status, p.status)
        origin = "built-in" if p.builtin else p.source
        print(f"{p.name} {p.version}  [{mark}]  {origin}")
        for kind, names in p.registers.items():
            print(f"    {kind}: {', '.join(names)}")
        if p.error:
            print(f"    error: {p.error}")
    return 0

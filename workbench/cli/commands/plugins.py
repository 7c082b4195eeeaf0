"""workbench plugins [--json] [--check]"""

from __future__ import annotations

import json

MARKS = {"ok": "ok", "broken": "BROKEN", "disabled": "disabled", "conflict": "CONFLICT"}
SLOW_IMPORT_S = 0.5


def register(sub) -> None:
    p = sub.add_parser("plugins", help="list plugins, what each registers, and broken ones with their error")
    p.add_argument("--json", action="store_true")
    p.add_argument("--check", action="store_true",
                   help="also import everything the plugins name and time each plugin's import; "
                        "exit 1 when any plugin is broken or in conflict (for CI)")
    p.set_defaults(func=run)


def _seconds(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.1f} s"


def run(args) -> int:
    from workbench.plugin_manager import check_registry, get_registry

    reg = get_registry()
    report = check_registry(reg, full=True) if args.check else None
    if args.json:
        print(json.dumps([p.to_json() for p in reg.plugins], indent=1))
        return 1 if report and report.failed else 0
    for p in reg.plugins:
        origin = "built-in" if p.builtin else p.source
        timing = ""
        if args.check and p.status != "disabled":
            heavy = f", imports {', '.join(p.heavy_imports)} at import" if p.heavy_imports else ""
            timing = f"  import {_seconds(p.import_seconds)}{heavy}"
        print(f"{p.name} {p.version}  [{MARKS.get(p.status, p.status)}]  {origin}{timing}")
        for kind, names in p.registers.items():
            shown = names
            if kind == "palette_commands":
                shown = [f"{reg.palette_commands[n].title}" + (f" ({reg.palette_commands[n].key})"
                                                                if reg.palette_commands[n].key else "")
                         for n in names if n in reg.palette_commands]
            print(f"    {kind}: {', '.join(shown)}")
        for line in p.errors:
            print(f"    error: {line}")
        for line in p.warnings:
            print(f"    warning: {line}")
    if report is None:
        return 0
    counts: dict[str, int] = {}
    for p in reg.plugins:
        counts[p.status] = counts.get(p.status, 0) + 1
    loaded = [p for p in reg.plugins if p.status != "disabled"]
    slowest = max(loaded, key=lambda p: p.import_seconds, default=None)
    summary = f"{len(reg.plugins)} plugins: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    if slowest is not None:
        total = sum(p.import_seconds for p in loaded)
        summary += f"; imports took {_seconds(total)}, slowest {slowest.name} {_seconds(slowest.import_seconds)}"
        if slowest.heavy_imports and slowest.import_seconds >= SLOW_IMPORT_S:
            summary += (f" (it imports {', '.join(slowest.heavy_imports)} at module level: move those imports "
                        "into the functions its specs name)")
    print(summary)
    return 1 if report.failed else 0

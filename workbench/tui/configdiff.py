"""Which config keys differ between runs (for the compare view)."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

MISSING = "—"


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"trainer": {"args": {"lr": 1}}} -> {"trainer.args.lr": 1}; lists stay values."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if value:
                out.update(flatten(value, name + "."))
            else:
                out[name] = {}
        else:
            out[name] = value
    return out


def differing(configs: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[str]]]:
    """[(dotted key, [value as text per config])] for keys whose values are not all equal.

    A key missing from some configs counts as different and shows as '—'.
    """
    flat = [flatten(c) for c in configs]
    keys = sorted(set().union(*flat)) if flat else []
    out = []
    for key in keys:
        values = [f.get(key, MISSING) for f in flat]
        if any(v != values[0] for v in values[1:]):
            out.append((key, [MISSING if v is MISSING else _text(v) for v in values]))
    return out


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, (list, tuple, dict)) else str(value)

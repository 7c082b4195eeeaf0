"""Which registered run source reads a folder: each source's detect() says how sure it is."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any


def trainer_dir(path: Path) -> float:
    """Confidence that `path` is a Hugging Face Trainer (or Axolotl) output folder."""
    path = Path(path)
    if not path.is_dir():
        return 0.0
    if (path / "trainer_state.json").is_file():
        return 0.7
    return 0.6 if any((ck / "trainer_state.json").is_file() for ck in path.glob("checkpoint-*")) else 0.0


def ranked_sources(path: Path, registry: Any = None) -> list[tuple[float, Any]]:
    """(confidence, spec) of every registered run source that claims `path`, most confident first.

    A plugin whose detect() raises is skipped with a warning: it never takes the viewer down.
    """
    from workbench.specs import load_object

    if registry is None:
        from workbench.plugin_manager import get_registry

        registry = get_registry()
    claims = []
    for spec in registry.run_sources.values():
        try:
            confidence = float(load_object(spec.detect)(Path(path)) or 0.0)
        except Exception as exc:  # noqa: BLE001 - a broken plugin must not break `watch`
            print(f"warning: run source {spec.name}: detect raised {exc!r}", file=sys.stderr)
            continue
        if confidence > 0:
            claims.append((confidence, spec))
    return sorted(claims, key=lambda c: -c[0])


def registered_source(path: Path, registry: Any = None):
    """The run source of the most confident registered reader of `path`, or None."""
    from workbench.specs import load_object

    claims = ranked_sources(path, registry)
    if not claims:
        return None
    return load_object(claims[0][1].factory)(Path(path))

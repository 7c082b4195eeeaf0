"""Filter and sort run summaries: what the Runs tab's `/` and `S` keys do.

A filter is words, all of which must match: `status:running`, `trainer:sft`, `tag:baseline`,
`name:lora` (each also as a prefix: `s:`, `t:`, `tag:`, `n:`), or a bare word found in
the run id or name. `status:` accepts several states: `status:failed,lost`. `-word`
excludes.
"""

from __future__ import annotations

import math
from typing import Any

FIELDS = {"status": "status", "s": "status", "trainer": "trainer", "t": "trainer", "tag": "tags",
          "tags": "tags", "name": "name", "n": "name"}
SORTS = ("created", "name", "status", "loss", "best", "progress", "tok/s")
"""What `S` cycles through; created means newest first."""
STATUS_ORDER = {s: i for i, s in enumerate(("running", "stopping", "starting", "queued", "failed", "lost",
                                            "stopped", "completed", "unknown"))}


class RunFilter:
    """A parsed filter expression (see module doc); the empty filter matches everything."""

    def __init__(self, text: str):
        self.text = text.strip()
        self.terms: list[tuple[bool, str | None, str]] = []
        for word in self.text.split():
            negate = word.startswith("-") and len(word) > 1
            word = word[1:] if negate else word
            field, sep, value = word.partition(":")
            if sep and field.lower() in FIELDS:
                self.terms.append((negate, FIELDS[field.lower()], value.lower()))
            else:
                self.terms.append((negate, None, word.lower()))

    def __bool__(self) -> bool:
        return bool(self.terms)

    def matches(self, s: dict[str, Any]) -> bool:
        for negate, field, value in self.terms:
            if self._term(s, field, value) == negate:
                return False
        return True

    @staticmethod
    def _term(s: dict[str, Any], field: str | None, value: str) -> bool:
        if field is None:
            return value in str(s.get("id", "")).lower() or value in str(s.get("name") or "").lower()
        if field == "tags":
            return any(value in str(t).lower() for t in s.get("tags") or [])
        have = str(s.get(field) or "").lower()
        if field == "status":
            return any(have == v or (v and have.startswith(v)) for v in value.split(","))
        return value in have


def _number(value: Any) -> float:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else math.inf


def sort_summaries(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    """Rows ordered by a SORTS key (created: newest first; metrics: best first, unknown last)."""
    if key == "created":
        return sorted(rows, key=lambda s: (s.get("created") or 0, s["id"]), reverse=True)
    if key == "name":
        return sorted(rows, key=lambda s: (str(s.get("name") or s["id"]).lower(), s["id"]))
    if key == "status":
        return sorted(rows, key=lambda s: (STATUS_ORDER.get(s.get("status") or "unknown", 99),
                                           -(s.get("created") or 0)))
    if key == "loss":
        return sorted(rows, key=lambda s: (_number(s.get("loss")), s["id"]))
    if key == "best":
        return sorted(rows, key=lambda s: (_number((s.get("best_eval") or (None, None))[1]), s["id"]))
    if key == "progress":
        return sorted(rows, key=lambda s: -((s.get("step") or 0) / s["max_steps"] if s.get("max_steps") else 0))
    if key == "tok/s":
        return sorted(rows, key=lambda s: -(s.get("tokens_per_second") or 0))
    raise ValueError(f"no sort key {key!r} (one of {', '.join(SORTS)})")

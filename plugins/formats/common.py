"""Shared checks for format converters: each raises DataError naming the field."""

from __future__ import annotations

from workbench.errors import DataError
from workbench.specs import DetectResult

ROLES = ("system", "user", "assistant", "tool")


def fraction(rows: list[dict], test) -> DetectResult:
    """Confidence = share of sample rows for which `test(row)` holds."""
    if not rows:
        return DetectResult(0.0, "no rows")
    ok = sum(1 for r in rows if _safe(test, r))
    return DetectResult(ok / len(rows), f"{ok}/{len(rows)} sample rows match")


def _safe(test, row) -> bool:
    try:
        return bool(test(row))
    except Exception:  # noqa: BLE001 - detection is a guess, never an error
        return False


def require(row: dict, field: str, types: type | tuple[type, ...] = str, allow_empty: bool = False):
    if field not in row or row[field] is None:
        raise DataError(f"missing field '{field}'", where=field)
    value = row[field]
    if not isinstance(value, types):
        names = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        raise DataError(f"'{field}' must be {names}, got {type(value).__name__}", where=field)
    if not allow_empty and isinstance(value, (str, list)) and len(value) == 0:
        raise DataError(f"'{field}' is empty", where=field)
    return value


def is_message_list(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def check_messages(messages, field: str = "messages", need_assistant: bool = True) -> list[dict]:
    """Validate a chat message list; returns normalised copies."""
    if not isinstance(messages, list):
        raise DataError(f"'{field}' must be a list of messages, got {type(messages).__name__}", where=field)
    if not messages:
        raise DataError(f"'{field}' is empty", where=field)
    out = []
    for i, m in enumerate(messages):
        where = f"{field}[{i}]"
        if not isinstance(m, dict):
            raise DataError(f"message must be an object, got {type(m).__name__}", where=where)
        role = m.get("role")
        if role not in ROLES:
            raise DataError(f"unknown role {role!r} (expected one of {', '.join(ROLES)})", where=f"{where}.role")
        content = m.get("content")
        has_tools = bool(m.get("tool_calls"))
        if content is None and not has_tools:
            raise DataError("message has no content", where=f"{where}.content")
        if content is not None and not isinstance(content, str):
            raise DataError(f"content must be a string, got {type(content).__name__}", where=f"{where}.content")
        if role == "system" and i != 0:
            raise DataError("a system message must come first", where=where)
        msg = {"role": role, "content": content if content is not None else ""}
        for extra in ("tool_calls", "name", "tool_call_id"):
            if m.get(extra) is not None:
                msg[extra] = m[extra]
        out.append(msg)
    if need_assistant and not any(m["role"] == "assistant" for m in out):
        raise DataError("conversation has no assistant turn to train on", where=field)
    return out

"""Shared checks for format converters: each raises DataError naming the field path.

These run once per row over files of millions of rows, so the happy path does no
string formatting: field paths are only built when a row is actually wrong.
"""

from __future__ import annotations

from typing import Callable

from workbench.errors import DataError
from workbench.specs import DetectResult

ROLES = ("system", "user", "assistant", "tool")
_ROLE_SET = frozenset(ROLES)
_MESSAGE_EXTRAS = ("tool_calls", "name", "tool_call_id")

# ShareGPT speaker names seen in the wild (ShareGPT, Vicuna, LLaMA-Factory, Glaive, OpenHermes), to chat roles.
SHAREGPT_ROLES = {
    "human": "user", "user": "user", "prompter": "user", "usr": "user", "question": "user",
    "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "bard": "assistant", "model": "assistant",
    "bot": "assistant", "ai": "assistant", "claude": "assistant", "answer": "assistant", "function_call": "assistant",
    "system": "system",
    "tool": "tool", "observation": "tool", "function": "tool", "function_response": "tool", "ipython": "tool",
}


def fraction(rows: list[dict], test: Callable[[dict], object]) -> DetectResult:
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


def type_name(value) -> str:
    """JSON-ish name of a value's type, for messages."""
    if value is None:
        return "null"
    return {dict: "object", list: "list", str: "string", bool: "boolean", int: "number",
            float: "number"}.get(type(value), type(value).__name__)


def require(row: dict, field: str, types: type | tuple[type, ...] = str, allow_empty: bool = False):
    """row[field], checked for presence, type and (by default) non-emptiness."""
    value = row.get(field)
    if value is None:
        raise DataError("missing field" if field not in row else "is null (empty)", where=field)
    if not isinstance(value, types):
        names = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        names = names.replace("str", "string")
        raise DataError(f"must be a {names}, got {type_name(value)}", where=field)
    if not allow_empty and isinstance(value, (str, list)) and not (value.strip() if isinstance(value, str) else value):
        raise DataError("is empty", where=field)
    return value


def is_message_list(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "role" in m for m in value)


def _check_tool_calls(calls, where: str) -> None:
    if not isinstance(calls, list):
        raise DataError(f"must be a list, got {type_name(calls)}", where=f"{where}.tool_calls")
    for j, call in enumerate(calls):
        here = f"{where}.tool_calls[{j}]"
        if not isinstance(call, dict):
            raise DataError(f"must be an object, got {type_name(call)}", where=here)
        fn = call.get("function")
        if not isinstance(fn, dict):
            raise DataError("missing 'function' object", where=f"{here}.function")
        if not isinstance(fn.get("name"), str) or not fn["name"]:
            raise DataError("missing function name", where=f"{here}.function.name")
        args = fn.get("arguments")
        if args is not None and not isinstance(args, (str, dict)):
            raise DataError(f"must be a JSON string or an object, got {type_name(args)}",
                            where=f"{here}.function.arguments")


def check_messages(messages, field: str = "messages", need_assistant: bool = True,
                   last_assistant: bool = False) -> list[dict]:
    """Validate a chat message list; returns normalised copies.

    Assistant turns may carry `tool_calls` with null/empty content; `tool` turns must
    answer a call made earlier (`tool_call_id`, when the calls carry ids).
    """
    if not isinstance(messages, list):
        raise DataError(f"must be a list of messages, got {type_name(messages)}", where=field)
    if not messages:
        raise DataError("is empty (no messages)", where=field)
    out = []
    has_assistant = False
    call_ids: set | None = None
    for i, m in enumerate(messages):
        if type(m) is not dict:
            raise DataError(f"message must be an object, got {type_name(m)}", where=f"{field}[{i}]")
        role = m.get("role")
        if role not in _ROLE_SET:
            got = "missing" if "role" not in m else repr(role)
            alias = SHAREGPT_ROLES.get(role.lower()) if isinstance(role, str) and field == "messages" else None
            also = (f"; ShareGPT's name for {alias}: data.format = \"sharegpt\", "
                    f"data.columns = {{conversations = \"messages\"}} reads such rows") if alias else ""
            raise DataError(f"unknown role {got} (expected one of {', '.join(ROLES)}){also}",
                            where=f"{field}[{i}].role")
        content = m.get("content")
        calls = m.get("tool_calls")
        if calls:
            if role != "assistant":
                raise DataError("only assistant messages may carry tool_calls", where=f"{field}[{i}].tool_calls")
            _check_tool_calls(calls, f"{field}[{i}]")
            ids = {c.get("id") for c in calls if c.get("id")}
            call_ids = ids if call_ids is None else call_ids | ids
        if type(content) is not str:
            if content is None:
                if not calls:
                    why = "missing content" if "content" not in m else "content is null"
                    raise DataError(f"{why} (only an assistant message with tool_calls may omit it)",
                                    where=f"{field}[{i}].content")
                content = ""
            else:
                raise DataError(f"must be a string, got {type_name(content)}", where=f"{field}[{i}].content")
        if role == "system":
            if i != 0:
                raise DataError("a system message must come first", where=f"{field}[{i}].role")
        elif role == "assistant":
            has_assistant = True
        elif role == "tool":
            tid = m.get("tool_call_id")
            if call_ids is None:
                raise DataError("tool message without an earlier assistant tool call", where=f"{field}[{i}]")
            if tid is not None and call_ids and tid not in call_ids:
                raise DataError(f"tool_call_id {tid!r} answers no earlier tool call",
                                where=f"{field}[{i}].tool_call_id")
        msg = {"role": role, "content": content}
        for extra in _MESSAGE_EXTRAS:
            value = m.get(extra)
            if value is not None:
                msg[extra] = value
        out.append(msg)
    if need_assistant and not has_assistant:
        raise DataError("conversation has no assistant turn to train on", where=field)
    if last_assistant and out[-1]["role"] != "assistant":
        raise DataError(f"must end with an assistant message, ends with {out[-1]['role']}",
                        where=f"{field}[{len(out) - 1}].role")
    return out


def text_or_messages(row: dict, field: str, need_assistant: bool = False, last_assistant: bool = False):
    """A field that is either a non-empty string or a message list (TRL's standard vs conversational)."""
    value = row.get(field)
    if isinstance(value, list):
        return check_messages(value, field, need_assistant=need_assistant, last_assistant=last_assistant)
    return require(row, field, str)

"""Conversation formats: OpenAI messages, ShareGPT, Alpaca -> {"messages": [...]}."""

from __future__ import annotations

from workbench.errors import DataError
from workbench.specs import DetectResult
from workbench_plugins.formats.common import (SHAREGPT_ROLES, check_messages, fraction, is_message_list, require,
                                              type_name)


def detect_messages(rows: list[dict]) -> DetectResult:
    return fraction(rows, lambda r: is_message_list(r.get("messages")))


def convert_messages(row: dict) -> dict:
    return {"messages": check_messages(row.get("messages") if "messages" in row else _missing("messages"),
                                       "messages")}


def _missing(field: str):
    raise DataError("missing field", where=field)


def _turn_keys(turn: dict) -> tuple[str, str]:
    """ShareGPT turns use from/value; some exports use role/content."""
    return ("from", "value") if "from" in turn or "value" in turn else ("role", "content")


def detect_sharegpt(rows: list[dict]) -> DetectResult:
    def ok(r):
        conv = r.get("conversations")
        return (isinstance(conv, list) and conv
                and all(isinstance(t, dict) and "from" in t and "value" in t for t in conv))

    return fraction(rows, ok)


def convert_sharegpt(row: dict) -> dict:
    conv = require(row, "conversations", list)
    messages = []
    system = row.get("system")
    if system is not None:
        if not isinstance(system, str):
            raise DataError(f"must be a string, got {type_name(system)}", where="system")
        if system:
            messages.append({"role": "system", "content": system})
    for i, turn in enumerate(conv):
        if not isinstance(turn, dict):
            raise DataError(f"turn must be an object, got {type_name(turn)}", where=f"conversations[{i}]")
        who, what = _turn_keys(turn)
        speaker = turn.get(who)
        role = SHAREGPT_ROLES.get(speaker.lower()) if isinstance(speaker, str) else None
        if role is None:
            got = "missing" if speaker is None else repr(speaker)
            raise DataError(f"unknown speaker {got} (known: {', '.join(sorted(SHAREGPT_ROLES))})",
                            where=f"conversations[{i}].{who}")
        value = turn.get(what)
        if not isinstance(value, str):
            raise DataError(f"must be a string, got {type_name(value)}", where=f"conversations[{i}].{what}")
        if role == "tool" and not any(m["role"] == "assistant" for m in messages):
            raise DataError("tool turn before any assistant turn", where=f"conversations[{i}].{who}")
        if role == "system" and messages:
            raise DataError("a system turn must come first", where=f"conversations[{i}].{who}")
        messages.append({"role": role, "content": value})
    if not any(m["role"] == "assistant" for m in messages):
        raise DataError("conversation has no assistant turn to train on", where="conversations")
    return {"messages": messages}


def detect_alpaca(rows: list[dict]) -> DetectResult:
    return fraction(rows, lambda r: "instruction" in r and "output" in r and "messages" not in r)


def convert_alpaca(row: dict) -> dict:
    instruction = require(row, "instruction", str)
    output = require(row, "output", str)
    extra = row.get("input")
    if extra is None:
        extra = ""
    if not isinstance(extra, str):
        raise DataError(f"must be a string, got {type_name(extra)}", where="input")
    messages = []
    system = row.get("system")
    if system is not None and not isinstance(system, str):
        raise DataError(f"must be a string, got {type_name(system)}", where="system")
    if system:
        messages.append({"role": "system", "content": system})
    history = row.get("history")
    if history is not None and not isinstance(history, list):
        raise DataError(f"must be a list of [user, assistant] pairs, got {type_name(history)}", where="history")
    for i, pair in enumerate(history or []):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise DataError("must be a [user, assistant] pair of strings", where=f"history[{i}]")
        messages += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    prompt = f"{instruction}\n\n{extra}" if extra else instruction
    messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]
    return {"messages": messages}

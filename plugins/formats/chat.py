"""Conversation formats: OpenAI messages, ShareGPT, Alpaca -> {"messages": [...]}."""

from __future__ import annotations

from workbench.errors import DataError
from workbench.specs import DetectResult
from workbench_plugins.formats.common import check_messages, fraction, is_message_list, require

# ShareGPT speaker names seen in the wild, mapped to chat roles.
SHAREGPT_ROLES = {
    "human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant",
    "bard": "assistant", "model": "assistant", "bot": "assistant", "system": "system", "tool": "tool",
    "function_call": "assistant", "observation": "tool", "function": "tool",
}


def detect_messages(rows: list[dict]) -> DetectResult:
    return fraction(rows, lambda r: is_message_list(r.get("messages")))


def convert_messages(row: dict) -> dict:
    return {"messages": check_messages(row.get("messages"), "messages")}


def detect_sharegpt(rows: list[dict]) -> DetectResult:
    def ok(r):
        conv = r.get("conversations")
        return isinstance(conv, list) and conv and all(isinstance(t, dict) and "from" in t and "value" in t for t in conv)

    return fraction(rows, ok)


def convert_sharegpt(row: dict) -> dict:
    conv = require(row, "conversations", list)
    messages = []
    if isinstance(row.get("system"), str) and row["system"]:
        messages.append({"role": "system", "content": row["system"]})
    for i, turn in enumerate(conv):
        where = f"conversations[{i}]"
        if not isinstance(turn, dict):
            raise DataError("turn must be an object", where=where)
        speaker = str(turn.get("from", "")).lower()
        if speaker not in SHAREGPT_ROLES:
            raise DataError(f"unknown speaker {turn.get('from')!r}", where=f"{where}.from")
        if not isinstance(turn.get("value"), str):
            raise DataError("'value' must be a string", where=f"{where}.value")
        messages.append({"role": SHAREGPT_ROLES[speaker], "content": turn["value"]})
    return {"messages": check_messages(messages, "conversations")}


def detect_alpaca(rows: list[dict]) -> DetectResult:
    return fraction(rows, lambda r: isinstance(r.get("instruction"), str) and isinstance(r.get("output"), str))


def convert_alpaca(row: dict) -> dict:
    instruction = require(row, "instruction", str)
    output = require(row, "output", str)
    extra = row.get("input") or ""
    if not isinstance(extra, str):
        raise DataError("'input' must be a string", where="input")
    messages = []
    if isinstance(row.get("system"), str) and row["system"]:
        messages.append({"role": "system", "content": row["system"]})
    for i, pair in enumerate(row.get("history") or []):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and all(isinstance(x, str) for x in pair)):
            raise DataError("history entries must be [user, assistant] string pairs", where=f"history[{i}]")
        messages += [{"role": "user", "content": pair[0]}, {"role": "assistant", "content": pair[1]}]
    prompt = f"{instruction}\n\n{extra}" if extra else instruction
    messages += [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]
    return {"messages": messages}

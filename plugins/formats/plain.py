"""Text, prompt/completion and prompt-only formats."""

from __future__ import annotations

from workbench.errors import DataError
from workbench.specs import DetectResult
from workbench_plugins.formats.common import check_messages, fraction, is_message_list, require


def _prompt(row: dict, field: str = "prompt"):
    value = row.get(field)
    if is_message_list(value):
        return check_messages(value, field, need_assistant=False)
    return require(row, field, str)


def detect_text(rows: list[dict]) -> DetectResult:
    return fraction(rows, lambda r: isinstance(r.get("text"), str) and "messages" not in r)


def convert_text(row: dict) -> dict:
    return {"text": require(row, "text", str)}


def detect_prompt_completion(rows: list[dict]) -> DetectResult:
    return fraction(rows, lambda r: "prompt" in r and "completion" in r and "label" not in r)


def convert_prompt_completion(row: dict) -> dict:
    prompt = _prompt(row)
    completion = row.get("completion")
    if is_message_list(completion):
        completion = check_messages(completion, "completion")
        if isinstance(prompt, str):
            raise DataError("prompt is a string but completion is a message list", where="prompt")
    else:
        completion = require(row, "completion", str)
        if isinstance(prompt, list):
            raise DataError("prompt is a message list but completion is a string", where="completion")
    return {"prompt": prompt, "completion": completion}


def detect_prompt_only(rows: list[dict]) -> DetectResult:
    result = fraction(rows, lambda r: "prompt" in r and not ({"completion", "chosen", "rejected"} & set(r)))
    # Prompt-only data also satisfies nothing else; a slight discount lets richer formats win ties.
    return DetectResult(result.confidence * 0.95, result.reason)


def convert_prompt_only(row: dict) -> dict:
    return {"prompt": _prompt(row)}

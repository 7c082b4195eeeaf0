"""Language modelling (text), prompt/completion and prompt-only formats."""

from __future__ import annotations

from workbench.errors import DataError
from workbench.specs import DetectResult
from workbench_plugins.formats.common import check_messages, fraction, require, text_or_messages

PAIR_FIELDS = frozenset({"completion", "chosen", "rejected"})


def detect_text(rows: list[dict]) -> DetectResult:
    return fraction(rows, lambda r: isinstance(r.get("text"), str) and "messages" not in r)


def convert_text(row: dict) -> dict:
    return {"text": require(row, "text", str)}


def detect_prompt_completion(rows: list[dict]) -> DetectResult:
    return fraction(rows, lambda r: "prompt" in r and "completion" in r and "label" not in r)


def convert_prompt_completion(row: dict) -> dict:
    prompt = text_or_messages(row, "prompt")
    if isinstance(prompt, list):
        completion = row.get("completion")
        if not isinstance(completion, list):
            raise DataError("must be a message list when 'prompt' is one (conversational prompt-completion)",
                            where="completion")
        completion = check_messages(completion, "completion")
    else:
        completion = require(row, "completion", str)
    return {"prompt": prompt, "completion": completion}


def detect_prompt_only(rows: list[dict]) -> DetectResult:
    result = fraction(rows, lambda r: "prompt" in r and not (PAIR_FIELDS & r.keys()))
    # Rows of richer formats hold a prompt too; a slight discount lets those formats win ties.
    return DetectResult(result.confidence * 0.95, result.reason)


def convert_prompt_only(row: dict) -> dict:
    return {"prompt": text_or_messages(row, "prompt")}

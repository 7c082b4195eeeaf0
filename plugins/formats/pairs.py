"""Preference formats: paired (DPO, reward modelling) and unpaired (KTO)."""

from __future__ import annotations

from workbench.errors import DataError
from workbench.specs import DetectResult
from workbench_plugins.formats.common import check_messages, fraction, text_or_messages, type_name


def detect_preference(rows: list[dict]) -> DetectResult:
    return fraction(rows, lambda r: "chosen" in r and "rejected" in r)


def convert_preference(row: dict) -> dict:
    """Explicit prompt ({prompt, chosen, rejected}) or implicit (the prompt inside chosen/rejected).

    Conversational chosen/rejected must end with the assistant's answer being compared.
    """
    explicit = row.get("prompt") is not None
    chosen = text_or_messages(row, "chosen", last_assistant=True)
    rejected = text_or_messages(row, "rejected", last_assistant=True)
    if isinstance(chosen, list) != isinstance(rejected, list):
        raise DataError(f"must be a {'message list' if isinstance(chosen, list) else 'string'} like 'chosen'",
                        where="rejected")
    out = {"chosen": chosen, "rejected": rejected}
    if explicit:
        prompt = text_or_messages(row, "prompt")
        if isinstance(prompt, list) != isinstance(chosen, list):
            raise DataError(f"must be a {'message list' if isinstance(chosen, list) else 'string'} like 'chosen'",
                            where="prompt")
        out = {"prompt": prompt, **out}
    elif isinstance(chosen, list) and len(chosen) < 2:
        raise DataError("implicit-prompt preference needs the prompt turns before the answer "
                        "(or give an explicit 'prompt')", where="chosen")
    if chosen == rejected:
        raise DataError("chosen and rejected are identical", where="rejected")
    return out


# A label written as a word: CSV cells are text ("true"), so are some JSON exports.
LABEL_WORDS = {"true": True, "false": False}


def _label(value):
    """The boolean a KTO label stands for, or None."""
    if isinstance(value, bool):
        return value
    return LABEL_WORDS.get(value.strip().lower()) if isinstance(value, str) else None


def detect_kto(rows: list[dict]) -> DetectResult:
    return fraction(rows, lambda r: "completion" in r and _label(r.get("label")) is not None)


def convert_kto(row: dict) -> dict:
    label = _label(row.get("label"))
    if label is None:
        value = row.get("label")
        raise DataError(f"must be true or false, got {type_name(value)} {value!r}", where="label")
    prompt = text_or_messages(row, "prompt")
    if isinstance(prompt, list):
        completion = row.get("completion")
        if not isinstance(completion, list):
            raise DataError("must be a message list when 'prompt' is one", where="completion")
        completion = check_messages(completion, "completion", last_assistant=True)
    else:
        completion = text_or_messages(row, "completion")
        if isinstance(completion, list):
            raise DataError("must be a string when 'prompt' is one", where="completion")
    return {"prompt": prompt, "completion": completion, "label": label}

"""Preference formats: paired (DPO, reward modelling) and unpaired (KTO)."""

from __future__ import annotations

from workbench.errors import DataError
from workbench.specs import DetectResult
from workbench_plugins.formats.common import check_messages, fraction, is_message_list, require


def _side(row: dict, field: str):
    value = row.get(field)
    if is_message_list(value):
        return check_messages(value, field, need_assistant=False)
    return require(row, field, str)


def detect_preference(rows: list[dict]) -> DetectResult:
    return fraction(rows, lambda r: "chosen" in r and "rejected" in r)


def convert_preference(row: dict) -> dict:
    chosen, rejected = _side(row, "chosen"), _side(row, "rejected")
    if isinstance(chosen, list) != isinstance(rejected, list):
        raise DataError("'chosen' and 'rejected' must both be strings or both message lists", where="rejected")
    out = {"chosen": chosen, "rejected": rejected}
    if row.get("prompt") is not None:  # explicit prompt; otherwise implicit (inside chosen/rejected)
        prompt = _side(row, "prompt")
        if isinstance(prompt, list) != isinstance(chosen, list):
            raise DataError("'prompt' and 'chosen' must both be strings or both message lists", where="prompt")
        out = {"prompt": prompt, **out}
    if chosen == rejected:
        raise DataError("'chosen' and 'rejected' are identical", where="rejected")
    return out


def detect_kto(rows: list[dict]) -> DetectResult:
    return fraction(rows, lambda r: "completion" in r and isinstance(r.get("label"), bool))


def convert_kto(row: dict) -> dict:
    label = row.get("label")
    if not isinstance(label, bool):
        raise DataError(f"'label' must be true or false, got {label!r}", where="label")
    prompt, completion = _side(row, "prompt"), _side(row, "completion")
    if isinstance(prompt, list) != isinstance(completion, list):
        raise DataError("'prompt' and 'completion' must both be strings or both message lists", where="completion")
    return {"prompt": prompt, "completion": completion, "label": label}

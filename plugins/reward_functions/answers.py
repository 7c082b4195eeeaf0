"""Prompt-only data that keeps its reference columns (answer, solution, ...) for reward functions.

The plain prompt-only format keeps just `prompt`; rewards such as exact_answer need the
reference answer too, and TRL (and the workbench's PPO) pass every dataset column on
to the reward functions.
"""

from __future__ import annotations

from workbench.errors import DataError
from workbench.specs import DetectResult
from workbench_plugins.formats.common import check_messages, fraction, is_message_list, require

REFERENCE_COLUMNS = ("answer", "solution", "ground_truth", "reference")
_EXCLUDED = {"completion", "chosen", "rejected", "messages"}


def detect(rows: list[dict]) -> DetectResult:
    result = fraction(rows, lambda r: "prompt" in r and not (_EXCLUDED & set(r))
                      and any(c in r for c in REFERENCE_COLUMNS))
    return DetectResult(result.confidence, result.reason)


def convert(row: dict) -> dict:
    value = row.get("prompt")
    prompt = check_messages(value, "prompt", need_assistant=False) if is_message_list(value) \
        else require(row, "prompt", str)
    out: dict = {"prompt": prompt}
    for name in REFERENCE_COLUMNS:
        if name in row:
            ref = row[name]
            if ref is None or isinstance(ref, (dict, list)):
                raise DataError(f"'{name}' must be a string or a number, got {type(ref).__name__}", where=name)
            out[name] = str(ref)  # one column type across rows, whatever the file mixes
    if len(out) == 1:
        raise DataError(f"no reference column ({', '.join(REFERENCE_COLUMNS)})", where="prompt")
    return out

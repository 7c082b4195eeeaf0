"""Columnar pre-checks for the busiest formats, used to validate big files fast.

A converter may carry an `arrow_check(table) -> numpy bool array` attribute. Rows it
marks True are certainly valid for that converter; every other row still goes
through the Python converter, which alone writes error messages. So a check here
may be conservative (send anything unusual, e.g. tool calls, to the converter) but
must never pass a row the converter would reject: tests compare both paths.
"""

from __future__ import annotations

import numpy as np

# Exactly the characters for which Python's str.isspace() is true, so "non-blank"
# here means what `value.strip()` means in the converters.
_NOT_SPACE = "[^\\t\\n\\x0b\\x0c\\r\\x1c-\\x1f \\x85\\xa0\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}" \
             "\\x{202f}\\x{205f}\\x{3000}]"
_CHAT_ROLES = ("system", "user", "assistant")


def _col(table, name):
    return table.column(name) if name in table.column_names else None


def _nonblank_string(col) -> np.ndarray:
    import pyarrow as pa
    import pyarrow.compute as pc

    if col is None or not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
        return np.zeros(0 if col is None else len(col), dtype=bool)
    ok = pc.match_substring_regex(col, _NOT_SPACE)
    return ok.fill_null(False).to_numpy(zero_copy_only=False)


def _null_or_string(col, n: int) -> np.ndarray:
    import pyarrow as pa

    if col is None or pa.types.is_null(col.type):
        return np.ones(n, dtype=bool)
    if pa.types.is_string(col.type):
        return np.ones(n, dtype=bool)
    return col.is_null().to_numpy(zero_copy_only=False)


def _all(n: int, *parts: np.ndarray) -> np.ndarray:
    out = np.ones(n, dtype=bool)
    for p in parts:
        if len(p) != n:
            return np.zeros(n, dtype=bool)
        out &= p
    return out


def check_text(table) -> np.ndarray:
    return _all(table.num_rows, _nonblank_string(_col(table, "text")))


def check_prompt_completion(table) -> np.ndarray:
    n = table.num_rows
    return _all(n, _nonblank_string(_col(table, "prompt")), _nonblank_string(_col(table, "completion")))


def check_alpaca(table) -> np.ndarray:
    import pyarrow as pa

    n = table.num_rows
    history = _col(table, "history")
    no_history = (np.ones(n, dtype=bool) if history is None or pa.types.is_null(history.type)
                  else history.is_null().to_numpy(zero_copy_only=False))
    return _all(n, _nonblank_string(_col(table, "instruction")), _nonblank_string(_col(table, "output")),
                _null_or_string(_col(table, "input"), n), _null_or_string(_col(table, "system"), n), no_history)


def check_messages(table) -> np.ndarray:
    """Plain chats: roles system/user/assistant, string contents, system first, an assistant turn."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = table.num_rows
    col = _col(table, "messages")
    none = np.zeros(n, dtype=bool)
    if col is None or not pa.types.is_list(col.type) or not pa.types.is_struct(col.type.value_type):
        return none
    struct = col.type.value_type
    names = {struct.field(i).name for i in range(struct.num_fields)}
    if "role" not in names or "content" not in names or not pa.types.is_string(struct.field("content").type) \
            or not pa.types.is_string(struct.field("role").type):
        return none
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    offsets = arr.offsets.to_numpy(zero_copy_only=False)
    lengths = np.diff(offsets)
    row_ok = arr.is_valid().to_numpy(zero_copy_only=False) & (lengths > 0)
    items = arr.values.slice(offsets[0], offsets[-1] - offsets[0])
    parent = np.repeat(np.arange(n), lengths)
    role = items.field("role")
    item_ok = items.is_valid().to_numpy(zero_copy_only=False)
    item_ok &= pc.is_in(role, value_set=pa.array(_CHAT_ROLES)).fill_null(False).to_numpy(zero_copy_only=False)
    item_ok &= items.field("content").is_valid().to_numpy(zero_copy_only=False)
    if "tool_calls" in names:  # tool calls are checked by the converter
        item_ok &= items.field("tool_calls").is_null().to_numpy(zero_copy_only=False)
    position = np.arange(len(items)) - np.repeat(offsets[:-1] - offsets[0], lengths)
    is_system = pc.equal(role, "system").fill_null(False).to_numpy(zero_copy_only=False)
    item_ok &= ~(is_system & (position != 0))
    is_assistant = pc.equal(role, "assistant").fill_null(False).to_numpy(zero_copy_only=False)
    bad_items = np.bincount(parent[~item_ok], minlength=n) if len(parent) else np.zeros(n, dtype=int)
    assistants = np.bincount(parent[is_assistant], minlength=n) if len(parent) else np.zeros(n, dtype=int)
    return row_ok & (bad_items == 0) & (assistants > 0)


def _chat_line_pattern():
    """`{"messages": [...]}` (plus scalar members) with plain system/user/assistant turns.

    The turn sequence is an optional system turn first, then user/assistant turns with at
    least one assistant: `(S,)? (U,)* A (, U|A)*`, which is what `check_messages` accepts
    for turns of exactly `role` and `content` (a string).
    """
    from workbench.data import jsongrammar as g

    def turn(*roles: str) -> bytes:
        return g.obj({"role": g.literal(*roles), "content": g.STRING})

    c = g.COMMA
    # Possessive repeats are safe here: a user turn can't start the assistant turn that
    # follows the user run, nor can `, turn` start the closing `]` (see jsongrammar.STAR).
    turns = (rb"\[" + g.WS + rb"(?:" + turn("system") + c + rb")" + g.OPT + rb"(?:" + turn("user") + c + rb")"
             + g.STAR + turn("assistant") + rb"(?:" + c + turn("user", "assistant") + rb")" + g.STAR + g.WS + rb"\]")
    return g.line(g.obj({"messages": turns}, extra_scalars=True))


def _strings_line_pattern(*names: str):
    """An object whose `names` are non-blank strings (plus scalar members)."""
    from workbench.data import jsongrammar as g

    return g.line(g.obj({n: g.NONBLANK_STRING for n in names}, extra_scalars=True))


# Line patterns: a cheaper first stage of the checks above (see workbench.data.jsongrammar).
check_messages.line_pattern = _chat_line_pattern()
check_text.line_pattern = _strings_line_pattern("text")
check_prompt_completion.line_pattern = _strings_line_pattern("prompt", "completion")

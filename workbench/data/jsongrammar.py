"""Regular grammars for the common shapes of JSONL rows, to prove lines valid without parsing them.

A format may give its fast check a `line_pattern`: a compiled bytes regex that a raw
line (without its newline) fully matches only if `json.loads` turns it into a row the
format's converter accepts. It is a conservative pre-check: any line it does not match
(escaped key names, unusual whitespace, extra nested fields, tool calls...) is simply
checked the exact way. The pieces here only match canonical JSON that Python's `json`
reads the same way: strict strings (no raw control characters, valid escapes), plain
numbers, no duplicate keys, no lone surrogate escape. UTF-8 validity is not part of the grammar: callers check
the block's bytes once (see `utf8_valid`).
"""

from __future__ import annotations

import re

# Possessive quantifiers keep no backtracking state, which makes matching
# much faster. They are used only where the grammar never needs to give anything back: a
# repeat whose items can never start what follows it (whitespace before a non-space token,
# a string body before its quote, a run of members before one that the run excludes).
STAR = rb"*+"
OPT = rb"?+"

WS = rb"[ \t\r]" + STAR                # JSON whitespace that can occur inside one line
_BODY = rb'[^"\\\x00-\x1f]' + STAR      # string characters up to the next quote or escape
# A \\uD800-\\uDFFF escape only as a high/low pair: a lone one (half an emoji) parses, but is no text.
_ESCAPE = rb'\\(?:["\\/bfnrt]|u(?![dD][89a-fA-F])[0-9a-fA-F]{4}|u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2})'
STRING = rb'"' + _BODY + rb"(?:" + _ESCAPE + _BODY + rb')' + STAR + rb'"'
# A string whose first non-space character is printable ASCII: certainly not blank to
# str.strip(), which is what the converters' "is empty" checks use.
NONBLANK_STRING = rb'" *[\x21\x23-\x5b\x5d-\x7e]' + _BODY + rb"(?:" + _ESCAPE + _BODY + rb')' + STAR + rb'"'
NUMBER = rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?"
SCALAR = rb"(?:" + STRING + rb"|" + NUMBER + rb"|true|false|null)"
COMMA = WS + rb"," + WS


def key(name: str) -> bytes:
    """A literal object key followed by its colon."""
    return re.escape(f'"{name}"'.encode()) + WS + rb":" + WS


def literal(*values: str) -> bytes:
    """One of the given strings, written without escapes."""
    return rb'"(?:' + b"|".join(re.escape(v.encode()) for v in values) + rb')"'


def other_scalar_field(exclude: tuple[str, ...]) -> bytes:
    """A `"key": scalar` member whose key (written without escapes) is none of `exclude`."""
    names = b"|".join(re.escape(n.encode()) for n in exclude)
    return rb'"(?!(?:' + names + rb')")' + _BODY + rb'"' + WS + rb":" + WS + SCALAR


def members_in_any_order(members: list[bytes]) -> bytes:
    """Each of `members` exactly once, in any order (meant for two or three members)."""
    if len(members) == 1:
        return members[0]
    options = []
    for i, first in enumerate(members):
        rest = members_in_any_order(members[:i] + members[i + 1:])
        options.append(first + COMMA + rest)
    return rb"(?:" + b"|".join(options) + rb")"


def obj(fields: dict[str, bytes], extra_scalars: bool = False) -> bytes:
    """An object holding each of `fields` once (key -> value pattern), in any order.

    With `extra_scalars`, other members with scalar values may come before and after them
    (not in between, which keeps the pattern small); their keys may not repeat a field's.
    """
    body = members_in_any_order([key(k) + v for k, v in fields.items()])
    if extra_scalars:
        other = other_scalar_field(tuple(fields))
        body = rb"(?:" + other + COMMA + rb")" + STAR + body + rb"(?:" + COMMA + other + rb")" + STAR
    return rb"\{" + WS + body + WS + rb"\}"


def line(pattern: bytes) -> re.Pattern[bytes]:
    """Compile a whole-line pattern (use with `fullmatch` on a line without its newline)."""
    return re.compile(WS + pattern + WS)


def plain_variant(pattern: re.Pattern[bytes]) -> re.Pattern[bytes]:
    """The same grammar for lines with no backslash and no control character but the newline.

    In such a line every quote delimits a string, so a string body is just "no quote":
    a single-byte exclusion that the regex engine scans about twice as fast.
    """
    escapes = rb"(?:" + _ESCAPE + _BODY + rb")" + STAR  # can match nothing in such a line
    return re.compile(pattern.pattern.replace(escapes, b"").replace(_BODY, rb'[^"]' + STAR), pattern.flags)


def spacing_variant(pattern: re.Pattern[bytes], comma: bytes, colon: bytes) -> re.Pattern[bytes]:
    """The same grammar with one fixed spacing: `comma` and `colon` as separators, no other space.

    Writers space their output uniformly (`json.dumps`: ", " and ": "; compact writers: ","
    and ":"). Every optional-whitespace piece becomes one string it matches, so the variant
    accepts a subset of what `pattern` accepts, and the regex engine runs it much faster.
    """
    src = pattern.pattern.replace(COMMA, re.escape(comma)).replace(WS + b":" + WS, re.escape(colon))
    return re.compile(src.replace(WS, b""), pattern.flags)


def utf8_valid(data: bytes | memoryview) -> bool:
    """Whether `data` is strict UTF-8 (exactly what Python decodes), checked by Arrow without a copy."""
    import struct

    import pyarrow as pa

    if len(data) >= 1 << 31:  # beyond 32-bit string offsets
        try:
            str(data, "utf-8")
        except UnicodeDecodeError:
            return False
        return True
    offsets = pa.py_buffer(struct.pack("<ii", 0, len(data)))
    try:
        pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)]).validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True

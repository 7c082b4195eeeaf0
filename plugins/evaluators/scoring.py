"""Per-example scores of a generation against its reference: pure functions, no model.

Each scorer returns a `Score`: a number (1.0/0.0 for pass/fail checks), whether the example
passed, and a short detail saying why it failed. The evaluators in `generative.py` average
them over the evaluation rows.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from workbench.errors import ConfigError
from workbench.training.rewards import completion_text

# Punctuation kept where it is part of a number: 3.14, 1,000, -8, +2.
_NUMBER_PUNCT = re.compile(r"(?<=\d)[.,](?=\d)|(?<![\w])[-+\u2212](?=\d)")
_FENCE = re.compile(r"```[\w-]*[ \t]*\n?(.*?)```", re.S)
# Scripts written without spaces: one token per character, as ROUGE needs words to compare.
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
_WORD = re.compile(rf"[{_CJK}]|[^\W{_CJK}]+")


@dataclass(frozen=True)
class Score:
    """One example's score: value (mean-able), passed (None: no pass/fail sense), detail (why)."""

    value: float
    passed: bool | None = None
    detail: Any = None


def normalize(text: str | None) -> str:
    """Text for comparison: NFKC, case-folded, punctuation dropped (but not inside numbers), spaces collapsed.

    "  Paris. " -> "paris"; "The Answer: -8!" -> "the answer -8"; "ＡＢＣ" -> "abc"; "3.14" stays.
    """
    text = unicodedata.normalize("NFKC", text or "").casefold()
    keep = {m.start() for m in _NUMBER_PUNCT.finditer(text)}
    out = [" " if unicodedata.category(c).startswith("P") and i not in keep else c for i, c in enumerate(text)]
    return " ".join("".join(out).split())


def reference_text(reference: Any) -> str:
    """A reference as text (message lists: their contents joined), as reward functions read completions."""
    return completion_text(reference)


def exact_match(generation: str, reference: Any) -> Score:
    """1 when the normalised generation equals the normalised reference."""
    got, want = normalize(generation), normalize(reference_text(reference))
    ok = got == want
    return Score(float(ok), ok, None if ok else f"expected {want!r}, got {got!r}")


def contains(generation: str, reference: Any) -> Score:
    """1 when the normalised reference appears in the normalised generation as whole words ("1" is not in "12")."""
    got, want = normalize(generation), normalize(reference_text(reference))
    ok = f" {want} " in f" {got} "
    return Score(float(ok), ok, None if ok else f"{want!r} not in {got!r}")


def compile_pattern(pattern: str, flags: str, where: str) -> re.Pattern:
    """A regular expression with flags from "imsx"; a bad one is a ConfigError at `where`."""
    bits = 0
    for f in flags:
        if f not in "imsx":
            raise ConfigError(f"unknown regex flag {f!r} (use i, m, s, x)", where=f"{where}.flags")
        bits |= {"i": re.I, "m": re.M, "s": re.S, "x": re.X}[f]
    try:
        return re.compile(pattern, bits)
    except re.error as exc:
        raise ConfigError(f"invalid regular expression {pattern!r}: {exc}", where=f"{where}.pattern") from None


class RegexMatch:
    """1 when the generation matches `pattern` (or, without one, the row's reference read as a pattern)."""

    def __init__(self, pattern: str | None = None, full: bool = False, flags: str = "", where: str = "regex"):
        self.pattern = compile_pattern(pattern, flags, where) if pattern is not None else None
        self.full, self.flags = full, flags
        self.where = where

    def __call__(self, generation: str, reference: Any) -> Score:
        pattern = self.pattern
        if pattern is None:
            try:
                pattern = compile_pattern(reference_text(reference), self.flags, self.where)
            except ConfigError as exc:
                return Score(0.0, False, exc.message)
        text = (generation or "").strip()
        found = pattern.fullmatch(text) if self.full else pattern.search(text)
        return Score(float(bool(found)), bool(found), None if found else f"no match for /{pattern.pattern}/")


def extract_json(text: str | None, fenced: bool = True) -> str:
    """The JSON part of a generation: the first ``` fenced block when there is one, else the stripped text."""
    text = text or ""
    if fenced:
        m = _FENCE.search(text)
        if m:
            return m.group(1).strip()
    return text.strip()


def parse_json(text: str | None, fenced: bool = True) -> tuple[Any, str | None]:
    """(value, None) for valid JSON, (None, "why") otherwise."""
    body = extract_json(text, fenced)
    if not body:
        return None, "empty generation"
    try:
        return json.loads(body, parse_constant=_no_constant), None
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
    except ValueError as exc:
        return None, f"invalid JSON: {exc}"


def _no_constant(name: str) -> Any:
    """NaN, Infinity and -Infinity: Python's json reads them, but they are no JSON (RFC 8259), so strict parsers refuse them."""
    raise ValueError(f"{name} is not a JSON value")


def json_valid(generation: str, reference: Any = None, fenced: bool = True) -> Score:
    """1 when the generation is valid JSON."""
    _, why = parse_json(generation, fenced)
    return Score(float(why is None), why is None, why)


def _schema_validator(schema: Any, where: str):
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    if not isinstance(schema, (dict, bool)):
        raise ConfigError(f"a JSON schema must be an object, got {type(schema).__name__}", where=where)
    cls = validator_for(schema)
    try:
        cls.check_schema(schema)
    except SchemaError as exc:
        raise ConfigError(f"invalid JSON schema: {exc.message}", where=where) from None
    return cls(schema)


class SchemaMatch:
    """1 when the generation is JSON that conforms to `schema` (or, without one, to the row's reference schema)."""

    def __init__(self, schema: Any = None, fenced: bool = True, where: str = "json_schema"):
        self.validator = _schema_validator(schema, where) if schema is not None else None
        self.fenced, self.where = fenced, where

    def __call__(self, generation: str, reference: Any) -> Score:
        value, why = parse_json(generation, self.fenced)
        if why:
            return Score(0.0, False, why)
        validator = self.validator
        if validator is None:
            try:
                schema = json.loads(reference) if isinstance(reference, str) else reference
                validator = _schema_validator(schema, self.where)
            except (json.JSONDecodeError, ConfigError) as exc:
                return Score(0.0, False, f"the row's reference is no JSON schema: {getattr(exc, 'message', exc)}")
        from jsonschema.exceptions import best_match

        error = best_match(validator.iter_errors(value))
        if error is None:
            return Score(1.0, True)
        path = "$" + "".join(f"[{p!r}]" if isinstance(p, str) else f"[{p}]" for p in error.absolute_path)
        return Score(0.0, False, f"schema: {path}: {error.message}")


class UnicodeWords:
    """A tokenizer for rouge-score that keeps non-ASCII words (its default one drops them)."""

    def __init__(self, stem: bool = False):
        self.stemmer = None
        if stem:
            from nltk.stem import porter

            self.stemmer = porter.PorterStemmer()

    def tokenize(self, text: str) -> list[str]:
        words = _WORD.findall(unicodedata.normalize("NFKC", text or "").casefold())
        if self.stemmer is not None:  # as rouge-score stems: ASCII words longer than 3 letters
            words = [self.stemmer.stem(w) if len(w) > 3 and w.isascii() else w for w in words]
        return words


class RougeL:
    """ROUGE-L F-measure of the generation against the reference (rouge-score's LCS)."""

    def __init__(self, stem: bool = False, pass_threshold: float = 0.5):
        from rouge_score import rouge_scorer

        self.scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=UnicodeWords(stem))
        self.pass_threshold = pass_threshold

    def __call__(self, generation: str, reference: Any) -> Score:
        s = self.scorer.score(reference_text(reference), generation or "")["rougeL"]
        ok = s.fmeasure >= self.pass_threshold
        return Score(s.fmeasure, ok, {"precision": s.precision, "recall": s.recall})

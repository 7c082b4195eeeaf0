"""Scoring generations against references: hand-made cases with known answers (no model)."""

from __future__ import annotations

import pytest

from workbench.errors import ConfigError
from workbench_plugins.evaluators.examples import Example
from workbench_plugins.evaluators.generative import score_generations
from workbench_plugins.evaluators.scoring import (
    RegexMatch, RougeL, SchemaMatch, contains, exact_match, json_valid, normalize,
)


@pytest.mark.parametrize("text, expected", [
    ("  Paris. ", "paris"),
    ("The Answer: -8!", "the answer -8"),   # a sign stays with its number
    ("3.14, and 1,000", "3.14 and 1,000"),  # so do decimal and thousands separators
    ("ＡＢＣ　ｄｅｆ", "abc def"),          # full-width letters and space (NFKC)
    ("STRASSE ß", "strasse ss"),           # case folding, not just lower()
    ("", ""),
    (None, ""),
])
def test_normalize(text, expected):
    assert normalize(text) == expected


@pytest.mark.parametrize("generation, reference, ok", [
    ("Paris.", "paris", True),
    ("", "Paris", False),                      # empty generation
    ("  ПАРИЖ ", "париж", True),               # unicode case folding
    ("-8", "8", False),                        # the sign is part of the answer
    ("ｆｕｌｌ width", "full width", True),
    ("12", [{"role": "assistant", "content": "12."}], True),  # a message reference
    ("", "", True),
])
def test_exact_match(generation, reference, ok):
    score = exact_match(generation, reference)
    assert (score.value, score.passed) == (float(ok), ok)
    assert (score.detail is None) == ok


@pytest.mark.parametrize("generation, reference, ok", [
    ("The answer is 12.", "12", True),
    ("112", "12", False),                      # whole words only
    ("", "x", False),
    ("I'd like a café au lait", "CAFÉ AU LAIT", True),
    ("6 plus 6 is 12", "plus 6 is", True),
    ("x", "", False),                          # an empty reference is contained only in an empty generation
])
def test_contains(generation, reference, ok):
    assert contains(generation, reference).passed is ok


def test_regex_pattern_option_reference_patterns_and_errors():
    digits = RegexMatch(r"\b-?\d+\b")
    assert digits("it is 42", None).passed and not digits("no number", None).passed
    full = RegexMatch(r"\d+", full=True)
    assert full(" 42 ", None).passed and not full("42 apples", None).passed
    assert RegexMatch("^yes$", flags="i")("YES", None).passed
    per_row = RegexMatch()  # the reference is the pattern
    assert per_row("colour", "colou?r").passed and not per_row("color", "^colour$").passed
    broken = per_row("anything", "([unclosed")
    assert broken.passed is False and "invalid regular expression" in broken.detail
    with pytest.raises(ConfigError, match=r"eval.options.regex.pattern: invalid regular expression"):
        RegexMatch("([bad", where="eval.options.regex")
    with pytest.raises(ConfigError, match="unknown regex flag 'q'"):
        RegexMatch("x", flags="q", where="eval.options.regex")


@pytest.mark.parametrize("generation, ok, why", [
    ('{"a": 1}', True, None),
    ('Here you go:\n```json\n{"a": [1, 2]}\n```\nanything else', True, None),  # a fenced block counts
    ('{"a": 1,}', False, "invalid JSON"),
    ("", False, "empty generation"),
    ('"ünïcödé ✓"', True, None),
    ("{'a': 1}", False, "invalid JSON"),  # Python, not JSON
    ('{"score": NaN}', False, "NaN is not a JSON value"),  # Python's json reads these; JSON has no such values
    ("Infinity", False, "Infinity is not a JSON value"),
    ('[-Infinity]', False, "-Infinity is not a JSON value"),
])
def test_json_valid(generation, ok, why):
    score = json_valid(generation)
    assert score.passed is ok
    assert (why is None and score.detail is None) or why in score.detail


SCHEMA = {"type": "object", "required": ["name"],
          "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}}}


def test_json_schema_conformance_and_misses():
    match = SchemaMatch(SCHEMA)
    assert match('{"name": "Zoë", "age": 3}', None).passed
    miss = match('{"name": "x", "age": -1}', None)
    assert not miss.passed and "$['age']" in miss.detail and "minimum" in miss.detail
    missing = match('{"age": 3}', None)
    assert not missing.passed and "'name' is a required property" in missing.detail
    assert "invalid JSON" in match("not json", None).detail
    per_row = SchemaMatch()  # the reference is the schema (an object or its JSON text)
    assert per_row("[1, 2]", '{"type": "array", "items": {"type": "integer"}}').passed
    assert not per_row('["a"]', {"type": "array", "items": {"type": "integer"}}).passed
    assert "no JSON schema" in per_row("{}", "not a schema").detail
    with pytest.raises(ConfigError, match="invalid JSON schema"):
        SchemaMatch({"type": "objekt"})


def test_rouge_l_known_values_and_unicode():
    rouge = RougeL()
    assert rouge("the cat sat on the mat", "the cat sat on the mat").value == 1.0
    part = rouge("the cat sat", "the cat sat on the mat")  # LCS 3 of 3 generated, 6 reference words
    assert part.detail == {"precision": 1.0, "recall": 0.5} and part.value == pytest.approx(2 / 3)
    assert rouge("", "the cat").value == 0.0 and rouge("", "the cat").passed is False
    assert rouge("привет мир", "привет мир").value == 1.0  # rouge-score's own tokenizer drops these: 0
    from rouge_score import rouge_scorer

    assert rouge_scorer.RougeScorer(["rougeL"]).score("привет мир", "привет мир")["rougeL"].fmeasure == 0.0
    assert rouge("東京は大きい", "東京は大きい").value == 1.0 and 0 < rouge("東京は", "東京は大きい").value < 1
    assert RougeL(stem=True)("cats running", "cat runs").value == 1.0


def test_scores_aggregate_into_metrics_and_records():
    examples = [Example(i, f"q{i}", ref, {}) for i, ref in enumerate(["12", "7", "-4"])]
    gens = [{"generation": g, "new_tokens": n, "stopped": True} for g, n in (("12.", 2), ("", 0), ("-4", 2))]
    result = score_generations(examples, gens, exact_match, "exact_match")
    assert result.metrics == {"exact_match": pytest.approx(2 / 3), "rows": 3.0, "mean_new_tokens": pytest.approx(4 / 3)}
    assert [r["passed"] for r in result.records] == [True, False, True]
    assert result.records[1] == {"index": 1, "prompt": "q1", "reference": "7", "generation": "", "score": 0.0,
                                 "passed": False, "detail": "expected '7', got ''"}
    assert "pass_rate" not in result.metrics  # for 0/1 scores the mean is the pass rate
    cats = [Example(i, "q", "the cat sat on the mat", {}) for i in range(2)]
    rouge = score_generations(cats, [{"generation": g, "new_tokens": 1, "stopped": True} for g in ("the cat sat", "")],
                              RougeL(), "rouge_l")
    assert rouge.metrics["rouge_l"] == pytest.approx(1 / 3) and rouge.metrics["pass_rate"] == 0.5

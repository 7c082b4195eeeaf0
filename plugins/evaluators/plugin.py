"""Registers the built-in evaluators ([eval] evaluators = [...], after training or at each checkpoint)."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import EvaluatorSpec

# Rows that carry a reference answer: the last assistant turn, the completion, an `answer`
# column, or a preference row's chosen answer.
WITH_REFERENCE = ("conversational", "prompt_completion", "prompt_only", "preference")
WITH_PROMPT = WITH_REFERENCE
GENERATION = "generation options: max_rows, max_new_tokens, temperature (0 = greedy), top_p, seed, stop, batch_size"
M = "workbench_plugins.evaluators"
# The options each takes (checked before launch; the evaluators check them again when they run).
GEN = (("max_rows", 64), ("max_new_tokens", 64), ("temperature", 0.0), ("top_p", 1.0), ("seed", 0), "stop",
       ("batch_size", 8))


@hookimpl
def register_evaluators() -> list[EvaluatorSpec]:
    reference = ("model", "eval_data", "references")
    return [
        EvaluatorSpec("perplexity", f"{M}.perplexity:evaluate", ("model", "eval_data"),
                      "token-weighted perplexity of the trained model on data.eval (or a held-out slice); "
                      "options: max_rows, batch_size, max_length", options=(("max_rows", 64), ("batch_size", 8), ("max_length", 512)),
                      check=f"{M}.checks:check_perplexity"),
        EvaluatorSpec("generate", f"{M}.generate:evaluate", ("model",),
                      "completions for a few prompts, written to generations.jsonl in the run; "
                      f"options: num_prompts, prompts; {GENERATION}", options=GEN),
        EvaluatorSpec("exact_match", f"{M}.match:evaluate_exact_match", reference,
                      f"share of generations equal to the reference (normalised: case, width, punctuation, "
                      f"spaces); {GENERATION}", WITH_REFERENCE, options=GEN),
        EvaluatorSpec("contains", f"{M}.match:evaluate_contains", reference,
                      f"share of generations containing the normalised reference as whole words; {GENERATION}",
                      WITH_REFERENCE, options=GEN),
        EvaluatorSpec("regex", f"{M}.match:evaluate_regex", ("model", "eval_data"),
                      "share of generations matching a regular expression; options: pattern (else each "
                      f"reference is the pattern), full, flags; {GENERATION}", WITH_PROMPT,
                      options=(("pattern", ""), ("full", False), ("flags", ""), *GEN), check=f"{M}.checks:check_regex"),
        EvaluatorSpec("json_valid", f"{M}.jsonfmt:evaluate_json_valid", ("model", "eval_data"),
                      f"share of generations that are valid JSON (a ``` fenced block counts); options: fenced; "
                      f"{GENERATION}", WITH_PROMPT, options=(("fenced", True), *GEN), check=f"{M}.checks:check_json_valid"),
        EvaluatorSpec("json_schema", f"{M}.jsonfmt:evaluate_json_schema", ("model", "eval_data"),
                      "share of generations that are JSON conforming to a JSON schema; options: schema, "
                      f"schema_file (else each reference is the schema), fenced; {GENERATION}", WITH_PROMPT,
                      options=("schema", ("schema_file", ""), ("fenced", True), *GEN),
                      check=f"{M}.checks:check_json_schema"),
        EvaluatorSpec("rouge_l", f"{M}.rouge:evaluate", reference,
                      f"mean ROUGE-L F1 against the reference (rouge-score); options: stem, pass_threshold; "
                      f"{GENERATION}", WITH_REFERENCE, options=(("stem", False), ("pass_threshold", 0.5), *GEN),
                      check=f"{M}.checks:check_rouge_l"),
        EvaluatorSpec("reward_model", f"{M}.reward:evaluate", ("model", "eval_data", "reward_model"),
                      f"mean reward of the generations under a reward model; options: model (a folder); "
                      f"{GENERATION}", WITH_PROMPT, options=(("model", ""), *GEN)),
        EvaluatorSpec("preference_accuracy", f"{M}.preference:evaluate", ("model", "preference_data"),
                      "share of preference rows whose chosen answer the policy finds likelier than the rejected "
                      "one; options: max_rows, batch_size, normalize (sum or mean)", ("preference",),
                      options=(("max_rows", 64), ("batch_size", 8), ("normalize", "sum")),
                      check=f"{M}.checks:check_preference_accuracy"),
    ]

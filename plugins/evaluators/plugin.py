"""Registers the built-in evaluators run after training ([eval] evaluators = [...])."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import EvaluatorSpec


@hookimpl
def register_evaluators() -> list[EvaluatorSpec]:
    return [
        EvaluatorSpec("perplexity", "workbench_plugins.evaluators.perplexity:evaluate", ("model", "eval_data"),
                      "token-weighted perplexity of the trained model on data.eval (or a held-out slice); "
                      "options: max_rows, batch_size, max_length"),
        EvaluatorSpec("generate", "workbench_plugins.evaluators.generate:evaluate", ("model",),
                      "greedy completions for a few prompts, written to generations.jsonl in the run; "
                      "options: num_prompts, max_new_tokens, prompts"),
    ]

"""Generation evaluator: completions for a few prompts, saved to generations.jsonl in the run."""

from __future__ import annotations

import json

from workbench.errors import ConfigError
from workbench.evaluation import EvalResult
from workbench.training import TrainContext
from workbench_plugins.evaluators.generative import generation_options, generations_for
from workbench.evaluation.generation import generate
from workbench_plugins.evaluators.model import load_trained

OUTPUT = "generations.jsonl"


def evaluate(ctx: TrainContext, num_prompts: int = 4, prompts: list[str] | None = None, **options) -> EvalResult:
    """Complete `num_prompts` evaluation rows (data.eval, else the last train rows), or the given `prompts`.

    Greedy by default (generation options as for every generating evaluator). Returns samples,
    mean_new_tokens and eos_rate (share of completions that ended by themselves).
    """
    if prompts is not None and (not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts)):
        raise ConfigError("must be a list of strings", where="eval.options.generate.prompts")
    if isinstance(num_prompts, bool) or not isinstance(num_prompts, int) or num_prompts < 1:
        raise ConfigError(f"must be a positive integer, got {num_prompts!r}", where="eval.options.generate.num_prompts")
    options.setdefault("max_new_tokens", 32)
    settings, _, _ = generation_options(ctx, "generate", options)
    records = []
    if prompts:
        model, tokenizer = load_trained(ctx, "generate")
        chat = tokenizer.chat_template is not None
        items = [[{"role": "user", "content": p}] if chat else p for p in prompts]
        for prompt, gen in zip(items, generate(model, tokenizer, items, settings)):
            records.append({"prompt": prompt, "reference": None, **gen})
    else:
        examples, gens, _ = generations_for(ctx, "generate", settings, options.get("max_rows", num_prompts),
                                            need_reference=False)
        for example, gen in zip(examples, gens):
            records.append({"index": example.index, "prompt": example.prompt, "reference": example.reference, **gen})
    if ctx.reporter.is_main:
        with open(ctx.run_dir / OUTPUT, "w", encoding="utf-8") as f:
            for rec in records:
                out = {k: v for k, v in rec.items() if k != "index"}
                out["completion"] = out.pop("generation")
                f.write(json.dumps(out, ensure_ascii=False) + "\n")
    n = max(1, len(records))
    metrics = {"samples": float(len(records)), "mean_new_tokens": sum(r["new_tokens"] for r in records) / n,
               "eos_rate": sum(r["stopped"] for r in records) / n}
    kept = [{k: r[k] for k in ("index", "prompt", "reference", "generation")} for r in records if "index" in r]
    return EvalResult(metrics, kept, {"generation": settings.record()})

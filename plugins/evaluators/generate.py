"""Generation evaluator: greedy completions for a few prompts, saved to generations.jsonl in the run."""

from __future__ import annotations

import json

from workbench.errors import ConfigError
from workbench.training import TrainContext
from workbench_plugins.evaluators.model import load_trained, prompt_of, rows_for_eval

OUTPUT = "generations.jsonl"


def evaluate(ctx: TrainContext, num_prompts: int = 4, max_new_tokens: int = 32,
             prompts: list[str] | None = None) -> dict[str, float]:
    """Greedy-decode `num_prompts` prompts (data.eval, else the last train rows; or the given `prompts`).

    Returns samples, mean_new_tokens and eos_rate (share of completions that ended by themselves).
    """
    import torch

    if prompts is not None and (not isinstance(prompts, list) or not all(isinstance(p, str) for p in prompts)):
        raise ConfigError("must be a list of strings", where="eval.options.generate.prompts")
    for name, value in (("num_prompts", num_prompts), ("max_new_tokens", max_new_tokens)):
        if not isinstance(value, int) or value < 1:
            raise ConfigError(f"must be a positive integer, got {value!r}", where=f"eval.options.generate.{name}")
    model, tokenizer = load_trained(ctx, "generate")
    chat = tokenizer.chat_template is not None
    if prompts:
        items = [([{"role": "user", "content": p}] if chat else p, None) for p in prompts]
    else:
        rows, _ = rows_for_eval(ctx, num_prompts)
        items = [prompt_of(dict(r)) for r in rows]
    device = next(model.parameters()).device
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    records, new_tokens, ended = [], 0, 0
    with torch.no_grad():
        for prompt, reference in items:
            if isinstance(prompt, list):
                text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
                ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
            else:
                ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
            out = model.generate(input_ids=ids.to(device), attention_mask=torch.ones_like(ids).to(device),
                                 max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad, eos_token_id=eos)
            gen = out[0, ids.shape[1]:].tolist()
            stopped = eos in gen
            if stopped:
                gen = gen[:gen.index(eos)]
            new_tokens += len(gen)
            ended += int(stopped)
            records.append({"prompt": prompt, "completion": tokenizer.decode(gen, skip_special_tokens=True),
                            "reference": reference, "new_tokens": len(gen), "stopped": stopped})
    if ctx.reporter.is_main:
        with open(ctx.run_dir / OUTPUT, "w", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(rec) + "\n")
    n = max(1, len(records))
    return {"samples": float(len(records)), "mean_new_tokens": new_tokens / n, "eos_rate": ended / n}

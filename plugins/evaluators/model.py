"""Loads what evaluators score: the run's final model (merging nothing) and its prompts/texts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError
from workbench.training import TrainContext


def load_trained(ctx: TrainContext, evaluator: str):
    """(model, tokenizer) of checkpoints/final, a LoRA adapter on its base, or [model].path when untrained.

    Loaded once per evaluation pass (kept in `ctx.cache`); a pass over the model being trained
    puts that one there.
    """
    if "model" not in ctx.cache:
        ctx.cache["model"] = _load(ctx, evaluator)
    return ctx.cache["model"]


def _load(ctx: TrainContext, evaluator: str):
    from accelerate import PartialState

    final = ctx.output_dir / "final"
    if not final.is_dir():
        final = None
    cfg_file = final / "config.json" if final else Path(ctx.config["model"]["path"]) / "config.json"
    if cfg_file.is_file():
        archs = json.loads(cfg_file.read_text(encoding="utf-8")).get("architectures") or []
        if any(a.endswith("ForSequenceClassification") for a in archs):
            raise ConfigError(f"evaluator '{evaluator}' needs a generative (causal LM) model, but the run's model is "
                              f"a {archs[0]}", where="eval.evaluators")
    if final is not None and (final / "adapter_config.json").is_file():
        from peft import PeftModel

        model = PeftModel.from_pretrained(ctx.load_model("policy"), str(final))
    else:
        model = ctx.load_model("policy", path=str(final) if final else None)
    if not (getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False)):
        model = model.to(PartialState().device)
    return model.eval(), ctx.load_tokenizer()


def rows_for_eval(ctx: TrainContext, max_rows: int) -> tuple[Any, bool]:
    """(rows, held_out): data.eval / the eval_fraction slice, else the last train rows, newest first.

    Either way the rows of a smaller `max_rows` are the first rows of a larger one, so the
    evaluators of one pass (each with its own max_rows) agree on which row an index is.
    """
    if ctx.eval_dataset is not None and len(ctx.eval_dataset):
        ds, held_out = ctx.eval_dataset, True
    elif ctx.train_dataset is not None and len(ctx.train_dataset):
        ds, held_out = ctx.train_dataset, False
        last = len(ds) - 1
        return ds.select(range(last, max(-1, last - max_rows), -1)), held_out
    else:
        raise ConfigError("no data to evaluate on: set data.eval or data.eval_fraction", where="eval.evaluators")
    return ds.select(range(min(max_rows, len(ds)))), held_out


def is_chat(value: Any) -> bool:
    """A list of message dicts (a conversation), not a plain text."""
    return isinstance(value, list) and bool(value) and isinstance(value[0], dict)


def render(tokenizer, row: dict) -> str:
    """One canonical row as the text the model is trained on (chat template for conversations)."""
    if "text" in row and row["text"] is not None:
        return row["text"]
    if row.get("messages"):
        return tokenizer.apply_chat_template(row["messages"], tokenize=False)
    prompt = row.get("prompt") or ([] if is_chat(row.get("chosen") or row.get("completion")) else "")
    answer = row.get("completion", row.get("chosen"))
    if answer is None:
        answer = [] if is_chat(prompt) else ""
    if is_chat(prompt) or is_chat(answer):
        return tokenizer.apply_chat_template(list(prompt) + list(answer), tokenize=False)
    return str(prompt) + str(answer)


def prompt_of(row: dict) -> tuple[Any, Any]:
    """(prompt, reference) of a canonical row: the prompt part and, when known, the expected answer."""
    if row.get("messages"):
        msgs = list(row["messages"])
        reference = None
        while msgs and msgs[-1].get("role") == "assistant":
            reference = msgs.pop()["content"]
        return msgs, reference
    if "prompt" in row:
        ref = row.get("answer", row.get("completion", row.get("chosen")))
        if is_chat(ref):
            ref = "".join(m.get("content") or "" for m in ref)
        return row["prompt"], ref
    return (row.get("text") or "")[:200], None


def padded_batch(seqs: list[list[int]], pad: int):
    """(input_ids, attention_mask) tensors of token id lists, right-padded with `pad`."""
    import torch

    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, :len(s)] = 1
    return ids, mask

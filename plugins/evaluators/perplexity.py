"""Perplexity evaluator: exp of the mean token negative log-likelihood on evaluation rows."""

from __future__ import annotations

import math

from workbench.errors import ConfigError
from workbench.evaluation import EvalResult
from workbench.training import TrainContext
from workbench_plugins.evaluators.examples import check_options, positive_int
from workbench_plugins.evaluators.model import load_trained, padded_batch, prompt_of, render, rows_for_eval

NAME = "perplexity"


def evaluate(ctx: TrainContext, **options) -> EvalResult:
    """Perplexity of the trained model on data.eval (or the held-out slice, else the last train rows).

    Returns perplexity, loss (mean NLL per token), tokens, rows and held_out (1.0 when the
    rows were not trained on); each row's own perplexity is its record's score.
    """
    import torch

    check_options(NAME, options, ("max_rows", "batch_size", "max_length"))
    max_rows = positive_int(NAME, "max_rows", options.get("max_rows", 64))
    batch_size = positive_int(NAME, "batch_size", options.get("batch_size", 8))
    max_length = positive_int(NAME, "max_length", options.get("max_length", 512))
    model, tokenizer = load_trained(ctx, NAME)
    rows, held_out = rows_for_eval(ctx, max_rows)
    rows = [dict(r) for r in rows]
    texts = [render(tokenizer, r) for r in rows]
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    per_row: list[tuple[float, int]] = []
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                enc = [_encode(tokenizer, t, max_length) for t in texts[start:start + batch_size]]
                ids, mask = padded_batch(enc, pad)
                ids, mask = ids.to(device), mask.to(device)
                logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
                target, keep = ids[:, 1:], mask[:, 1:].bool()
                nll = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1),
                                                        reduction="none").view_as(target)
                for i in range(len(enc)):
                    per_row.append((float(nll[i][keep[i]].sum()), int(keep[i].sum())))
    finally:
        model.train(was_training)
    total_nll, total_tokens = sum(n for n, _ in per_row), sum(t for _, t in per_row)
    if total_tokens == 0:
        raise ConfigError("no tokens to score (empty evaluation rows)", where="eval.evaluators")
    loss = total_nll / total_tokens
    records = []
    for i, (row, (nll_sum, tokens)) in enumerate(zip(rows, per_row)):
        prompt, reference = prompt_of(row)
        row_loss = nll_sum / tokens if tokens else 0.0
        records.append({"index": i, "prompt": prompt, "reference": reference, "score": math.exp(min(row_loss, 700.0)),
                        "detail": {"loss": row_loss, "tokens": tokens}})
    metrics = {"perplexity": math.exp(min(loss, 700.0)), "loss": loss, "tokens": float(total_tokens),
               "rows": float(len(texts)), "held_out": 1.0 if held_out else 0.0}
    return EvalResult(metrics, records, {"max_rows": max_rows, "max_length": max_length})


def _encode(tokenizer, text: str, max_length: int) -> list[int]:
    """Token ids; text rendered by a chat template already starts with its BOS, so none is added twice."""
    has_bos = bool(tokenizer.bos_token) and text.startswith(tokenizer.bos_token)
    return tokenizer(text, add_special_tokens=not has_bos, truncation=True, max_length=max_length)["input_ids"]

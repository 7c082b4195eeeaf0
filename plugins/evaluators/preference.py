"""preference_accuracy: how often the model gives the chosen answer a higher log-probability than the rejected one."""

from __future__ import annotations

from typing import Any

from workbench.errors import ConfigError, DataError
from workbench.evaluation import EvalResult
from workbench.training import TrainContext
from workbench_plugins.evaluators.examples import check_options, positive_int
from workbench_plugins.evaluators.model import is_chat, load_trained, padded_batch, rows_for_eval
from workbench_plugins.evaluators.scoring import reference_text

NAME = "preference_accuracy"


def _as_messages(value: Any, role: str) -> list[dict[str, Any]]:
    return list(value) if is_chat(value) else [{"role": role, "content": str(value or "")}]


def _ids(tokenizer, text: str) -> list[int]:
    has_bos = bool(tokenizer.bos_token) and text.startswith(tokenizer.bos_token)
    return tokenizer(text, add_special_tokens=not has_bos)["input_ids"]


def _common(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def split_pair(tokenizer, row: dict[str, Any]) -> tuple[list[int], list[int], list[int]]:
    """(prompt ids, chosen completion ids, rejected completion ids) of one preference row.

    Without a prompt (implicit preference), the shared start of chosen and rejected is the prompt.
    """
    prompt, chosen, rejected = row.get("prompt"), row["chosen"], row["rejected"]
    if not prompt:
        if is_chat(chosen) and tokenizer.chat_template:
            c, r = (_ids(tokenizer, tokenizer.apply_chat_template(m, tokenize=False)) for m in (chosen, rejected))
        else:
            c, r = _ids(tokenizer, reference_text(chosen)), _ids(tokenizer, reference_text(rejected))
        k = max(1, _common(c, r))
        return c[:k], c[k:], r[k:]
    if tokenizer.chat_template and (is_chat(prompt) or is_chat(chosen)):
        messages = _as_messages(prompt, "user")
        p = _ids(tokenizer, tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        fulls = [_ids(tokenizer, tokenizer.apply_chat_template(messages + _as_messages(x, "assistant"), tokenize=False))
                 for x in (chosen, rejected)]
    else:
        text = reference_text(prompt)
        p = _ids(tokenizer, text)
        fulls = [_ids(tokenizer, text + reference_text(x)) for x in (chosen, rejected)]
    k = min(_common(p, f) for f in fulls)  # a BPE merge across the prompt's end moves the split left
    return p[:k], fulls[0][k:], fulls[1][k:]


def completion_logps(model, pairs: list[tuple[list[int], list[int]]], pad: int, batch_size: int) -> list[tuple[float, int]]:
    """(sum of log-probs, token count) of each completion given its prompt."""
    import torch

    device = next(model.parameters()).device
    out: list[tuple[float, int]] = []
    with torch.no_grad():
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start:start + batch_size]
            ids, mask = padded_batch([p + c for p, c in chunk], pad)
            logp = torch.log_softmax(model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.float(), -1)
            for i, (p, c) in enumerate(chunk):
                if not c:
                    out.append((0.0, 0))
                    continue
                positions = torch.arange(len(p) - 1, len(p) + len(c) - 1, device=logp.device)
                targets = torch.tensor(c, dtype=torch.long, device=logp.device)
                out.append((float(logp[i, positions, targets].sum()), len(c)))
    return out


def check_normalize(options: dict) -> str:
    normalize = options.get("normalize", "sum")
    if normalize not in ("sum", "mean"):
        raise ConfigError(f"must be 'sum' or 'mean', got {normalize!r}", where=f"eval.options.{NAME}.normalize")
    return normalize


def evaluate(ctx: TrainContext, **options) -> EvalResult:
    """Share of preference rows whose chosen completion the model finds likelier than the rejected one.

    normalize = "sum" (default: total log-probability) or "mean" (per token, for answers of
    different lengths). Returns accuracy, margin (mean chosen - rejected), chosen_logp, rejected_logp, rows.
    """
    check_options(NAME, options, ("max_rows", "batch_size", "normalize"))
    max_rows = positive_int(NAME, "max_rows", options.get("max_rows", 64))
    batch_size = positive_int(NAME, "batch_size", options.get("batch_size", 8))
    normalize = check_normalize(options)
    rows, held_out = rows_for_eval(ctx, max_rows)
    rows = [dict(r) for r in rows]
    for i, row in enumerate(rows):
        if row.get("chosen") is None or row.get("rejected") is None:
            raise DataError(f"evaluator '{NAME}' needs preference rows (chosen and rejected), but evaluation row "
                            f"{i + 1} has {', '.join(sorted(k for k, v in row.items() if v is not None))}",
                            where="eval.evaluators")
    model, tokenizer = load_trained(ctx, NAME)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    splits = [split_pair(tokenizer, r) for r in rows]
    pairs = [pair for p, c, r in splits for pair in ((p, c), (p, r))]
    was_training = model.training
    model.eval()
    try:
        logps = completion_logps(model, pairs, pad, batch_size)
    finally:
        model.train(was_training)
    records, wins, margins, chosen_total, rejected_total = [], 0, 0.0, 0.0, 0.0
    for i, row in enumerate(rows):
        (cs, cn), (rs, rn) = logps[2 * i], logps[2 * i + 1]
        c, r = (cs / max(cn, 1), rs / max(rn, 1)) if normalize == "mean" else (cs, rs)
        win = c > r
        wins += int(win)
        margins += c - r
        chosen_total, rejected_total = chosen_total + c, rejected_total + r
        records.append({"index": i, "prompt": row.get("prompt"), "reference": reference_text(row["chosen"]),
                        "score": float(win), "passed": win,
                        "detail": {"chosen_logp": c, "rejected_logp": r, "rejected": reference_text(row["rejected"])}})
    n = len(rows) or 1
    metrics = {"accuracy": wins / n, "margin": margins / n, "chosen_logp": chosen_total / n,
               "rejected_logp": rejected_total / n, "rows": float(len(rows)), "held_out": 1.0 if held_out else 0.0}
    return EvalResult(metrics, records, {"normalize": normalize, "max_rows": max_rows})

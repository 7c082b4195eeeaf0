"""reward_model: the mean reward a sequence-classification reward model gives the generations."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from workbench.errors import ConfigError
from workbench.evaluation import EvalResult
from workbench.training import TrainContext
from workbench_plugins.evaluators.generative import generation_options, generations_for
from workbench_plugins.evaluators.model import load_trained

WHERE = "eval.options.reward_model"


def reward_folder(own: dict[str, Any], run_dir: Path) -> Path:
    """The reward model folder (`model`): a sequence-classification checkpoint with one label."""
    path = own.get("model")
    if not isinstance(path, str) or not path:
        raise ConfigError("set model = \"path/to/reward-model\" (a sequence-classification folder, num_labels=1)",
                          where=f"{WHERE}.model")
    folder = Path(path) if Path(path).is_absolute() else run_dir / path
    cfg = folder / "config.json"
    if not cfg.is_file():
        raise ConfigError(f"not a model folder (no config.json): {folder}", where=f"{WHERE}.model")
    data = json.loads(cfg.read_text(encoding="utf-8"))
    archs = data.get("architectures") or []
    if not any(a.endswith("ForSequenceClassification") for a in archs):
        raise ConfigError(f"{folder} is a {archs[0] if archs else 'model'} (not a sequence-classification reward "
                          "model)", where=f"{WHERE}.model")
    labels = len(data.get("id2label") or {}) or data.get("num_labels", 1)
    if labels != 1:
        raise ConfigError(f"a reward model has one output, {folder} has {labels}", where=f"{WHERE}.model")
    return folder


def load_reward_model(ctx: TrainContext, folder: Path, policy_tokenizer):
    """(model, tokenizer) of the reward model, once per pass; its own tokenizer when it has one."""
    key = ("reward_model", str(folder))
    if key not in ctx.cache:
        from accelerate import PartialState
        from transformers import AutoTokenizer

        model = ctx.load_model("reward", path=str(folder), model_class="AutoModelForSequenceClassification",
                               num_labels=1)
        if not (getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False)):
            model = model.to(PartialState().device)
        tokenizer = AutoTokenizer.from_pretrained(folder) if (folder / "tokenizer_config.json").is_file() \
            else policy_tokenizer
        if model.config.pad_token_id is None:  # the head pools at the last non-pad token
            model.config.pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None \
                else tokenizer.eos_token_id
        ctx.cache[key] = (model.eval(), tokenizer)
    return ctx.cache[key]


def conversation_text(tokenizer, prompt: Any, completion: str) -> str:
    """Prompt and completion as the reward model reads them (its chat template for chat prompts)."""
    if isinstance(prompt, list):
        messages = list(prompt) + [{"role": "assistant", "content": completion}]
        if tokenizer.chat_template:
            return tokenizer.apply_chat_template(messages, tokenize=False)
        return "\n".join(f"{m['role']}: {m.get('content') or ''}" for m in messages)
    return str(prompt) + completion


def rewards(model, tokenizer, texts: list[str], batch_size: int) -> list[float]:
    """One reward per text (right-padded batches: the head reads the last real token)."""
    import torch

    device = next(model.parameters()).device
    out: list[float] = []
    before = tokenizer.padding_side
    tokenizer.padding_side = "right"
    try:
        with torch.no_grad():
            for start in range(0, len(texts), batch_size):
                chunk = texts[start:start + batch_size]
                special = not (tokenizer.bos_token and all(t.startswith(tokenizer.bos_token) for t in chunk))
                enc = tokenizer(chunk, return_tensors="pt", padding=True, add_special_tokens=special)
                logits = model(input_ids=enc["input_ids"].to(device), attention_mask=enc["attention_mask"].to(device)).logits
                out.extend(float(v) for v in logits[:, 0].float().cpu())
    finally:
        tokenizer.padding_side = before
    return out


def evaluate(ctx: TrainContext, **options) -> EvalResult:
    """Generate for each evaluation row, score prompt + generation with the reward model at `model`.

    Returns reward (mean), reward_std, rows; each example's reward is its record's score.
    """
    settings, max_rows, own = generation_options(ctx, "reward_model", options, own=("model",))
    folder = reward_folder(own, ctx.run_dir)
    examples, generations, held_out = generations_for(ctx, "reward_model", settings, max_rows, need_reference=False)
    _, policy_tokenizer = load_trained(ctx, "reward_model")
    model, tokenizer = load_reward_model(ctx, folder, policy_tokenizer)
    texts = [conversation_text(tokenizer, e.prompt, g["generation"]) for e, g in zip(examples, generations)]
    scores = rewards(model, tokenizer, texts, settings.batch_size)
    n = len(scores) or 1
    mean = sum(scores) / n
    records = [{"index": e.index, "prompt": e.prompt, "reference": e.reference, "generation": g["generation"],
                "score": s} for e, g, s in zip(examples, generations, scores)]
    metrics = {"reward": mean, "reward_std": math.sqrt(sum((s - mean) ** 2 for s in scores) / n),
               "rows": float(len(scores)), "held_out": 1.0 if held_out else 0.0}
    return EvalResult(metrics, records, {"generation": settings.record(), "max_rows": max_rows,
                                         "model": str(folder)})

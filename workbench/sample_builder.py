"""Generates the bundled sample datasets (deterministic): `python -m workbench.sample_builder`.

The task is small-number arithmetic phrased as chat, learnable by the tiny model in a
few dozen steps, so a falling loss and a rising preference margin are visible on CPU.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OPS = {"plus": lambda a, b: a + b, "minus": lambda a, b: a - b, "times": lambda a, b: a * b}
SYSTEM = "You are a careful calculator. Answer in one short sentence."


def _problems(rng: random.Random, n: int) -> list[tuple[str, str, str]]:
    """(question, correct answer, wrong answer) triples."""
    out = []
    for _ in range(n):
        a, b = rng.randint(0, 9), rng.randint(0, 9)
        op = rng.choice(list(OPS))
        result = OPS[op](a, b)
        wrong = result + rng.choice([-3, -2, -1, 1, 2, 3])
        out.append((f"What is {a} {op} {b}?", f"{a} {op} {b} is {result}.", f"{a} {op} {b} is {wrong}."))
    return out


def _write(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def build(data_dir: Path, n: int = 400, seed: int = 0) -> None:
    rng = random.Random(seed)
    probs = _problems(rng, n)
    data_dir.mkdir(parents=True, exist_ok=True)

    messages = []
    for i, (q, a, _) in enumerate(probs):
        conv = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        if i % 3 == 0:
            conv.insert(0, {"role": "system", "content": SYSTEM})
        if i % 5 == 0:  # multi-turn
            q2, a2, _ = probs[(i + 7) % n]
            conv += [{"role": "user", "content": q2}, {"role": "assistant", "content": a2}]
        messages.append({"messages": conv})
    _write(data_dir / "sft-messages.jsonl", messages)

    _write(data_dir / "sft-alpaca.jsonl", [
        {"instruction": "Answer the arithmetic question.", "input": q, "output": a} if i % 2 else
        {"instruction": q, "input": "", "output": a}
        for i, (q, a, _) in enumerate(probs)
    ])
    _write(data_dir / "sft-sharegpt.jsonl", [
        {"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]} for q, a, _ in probs
    ])
    _write(data_dir / "sft-text.jsonl", [{"text": f"Question: {q} Answer: {a}"} for q, a, _ in probs])
    _write(data_dir / "sft-prompt-completion.jsonl", [{"prompt": q + " ", "completion": a} for q, a, _ in probs])
    _write(data_dir / "preference.jsonl", [
        {"prompt": [{"role": "user", "content": q}], "chosen": [{"role": "assistant", "content": a}],
         "rejected": [{"role": "assistant", "content": w}]}
        for q, a, w in probs
    ])
    _write(data_dir / "kto.jsonl", [
        {"prompt": [{"role": "user", "content": q}],
         "completion": [{"role": "assistant", "content": a if i % 2 == 0 else w}],
         "label": i % 2 == 0}
        for i, (q, a, w) in enumerate(probs)
    ])
    _write(data_dir / "prompts.jsonl", [{"prompt": [{"role": "user", "content": q}]} for q, _, _ in probs])


if __name__ == "__main__":
    from workbench.paths import sample_data_dir

    build(sample_data_dir() / "data")

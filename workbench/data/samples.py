"""Extra bundled samples: other file types, tool calls, and files with known bad rows.

`python -m workbench.data.samples` (re)writes them into sample_data/data/. The clean
arithmetic datasets themselves come from workbench.sample_builder; these reuse its
problems so every sample speaks about the same task. Bad rows sit on fixed lines
that tests check against (BAD_LINES).
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from workbench.sample_builder import SYSTEM, _problems

# file -> {line (or row) number: field of the problem}; "" = the row itself (invalid JSON, ...)
BAD_LINES: dict[str, dict[int, str]] = {
    "sft-messages-bad.jsonl": {3: "", 5: "messages[1].role", 8: "messages[1].content", 9: "messages",
                               11: "messages", 13: "", 15: "messages[2].role", 17: "messages[2].tool_call_id"},
    "sft-alpaca-bad.csv": {3: "output", 6: "", 7: "instruction"},
    "preference-bad.jsonl": {2: "rejected", 4: "chosen[0].content", 5: "rejected"},
}


def _jsonl(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _dump(row) -> str:
    return json.dumps(row, ensure_ascii=False)


def _tool_chat(q: str, a: str, call_id: str) -> dict:
    return {"messages": [
        {"role": "system", "content": "You can call the calculator tool."},
        {"role": "user", "content": q},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": call_id, "type": "function",
             "function": {"name": "calculate", "arguments": json.dumps({"expression": q[8:-1]})}}]},
        {"role": "tool", "tool_call_id": call_id, "content": a.split(" is ")[-1].rstrip(".")},
        {"role": "assistant", "content": a},
    ]}


def build(data_dir: Path, seed: int = 1) -> None:
    rng = random.Random(seed)
    probs = _problems(rng, 60)
    chat = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]} for q, a, _ in probs]

    # OpenAI messages with tool calls and tool turns.
    _jsonl(data_dir / "sft-tools.jsonl", [_dump(_tool_chat(q, a, f"call_{i}")) for i, (q, a, _) in
                                          enumerate(probs[:40])])

    good = [_dump(r) for r in chat]
    bad = [
        good[0], good[1],
        '{"messages": [{"role": "user", "content": "What is 1 plus 1?"}, {"role": "assistant"',   # 3 invalid JSON
        good[2],
        _dump({"messages": [{"role": "user", "content": "Hi"}, {"role": "bot", "content": "Hello"}]}),  # 5 role
        "",                                                                                      # 6 blank
        _dump(_tool_chat(*probs[3][:2], "call_a")),                                             # 7 good (tools)
        _dump({"messages": [{"role": "user", "content": "What is 2 plus 2?"}, {"role": "assistant"}]}),  # 8
        _dump({"messages": []}),                                                                 # 9 empty
        _dump({"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Grüße 🙂"},
                            {"role": "assistant", "content": "Hallo, 你好 🙂"}]}),              # 10 good (unicode)
        _dump({"messages": [{"role": "user", "content": "What is 3 plus 3?"}]}),                # 11 no assistant
        good[4],
        "[1, 2, 3]",                                                                             # 13 not an object
        good[5],
        _dump({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"},
                            {"role": "system", "content": "late"}]}),                           # 15 system late
        good[6],
        _dump({"messages": [{"role": "user", "content": "q"},
                            {"role": "assistant", "content": "", "tool_calls": [
                                {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                            {"role": "tool", "tool_call_id": "c2", "content": "1"},
                            {"role": "assistant", "content": "done"}]}),                        # 17 unknown call id
        good[7],
    ]
    _jsonl(data_dir / "sft-messages-bad.jsonl", bad)

    # CSV (Alpaca columns), a clean one and one with known bad records.
    def write_csv(path: Path, rows: list[list[str]]) -> None:
        with open(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["instruction", "input", "output"])
            w.writerows(rows)

    write_csv(data_dir / "sft-alpaca.csv", [["Answer the arithmetic question.", q, a] for q, a, _ in probs])
    write_csv(data_dir / "sft-alpaca-bad.csv", [
        ["Answer.", probs[0][0], probs[0][1]],                 # line 2
        ["Answer.", probs[1][0], ""],                          # line 3: empty output
        ["Answer.\nShow the result only.", probs[2][0], probs[2][1]],  # lines 4-5: one (good) multi-line record
        ["Answer.", probs[3][0]],                              # line 6: a field short
        ["", probs[4][0], probs[4][1]],                        # line 7: empty instruction
    ])

    # A JSON array of prompt/completion rows and a Parquet file of conversations.
    (data_dir / "sft-prompt-completion.json").write_text(
        json.dumps([{"prompt": q + " ", "completion": a} for q, a, _ in probs], ensure_ascii=False, indent=1),
        encoding="utf-8")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(chat), data_dir / "sft-messages.parquet")

    # Preference: implicit prompt (the prompt inside chosen/rejected), standard strings.
    _jsonl(data_dir / "preference-implicit.jsonl", [
        _dump({"chosen": f"Question: {q} Answer: {a}", "rejected": f"Question: {q} Answer: {w}"})
        for q, a, w in probs])
    pref = [_dump({"prompt": q, "chosen": a, "rejected": w}) for q, a, w in probs[:6]]
    _jsonl(data_dir / "preference-bad.jsonl", [
        pref[0],
        _dump({"prompt": "What is 1 plus 1?", "chosen": "2", "rejected": "2"}),              # 2 identical
        pref[1],
        _dump({"prompt": [{"role": "user", "content": "x"}], "chosen": [{"role": "assistant", "content": 7}],
               "rejected": [{"role": "assistant", "content": "8"}]}),                         # 4 content not str
        _dump({"prompt": "What is 2 plus 2?", "chosen": "4"}),                               # 5 no rejected
        pref[2],
    ])


if __name__ == "__main__":
    from workbench.paths import sample_data_dir

    build(sample_data_dir() / "data")

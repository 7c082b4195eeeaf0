"""Loss masks against a hand-built expectation for the bundled template; stats and BFD packing."""

from __future__ import annotations

import random

import pytest

from workbench.data.tokens import Encoded, encode_conversation, encode_row, pack_bfd, token_stats
from workbench.paths import sample_data_dir


@pytest.fixture(scope="module")
def tok():
    from workbench.data.tokens import load_tokenizer

    return load_tokenizer(str(sample_data_dir() / "models" / "tiny-llama"))


def hand_built(tok, messages):
    """The bundled template written out by hand: (ids, mask) with loss on assistant content + <|end|>."""
    pieces = [(tok.bos_token, 0)]
    for m in messages:
        if m["role"] == "assistant":
            pieces += [("<|assistant|>\n", 0), (m["content"] + "<|end|>", 1), ("\n", 0)]
        else:
            pieces.append((f"<|{m['role']}|>\n{m['content']}<|end|>\n", 0))
    ids, mask = [], []
    for text, trained in pieces:
        piece = tok(text, add_special_tokens=False)["input_ids"]
        ids += piece
        mask += [trained] * len(piece)
    return ids, mask


MESSAGES = [
    [{"role": "user", "content": "What is 2 plus 2?"}, {"role": "assistant", "content": "2 plus 2 is 4."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Grüße 🙂"},
     {"role": "assistant", "content": "Hallo ✓"}, {"role": "user", "content": "again"},
     {"role": "assistant", "content": "once more"}],
]


@pytest.mark.parametrize("messages", MESSAGES)
def test_mask_marks_exactly_the_assistant_tokens(tok, messages):
    enc = encode_conversation(tok, messages)
    ids, mask = hand_built(tok, messages)
    assert enc.ids == ids and enc.mask == mask
    trained_text = tok.decode([i for i, m in zip(enc.ids, enc.mask) if m])
    assert trained_text == "".join(m["content"] + "<|end|>" for m in messages if m["role"] == "assistant")


def test_template_without_markers_uses_prefix_difference(tok):
    original = tok.chat_template
    try:
        tok.chat_template = original.replace("{% generation %}", "").replace("{% endgeneration %}", "")
        for messages in MESSAGES:
            enc = encode_conversation(tok, messages)
            ids, mask = hand_built(tok, messages)
            assert enc.ids == ids
            # prefix difference also counts the newline after <|end|>: a superset of the marker mask
            assert all(b >= a for a, b in zip(mask, enc.mask)) and sum(enc.mask) > sum(mask) - 1
    finally:
        tok.chat_template = original


def test_prompt_completion_trains_on_completion_only(tok):
    (enc,) = encode_row(tok, {"prompt": "What is 2 plus 2? ", "completion": "4."}, "prompt_completion")
    prompt = tok("What is 2 plus 2? ")["input_ids"]
    # The prompt's trailing space merges into " 4": like TRL, the completion starts where the two diverge.
    shared = next(i for i, (a, b) in enumerate(zip(prompt, enc.ids)) if a != b)
    assert shared < len(prompt) and enc.mask == [0] * shared + [1] * (len(enc.ids) - shared)
    assert enc.ids[-1] == tok.eos_token_id
    chosen, rejected = encode_row(tok, {"chosen": "Q: a A: yes", "rejected": "Q: a A: no"}, "preference")
    assert chosen.trained > 0 and rejected.trained > 0
    (lm,) = encode_row(tok, {"text": "hello"}, "language_modeling")
    assert all(lm.mask)
    (po,) = encode_row(tok, {"prompt": [{"role": "user", "content": "hi"}]}, "prompt_only")
    assert not any(po.mask) and tok.decode(po.ids).endswith("<|assistant|>\n")


def brute_min_bins(lengths, cap):
    """Exact minimum bin count for tiny inputs (lower bound check for BFD)."""
    return -(-sum(lengths) // cap)


def test_bfd_packing():
    assert pack_bfd([5, 5, 5, 5], 10) == 2
    assert pack_bfd([6, 5, 4, 3, 2], 10) == 2  # 6+4, 5+3+2
    assert pack_bfd([20, 3], 10) == 2          # over-long sequences are truncated to the budget
    rng = random.Random(0)
    for _ in range(50):
        lengths = [rng.randint(1, 64) for _ in range(rng.randint(1, 40))]
        bins = pack_bfd(lengths, 64)
        assert brute_min_bins(lengths, 64) <= bins <= len(lengths)
        assert bins <= 11 / 9 * brute_min_bins(lengths, 64) + 1  # BFD's worst-case bound


def test_token_stats_counts(tok):
    rows = [{"messages": m} for m in MESSAGES] * 3
    stats = token_stats(tok, rows, "conversational", max_length=20)
    encs = [encode_conversation(tok, m) for m in MESSAGES] * 3
    assert stats.rows == 6 and list(stats.lengths) == [len(e.ids) for e in encs]
    assert stats.over_max == sum(len(e.ids) > 20 for e in encs)
    assert stats.total_tokens == sum(min(len(e.ids), 20) for e in encs)
    assert stats.trained_tokens == sum(sum(e.mask[:20]) for e in encs)
    assert stats.packing_efficiency == pytest.approx(stats.total_tokens / (stats.packed_bins * 20))
    assert sum(c for _, _, c in stats.histogram()) == 6
    assert isinstance(Encoded([1], [1]).trained, int)

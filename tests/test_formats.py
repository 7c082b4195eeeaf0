"""Every built-in data format: detection, conversion, and precise errors for bad rows."""

from __future__ import annotations

import json

import pytest

from workbench.data.loading import detect
from workbench.errors import DataError
from workbench.plugin_manager import get_registry

FORMATS = get_registry().data_formats
U = {"role": "user", "content": "Grüße, 你好 🙂"}
A = {"role": "assistant", "content": "Hallo ✓"}
S = {"role": "system", "content": "Be brief."}
CALL = {"role": "assistant", "content": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "calc", "arguments": "{\"x\": 1}"}}]}
TOOL = {"role": "tool", "tool_call_id": "c1", "content": "1"}

SAMPLES = {
    "messages": {"messages": [S, U, A, U, A]},
    "sharegpt": {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
    "alpaca": {"instruction": "Add.", "input": "2 and 3", "output": "5"},
    "text": {"text": "plain text ✓"},
    "prompt_completion": {"prompt": "2+3=", "completion": "5"},
    "prompt_only": {"prompt": [U]},
    "preference": {"prompt": [U], "chosen": [A], "rejected": [{"role": "assistant", "content": "no"}]},
    "kto": {"prompt": "2+3=", "completion": "5", "label": True},
}


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_detection_picks_each_format(name):
    d = detect([SAMPLES[name]] * 4, FORMATS.values())
    assert d.format.name == name and d.confidence >= 0.9


def test_detection_confidence_is_the_matching_share():
    rows = [SAMPLES["messages"]] * 3 + [{"other": 1}]
    d = detect(rows, FORMATS.values())
    assert d.format.name == "messages" and d.confidence == pytest.approx(0.75)
    with pytest.raises(DataError, match="cannot tell the data format"):
        detect([{"other": 1}], FORMATS.values())


def conv(name, row):
    return FORMATS[name].convert(row)


def test_messages_system_multiturn_unicode_and_tools():
    out = conv("messages", {"messages": [S, U, CALL, TOOL, A]})["messages"]
    assert [m["role"] for m in out] == ["system", "user", "assistant", "tool", "assistant"]
    assert out[1]["content"] == U["content"] and out[2]["content"] == "" and out[2]["tool_calls"][0]["id"] == "c1"
    assert out[3]["tool_call_id"] == "c1"


@pytest.mark.parametrize("messages,field,reason", [
    ([U, {"role": "bot", "content": "x"}], "messages[1].role", "unknown role 'bot'"),
    ([U, {"role": "assistant"}], "messages[1].content", "missing content"),
    ([U, {"role": "assistant", "content": None}], "messages[1].content", "content is null"),
    ([U, {"role": "assistant", "content": 3}], "messages[1].content", "must be a string, got number"),
    ([], "messages", "is empty"),
    ([U], "messages", "no assistant turn"),
    ([U, A, S], "messages[2].role", "system message must come first"),
    ([U, TOOL, A], "messages[1]", "without an earlier assistant tool call"),
    ([U, CALL, {**TOOL, "tool_call_id": "zz"}, A], "messages[2].tool_call_id", "answers no earlier tool call"),
    ([U, {**CALL, "tool_calls": [{"id": "c1", "function": {"arguments": "{}"}}]}, A],
     "messages[1].tool_calls[0].function.name", "missing function name"),
    ([U, {"role": "user", "content": "x", "tool_calls": CALL["tool_calls"]}, A],
     "messages[1].tool_calls", "only assistant"),
    ("hello", "messages", "must be a list of messages, got string"),
])
def test_messages_errors_name_the_field(messages, field, reason):
    with pytest.raises(DataError) as err:
        conv("messages", {"messages": messages})
    assert err.value.where == field and reason in err.value.message


def test_sharegpt_maps_role_names_and_system():
    row = {"system": "sys", "conversations": [{"from": "Human", "value": "q"}, {"from": "GPT", "value": "a"},
                                              {"from": "user", "value": "q2"}, {"from": "model", "value": "a2"}]}
    out = conv("sharegpt", row)["messages"]
    assert [m["role"] for m in out] == ["system", "user", "assistant", "user", "assistant"]
    with pytest.raises(DataError) as err:
        conv("sharegpt", {"conversations": [{"from": "narrator", "value": "x"}]})
    assert err.value.where == "conversations[0].from" and "narrator" in err.value.message
    with pytest.raises(DataError) as err:
        conv("sharegpt", {"conversations": [{"from": "human", "value": None}, {"from": "gpt", "value": "a"}]})
    assert err.value.where == "conversations[0].value"


def test_alpaca_input_system_history_and_empty_fields():
    out = conv("alpaca", {"instruction": "Add.", "input": "", "output": "5", "system": "S",
                          "history": [["hi", "hello"]]})["messages"]
    assert out == [{"role": "system", "content": "S"}, {"role": "user", "content": "hi"},
                   {"role": "assistant", "content": "hello"}, {"role": "user", "content": "Add."},
                   {"role": "assistant", "content": "5"}]
    assert conv("alpaca", SAMPLES["alpaca"])["messages"][0]["content"] == "Add.\n\n2 and 3"
    with pytest.raises(DataError) as err:
        conv("alpaca", {"instruction": "Add.", "output": "   "})
    assert err.value.where == "output" and "empty" in err.value.message
    with pytest.raises(DataError) as err:
        conv("alpaca", {"instruction": "Add.", "output": "5", "history": [["only one"]]})
    assert err.value.where == "history[0]"


def test_text_and_prompt_completion():
    assert conv("text", {"text": "ü"}) == {"text": "ü"}
    with pytest.raises(DataError, match="empty"):
        conv("text", {"text": ""})
    assert conv("prompt_completion", {"prompt": [U], "completion": [A]})["completion"] == [A]
    with pytest.raises(DataError) as err:
        conv("prompt_completion", {"prompt": [U], "completion": "x"})
    assert err.value.where == "completion"
    with pytest.raises(DataError) as err:
        conv("prompt_completion", {"prompt": "p"})
    assert err.value.where == "completion" and err.value.message == "missing field"


def test_preference_explicit_implicit_standard_conversational():
    assert conv("preference", {"prompt": "p", "chosen": "a", "rejected": "b"}) == {"prompt": "p", "chosen": "a",
                                                                                  "rejected": "b"}
    implicit = conv("preference", {"chosen": [U, A], "rejected": [U, {"role": "assistant", "content": "no"}]})
    assert "prompt" not in implicit and implicit["chosen"][0] == U
    with pytest.raises(DataError) as err:  # implicit conversational must hold the prompt turns
        conv("preference", {"chosen": [A], "rejected": [{"role": "assistant", "content": "no"}]})
    assert err.value.where == "chosen"
    with pytest.raises(DataError) as err:
        conv("preference", {"chosen": [U, A], "rejected": [A, U]})
    assert err.value.where == "rejected[1].role"
    with pytest.raises(DataError) as err:
        conv("preference", {"prompt": "p", "chosen": "a", "rejected": [A]})
    assert err.value.where == "rejected"
    with pytest.raises(DataError, match="identical"):
        conv("preference", {"prompt": "p", "chosen": "a", "rejected": "a"})


def test_kto_label_and_sides():
    assert conv("kto", SAMPLES["kto"])["label"] is True
    with pytest.raises(DataError) as err:
        conv("kto", {"prompt": "p", "completion": "c", "label": "yes"})
    assert err.value.where == "label"
    with pytest.raises(DataError) as err:
        conv("kto", {"prompt": [U], "completion": "c", "label": False})
    assert err.value.where == "completion"


def test_prompt_only():
    assert conv("prompt_only", {"prompt": "p"}) == {"prompt": "p"}
    with pytest.raises(DataError) as err:
        conv("prompt_only", {"prompt": [{"role": "user"}]})
    assert err.value.where == "prompt[0].content"


def test_a_sharegpt_speaker_as_a_messages_role_says_how_to_read_it(tmp_path):
    """Was: {"role": "human"} / {"role": "gpt"} under `messages` only said "unknown role", on every row;
    the sharegpt format reads such rows once told where the turns are."""
    from workbench.data.validate import check_source
    from workbench.plugin_manager import get_registry

    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps({"messages": [{"role": "human", "content": "hi"}, {"role": "gpt", "content": "yo"}]})
                    + "\n")
    formats = get_registry().data_formats
    (bad,) = check_source(str(path), formats).bad
    assert bad.field == "messages[0].role" and "ShareGPT's name for user" in bad.reason
    assert 'data.format = "sharegpt"' in bad.reason and '{conversations = "messages"}' in bad.reason
    fixed = check_source(str(path), formats, {"format": "sharegpt", "columns": {"conversations": "messages"}})
    assert fixed.ok and fixed.total == 1

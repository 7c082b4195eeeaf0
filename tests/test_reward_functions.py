"""Built-in reward functions, their registry lookup, and the prompt+answer data format."""

from __future__ import annotations

import json

import pytest

from tests.conftest import DATA
from workbench.errors import ConfigError, DataError
from workbench.plugin_manager import get_registry
from workbench.training.rewards import build_reward_function, build_reward_functions, completion_text
from workbench_plugins.reward_functions import answers, functions

CHAT = [[{"role": "user", "content": "What is 6 plus 6?"}], [{"role": "user", "content": "What is 8 minus 9?"}]]


def chat(text: str) -> list[dict]:
    return [{"role": "assistant", "content": text}]


def test_completion_text_reads_strings_and_message_lists():
    assert completion_text("abc") == "abc"
    assert completion_text(chat("6 plus 6 is 12.")) == "6 plus 6 is 12."
    assert completion_text([{"role": "assistant", "content": None}]) == ""


def test_length_peaks_at_target_and_falls_linearly():
    fn = functions.length(target=10)
    assert fn(["p"] * 4, ["x" * 10, "x" * 5, "x" * 15, "x" * 40]) == [1.0, 0.5, 0.5, 0.0]
    words = functions.length(target=2, unit="words")
    assert words(["p", "p"], [chat("two words"), chat("one")]) == [1.0, 0.5]
    tokens = functions.length(target=4, unit="tokens")
    assert tokens(["p", "p"], ["ignored", "ignored"], completion_ids=[[1, 2, 3, 4], [1, 2]]) == [1.0, 0.5]


@pytest.mark.parametrize("options", [{"target": 0}, {"target": 1.5}, {"unit": "bytes"}])
def test_length_rejects_bad_options(options):
    with pytest.raises(ConfigError, match="length"):
        functions.length(**options)


def test_regex_search_fullmatch_and_case():
    fn = functions.regex(r"\bis -?\d+\.$")
    assert fn(CHAT, [chat("6 plus 6 is 12."), chat("8 minus 9 is -1."), chat("twelve"), chat("is 12. ok")]) == \
        [1.0, 1.0, 0.0, 0.0]
    full = functions.regex(r"\d+", mode="fullmatch")
    assert full(["p", "p"], [" 42 \n", "42 apples"]) == [1.0, 0.0]
    assert functions.regex("yes", ignore_case=True)(["p"], ["YES"]) == [1.0]


def test_regex_rejects_invalid_pattern_with_its_field():
    with pytest.raises(ConfigError) as exc:
        functions.regex("(unclosed")
    assert exc.value.where == "trainer.reward_options.regex.pattern"


def test_exact_answer_compares_last_number_to_the_column():
    fn = functions.exact_answer()
    got = fn(CHAT * 2, [chat("6 plus 6 is 12."), chat("8 minus 9 is -1."), chat("12 or 13"), chat("no idea")],
             answer=["12", "-1", "12", "12"])
    assert got == [1.0, 1.0, 0.0, 0.0]
    assert fn(["q"], ["It is 12.0"], answer=[12]) == [1.0]  # numbers compare by value


def test_exact_answer_text_and_regex_extraction():
    text = functions.exact_answer(column="solution", extract="text")
    assert text(["q", "q"], ["  Paris ", "Lyon"], solution=["paris", "Paris"]) == [1.0, 0.0]
    tagged = functions.exact_answer(extract=r"<answer>(.*?)</answer>")
    assert tagged(["q", "q"], ["<answer> 7 </answer>", "7"], answer=["7", "7"]) == [1.0, 0.0]
    with pytest.raises(ConfigError, match="extract"):
        functions.exact_answer(extract="([")


def test_exact_answer_names_the_missing_column():
    fn = functions.exact_answer()
    with pytest.raises(ConfigError, match="needs a dataset column 'answer', but the data has ground_truth"):
        fn(["q"], ["1"], ground_truth=["1"], completion_ids=[[1]])


def test_registry_builds_named_functions_with_options():
    funcs = build_reward_functions(["exact_answer", "length"], {"length": {"target": 4}}, get_registry())
    assert [f.__name__ for f in funcs] == ["exact_answer", "length"]  # TRL names its metrics after __name__
    assert funcs[1](["p"], ["abcd"]) == [1.0]


def test_registry_lookup_errors_are_one_line_config_errors():
    reg = get_registry()
    with pytest.raises(ConfigError, match="did you mean 'length'"):
        build_reward_function("lenght", registry=reg)
    with pytest.raises(ConfigError, match="has no option 'targt'"):
        build_reward_function("length", {"targt": 3}, registry=reg)
    with pytest.raises(ConfigError, match="needs option 'pattern'"):
        build_reward_function("regex", registry=reg)
    with pytest.raises(ConfigError, match="not in trainer.reward_functions"):
        build_reward_functions(["length"], {"regex": {"pattern": "x"}}, reg)
    with pytest.raises(ConfigError, match="no reward functions"):
        build_reward_functions([], None, reg)


def test_import_path_factories_work_without_registration():
    fn = build_reward_function("workbench_plugins.reward_functions.functions:length", {"target": 2})
    assert fn.__name__ == "length" and fn(["p"], ["ab"]) == [1.0]


def test_prompt_answer_format_keeps_the_answer_and_wins_detection():
    from workbench.data.loading import detect

    rows = [json.loads(line) for line in (DATA / "prompts-answers.jsonl").read_text().splitlines()[:64]]
    detection = detect(rows, get_registry().data_formats.values())
    assert detection.format.name == "prompt_answer" and detection.format.kind == "prompt_only"
    assert answers.convert({"prompt": "What is 2 plus 2?", "answer": 4}) == {"prompt": "What is 2 plus 2?",
                                                                              "answer": "4"}
    plain = [json.loads(line) for line in (DATA / "prompts.jsonl").read_text().splitlines()[:64]]
    assert detect(plain, get_registry().data_formats.values()).format.name == "prompt_only"
    with pytest.raises(DataError):
        answers.convert({"prompt": "q", "answer": [1, 2]})


def test_every_sample_answer_is_the_true_result():
    ops = {"plus": lambda a, b: a + b, "minus": lambda a, b: a - b, "times": lambda a, b: a * b}
    for line in (DATA / "prompts-answers.jsonl").read_text().splitlines():
        row = json.loads(line)
        _, a, op, b = row["prompt"][-1]["content"].rstrip("?").rsplit(" ", 3)
        assert int(row["answer"]) == ops[op](int(a), int(b))


def test_char_share_counts_wanted_characters_ignoring_spaces():
    from workbench_plugins.reward_functions.functions import char_share

    fn = char_share("0123456789")
    rewards = fn(["q"] * 4, ["12 ab", "", "   ", [{"role": "assistant", "content": "7x"}]])
    assert rewards == [0.5, 0.0, 0.0, 0.5]


@pytest.mark.parametrize("trainer", ["grpo", "rloo"])
def test_validate_refuses_what_the_grpo_and_rloo_jobs_refuse_at_start(trainer):
    """Were: validate passed reward_weights of another length and a config without reward_functions,
    and the job failed as it started ("1 weights for 3 reward functions", "no reward functions")."""
    from tests.conftest import CONFIGS
    from workbench.config import load_config

    preset = CONFIGS / f"{trainer}.toml"
    with pytest.raises(ConfigError, match=r"\(--set\): trainer\.args\.reward_weights: 1 weights for 3 reward functions"):
        load_config(preset, ["trainer.args.reward_weights=[1.0]"], deep=False, check_data=False)
    with pytest.raises(ConfigError, match=r"no reward functions: set trainer\.reward_functions"):
        load_config(preset, ["trainer.reward_functions=[]", "trainer.reward_options={}"], deep=False, check_data=False)
    assert load_config(preset, deep=False, check_data=False).trainer_name == trainer

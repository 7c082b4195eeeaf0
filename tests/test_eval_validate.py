"""`validate` refuses what the evaluators would refuse after training: data of a kind they cannot
score, and generation settings or row counts out of range in `[eval.options.<name>]`.

Was: both passed `validate` and `run`, and the job failed in its final evaluation, after training
(`preference_accuracy` on conversations; `max_new_tokens = 0` in an evaluator's own options,
though the docs said generation settings are checked before launch).
"""

from __future__ import annotations

import pytest

from tests.conftest import DATA, MODEL
from workbench.config import load_config
from workbench.errors import ConfigError, DataError


def job(tmp_path, evaluators: str, extra_eval: str = "", train: str = "sft-messages.jsonl", eval_file: str = "") -> str:
    data_eval = f'eval = "{DATA / eval_file}"\n' if eval_file else ""
    return (f'[model]\npath = "{MODEL}"\n[data]\ntrain = "{DATA / train}"\n{data_eval}'
            f'[trainer]\nname = "sft"\n[trainer.args]\nmax_steps = 2\nmax_length = 64\n'
            f'[eval]\nevaluators = {evaluators}\n{extra_eval}')


def load(tmp_path, text: str):
    path = tmp_path / "job.toml"
    path.write_text(text)
    return load_config(path, deep=False)


@pytest.mark.parametrize("evaluators, train, eval_file, fragment", [
    ('["perplexity", "preference_accuracy"]', "sft-messages.jsonl", "",
     "data.train: evaluator 'preference_accuracy' scores preference rows, but sft-messages.jsonl is conversational"),
    ('["exact_match"]', "sft-text.jsonl", "",
     "evaluator 'exact_match' scores conversational or prompt_completion or prompt_only or preference rows, "
     "but sft-text.jsonl is language_modeling"),
    ('["preference_accuracy"]', "sft-text.jsonl", "sft-messages.jsonl",  # the evaluators score data.eval
     "data.eval: evaluator 'preference_accuracy' scores preference rows, but sft-messages.jsonl is conversational"),
])
def test_an_evaluator_refuses_data_of_a_kind_it_cannot_score(tmp_path, evaluators, train, eval_file, fragment):
    with pytest.raises(DataError) as exc:
        load(tmp_path, job(tmp_path, evaluators, train=train, eval_file=eval_file))
    assert fragment in str(exc.value) and "job.toml:" in str(exc.value)


def test_evaluators_accept_the_kinds_they_declare(tmp_path):
    load(tmp_path, job(tmp_path, '["exact_match", "perplexity"]', train="sft-text.jsonl", eval_file="sft-messages.jsonl"))
    load(tmp_path, job(tmp_path, '["perplexity", "generate"]', train="sft-text.jsonl"))  # any kind


@pytest.mark.parametrize("options, fragment", [
    ("exact_match = {max_new_tokens = 0}", "eval.options.exact_match.max_new_tokens: must be an integer >= 1, got 0"),
    ("rouge_l = {top_p = 0.0}", "eval.options.rouge_l.top_p: must be a number > 0.0, got 0.0"),
    ("contains = {stop = [\"\"]}", "eval.options.contains.stop: must be a list of non-empty strings"),
    ("perplexity = {max_rows = 0}", "eval.options.perplexity.max_rows: must be a positive integer, got 0"),
    ("perplexity = {batch_size = -2}", "eval.options.perplexity.batch_size: must be an integer >= 1, got -2"),
])
def test_an_evaluators_own_settings_are_checked_before_launch(tmp_path, options, fragment):
    evaluator = options.split(" ")[0]
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, job(tmp_path, f'["{evaluator}"]', f"options = {{{options}}}\n"))
    assert fragment in str(exc.value) and "job.toml:" in str(exc.value)


@pytest.mark.parametrize("evaluators, options, eval_file, fragment", [
    ('["regex"]', 'regex = {pattern = "(unclosed"}', "",
     "eval.options.regex.pattern: invalid regular expression '(unclosed'"),
    ('["regex"]', 'regex = {pattern = "a", flags = "q"}', "", "eval.options.regex.flags: unknown regex flag 'q'"),
    ('["json_schema"]', 'json_schema = {schema_file = "nope.json"}', "",
     "eval.options.json_schema.schema_file: cannot read"),
    ('["json_schema"]', 'json_schema = {schema = {type = "objectt"}}', "",
     "eval.options.json_schema: invalid JSON schema"),
    ('["rouge_l"]', "rouge_l = {pass_threshold = 2}", "", "eval.options.rouge_l.pass_threshold: must be a number in [0, 1]"),
    ('["perplexity"]', "perplexity = {max_length = 0}", "", "eval.options.perplexity.max_length: must be a positive integer"),
    ('["preference_accuracy"]', 'preference_accuracy = {normalize = "avg"}', "preference.jsonl",
     "eval.options.preference_accuracy.normalize: must be 'sum' or 'mean', got 'avg'"),
])
def test_an_evaluators_own_option_values_are_checked_before_launch(tmp_path, evaluators, options, eval_file, fragment):
    """Was: each passed validate and run, and failed in the evaluation after training."""
    with pytest.raises(ConfigError) as exc:
        load(tmp_path, job(tmp_path, evaluators, f"options = {{{options}}}\n", eval_file=eval_file))
    assert fragment in str(exc.value) and "job.toml:" in str(exc.value), str(exc.value)


def test_a_relative_schema_file_is_the_configs_neighbour_in_the_job(tmp_path):
    (tmp_path / "answer.json").write_text('{"type": "object", "required": ["answer"]}')
    cfg = load(tmp_path, job(tmp_path, '["json_schema"]', 'options = {json_schema = {schema_file = "answer.json"}}\n'))
    assert cfg.data["eval"]["options"]["json_schema"]["schema_file"] == str(tmp_path / "answer.json")


def test_a_plugins_option_check_that_crashes_names_the_plugin(tmp_path, monkeypatch):
    from workbench.errors import PluginError
    from workbench.plugin_manager import build_registry

    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "strict_eval.py").write_text(
        "from workbench.hookspecs import hookimpl\n"
        "from workbench.specs import EvaluatorSpec\n"
        "def evaluate(ctx, **options):\n    return {}\n"
        "def check(options, base):\n    return options['thresold']\n"
        "@hookimpl\n"
        "def register_evaluators():\n"
        "    return [EvaluatorSpec('strict', f'{__name__}:evaluate', options=('threshold',),\n"
        "                          check=f'{__name__}:check')]\n")
    monkeypatch.setenv("WORKBENCH_PLUGINS_DIR", str(folder))
    path = tmp_path / "job.toml"
    path.write_text(job(tmp_path, '["strict"]', 'options = {strict = {threshold = 1}}\n'))
    with pytest.raises(PluginError) as exc:
        load_config(path, deep=False, registry=build_registry())
    assert "evaluator 'strict': its option check failed: KeyError" in str(exc.value), str(exc.value)
    assert "plugin strict_eval" in str(exc.value)

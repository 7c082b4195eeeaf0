"""The core validator (workbench.config.loader): one-line errors naming file:line and the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.config import load_config, parse_overrides
from workbench.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "sample_data" / "models" / "tiny-llama"
DATA = REPO / "sample_data" / "data"

BASE = f"""# a comment line
[model]
path = "{MODEL}"

[data]
train = "{DATA / 'sft-messages.jsonl'}"

[trainer]
name = "sft"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.toml"
    path.write_text(text)
    return path


def error_of(path: Path, overrides=None) -> Exception:
    with pytest.raises((ConfigError, DataError)) as info:
        load_config(path, overrides)
    return info.value


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_valid_config_resolves_defaults(tmp_path):
    cfg = load_config(write(tmp_path, BASE))
    assert cfg.trainer_name == "sft"
    assert cfg["model"]["trust_remote_code"] is False
    assert cfg["run"]["seed"] == 42
    assert "peft" not in cfg.data and "quantization" not in cfg.data


def test_unknown_key_names_line_and_suggests(tmp_path):
    path = write(tmp_path, BASE.replace('[model]\n', '[model]\ntrust_remote_cod = true\n'))
    exc = error_of(path)
    assert isinstance(exc, ConfigError)
    assert str(exc).startswith(f"{path}:{line_of(path, 'trust_remote_cod =')}: model.trust_remote_cod: unknown key")
    assert "did you mean 'trust_remote_code'?" in str(exc)
    assert "\n" not in str(exc)


def test_unknown_section_suggests(tmp_path):
    exc = error_of(write(tmp_path, BASE + "\n[lanuch]\nnum_processes = 2\n"))
    assert "unknown section [lanuch]" in str(exc) and "did you mean 'launch'" in str(exc)


def test_wrong_type_names_key_path_and_line(tmp_path):
    path = write(tmp_path, BASE + '\n[run]\nseed = "forty-two"\n')
    exc = error_of(path)
    assert str(exc) == f"{path}:{line_of(path, 'seed =')}: run.seed: expected int, got str 'forty-two'"


def test_choice_outside_choices(tmp_path):
    exc = error_of(write(tmp_path, BASE.replace('[model]\n', '[model]\ndtype = "fp8"\n')))
    assert "model.dtype: 'fp8' is not one of" in str(exc) and "'bfloat16'" in str(exc)


def test_bad_trainer_arg_checked_against_sftconfig(tmp_path):
    path = write(tmp_path, BASE + "\n[trainer.args]\nmax_step = 5\n")
    exc = error_of(path)
    assert str(exc).startswith(f"{path}:{line_of(path, 'max_step =')}: trainer.args.max_step: not a field of SFTConfig")
    assert "did you mean 'max_steps'?" in str(exc)


def test_trainer_arg_of_wrong_type(tmp_path):
    path = write(tmp_path, BASE + '\n[trainer.args]\nlearning_rate = "fast"\n')
    exc = error_of(path)
    assert f"{path}:{line_of(path, 'learning_rate')}: trainer.args.learning_rate: expected" in str(exc)
    assert "float" in str(exc) and "'fast'" in str(exc)


def test_managed_trainer_arg_refused(tmp_path):
    exc = error_of(write(tmp_path, BASE + '\n[trainer.args]\noutput_dir = "out"\n'))
    assert "trainer.args.output_dir: set by workbench" in str(exc)


def test_unknown_trainer_name_suggests(tmp_path):
    exc = error_of(write(tmp_path, BASE.replace('name = "sft"', 'name = "sfft"')))
    assert "trainer.name: no trainer named 'sfft'; did you mean 'sft'?" in str(exc)


def test_preference_data_refused_for_sft(tmp_path):
    path = write(tmp_path, BASE.replace("sft-messages.jsonl", "preference.jsonl"))
    exc = error_of(path)
    assert isinstance(exc, DataError)
    assert str(exc).startswith(f"{path}:{line_of(path, 'train =')}: data.train: trainer 'sft' needs")
    assert "preference.jsonl is preference" in str(exc)


@pytest.mark.parametrize("name", ["sft-messages.jsonl", "sft-prompt-completion.jsonl", "sft-text.jsonl",
                                  "sft-alpaca.jsonl", "sft-sharegpt.jsonl"])
def test_sft_accepts_its_data_kinds(tmp_path, name):
    assert load_config(write(tmp_path, BASE.replace("sft-messages.jsonl", name))).trainer_name == "sft"


def test_missing_data_file(tmp_path):
    path = write(tmp_path, BASE.replace(str(DATA / "sft-messages.jsonl"), "missing.jsonl"))
    exc = error_of(path)
    assert isinstance(exc, DataError)
    assert str(exc) == f"{path}:{line_of(path, 'train =')}: data.train: file not found: {tmp_path / 'missing.jsonl'}"


def test_relative_paths_resolve_against_the_config_file(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "train.jsonl").write_text((DATA / "sft-text.jsonl").read_text())
    cfg = load_config(write(tmp_path, BASE.replace(str(DATA / "sft-messages.jsonl"), "d/train.jsonl")))
    assert cfg["data"]["train"] == str(tmp_path / "d" / "train.jsonl")


@pytest.mark.parametrize("env", ['{HF_TOKEN = "hf_x"}', '{WANDB_API_KEY = "k"}', '{DB_PASSWORD = "p"}'])
def test_secrets_in_launch_env_refused(tmp_path, env):
    path = write(tmp_path, BASE + f"\n[launch]\nenv = {env}\n")
    exc = error_of(path)
    name = env.strip("{}").split("=")[0].strip()
    assert str(exc).startswith(f"{path}:{line_of(path, 'env =')}: launch.env.{name}: looks like a secret")


def test_a_token_under_an_innocent_name_in_launch_env_is_refused(tmp_path):
    """Was: only the variable's name was checked, so env = {HUB = "hf_..."} went into job.toml,
    command.sh and launch.json in clear."""
    path = write(tmp_path, BASE + '\n[launch]\nenv = {HUB = "hf_abcdefghijklmnopqrstuvwxyz0123456789"}\n')
    exc = error_of(path)
    assert str(exc).startswith(f"{path}:{line_of(path, 'env =')}: launch.env.HUB: the value looks like an access token")
    assert "hf_abc" not in str(exc)


def test_ordinary_env_allowed(tmp_path):
    cfg = load_config(write(tmp_path, BASE + '\n[launch]\nenv = {CUDA_LAUNCH_BLOCKING = "1", NCCL_DEBUG = "INFO"}\n'))
    assert cfg["launch"]["env"] == {"CUDA_LAUNCH_BLOCKING": "1", "NCCL_DEBUG": "INFO"}


def test_special_token_arguments_are_not_secrets_and_must_be_in_the_vocabulary(tmp_path):
    """Was: pad_token / eos_token (SFTConfig fields) were refused as secrets, so no config could set them;
    a token the tokenizer lacks made SFTTrainer refuse it as the job started."""
    path = write(tmp_path, BASE + '\n[trainer.args]\npad_token = "<|pad|>"\neos_token = "<|end|>"\n')
    cfg = load_config(path, deep=False)
    assert cfg["trainer"]["args"]["pad_token"] == "<|pad|>"
    path = write(tmp_path, BASE + '\n[trainer.args]\npad_token = "<pad>"\n')
    exc = error_of(path)
    assert str(exc).startswith(f"{path}:{line_of(path, 'pad_token =')}: trainer.args.pad_token: '<pad>' is not a "
                               "token of the tokenizer"), str(exc)
    assert "<|pad|>" in str(exc)  # what it could have been
    exc = error_of(write(tmp_path, BASE + '\n[trainer.args]\nhub_token = "abc"\n'))
    assert "trainer.args.hub_token: a secret in the config" in str(exc)


def test_tokenizers_parallelism_is_not_a_secret(tmp_path):
    cfg = load_config(write(tmp_path, BASE + '\n[launch]\nenv = {TOKENIZERS_PARALLELISM = "false"}\n'))
    assert cfg["launch"]["env"] == {"TOKENIZERS_PARALLELISM": "false"}


def test_overrides_parse_toml_values(tmp_path):
    cfg = load_config(write(tmp_path, BASE), [
        "trainer.args.max_steps=7", "trainer.args.learning_rate=1e-3", 'run.tags=["a", "b"]',
        "run.name=hello world", "launch.mixed_precision=bf16", "model.dtype=\"bfloat16\"",
    ], deep=False)  # (bf16 autocast itself needs a GPU: the deep check refuses it on a CPU machine)
    assert cfg["trainer"]["args"] == {"max_steps": 7, "learning_rate": 0.001}
    assert cfg["run"]["tags"] == ["a", "b"] and cfg["run"]["name"] == "hello world"
    assert cfg["launch"]["mixed_precision"] == "bf16"
    assert cfg["model"]["dtype"] == "bfloat16"


def test_overrides_are_validated_too(tmp_path):
    exc = error_of(write(tmp_path, BASE), ["trainer.args.max_step=3"])
    assert "trainer.args.max_step: not a field of SFTConfig" in str(exc)
    exc = error_of(write(tmp_path, BASE), ["run.seed=abc"])
    assert "run.seed: expected int, got str 'abc'" in str(exc)


def test_an_error_in_a_set_value_names_the_override_not_a_line_of_the_file(tmp_path):
    """The file's line 'max_steps = 40' is fine: pointing at it for a --set value misleads."""
    path = write(tmp_path, BASE + "\n[trainer.args]\nmax_steps = 40\n")
    for override, key in (("trainer.args.max_steps=-5", "trainer.args.max_steps"),
                          ("trainer.args.max_step=3", "trainer.args.max_step")):
        exc = error_of(path, [override])
        assert str(exc).startswith(f"{path} (--set): {key}: "), str(exc)
    exc = error_of(path, ["trainer.args.learning_rate=1e-3", "trainer.args.max_steps=-5"])
    assert str(exc).startswith(f"{path} (--set): trainer.args.max_steps: ")
    spoiled = write(tmp_path, (BASE + "\n[trainer.args]\nmax_steps = -5\n"))
    exc = error_of(spoiled, ["trainer.args.learning_rate=1e-3"])  # the mistake is in the file: its line
    assert str(exc).startswith(f"{spoiled}:{line_of(spoiled, 'max_steps = -5')}: trainer.args.max_steps: ")
    exc = error_of(path, ["modle.path=x"])  # a section only the override made
    assert str(exc).startswith(f"{path} (--set): unknown section [modle]"), str(exc)


def test_parse_overrides_needs_equals():
    assert parse_overrides(["a.b=1", "c=x y"]) == [(["a", "b"], 1), (["c"], "x y")]
    with pytest.raises(ConfigError, match="--set needs key.path=value"):
        parse_overrides(["no-equals"])


def test_trust_remote_code_defaults_to_false_and_can_be_enabled(tmp_path):
    path = write(tmp_path, BASE)
    assert load_config(path)["model"]["trust_remote_code"] is False
    assert load_config(path, ["model.trust_remote_code=true"])["model"]["trust_remote_code"] is True


def test_invalid_toml_names_line(tmp_path):
    path = write(tmp_path, BASE + '\n[run]\nname = "unterminated\n')
    exc = error_of(path)
    assert str(exc).startswith(f"{path}:{line_of(path, 'unterminated')}: invalid TOML")


def test_inline_text_validates_without_a_file(tmp_path):
    cfg = load_config(tmp_path / "never-written.toml", text=BASE)
    assert cfg["data"]["train"].endswith("sft-messages.jsonl")


def test_a_refusal_about_eval_steps_the_user_never_set_says_where_the_number_comes_from():
    """Was: 'not a round multiple of 10' with no 10 anywhere in the user's config."""
    from workbench.config.loader import check_verdict

    verdict = {"ok": False, "error": "ValueError: --load_best_model_at_end requires the saving steps to be a round "
                                     "multiple of the evaluation steps, but found 25, which is not a round multiple of 10."}
    with pytest.raises(ConfigError) as exc:
        check_verdict(verdict, {"load_best_model_at_end": True, "save_steps": 25}, "trl:SFTConfig", lambda k: "job.toml",
                      [])
    assert "eval_steps = 10 is the workbench's default" in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        check_verdict(verdict, {"load_best_model_at_end": True, "save_steps": 25, "eval_steps": 10}, "trl:SFTConfig",
                      lambda k: "job.toml", [])
    assert "workbench's default" not in str(exc.value)

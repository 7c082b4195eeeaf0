"""`workbench data` / `new` / configs: bad flags and bad input are one line, never a traceback (issue 9)."""

from __future__ import annotations

import re

import pytest

from tests.conftest import DATA, MODEL, cli

MESSAGES = str(DATA / "sft-messages.jsonl")


def one_error_line(result) -> str:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    return lines[0]


def test_data_check_refuses_a_column_mapping_to_a_missing_column(workspace):
    line = one_error_line(cli("data", "check", MESSAGES, "--columns", "messages=nosuchcol"))
    assert line == "error: --columns: column 'nosuchcol' (mapped to messages) is not in sft-messages.jsonl " \
                   "(its columns: messages)"
    assert cli("data", "check", MESSAGES, "--columns", "messages=messages").returncode == 0


@pytest.mark.parametrize("args,flag", [(["check", MESSAGES, "--limit", "-1"], "--limit"),
                                       (["stats", MESSAGES, "--model", str(MODEL), "--max-length", "-3"], "--max-length"),
                                       (["stats", MESSAGES, "--model", str(MODEL), "--max-length", "0"], "--max-length"),
                                       (["stats", MESSAGES, "--model", str(MODEL), "--max-rows", "-1"], "--max-rows")])
def test_negative_counts_are_refused(workspace, args, flag):
    line = one_error_line(cli("data", *args))
    assert line.startswith(f"error: {flag}: must be at least"), line


def test_limit_zero_still_prints_every_bad_row(workspace):
    bad = DATA / "sft-messages-bad.jsonl"
    shown = cli("data", "check", str(bad), "--limit", "0")
    listed = [ln for ln in shown.stdout.splitlines() if re.match(rf"{re.escape(str(bad))}:\d+: ", ln)]
    total = int(shown.stdout.split(" rows, ")[1].split(" invalid")[0])
    assert shown.returncode == 1 and len(listed) == total and "more" not in shown.stdout


def test_json_nested_1000_deep_is_a_bad_row_not_a_traceback(workspace, tmp_path):
    good = (DATA / "sft-messages.jsonl").read_text().splitlines()[:5]
    deep = '{"messages": ' + "[" * 1000 + "]" * 1000 + "}"
    path = tmp_path / "deep.jsonl"
    path.write_text("\n".join(good[:2] + [deep] + good[2:]) + "\n")
    result = cli("data", "check", str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert f"{path}:3: invalid JSON: nested too deeply" in result.stdout
    whole = tmp_path / "deep.json"
    whole.write_text("[" + deep + "]")
    line = one_error_line(cli("data", "check", str(whole)))
    assert "deep.json" in line and "nested too deeply" in line


def test_a_config_nested_1000_deep_is_one_line(workspace, tmp_path):
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 1000 + "]" * 1000 + "\n")
    line = one_error_line(cli("validate", str(path)))
    assert "deep.toml" in line and "nested too deeply" in line


@pytest.mark.parametrize("env", [{"HF_HUB_OFFLINE": "1"}, {"HF_ENDPOINT": "http://127.0.0.1:9"}])
def test_an_offline_hub_dataset_fails_at_once_without_retries(workspace, env):
    """Before: five `Retrying in Ns` lines over about 25 s, then the error."""
    line = one_error_line(cli("data", "check", "hub:org/some-dataset", env=env))
    assert "cannot load Hub dataset 'org/some-dataset': offline" in line, line


def test_validate_detects_an_offline_hub_dataset_too(workspace, tmp_path):
    from tests.test_validate_gaps import sft_config

    config = sft_config(tmp_path / "cfg")
    line = one_error_line(cli("validate", str(config), "--set", 'data.train="hub:org/some-dataset"',
                              env={"HF_ENDPOINT": "http://127.0.0.1:9"}))
    assert "data.train" in line and "offline" in line


def test_new_into_a_folder_that_cannot_be_written(workspace, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    line = one_error_line(cli("new", "sft", str(blocker / "job.toml")))
    assert line == f"error: {blocker / 'job.toml'}: cannot write the config: {blocker} is a file, not a folder"
    line = one_error_line(cli("new", "sft", "/proc/workbench-test/job.toml"))
    assert "cannot write the config" in line
    assert cli("new", "sft", str(tmp_path / "fresh" / "job.toml")).returncode == 0
    assert not [p for p in (tmp_path / "fresh").iterdir() if p.name.endswith(".tmp")]

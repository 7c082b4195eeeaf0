"""Without a terminal the TUI refuses in one line (it used to draw escape codes into the pipe and spin)."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import cli


@pytest.mark.parametrize("argv", [(), ("tui",)])
def test_the_tui_without_a_terminal_is_one_line_and_exit_2(tmp_path, argv):
    env = {"WORKBENCH_WORKSPACE": str(tmp_path), "TEXTUAL_DRIVER": ""}
    try:
        result = cli(*argv, env=env, timeout=60, cwd=tmp_path)
    except subprocess.TimeoutExpired:
        pytest.fail("the TUI started with its output piped instead of refusing")
    first = result.stderr.splitlines()[0]
    assert result.returncode == 2, result.stderr
    assert first == "error: the TUI needs a terminal, and standard output is not one"
    assert "Traceback" not in result.stderr and "\x1b[" not in result.stdout

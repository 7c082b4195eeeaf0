"""The TUI's chat child process: a late or missing answer never becomes the answer to the next question."""

from __future__ import annotations

import sys
import textwrap

import pytest

from workbench.evaluation.chat_client import ChatError, ChatProcess

SLOW_CHILD = textwrap.dedent("""
    import json, sys, time
    print(json.dumps({"ready": True, "model": "fake"}), flush=True)
    for n, line in enumerate(sys.stdin, start=1):
        time.sleep(DELAY)
        print(json.dumps({"reply": f"answer {n}"}), flush=True)
""")


def fake_python(tmp_path, delay: float) -> str:
    """An 'interpreter' that ignores `-m workbench.evaluation.chat CONFIG` and runs a slow fake chat."""
    script = tmp_path / "child.py"
    script.write_text(SLOW_CHILD.replace("DELAY", str(delay)))
    launcher = tmp_path / "python"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} {script}\n")
    launcher.chmod(0o755)
    return str(launcher)


async def test_a_reply_that_times_out_ends_the_chat_instead_of_answering_the_next_question(tmp_path):
    """Was: after a timed-out question the child kept running, and its late reply to question 1 was
    read as the reply to question 2."""
    chat = ChatProcess({"model": {"path": "x"}}, python=fake_python(tmp_path, delay=1.0))
    try:
        assert await chat.start(timeout=30) == "fake"
        with pytest.raises(ChatError, match="no answer"):
            await chat.ask([{"role": "user", "content": "one"}], timeout=0.2)
        assert not chat.alive
        with pytest.raises(ChatError, match="not running"):
            await chat.ask([{"role": "user", "content": "two"}], timeout=5)
    finally:
        await chat.close()


async def test_a_model_that_does_not_load_in_time_is_ended(tmp_path):
    launcher = tmp_path / "python"
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import time; time.sleep(60)'\n")
    launcher.chmod(0o755)
    chat = ChatProcess({"model": {"path": "x"}}, python=str(launcher))
    with pytest.raises(ChatError, match="no answer"):
        await chat.start(timeout=0.5)
    assert chat.proc is None  # ended, not left loading a model nobody waits for
    await chat.close()

"""The viewer's side of a chat with a checkpoint: starts, talks to and ends the chat process.

No torch here: the model lives in the child (`python -m workbench.evaluation.chat`). The child
reads requests from its stdin, so closing the pipe (or this process dying) ends it.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

LOAD_TIMEOUT_S = 300.0
REPLY_TIMEOUT_S = 300.0


class ChatError(Exception):
    """The chat process failed: the message says why, in one line."""


def chat_config(run_dir, checkpoint: str, max_new_tokens: int = 128) -> dict[str, Any]:
    """{"model", "quantization"?, "max_new_tokens"} that load a run's checkpoint (base: what it started from)."""
    from workbench.runs.store import Run
    from workbench_plugins.evaluate.targets import BASE, model_from_run

    run = Run(Path(run_dir))
    cfg = run.config()
    if checkpoint == BASE:
        model, quant = {k: v for k, v in cfg["model"].items() if v is not None}, cfg.get("quantization")
    elif cfg["trainer"]["name"] == "evaluate":  # an evaluation run: the model it scored
        model, quant = {k: v for k, v in cfg["model"].items() if v is not None}, cfg.get("quantization")
    else:
        model, quant = model_from_run(run, cfg, checkpoint)
    out: dict[str, Any] = {"model": model, "max_new_tokens": max_new_tokens}
    if quant:
        out["quantization"] = quant
    return out


class ChatProcess:
    """One chat child process: `start()` waits until the model is loaded, `ask()` sends the conversation."""

    def __init__(self, config: dict[str, Any], python: str = sys.executable):
        self.config = config
        self.python = python
        self.proc: asyncio.subprocess.Process | None = None
        self._stderr = tempfile.TemporaryFile()
        self.model_name: str | None = None

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    def _why(self) -> str:
        self._stderr.seek(0)
        lines = [ln for ln in self._stderr.read().decode("utf-8", "replace").splitlines() if ln.strip()]
        code = self.proc.returncode if self.proc else None
        return (lines[-1] if lines else "no output") + (f" (exit code {code})" if code is not None else "")

    async def _read(self, timeout: float) -> dict[str, Any]:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except asyncio.TimeoutError:
            raise ChatError(f"no answer from the chat process in {timeout:.0f} s") from None
        if not line:
            await self.proc.wait()
            raise ChatError(f"the chat process ended: {self._why()}")
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            raise ChatError(f"unexpected output from the chat process: {line[:120]!r}") from None

    async def _read_or_end(self, timeout: float) -> dict[str, Any]:
        """The next reply; on a timeout or garbled output the child is ended: its late answer must
        never be read as the answer to the next request."""
        try:
            return await self._read(timeout)
        except ChatError:
            if self.alive:
                await self.close()
            raise

    async def start(self, timeout: float = LOAD_TIMEOUT_S) -> str:
        """Start the child and wait for its model; returns what it loaded."""
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        self.proc = await asyncio.create_subprocess_exec(
            self.python, "-m", "workbench.evaluation.chat", json.dumps(self.config),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=self._stderr, env=env)
        reply = await self._read_or_end(timeout)
        if "error" in reply:
            await self.close()
            raise ChatError(reply["error"])
        self.model_name = reply.get("model")
        return str(self.model_name)

    async def ask(self, messages: list[dict[str, str]], timeout: float = REPLY_TIMEOUT_S) -> str:
        """The model's (greedy) reply to the conversation so far."""
        if not self.alive or self.proc is None or self.proc.stdin is None:
            raise ChatError("the chat process is not running")
        self.proc.stdin.write((json.dumps({"messages": messages}, ensure_ascii=False) + "\n").encode())
        await self.proc.stdin.drain()
        reply = await self._read_or_end(timeout)
        if "error" in reply:
            raise ChatError(reply["error"])
        return str(reply.get("reply", ""))

    async def close(self, grace: float = 3.0) -> None:
        """End the child: close its input, then terminate, then kill."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.returncode is None:
            if proc.stdin is not None:
                proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except asyncio.TimeoutError:
                proc.terminate()
                try:
                    await asyncio.wait_for(proc.wait(), grace)
                except asyncio.TimeoutError:
                    proc.kill()
                    await proc.wait()
        self._stderr.close()

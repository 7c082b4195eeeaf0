"""What counts as a secret, and its redaction: never written into a run directory or a log.

Two nets: the values of secret-named environment variables (HF_TOKEN, WANDB_API_KEY,
OPENAI_API_KEY, ...) wherever they appear, and well-known token shapes (Hugging Face,
OpenAI, GitHub, AWS, Slack) even when no variable names them.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping

# A name part, so HF_TOKEN and WANDB_API_KEY match but TOKENIZERS_PARALLELISM does not.
SECRET_NAME = re.compile(
    r"(?:^|_)(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIALS?)(?:_|$)", re.I)
TOKEN_SHAPES = re.compile(
    r"\b(?:hf_[A-Za-z0-9]{30,}|sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{30,}|AKIA[0-9A-Z]{16}|xox[abprs]-[A-Za-z0-9-]{10,})\b")
MASK = "***"
SECRET_ENV = "WORKBENCH_SECRET_ENV"
"""Comma-separated names of more variables whose values are secrets, whatever their names (e.g. those
the settings read with "$env:NAME"); inherited by the supervisor, the job and its console writer."""


# A tokenizer's special tokens (TRL's pad_token / eos_token arguments, ...): names with TOKEN in them, not secrets.
SPECIAL_TOKEN_NAME = re.compile(r"^(?:pad|eos|bos|unk|sep|cls|mask)_token(?:_id)?$", re.I)


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name)) and not SPECIAL_TOKEN_NAME.match(name)


def declare_secret_env(names, env: dict[str, str] | None = None) -> None:
    """Count the values of variables `names` as secrets in this process and every child it starts."""
    env = os.environ if env is None else env
    known = [n for n in env.get(SECRET_ENV, "").split(",") if n]
    new = [n for n in names if n and n not in known]
    if new:
        env[SECRET_ENV] = ",".join(known + new)


def secret_values(env: Mapping[str, str] | None = None) -> list[str]:
    """Values of secret-named (or declared) variables (6+ characters), longest first, for redaction."""
    env = os.environ if env is None else env
    declared = set(env.get(SECRET_ENV, "").split(","))
    vals = {v for k, v in env.items()
            if (is_secret_name(k) or k in declared) and isinstance(v, str) and len(v) >= 6}
    return sorted(vals, key=len, reverse=True)


def secret_in(text: str, env: Mapping[str, str] | None = None) -> str | None:
    """Why `text` holds a secret ("the value looks like an access token", "the value holds
    $WANDB_API_KEY's value"), or None. Names the variable, never the value."""
    env = os.environ if env is None else env
    values = set(secret_values(env))
    for name, value in env.items():
        if value in values and value in text:
            return f"the value holds ${name}'s value"
    if TOKEN_SHAPES.search(text):
        return "the value looks like an access token"
    return None


def first_secret(value: Any, path: str = "", env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """(key path, what) of the first string inside a config-like `value` (keys included) that
    holds a secret; None when there is none."""
    if isinstance(value, str):
        found = secret_in(value, env)
        return (path, found) if found else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            found = first_secret(str(key), here, env) or first_secret(item, here, env)
            if found:
                return found
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = first_secret(item, f"{path}[{i}]", env)
            if found:
                return found
    return None


def redact(text: str, secrets: list[str] | None = None) -> str:
    """`text` with every secret value and token-shaped string replaced by ***."""
    for s in secrets if secrets is not None else secret_values():
        if s in text:
            text = text.replace(s, MASK)
    if "_" in text or "-" in text or "AKIA" in text:
        text = TOKEN_SHAPES.sub(MASK, text)
    return text


def redact_data(value: Any, secrets: list[str] | None = None) -> Any:
    """A JSON-like value with every string in it redacted (dict keys included)."""
    secrets = secret_values() if secrets is None else secrets
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {redact(str(k), secrets): redact_data(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(v, secrets) for v in value]
    return value


class RedactingLineWriter:
    """Writes text to a binary file, line by line, each line redacted before it lands."""

    def __init__(self, out, secrets: list[str] | None = None):
        self.out = out
        self.secrets = secret_values() if secrets is None else secrets
        self._pending = b""

    def write(self, data: bytes) -> None:
        data = self._pending + data
        end = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if end < 0 and len(data) < 65536:
            self._pending = data
            return
        head, self._pending = (data[:end + 1], data[end + 1:]) if end >= 0 else (data, b"")
        self.out.write(redact(head.decode("utf-8", errors="replace"), self.secrets).encode("utf-8"))
        self.out.flush()

    def close(self) -> None:
        if self._pending:
            self.out.write(redact(self._pending.decode("utf-8", errors="replace"), self.secrets).encode("utf-8"))
            self._pending = b""
        self.out.flush()

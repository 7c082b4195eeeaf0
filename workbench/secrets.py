"""What counts as a secret: never written into a run directory or a log."""

from __future__ import annotations

import re

# A name part, so HF_TOKEN and WANDB_API_KEY match but TOKENIZERS_PARALLELISM does not.
SECRET_NAME = re.compile(
    r"(?:^|_)(TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIALS?)(?:_|$)", re.I)


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def secret_values(env: dict[str, str]) -> list[str]:
    """Values of secret-named variables (6+ characters), longest first, for redaction."""
    vals = {v for k, v in env.items() if is_secret_name(k) and len(v) >= 6}
    return sorted(vals, key=len, reverse=True)


def redact(line: str, secrets: list[str]) -> str:
    for s in secrets:
        if s in line:
            line = line.replace(s, "***")
    return line

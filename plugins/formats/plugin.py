"""Built-in data formats: how raw rows become Workbench's canonical data kinds."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import DataFormat

from workbench_plugins.formats import arrow_checks, chat, pairs, plain

# Optional fast path for big files (see arrow_checks): rows these pass skip the Python converter.
chat.convert_messages.arrow_check = arrow_checks.check_messages
chat.convert_alpaca.arrow_check = arrow_checks.check_alpaca
plain.convert_text.arrow_check = arrow_checks.check_text
plain.convert_prompt_completion.arrow_check = arrow_checks.check_prompt_completion


@hookimpl
def register_data_formats() -> list[DataFormat]:
    return [
        DataFormat("messages", "conversational", chat.detect_messages, chat.convert_messages,
                   "OpenAI-style `messages` list (system, user, assistant, tool turns)", ("messages",)),
        DataFormat("sharegpt", "conversational", chat.detect_sharegpt, chat.convert_sharegpt,
                   "ShareGPT `conversations` with from/value", ("conversations",)),
        DataFormat("alpaca", "conversational", chat.detect_alpaca, chat.convert_alpaca,
                   "Alpaca instruction/input/output (optional system, history)",
                   ("instruction", "input", "output", "system", "history")),
        DataFormat("text", "language_modeling", plain.detect_text, plain.convert_text,
                   "plain `text` for language modelling", ("text",)),
        DataFormat("prompt_completion", "prompt_completion", plain.detect_prompt_completion,
                   plain.convert_prompt_completion, "`prompt` and `completion` (strings or messages)",
                   ("prompt", "completion")),
        DataFormat("prompt_only", "prompt_only", plain.detect_prompt_only, plain.convert_prompt_only,
                   "`prompt` only (strings or messages), for RL trainers", ("prompt",)),
        DataFormat("preference", "preference", pairs.detect_preference, pairs.convert_preference,
                   "`chosen`/`rejected` with an explicit or implicit prompt", ("prompt", "chosen", "rejected")),
        DataFormat("kto", "unpaired_preference", pairs.detect_kto, pairs.convert_kto,
                   "`prompt`, `completion` and a boolean `label`", ("prompt", "completion", "label")),
    ]

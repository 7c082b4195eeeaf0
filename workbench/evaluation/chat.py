"""A chat with one model, in its own process: `python -m workbench.evaluation.chat CONFIG_JSON`.

CONFIG_JSON holds {"model": {...}, "quantization": {...}?, "max_new_tokens": N}: a job
config's [model] (path, adapter, tokenizer, dtype, ...). The process loads the model once,
prints {"ready": true} on stdout, then answers each stdin line {"messages": [...]} with one
line {"reply": text} (greedy decoding) or {"error": message}. It exits at end of input, so it
never outlives the viewer that started it. The TUI talks to it through `chat_client`, so the
TUI itself never imports torch.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO


def _send(out: TextIO, **data: Any) -> None:
    out.write(json.dumps(data, ensure_ascii=False) + "\n")
    out.flush()


def serve(config: dict[str, Any], inp: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    """Load the model, then answer one line per request until the input ends."""
    from workbench.errors import WorkbenchError

    try:
        from workbench.evaluation.generation import GenerationSettings, generate
        from workbench.training.models import load_model, load_tokenizer

        model, tokenizer = load_model(config), load_tokenizer(config)
        if not (getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False)):
            import torch

            model = model.to("cuda" if torch.cuda.is_available() else "cpu")
        model.eval()
        settings = GenerationSettings(max_new_tokens=int(config.get("max_new_tokens", 128)), batch_size=1)
    except WorkbenchError as exc:
        _send(out, error=exc.one_line())
        return 2
    except Exception as exc:  # noqa: BLE001 - the viewer shows the reason on one line
        _send(out, error=f"cannot load the model: {type(exc).__name__}: {exc}".splitlines()[0])
        return 1
    _send(out, ready=True, model=config["model"].get("adapter") or config["model"]["path"])
    for line in inp:
        if not line.strip():
            continue
        try:
            request = json.loads(line)
            messages = request["messages"]
            prompt = messages if tokenizer.chat_template else "\n".join(m["content"] for m in messages)
            (reply,) = generate(model, tokenizer, [prompt], settings)
            _send(out, reply=reply["generation"], new_tokens=reply["new_tokens"])
        except Exception as exc:  # noqa: BLE001 - one bad request does not end the chat
            _send(out, error=f"{type(exc).__name__}: {exc}".splitlines()[0])
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m workbench.evaluation.chat CONFIG_JSON", file=sys.stderr)
        return 2
    return serve(json.loads(args[0]))


if __name__ == "__main__":
    sys.exit(main())

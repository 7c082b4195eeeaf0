"""Is a local model folder loadable? Checked before launch and again by the job, without importing torch."""

from __future__ import annotations

from pathlib import Path

# What from_pretrained can load weights from (single files, shard indexes, or a PEFT adapter on its base).
_WEIGHT_GLOBS = ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin", "pytorch_model.bin.index.json",
                 "tf_model.h5", "flax_model.msgpack", "model.ckpt.index", "adapter_config.json")
# Files a tokenizer is built from (fast tokenizer, sentencepiece, BPE/WordPiece vocabularies, tiktoken).
_TOKENIZER_GLOBS = ("tokenizer.json", "tokenizer.model", "*.tiktoken", "vocab.json", "vocab.txt", "spiece.model",
                    "sentencepiece*.model")


def looks_local(value: str) -> bool:
    """An absolute path (relative ones are resolved against the config first); anything else is a Hub id."""
    return Path(value).is_absolute()


def _has(folder: Path, globs: tuple[str, ...]) -> bool:
    return any(next(folder.glob(g), None) is not None for g in globs)


def model_folder_problem(path: str, config: bool = True, weights: bool = True, tokenizer: bool = True) -> str | None:
    """Why the local model at `path` cannot load (one phrase naming it), or None when it looks complete.

    config / weights / tokenizer: which of config.json, weight files and tokenizer files are needed.
    """
    folder = Path(path)
    if not looks_local(path):
        return None
    if not folder.exists():
        return f"folder not found: {folder}"
    if not folder.is_dir():
        return f"not a folder: {folder}"
    if config and not (folder / "config.json").is_file() and not (folder / "adapter_config.json").is_file():
        return f"not a model folder (no config.json): {folder}"
    if weights and not _has(folder, _WEIGHT_GLOBS):
        return f"no model weights (*.safetensors, pytorch_model.bin) in {folder}"
    if tokenizer and not _has(folder, _TOKENIZER_GLOBS):
        return f"no tokenizer files (tokenizer.json, tokenizer.model, vocab.*) in {folder}"
    return None

"""Is a local model folder loadable? Checked before launch and again by the job, without importing torch.

Beyond the files being there, their contents are checked cheaply: JSON files must parse,
weight files must not be empty, safetensors headers must parse, and a shard index must
name shards that exist (a folder of 0-byte files, or an interrupted download, fails here
in one line instead of in the job's loader).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

# What from_pretrained can load weights from (single files, shard indexes, or a PEFT adapter on its base).
_WEIGHT_GLOBS = ("*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin", "pytorch_model.bin.index.json",
                 "tf_model.h5", "flax_model.msgpack", "model.ckpt.index", "adapter_config.json")
# Files a tokenizer is built from (fast tokenizer, sentencepiece, BPE/WordPiece vocabularies, tiktoken).
_TOKENIZER_GLOBS = ("tokenizer.json", "tokenizer.model", "*.tiktoken", "vocab.json", "vocab.txt", "spiece.model",
                    "sentencepiece*.model")
# JSON files a loader reads when present; each must hold a JSON object.
_CONFIG_JSON = ("config.json", "adapter_config.json", "generation_config.json")
_TOKENIZER_JSON = ("tokenizer_config.json", "special_tokens_map.json", "tokenizer.json")
_MAX_JSON_PARSE = 256 << 20   # bigger JSON files are only checked for a plausible start
_MAX_SAFETENSORS_HEADER = 100 << 20  # the safetensors format's own limit


def looks_local(value: str) -> bool:
    """An absolute path (relative ones are resolved against the config first); anything else is a Hub id."""
    return Path(value).is_absolute()


def _has(folder: Path, globs: tuple[str, ...]) -> bool:
    return any(next(folder.glob(g), None) is not None for g in globs)


def json_file_problem(path: Path) -> str | None:
    """Why `path` is not a readable JSON object, or None."""
    try:
        size = path.stat().st_size
        if size == 0:
            return f"empty file: {path}"
        if size > _MAX_JSON_PARSE:
            with open(path, "rb") as f:
                head = f.read(4096).lstrip()
            return None if head.startswith(b"{") else f"not a JSON object: {path}"
        data = json.loads(path.read_bytes())
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    except RecursionError:
        return f"not readable as JSON (nested too deeply): {path}"
    except (ValueError, UnicodeDecodeError) as exc:
        return f"not readable as JSON ({str(exc).splitlines()[0]}): {path}"
    if not isinstance(data, dict):
        return f"not a JSON object: {path}"
    return None


def safetensors_problem(path: Path) -> str | None:
    """Why `path` is not a safetensors file (empty, truncated header, header not JSON), or None."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"empty or truncated weights file ({size} bytes): {path}"
            (length,) = struct.unpack("<Q", head)
            if length > _MAX_SAFETENSORS_HEADER or 8 + length > size:
                return f"not a safetensors file (damaged or truncated header): {path}"
            header = json.loads(f.read(length))
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror or exc}"
    except (ValueError, UnicodeDecodeError, RecursionError):
        return f"not a safetensors file (header is not JSON): {path}"
    if not isinstance(header, dict):
        return f"not a safetensors file (header is not a JSON object): {path}"
    end = max((v["data_offsets"][1] for v in header.values()
               if isinstance(v, dict) and isinstance(v.get("data_offsets"), list) and len(v["data_offsets"]) == 2
               and isinstance(v["data_offsets"][1], int)), default=0)
    if 8 + length + end > size:
        return f"truncated weights file ({size} bytes, its header needs {8 + length + end}): {path}"
    return None


def weights_problem(folder: Path) -> str | None:
    """Why the weights in `folder` cannot load, or None. Checks every weight file, not just one."""
    for index_name in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        index = folder / index_name
        if index.is_file():
            problem = json_file_problem(index)
            if problem:
                return problem
            weight_map = json.loads(index.read_bytes()).get("weight_map") or {}
            missing = sorted({str(s) for s in weight_map.values() if not (folder / str(s)).is_file()})
            if missing:
                return f"{index_name} names shards that are missing: {', '.join(missing[:3])}" + \
                    (f" and {len(missing) - 3} more" if len(missing) > 3 else "") + f" in {folder}"
    for path in sorted(folder.glob("*.safetensors")):
        problem = safetensors_problem(path)
        if problem:
            return problem
    for path in sorted(folder.glob("pytorch_model*.bin")):
        if path.stat().st_size == 0:
            return f"empty weights file: {path}"
    return None


def tokenizer_vocabulary(folder: Path) -> set[str] | None:
    """The tokens of `folder`'s tokenizer.json (its model's vocabulary and its added tokens), or None
    when there is no readable tokenizer.json (a sentencepiece model, a Hub id, ...)."""
    path = folder / "tokenizer.json"
    try:
        if not path.is_file() or path.stat().st_size > _MAX_JSON_PARSE:
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
        vocab = data["model"]["vocab"]
        tokens = set(vocab) if isinstance(vocab, dict) else {entry[0] for entry in vocab}  # BPE/WordPiece, Unigram
        return tokens | {t["content"] for t in data.get("added_tokens") or ()}
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return None


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
    names = (_CONFIG_JSON if config else ()) + (_TOKENIZER_JSON if tokenizer else ())
    for name in names:
        if (folder / name).is_file():
            problem = json_file_problem(folder / name)
            if problem:
                return problem
    if tokenizer:
        for name in ("tokenizer.model", "vocab.json", "vocab.txt", "spiece.model"):
            if (folder / name).is_file() and (folder / name).stat().st_size == 0:
                return f"empty file: {folder / name}"
    if weights:
        return weights_problem(folder)
    return None

"""Common mistakes of a config that runs, caught before launch: warnings, or errors where the
training would be wasted. Each reads only small files (config.json, tokenizer_config.json,
safetensors headers, a sample of the data), so validate stays fast.

- short rows with a long max_length and packing off (the packing gain measured on a sample
  with the model's own tokenizer)
- no save_total_limit on a model over 1B parameters (the default applied: SAVE_TOTAL_LIMIT)
- a tokenizer that pads on the left, used for training
- a LoRA whose target_modules match no layer of the model (error) or partly none (warning)
- trust_remote_code on a Hub model without a pinned commit
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any, Callable, Iterator

from workbench.errors import ConfigError

SAVE_TOTAL_LIMIT = 3          # checkpoints kept when a >1B model's config sets no save_total_limit
BIG_MODEL = 1_000_000_000     # parameters
PACKING_SAMPLE = 1000         # rows tokenized to measure the packing gain
SHORT_FRACTION = 0.25         # rows whose p95 length is under this share of max_length are "short"
MIN_PACKING_GAIN = 2.0        # rows per packed sequence worth a warning
_SHA = re.compile(r"^[0-9a-f]{40}$")

Where = Callable[[str], str]


def advise(data: dict, spec, fields: dict | None, where: Where, registry=None) -> list[str]:
    """Warnings ("file:line: key: message") for `data` (the resolved config); may apply defaults to it.

    Raises ConfigError where the training would be wasted (a LoRA that adapts nothing).
    """
    out: list[str] = []
    out += _lora_targets(data, where)
    out += _save_total_limit(data, spec, fields, where)
    out += _left_padding(data, where)
    out += _remote_code(data, where)
    if registry is not None:
        out += _packing(data, spec, fields, where, registry)
    return out


# ----------------------------------------------------------------------------- model files


def _local_model(data: dict) -> Path | None:
    path = data["model"]["path"]
    return Path(path) if Path(path).is_absolute() and Path(path).is_dir() else None


def _safetensors_headers(folder: Path) -> Iterator[dict]:
    for path in sorted(folder.glob("*.safetensors")):
        try:
            with open(path, "rb") as f:
                (length,) = struct.unpack("<Q", f.read(8))
                yield json.loads(f.read(length))
        except (OSError, ValueError, struct.error):
            continue


def weight_shapes(folder: Path) -> dict[str, list[int]]:
    """Parameter name -> shape, from the safetensors headers (no weights read)."""
    shapes: dict[str, list[int]] = {}
    for header in _safetensors_headers(folder):
        for name, info in header.items():
            if name != "__metadata__" and isinstance(info, dict) and isinstance(info.get("shape"), list):
                shapes[name] = info["shape"]
    return shapes


def parameter_count(folder: Path) -> int | None:
    """Parameters of the model in `folder`: from its weight headers, else from config.json's shape."""
    shapes = weight_shapes(folder)
    if shapes:
        total = 0
        for shape in shapes.values():
            n = 1
            for d in shape:
                n *= int(d)
            total += n
        return total
    try:
        from workbench.estimate.modelshape import shape_from_config

        return shape_from_config(json.loads((folder / "config.json").read_text(encoding="utf-8"))).param_count
    except Exception:  # noqa: BLE001 - an architecture the estimator does not know: no figure
        return None


# ----------------------------------------------------------------------------- the checks


def _lora_targets(data: dict, where: Where) -> list[str]:
    """target_modules must name layers of the model, as PEFT matches them (suffix of the module name, or a regex)."""
    peft = data.get("peft")
    folder = _local_model(data)
    if not peft or folder is None:
        return []
    targets = peft["target_modules"]
    keypath = "peft.target_modules"
    if targets == "all-linear":
        return []
    if isinstance(targets, list) and not targets:
        raise ConfigError(f"{keypath}: empty list: LoRA would train nothing (use \"all-linear\" or name layers)",
                          where=where(keypath))
    shapes = weight_shapes(folder)
    if not shapes:
        return []  # weights in another format: PEFT checks in the job
    # Modules LoRA can wrap: those with a 2-D weight (Linear, Embedding), not norms or biases.
    modules = sorted({name.rsplit(".", 1)[0] for name, shape in shapes.items()
                      if name.endswith(".weight") and len(shape) == 2})
    short = sorted({m.rsplit(".", 1)[-1] for m in modules})

    def matches(target: str) -> list[str]:
        if isinstance(targets, str):
            try:
                return [m for m in modules if re.fullmatch(target, m)]
            except re.error as exc:
                raise ConfigError(f"{keypath}: not a valid regular expression: {exc}", where=where(keypath)) from None
        return [m for m in modules if m == target or m.endswith("." + target)]

    names = [targets] if isinstance(targets, str) else [str(t) for t in targets]
    hits = {t: matches(t) for t in names}
    if not any(hits.values()):
        raise ConfigError(f"{keypath}: {names if isinstance(targets, list) else targets!r} matches no linear or "
                          f"embedding layer of {folder.name}, so LoRA would train nothing (its layers: {', '.join(short[:12])})",
                          where=where(keypath))
    missing = [t for t, found in hits.items() if not found]
    if missing:
        return [f"{where(keypath)}: {keypath}: {', '.join(map(repr, missing))} matches no linear or embedding layer of "
                f"{folder.name} (LoRA goes on {', '.join(t for t in names if hits[t])} only; its layers: {', '.join(short[:12])})"]
    return []


def _save_total_limit(data: dict, spec, fields: dict | None, where: Where) -> list[str]:
    """A >1B model saves multi-GB checkpoints: with no limit set, keep SAVE_TOTAL_LIMIT (applied here, visibly)."""
    args = data["trainer"]["args"]
    folder = _local_model(data)
    if folder is None or data.get("peft") or fields is None or "save_total_limit" not in fields \
            or "save_total_limit" in args or "save_total_limit" in spec.default_args:
        return []
    params = parameter_count(folder)
    if not params or params <= BIG_MODEL:
        return []
    args["save_total_limit"] = SAVE_TOTAL_LIMIT  # in job.toml, so the run shows what it ran with
    size = params * 2 + params * 8  # 16-bit weights + AdamW's two fp32 moments
    keypath = "trainer.args.save_total_limit"
    return [f"{where('trainer.args')}: {keypath}: not set, on a model of {params / 1e9:.1f}B parameters whose full "
            f"checkpoints are about {size / 1e9:.0f} GB each (weights and optimizer state): keeping the last "
            f"{SAVE_TOTAL_LIMIT} (the workbench's default, now in the run's job.toml); set it to keep more or fewer"]


def _left_padding(data: dict, where: Where) -> list[str]:
    model = data["model"]
    key = "tokenizer" if model.get("tokenizer") else "path"
    folder = Path(model[key])
    side = None
    if folder.is_absolute() and (folder / "tokenizer_config.json").is_file():
        try:
            side = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8")).get("padding_side")
        except (OSError, ValueError, AttributeError):
            side = None
    if data["trainer"]["args"].get("padding_side") == "left":
        return [f"{where('trainer.args.padding_side')}: trainer.args.padding_side: \"left\" pads training batches "
                "on the left; left padding is for generation (use \"right\" for training)"]
    if side == "left":
        return [f"{where(f'model.{key}')}: model.{key}: the tokenizer pads on the left (padding_side = \"left\" in "
                f"{folder / 'tokenizer_config.json'}); left padding is for generation: the TRL trainers pad right "
                "on their own, but anything that batches through the tokenizer (reward scoring, plugin trainers) "
                "pads left; set \"padding_side\": \"right\" there for training"]
    return []


def _remote_code(data: dict, where: Where) -> list[str]:
    model = data["model"]
    if not model.get("trust_remote_code") or Path(model["path"]).is_absolute():
        return []  # a local folder's code is what is on disk
    revision = model.get("revision")
    if revision and _SHA.match(revision):
        return []
    what = f"revision '{revision}' can move" if revision else "no model.revision: the job runs whatever the repo's main holds"
    return [f"{where('model.trust_remote_code')}: model.trust_remote_code: runs Python code from the Hub repo "
            f"'{model['path']}' and {what} when it starts; pin model.revision to a commit sha (40 hex digits)"]


# ----------------------------------------------------------------------------- packing


def _texts(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)


def _messages(value: Any) -> int:
    return len(value) if isinstance(value, list) else 1


def _sample_rows(source: str, data_cfg: dict, registry) -> tuple[list[dict], str]:
    from workbench.data.loading import convert_rows, resolve_format
    from workbench.data.readers import iter_rows

    detection = resolve_format(source, data_cfg, registry.data_formats, data_cfg["split"])
    rows = [converted for _, converted, bad in convert_rows(
        iter_rows(source, data_cfg["split"], limit=PACKING_SAMPLE), detection.format, data_cfg.get("columns"))
        if not bad]
    return rows, detection.format.kind


def token_lengths(rows: list[dict], tokenizer_file: Path) -> list[int]:
    """Tokens per row with the model's tokenizer: its text fields, plus a few per message for the chat template."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(tokenizer_file))
    texts = ["\n".join(_texts(row)) for row in rows]
    overhead = [4 * sum(_messages(v) for k, v in row.items() if k in ("messages", "prompt", "completion")) + 1
                for row in rows]
    return [len(enc.ids) + extra for enc, extra in zip(tok.encode_batch(texts, add_special_tokens=False), overhead)]


def _packing(data: dict, spec, fields: dict | None, where: Where, registry) -> list[str]:
    from workbench.data.readers import is_hub_name
    from workbench.data.tokens import pack_bfd

    args = data["trainer"]["args"]
    if fields is None or "packing" not in fields or "max_length" not in fields:
        return []
    merged = {**{k: fields[k].get("default") for k in ("packing", "max_length")}, **spec.default_args, **args}
    max_length = merged.get("max_length")
    if merged.get("packing") or not isinstance(max_length, int) or max_length < 64:
        return []
    model = data["model"]
    folder = Path(model.get("tokenizer") or model["path"])
    source = data["data"]["train"]
    if not (folder / "tokenizer.json").is_file() or is_hub_name(source):
        return []
    try:
        rows, kind = _sample_rows(source, data["data"], registry)
        if kind not in ("conversational", "prompt_completion", "language_modeling") or len(rows) < 8:
            return []
        lengths = sorted(token_lengths(rows, folder / "tokenizer.json"))
    except Exception:  # noqa: BLE001 - advice never fails a config; the job tokenizes for real
        return []
    p50, p95 = lengths[len(lengths) // 2], lengths[int(0.95 * (len(lengths) - 1))]
    if p95 > SHORT_FRACTION * max_length:
        return []
    gain = len(lengths) / max(1, pack_bfd(lengths, max_length))
    if gain < MIN_PACKING_GAIN:
        return []
    keypath = "trainer.args.packing"
    where_key = "trainer.args.max_length" if "max_length" in args else "trainer.args"
    return [f"{where(where_key)}: {keypath}: off, and rows are short next to max_length {max_length} "
            f"(p50 {p50}, p95 {p95} tokens, measured on {len(lengths)} rows with the model's tokenizer): packing "
            f"would put about {gain:.1f} rows in each sequence, {gain:.1f}x fewer steps per epoch; set "
            f"trainer.args.packing = true, or lower max_length (exact figures: workbench data stats --config CONFIG)"]

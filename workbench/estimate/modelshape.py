"""The parameter tensors of a causal language model, read from its config.json alone.

No weights are loaded: every tensor's shape follows from the architecture fields
(hidden size, heads, key/value heads, MLP width, vocabulary, tying). Tensors of
the decoder layers are listed once with `count = num_hidden_layers`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

from workbench.errors import ConfigError

# kind of a tensor: how quantization, LoRA and activations treat it
LINEAR = "linear"        # nn.Linear weight inside a decoder layer: quantized by bitsandbytes, LoRA target
BIAS = "bias"            # bias of such a Linear: stays in the load dtype when quantized
EMBEDDING = "embedding"  # token embedding table
HEAD = "head"            # lm_head / score head: an nn.Linear never quantized, excluded by "all-linear"
NORM = "norm"            # norm weights
EXPERTS = "experts"      # fused MoE expert weights (3-D parameters, not nn.Linear)
ROUTER = "router"        # MoE router weight (not an nn.Linear in transformers 5)

# model_type -> family. Unknown types with the Llama fields are read as Llama-like.
_FAMILIES: dict[str, str] = {
    "llama": "llama", "mistral": "llama", "qwen2": "qwen2", "qwen3": "qwen3",
    "gemma": "gemma", "gemma2": "gemma2", "gemma3_text": "gemma3", "olmo2": "olmo2",
    "phi3": "phi3", "mixtral": "mixtral", "qwen3_moe": "qwen3_moe",
}
SUPPORTED_TYPES = tuple(sorted(_FAMILIES))


@dataclass(frozen=True)
class TensorSpec:
    """One parameter tensor (or `count` identical ones, one per decoder layer)."""

    name: str                 # e.g. "model.layers.*.self_attn.q_proj.weight"
    shape: tuple[int, ...]
    kind: str
    count: int = 1

    @property
    def numel(self) -> int:
        """Elements of one tensor."""
        return math.prod(self.shape)

    @property
    def total(self) -> int:
        """Elements over all `count` copies."""
        return self.numel * self.count

    @property
    def module(self) -> str:
        """Dotted module path that owns the tensor ("model.layers.*.self_attn.q_proj")."""
        return self.name.rsplit(".", 1)[0]


@dataclass(frozen=True)
class ModelShape:
    """Architecture numbers plus the full list of parameter tensors."""

    model_type: str
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    tied: bool
    tensors: tuple[TensorSpec, ...]
    config_dtype: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def q_dim(self) -> int:
        return self.num_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.num_kv_heads * self.head_dim

    @property
    def param_count(self) -> int:
        """Total parameters, as sum(p.numel() for p in model.parameters())."""
        return sum(t.total for t in self.tensors)

    def layer_params(self) -> int:
        """Parameters of one decoder layer."""
        return sum(t.numel for t in self.tensors if t.count == self.num_layers and ".layers.*." in t.name)

    def linear_modules(self) -> tuple[TensorSpec, ...]:
        """Weights of the nn.Linear modules (decoder layers plus head)."""
        return tuple(t for t in self.tensors if t.kind in (LINEAR, HEAD))

    def with_score_head(self, num_labels: int = 1) -> "ModelShape":
        """The same backbone with a sequence-classification head (reward / value models)."""
        tensors = [t for t in self.tensors if t.kind != HEAD]
        tensors.append(TensorSpec("score.weight", (num_labels, self.hidden_size), HEAD))
        return replace(self, tensors=tuple(tensors), tied=False)


def _int(cfg: Mapping[str, Any], key: str, where: str, default: int | None = None) -> int:
    value = cfg.get(key, default)
    if value is None:
        raise ConfigError(f"missing architecture field '{key}'", where=where)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ConfigError(f"field '{key}' must be a positive integer, got {value!r}", where=where)
    return value


def shape_from_config(cfg: Mapping[str, Any], where: str = "config.json") -> ModelShape:
    """Build the tensor list of a causal LM from its config dict.

    Raises ConfigError naming `where` and the field for missing or bad fields.
    """
    if "hidden_size" not in cfg and isinstance(cfg.get("text_config"), Mapping):
        cfg = cfg["text_config"]  # multimodal wrappers keep the language model here
    model_type = str(cfg.get("model_type", ""))
    family = _FAMILIES.get(model_type)
    notes: list[str] = []
    if family is None:
        if "n_embd" in cfg or "d_model" in cfg:
            raise ConfigError(
                f"model_type '{model_type}' is not supported by the estimator "
                f"(supported: {', '.join(SUPPORTED_TYPES)}, or Llama-like configs)", where=where)
        family = "llama"
        notes.append(f"model_type '{model_type}' is not known: its shape is read as Llama-like")

    h = _int(cfg, "hidden_size", where)
    layers = _int(cfg, "num_hidden_layers", where)
    heads = _int(cfg, "num_attention_heads", where)
    kv = _int(cfg, "num_key_value_heads", where, default=heads)
    vocab = _int(cfg, "vocab_size", where)
    head_dim = cfg.get("head_dim") or h // heads
    if heads % kv:
        raise ConfigError(f"num_attention_heads ({heads}) is not a multiple of num_key_value_heads ({kv})", where=where)
    moe = family in ("mixtral", "qwen3_moe")
    if family == "qwen3_moe":
        inter = _int(cfg, "moe_intermediate_size", where)
    else:
        inter = _int(cfg, "intermediate_size", where)
    tied = bool(cfg.get("tie_word_embeddings", family in ("gemma", "gemma2", "gemma3")))
    q, kvd = heads * head_dim, kv * head_dim
    attn_bias = bool(cfg.get("attention_bias", False))
    mlp_bias = bool(cfg.get("mlp_bias", False))

    L = "model.layers.*."
    t: list[TensorSpec] = [TensorSpec("model.embed_tokens.weight", (vocab, h), EMBEDDING)]

    def linear(name: str, out_f: int, in_f: int, bias: bool) -> None:
        t.append(TensorSpec(f"{L}{name}.weight", (out_f, in_f), LINEAR, layers))
        if bias:
            t.append(TensorSpec(f"{L}{name}.bias", (out_f,), BIAS, layers))

    if family == "phi3":
        linear("self_attn.qkv_proj", q + 2 * kvd, h, attn_bias)
    else:
        qkv_bias = attn_bias or family == "qwen2"
        linear("self_attn.q_proj", q, h, qkv_bias)
        linear("self_attn.k_proj", kvd, h, qkv_bias)
        linear("self_attn.v_proj", kvd, h, qkv_bias)
    linear("self_attn.o_proj", h, q, attn_bias)
    if family in ("qwen3", "gemma3", "qwen3_moe"):
        t.append(TensorSpec(f"{L}self_attn.q_norm.weight", (head_dim,), NORM, layers))
        t.append(TensorSpec(f"{L}self_attn.k_norm.weight", (head_dim,), NORM, layers))
    elif family == "olmo2":
        t.append(TensorSpec(f"{L}self_attn.q_norm.weight", (q,), NORM, layers))
        t.append(TensorSpec(f"{L}self_attn.k_norm.weight", (kvd,), NORM, layers))

    if moe:
        experts = _int(cfg, "num_local_experts" if family == "mixtral" else "num_experts", where)
        t.append(TensorSpec(f"{L}mlp.gate.weight", (experts, h), ROUTER, layers))
        t.append(TensorSpec(f"{L}mlp.experts.gate_up_proj", (experts, 2 * inter, h), EXPERTS, layers))
        t.append(TensorSpec(f"{L}mlp.experts.down_proj", (experts, h, inter), EXPERTS, layers))
        notes.append("MoE experts are fused 3-D parameters: bitsandbytes does not quantize them and "
                     "'all-linear' LoRA does not adapt them; activations assume every expert-token is routed once")
    elif family == "phi3":
        linear("mlp.gate_up_proj", 2 * inter, h, mlp_bias)
        linear("mlp.down_proj", h, inter, mlp_bias)
    else:
        linear("mlp.gate_proj", inter, h, mlp_bias)
        linear("mlp.up_proj", inter, h, mlp_bias)
        linear("mlp.down_proj", h, inter, mlp_bias)

    if family == "olmo2":
        norms = ("post_attention_layernorm", "post_feedforward_layernorm")
    elif family in ("gemma2", "gemma3"):
        norms = ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm")
    else:
        norms = ("input_layernorm", "post_attention_layernorm")
    for n in norms:
        t.append(TensorSpec(f"{L}{n}.weight", (h,), NORM, layers))
    t.append(TensorSpec("model.norm.weight", (h,), NORM))
    if not tied:  # a tied lm_head shares the embedding's storage: no tensor of its own
        t.append(TensorSpec("lm_head.weight", (vocab, h), HEAD))

    dtype = cfg.get("dtype") or cfg.get("torch_dtype")
    return ModelShape(
        model_type=model_type or "unknown", hidden_size=h, intermediate_size=inter, num_layers=layers,
        num_heads=heads, num_kv_heads=kv, head_dim=head_dim, vocab_size=vocab, tied=tied,
        tensors=tuple(t), config_dtype=str(dtype) if dtype else None, notes=tuple(notes),
    )


_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def _looks_local(raw: str) -> bool:
    return raw.startswith((".", "/", "~")) or raw.count("/") > 1 or "\\" in raw or not _HUB_ID.match(raw)


def load_model_config(path: str, base_dir: Path | None = None, where: str = "[model] path") -> tuple[dict, str]:
    """Read config.json of a local model folder, or of a Hub model through AutoConfig.

    Returns (config dict, description of where it came from). Relative folders are
    resolved against `base_dir`. Errors are one line naming the path.
    """
    raw = str(path).strip()
    if not raw:
        raise ConfigError("model path is empty", where=where)
    local = Path(raw).expanduser()
    if not local.is_absolute() and base_dir is not None:
        local = Path(base_dir) / local
    if local.is_dir():
        cfg_file = local / "config.json"
        if not cfg_file.is_file():
            raise ConfigError(f"model folder {local} has no config.json", where=where)
        try:
            return json.loads(cfg_file.read_text(encoding="utf-8")), str(cfg_file)
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(f"cannot read {cfg_file}: {exc}", where=where) from None
    if local.exists():
        raise ConfigError(f"model path {local} is a file, expected a folder with config.json", where=where)
    if _looks_local(raw):
        raise ConfigError(f"model folder not found: {local}", where=where)
    return _hub_config(raw, local, where)


def _hub_config(repo_id: str, local: Path, where: str) -> tuple[dict, str]:
    """Config of a Hub model: from the local Hub cache, else fetched (fails fast when offline)."""
    import logging
    import socket
    from urllib.parse import urlparse

    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(repo_id, local_files_only=True).to_dict(), f"hub:{repo_id}"
    except Exception:  # noqa: BLE001 - not cached: fetch it below
        pass
    from huggingface_hub import constants

    head = f"no local folder {local} and the Hub config of '{repo_id}'"
    if constants.HF_HUB_OFFLINE:
        raise ConfigError(f"{head} is not cached (HF_HUB_OFFLINE is set)", where=where)
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError:
        # huggingface_hub would retry for ~30 s before giving up
        raise ConfigError(f"{head} could not be fetched: {host} is unreachable (offline?)", where=where) from None
    hub_log = logging.getLogger("huggingface_hub")
    level = hub_log.level
    hub_log.setLevel(logging.ERROR)
    try:
        return AutoConfig.from_pretrained(repo_id).to_dict(), f"hub:{repo_id}"
    except Exception as exc:  # noqa: BLE001 - any Hub failure becomes one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"{head} could not be fetched: {first}", where=where) from None
    finally:
        hub_log.setLevel(level)

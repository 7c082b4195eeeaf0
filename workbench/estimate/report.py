"""The estimate as a value: breakdown, verdict, suggestion; JSON and terminal table."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

GiB = 1024**3
MiB = 1024**2

_LABELS = {
    "weights": "weights", "quant_state": "quantization state", "adapters": "LoRA adapters",
    "gradients": "gradients", "optimizer_states": "optimizer states", "master_weights": "fp32 master weights",
    "activations": "activations", "logits": "logits + loss", "autocast_copies": "autocast weight copies",
    "comm_buffers": "communication buffers", "overlap": "grads/activations overlap",
    "cuda_overhead": "CUDA context + allocator",
}


@dataclass
class Suggestion:
    """The cheapest config change found that makes the job fit."""

    changes: dict[str, Any]          # dotted config keys -> new value
    description: str
    total_bytes: int
    usage: float


@dataclass
class Estimate:
    """Per-GPU memory estimate of a training job and how it compares with the GPUs."""

    model: str
    model_type: str
    params: int
    trainable_params: int
    settings: dict[str, Any]
    breakdown: dict[str, int]
    models: list[dict[str, Any]]
    assumptions: list[str] = field(default_factory=list)
    gpus: list[dict[str, int]] = field(default_factory=list)
    free_bytes: int | None = None
    verdict: str = "unknown"         # "fits" | "tight" | "exceeds" | "unknown" (no GPU information)
    suggestion: Suggestion | None = None

    @property
    def total_bytes(self) -> int:
        """Bytes per GPU: the sum of the breakdown."""
        return sum(self.breakdown.values())

    @property
    def usage(self) -> float | None:
        """Total over the free memory of the tightest GPU."""
        return self.total_bytes / self.free_bytes if self.free_bytes else None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["total_bytes"] = self.total_bytes
        data["usage"] = None if self.usage is None else round(self.usage, 4)
        return data

    def to_json(self, indent: int | None = 2) -> str:
        """The estimate as JSON (bytes as integers)."""
        return json.dumps(self.to_dict(), indent=indent)

    def format_table(self) -> str:
        """A plain-text report for the terminal."""
        s = self.settings
        lines = [
            f"model   {self.model} ({self.model_type}, {_count(self.params)} params, "
            f"{_count(self.trainable_params)} trainable)",
            f"job     {s['trainer']} | batch {s['per_device_train_batch_size']} x accum "
            f"{s['gradient_accumulation_steps']} | seq {s['seq_len']} | {s['weights']} weights, "
            f"{s['mixed_precision']} | checkpointing {'on' if s['gradient_checkpointing'] else 'off'} | "
            f"{s['optim']} | {s['distributed']} x {s['num_processes']}",
            "",
        ]
        unit, size = ("GiB", GiB) if self.total_bytes >= GiB else ("MiB", MiB)
        lines.append(f"{'per GPU':<28}{unit:>10}")
        for key, value in self.breakdown.items():
            if value:
                lines.append(f"  {_LABELS.get(key, key):<26}{value / size:>10.2f}")
        lines.append(f"  {'total':<26}{self.total_bytes / size:>10.2f}")
        lines.append("")
        if self.free_bytes is None:
            lines.append("GPUs    none detected: pass --gpu-mem GIB to compare")
        else:
            lines.append(f"GPUs    {self.free_bytes / GiB:.2f} GiB free on the tightest of "
                         f"{len(self.gpus)} -> {self.verdict.upper()} ({self.usage:.0%})")
            if self.suggestion:
                lines.append(f"fix     {self.suggestion.description} -> {self.suggestion.total_bytes / GiB:.2f} GiB "
                             f"({self.suggestion.usage:.0%})")
            elif self.verdict == "exceeds":
                lines.append("fix     none of batch/accumulation, checkpointing, 8-bit optimizer, QLoRA is enough: "
                             "add GPUs with FSDP / ZeRO-3")
        if self.assumptions:
            lines.append("assumed")
            lines.extend(f"  - {a}" for a in self.assumptions)
        return "\n".join(lines)


def _count(n: int) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.2f} {unit}"
    return str(n)

"""PPO checkpoints: `checkpoint-<step>/` with everything needed to resume exactly.

Contents: the policy (`save_pretrained`: the adapter only for PEFT models) and its
tokenizer, `value_head.safetensors`, `optimizer.pt`, `scheduler.pt`,
`rng_state_<rank>.pth` (one per process) and `trainer_state.json`
(global_step, log_history, the config).
"""

from __future__ import annotations

import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from workbench.errors import RunError
from workbench_plugins.ppo.modeling import is_peft_model

STATE_FILE = "trainer_state.json"
VALUE_HEAD_FILE = "value_head.safetensors"
CRITIC_DIR = "value_model"


def save_policy(out: Path, accelerator: Any, policy: torch.nn.Module, value_head: torch.nn.Module, tokenizer: Any, critic: torch.nn.Module | None = None) -> None:
    """Write the policy (adapter for PEFT), tokenizer, value head and separate critic (in value_model/)."""
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        out.mkdir(parents=True, exist_ok=True)
        policy.save_pretrained(out, state_dict=accelerator.get_state_dict(policy) if not is_peft_model(policy) else None)
        if tokenizer is not None:
            tokenizer.save_pretrained(out)
        save_file({k: v.detach().cpu().contiguous() for k, v in value_head.state_dict().items()}, str(out / VALUE_HEAD_FILE))
        if critic is not None:
            critic.save_pretrained(out / CRITIC_DIR, state_dict=accelerator.get_state_dict(critic) if not is_peft_model(critic) else None)
    accelerator.wait_for_everyone()


def save(
    path: Path,
    accelerator: Any,
    policy: torch.nn.Module,
    value_head: torch.nn.Module,
    tokenizer: Any,
    optimizer: Any,
    scheduler: Any,
    state: dict[str, Any],
    critic: torch.nn.Module | None = None,
) -> None:
    """Write a full resumable checkpoint to `path`."""
    save_policy(path, accelerator, policy, value_head, tokenizer, critic)
    if accelerator.is_main_process:
        torch.save(optimizer.state_dict(), path / "optimizer.pt")
        torch.save(scheduler.state_dict(), path / "scheduler.pt")
        (path / STATE_FILE).write_text(json.dumps(state, indent=2, default=str), encoding="utf-8")
    rng = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    torch.save(rng, path / f"rng_state_{accelerator.process_index}.pth")
    accelerator.wait_for_everyone()


def load(
    path: Path, accelerator: Any, policy: torch.nn.Module, value_head: torch.nn.Module, optimizer: Any, scheduler: Any, critic: torch.nn.Module | None = None
) -> dict[str, Any]:
    """Restore weights, optimizer, scheduler and RNG from `path`; returns trainer_state.json."""
    state_file = path / STATE_FILE
    if not state_file.is_file():
        raise RunError(f"not a PPO checkpoint (no {STATE_FILE})", where=str(path))
    state = json.loads(state_file.read_text(encoding="utf-8"))
    _load_policy(path, policy)
    if critic is not None:
        _load_policy(path / CRITIC_DIR, critic)
    value_head.load_state_dict(load_file(str(path / VALUE_HEAD_FILE), device=str(next(value_head.parameters()).device)))
    # Optimizer.load_state_dict moves the state onto its parameters' device.
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", map_location="cpu", weights_only=True))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=True))
    rng_file = path / f"rng_state_{accelerator.process_index}.pth"
    if rng_file.is_file():
        rng = torch.load(rng_file, weights_only=False)
        random.setstate(rng["python"])
        np.random.set_state(rng["numpy"])
        torch.set_rng_state(rng["torch"])
        if rng.get("cuda") is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])
    return state


def _load_policy(path: Path, policy: torch.nn.Module) -> None:
    if is_peft_model(policy):
        from peft import set_peft_model_state_dict

        files = sorted(path.glob("adapter_model*.safetensors"))
        if not files:
            raise RunError("checkpoint has no adapter_model.safetensors (was it saved from a full fine-tune?)", where=str(path))
        weights: dict[str, torch.Tensor] = {}
        for f in files:
            weights.update(load_file(str(f)))
        set_peft_model_state_dict(policy, weights)
        return
    files = sorted(p for p in path.glob("model*.safetensors"))
    if not files:
        raise RunError("checkpoint has no model*.safetensors (was it saved from a LoRA run?)", where=str(path))
    weights = {}
    for f in files:
        weights.update(load_file(str(f)))
    missing, unexpected = policy.load_state_dict(weights, strict=False)
    tied = bool(getattr(getattr(policy, "config", None), "tie_word_embeddings", False))
    # Tied output embeddings are not stored separately; they come back with the input ones.
    real_missing = [k for k in missing if not (tied and k.endswith("lm_head.weight"))]
    if real_missing or unexpected:
        raise RunError(f"checkpoint weights do not fit the policy (missing {real_missing[:3]}, unexpected {list(unexpected)[:3]})", where=str(path))


def rotate(output_dir: Path, keep: int | None) -> None:
    """Delete the oldest checkpoint-<step> folders beyond `keep`."""
    if not keep or keep < 1:
        return
    found = sorted(
        (int(m.group(1)), p) for p in output_dir.glob("checkpoint-*") if (m := re.fullmatch(r"checkpoint-(\d+)", p.name)) and p.is_dir()
    )
    for _, p in found[:-keep]:
        shutil.rmtree(p, ignore_errors=True)


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The checkpoint-<step> folder with the highest step, or None."""
    found = [
        (int(m.group(1)), p) for p in Path(output_dir).glob("checkpoint-*") if (m := re.fullmatch(r"checkpoint-(\d+)", p.name)) and (p / STATE_FILE).is_file()
    ]
    return max(found)[1] if found else None

"""`estimate(config, models, gpus)`: the public entry point of the VRAM estimator."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from workbench.estimate.compute import Computed, ModelLoad, compute
from workbench.estimate.fit import free_memory, suggest, verdict
from workbench.estimate.modelshape import ModelShape, load_model_config, shape_from_config
from workbench.estimate.report import Estimate
from workbench.estimate.settings import JobSettings, read_settings
from workbench.specs import ModelUse

_SCORE_ROLES = ("value", "reward")


def _lookup(config: Mapping[str, Any], dotted: str) -> Any:
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def load_shape(path: str, base_dir: Path | None, where: str) -> ModelShape:
    """Read and parse a model's config.json (local folder or Hub id)."""
    cfg, origin = load_model_config(path, base_dir, where=where)
    return shape_from_config(cfg, where=origin)


def plan_models(config: Mapping[str, Any], uses: Sequence[ModelUse], policy: ModelShape,
                base_dir: Path | None, notes: list[str]) -> list[ModelLoad]:
    """Turn the trainer's declared ModelUse list into shapes; the policy comes first."""
    uses = list(uses) or [ModelUse("policy", trainable=True)]
    uses.sort(key=lambda u: u.role != "policy")
    loads: list[ModelLoad] = []
    for use in uses:
        shape, quantized = policy, True
        if use.source != "policy":
            value = _lookup(config, use.source)
            if isinstance(value, str) and value:
                shape = load_shape(value, base_dir, where=f"[{use.source.rsplit('.', 1)[0]}] "
                                                           f"{use.source.rsplit('.', 1)[-1]}")
                quantized = False
            else:
                notes.append(f"{use.role} model: '{use.source}' not set, sized like the policy")
        if use.role in _SCORE_ROLES:
            shape = shape.with_score_head(1)
        loads.append(ModelLoad(role=use.role, shape=shape, trainable=use.trainable,
                               shares_base=use.shares_base_with_lora, quantized=quantized))
    return loads


def _settings_summary(s: JobSettings, c: Computed) -> dict[str, Any]:
    return {
        "trainer": s.trainer, "per_device_train_batch_size": s.batch_size,
        "gradient_accumulation_steps": s.grad_accum, "seq_len": s.seq_len,
        "sequences_per_example": s.sequences_per_example, "gradient_checkpointing": s.gradient_checkpointing,
        "optim": s.optim, "mixed_precision": s.mixed_precision, "load_dtype": c.load_dtype,
        "weights": (f"{s.quant.bits}-bit {s.quant.quant_type if s.quant.bits == 4 else 'int8'}"
                    if s.quant else c.load_dtype),
        "peft": None if s.lora is None else {"r": s.lora.r, "target_modules": s.lora.targets},
        "num_processes": s.num_processes, "distributed": s.distributed, "zero_stage": s.zero_stage,
    }


def estimate(config: Mapping[str, Any], models: Sequence[ModelUse] = (), gpus: list[dict] | None = None, *,
             base_dir: str | Path | None = None, source: str | None = None) -> Estimate:
    """Estimate per-GPU memory of a job without loading weights.

    config: the resolved job config ([model], [trainer], [peft], [quantization], [launch]).
    models: the trainer's declared ModelUse list (TrainerSpec.models); empty = one trainable policy.
    gpus: [{index, mem_total_bytes, mem_used_bytes}] to compare with; None = no verdict.
    base_dir: folder that relative model paths are resolved against.
    source: the config file name, used in error messages.
    """
    settings = read_settings(config, source)
    base = Path(base_dir) if base_dir is not None else None
    prefix = f"{source}: " if source else ""
    policy = load_shape(settings.model_path, base, where=f"{prefix}[model] path")
    notes = list(settings.assumptions) + list(policy.notes)
    loads = plan_models(config, models, policy, base, notes)
    computed = compute(settings, loads)
    notes += computed.notes
    used, free = free_memory(gpus, settings.num_processes)
    if gpus and len(gpus) < settings.num_processes:
        notes.append(f"num_processes = {settings.num_processes} but only {len(gpus)} GPU(s) present")
    result = Estimate(
        model=settings.model_path, model_type=policy.model_type, params=policy.param_count,
        trainable_params=sum(r.trainable_params for r in computed.models),
        settings=_settings_summary(settings, computed), breakdown=computed.breakdown,
        models=[vars(r) for r in computed.models], assumptions=notes, gpus=used, free_bytes=free,
    )
    result.verdict = verdict(result.total_bytes, free)
    if free is not None and result.verdict != "fits":
        result.suggestion = suggest(settings, lambda s: compute(s, loads).total, free)
    return result

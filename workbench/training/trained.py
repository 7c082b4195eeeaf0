"""The model a run trained, as evaluators (and anything scoring a run) should load it."""

from __future__ import annotations

from typing import Any


def load_trained_model(ctx: Any):
    """The trained model of the run, in eval mode on the job's device:

    - `checkpoints/final` holding a LoRA adapter: the adapter applied to its base ([model], with
      `model.adapter` applied first when the run started from one);
    - `checkpoints/final` holding a full model: that model;
    - no `checkpoints/final` (an evaluation run, `workbench eval`, or before training): [model]
      with `model.adapter` applied;
    - in a pass over a checkpoint of the run being trained (`[eval] at = "checkpoints"`): the live
      model itself (the pass puts it in `ctx.cache["model"]`; it restores the training mode after).
    Quantization, dtype and trust_remote_code follow the config, as for training.
    """
    live = (getattr(ctx, "cache", None) or {}).get("model")
    if live is not None:
        return live[0].eval()
    from accelerate import PartialState

    from workbench.training.models import apply_adapter, quantization_config

    final = ctx.output_dir / "final"
    quantized = quantization_config(ctx.config) is not None
    if (final / "adapter_config.json").is_file():
        model = apply_adapter(ctx.load_model("policy"), str(final), quantized=quantized)
    elif (final / "config.json").is_file():
        model = ctx.load_model("policy", path=str(final))
    else:
        model = ctx.load_model("policy")
    if not (getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False)):
        model = model.to(PartialState().device)
    return model.eval()

"""A helper for TRL trainers that compare the policy with a frozen reference (DPO, KTO, ...)."""

from __future__ import annotations

from typing import Any

from workbench.training.context import TrainContext


def build_with_reference(ctx: TrainContext, config_class: Any, trainer_class: Any):
    """The TRL trainer, with its reference model chosen the way Workbench does it.

    With LoRA the reference is implicit (the base with adapters off). Full fine-tuning needs a
    frozen copy; loading it here rather than letting TRL reload it from the path keeps the
    config's dtype, quantization, revision and trust_remote_code settings.
    """
    args = ctx.training_args(config_class)
    peft_config = ctx.peft_config()
    model = ctx.load_model("policy")
    ref_model = None
    if peft_config is None and not getattr(args, "precompute_ref_log_probs", False):
        ref_model = ctx.load_model("reference")
    return ctx.with_data_cache(trainer_class)(
        model=model,
        ref_model=ref_model,
        args=args,
        train_dataset=ctx.train_dataset,
        eval_dataset=ctx.eval_dataset,
        processing_class=ctx.load_tokenizer(),
        peft_config=peft_config,
        callbacks=ctx.callbacks,
    )

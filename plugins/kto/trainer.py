"""Builds TRL's KTOTrainer from a Workbench TrainContext."""

from __future__ import annotations

from workbench.training import TrainContext


def build(ctx: TrainContext):
    from trl import KTOConfig, KTOTrainer

    args = ctx.training_args(KTOConfig)
    peft_config = ctx.peft_config()
    model = ctx.load_model("policy")
    ref_model = None
    if peft_config is None and not args.precompute_ref_log_probs:
        # A frozen copy for full fine-tuning, loaded with the config's dtype/quantization/remote-code settings.
        ref_model = ctx.load_model("reference")
    return KTOTrainer(
        model=model,
        ref_model=ref_model,
        args=args,
        train_dataset=ctx.train_dataset,
        eval_dataset=ctx.eval_dataset,
        processing_class=ctx.load_tokenizer(),
        peft_config=peft_config,
        callbacks=ctx.callbacks,
    )

"""Builds TRL's DPOTrainer from a Workbench TrainContext."""

from __future__ import annotations

from workbench.training import TrainContext


def build(ctx: TrainContext):
    from trl import DPOConfig, DPOTrainer

    args = ctx.training_args(DPOConfig)
    peft_config = ctx.peft_config()
    model = ctx.load_model("policy")
    ref_model = None
    if peft_config is None and not args.precompute_ref_log_probs:
        # Full fine-tuning needs a frozen copy. Loading it through the workbench (rather than
        # letting TRL reload it from the path) keeps the config's dtype, quantization,
        # revision and trust_remote_code settings.
        ref_model = ctx.load_model("reference")
    return DPOTrainer(
        model=model,
        ref_model=ref_model,
        args=args,
        train_dataset=ctx.train_dataset,
        eval_dataset=ctx.eval_dataset,
        processing_class=ctx.load_tokenizer(),
        peft_config=peft_config,
        callbacks=ctx.callbacks,
    )

"""Builds TRL's SFTTrainer from a Workbench TrainContext."""

from __future__ import annotations

from workbench.training import TrainContext


def build(ctx: TrainContext):
    from trl import SFTConfig, SFTTrainer

    args = ctx.training_args(SFTConfig)
    if args.assistant_only_loss and "messages" not in ctx.train_dataset.column_names:
        # Assistant-only loss needs conversations; for other kinds TRL's completion-only loss applies.
        args.assistant_only_loss = False
    tokenizer = ctx.load_tokenizer()
    model = ctx.load_model("policy")
    return ctx.with_data_cache(SFTTrainer)(
        model=model,
        args=args,
        train_dataset=ctx.train_dataset,
        eval_dataset=ctx.eval_dataset,
        processing_class=tokenizer,
        peft_config=ctx.peft_config(),
        callbacks=ctx.callbacks,
    )

"""Builds TRL's RewardTrainer from a Workbench TrainContext.

The model is the [model] checkpoint loaded as AutoModelForSequenceClassification with
one label (a fresh scoring head). With [peft], LoRA adapters train with task type
SEQ_CLS (which also trains the head); the final save merges them so that
checkpoints/final is a standalone reward model for PPO.
"""

from __future__ import annotations

from pathlib import Path

from workbench.training import TrainContext

SEQ_CLS = "transformers:AutoModelForSequenceClassification"


def _reward_trainer_class():
    from trl import RewardTrainer

    class WorkbenchRewardTrainer(RewardTrainer):
        """RewardTrainer whose final save is a merged, loadable sequence-classification model."""

        def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
            if _internal_call or not hasattr(self.model, "merge_and_unload"):
                super().save_model(output_dir, _internal_call=_internal_call)
                return
            save_merged(self, output_dir or self.args.output_dir)

    return WorkbenchRewardTrainer


def save_merged(trainer, output_dir: str) -> None:
    """Merge LoRA adapters into a copy of the model and save it with the tokenizer (main process only)."""
    import copy

    trainer.accelerator.wait_for_everyone()
    if not trainer.accelerator.is_main_process:
        return
    model = trainer.accelerator.unwrap_model(trainer.model)
    merged = copy.deepcopy(model).merge_and_unload()
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    merged.save_pretrained(output_dir)
    if trainer.processing_class is not None:
        trainer.processing_class.save_pretrained(output_dir)


def build(ctx: TrainContext):
    from trl import RewardConfig

    args = ctx.training_args(RewardConfig)
    tokenizer = ctx.load_tokenizer()
    # from_pretrained on a causal-LM checkpoint adds a random head: seed first for reproducibility.
    from transformers import set_seed

    set_seed(args.seed)
    model = ctx.load_model("policy", model_class="AutoModelForSequenceClassification", num_labels=1)
    # The head scores the last non-pad token: the model must know the pad id.
    model.config.pad_token_id = tokenizer.pad_token_id
    trainer = ctx.with_data_cache(_reward_trainer_class())(
        model=model,
        args=args,
        train_dataset=ctx.train_dataset,
        eval_dataset=ctx.eval_dataset,
        processing_class=tokenizer,
        peft_config=ctx.peft_config(task_type="SEQ_CLS"),
        callbacks=ctx.callbacks,
    )
    if getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        restore_head_dtype(trainer.model)
    return trainer


def restore_head_dtype(model) -> None:
    """Give fully trained modules (PEFT modules_to_save: the score head) their original dtype back.

    Under QLoRA TRL casts every trainable parameter to bfloat16. LoRA layers cast their input,
    but a plain Linear head does not, so with float32 hidden states its matmul would fail.
    """
    from peft.utils.other import ModulesToSaveWrapper

    for module in model.modules():
        if isinstance(module, ModulesToSaveWrapper):
            dtype = next(module.original_module.parameters()).dtype
            for param in module.modules_to_save.parameters():
                param.data = param.data.to(dtype)

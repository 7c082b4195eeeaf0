"""ctx.load_trained_model(): what an evaluator scores is the trained model, LoRA applied."""

from __future__ import annotations

import pytest

from workbench.testing import make_context, tiny_model_path


def _logits(model, ids):
    import torch

    with torch.no_grad():
        return model(input_ids=ids).logits


@pytest.fixture(scope="module")
def lora_adapter(tmp_path_factory):
    """A LoRA adapter on the tiny model with non-zero B matrices (so it changes the outputs)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("adapter")
    base = AutoModelForCausalLM.from_pretrained(str(tiny_model_path()))
    peft = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    torch.manual_seed(0)
    with torch.no_grad():
        for name, param in peft.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    peft.save_pretrained(str(folder))
    return folder


def test_final_lora_adapter_is_applied_to_its_base(tmp_path, lora_adapter):
    import shutil

    import torch

    ctx = make_context(tmp_path)
    shutil.copytree(lora_adapter, ctx.output_dir / "final")
    ids = torch.tensor([[1, 5, 9, 13, 17]])
    base = _logits(ctx.load_model("policy").eval(), ids)
    trained = _logits(ctx.load_trained_model(), ids)
    assert not torch.allclose(base, trained, atol=1e-4)  # the old scaffold scored the base model here


def test_full_final_model_and_an_evaluation_run_with_an_adapter(tmp_path, lora_adapter):
    import torch

    ids = torch.tensor([[2, 4, 6, 8]])
    ctx = make_context(tmp_path / "full")
    model = ctx.load_model("policy")
    with torch.no_grad():
        model.lm_head.weight.mul_(2.0)
    model.save_pretrained(str(ctx.output_dir / "final"))
    assert torch.allclose(_logits(ctx.load_trained_model(), ids), _logits(model.eval(), ids), atol=1e-5)

    # `workbench eval` of a base + adapter: no checkpoints/final, model.adapter applied
    ev = make_context(tmp_path / "eval", config={"model": {"adapter": str(lora_adapter)}})
    plain = make_context(tmp_path / "plain")
    assert not torch.allclose(_logits(ev.load_trained_model(), ids), _logits(plain.load_trained_model(), ids),
                              atol=1e-4)

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


EVALUATOR = '''
import torch
from workbench.hookspecs import hookimpl
from workbench.specs import EvaluatorSpec

def evaluate(ctx):
    model = ctx.load_trained_model()
    with torch.no_grad():
        return {"mean_logit": float(model(input_ids=torch.tensor([[2, 4, 6, 8]])).logits.mean())}

@hookimpl
def register_evaluators():
    return [EvaluatorSpec("live_probe", "wb_live_probe:evaluate", ("model",))]
'''


def test_a_checkpoint_pass_scores_the_live_model_and_leaves_it_training(tmp_path, monkeypatch):
    """Was: at `[eval] at = "checkpoints"` ctx.load_trained_model() loaded [model] (no final yet), so a
    plugin evaluator scored the untrained base at every checkpoint while the built-ins scored the live model."""
    import importlib

    import torch

    from workbench.evaluation.passes import run_pass
    from workbench.testing import registry_with

    (tmp_path / "wb_live_probe.py").write_text(EVALUATOR)
    monkeypatch.syspath_prepend(str(tmp_path))
    plugin = importlib.import_module("wb_live_probe")
    ctx = make_context(tmp_path / "run", config={"eval": {"evaluators": ["live_probe"]}})
    live = ctx.load_model("policy")
    with torch.no_grad():
        live.lm_head.weight.mul_(3.0)
    live.train()
    results = run_pass(ctx, registry_with(plugin), "checkpoint-3", 3, model=live)
    with torch.no_grad():
        expected = float(live.eval()(input_ids=torch.tensor([[2, 4, 6, 8]])).logits.mean())
    assert results["live_probe"].metrics["mean_logit"] == pytest.approx(expected, abs=1e-5)
    live.train()
    run_pass(ctx, registry_with(plugin), "checkpoint-6", 6, model=live)
    assert live.training  # the trainer's model goes on training

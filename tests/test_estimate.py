"""VRAM estimator: exact tensor accounting against a real training step, published
shapes, per-rank division, the fit verdict and suggestion, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.errors import ConfigError
from workbench.estimate import estimate, shape_from_config
from workbench.estimate.compute import CUDA_CONTEXT_BYTES, GiB
from workbench.specs import ModelUse

POLICY = (ModelUse("policy", trainable=True),)
TINY = dict(hidden_size=64, intermediate_size=176, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=512)
LLAMA3_8B = {
    "model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256, "tie_word_embeddings": False,
    "dtype": "bfloat16",
}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny") / "model"
    LlamaForCausalLM(LlamaConfig(**TINY)).save_pretrained(path)
    return path


def job(path, **sections) -> dict:
    args = {"per_device_train_batch_size": 2, "max_length": 32, "gradient_checkpointing": False, "bf16": False}
    args.update(sections.pop("args", {}))
    cfg = {"model": {"path": str(path), "dtype": "auto"}, "trainer": {"name": "sft", "args": args}}
    cfg.update(sections)
    return cfg


# ---------------------------------------------------------------- a real step, counted

def _size(t) -> int:
    return t.numel() * t.element_size()


def _quant_state_bytes(model) -> int:
    """bitsandbytes state tensors of the quantized weights (4-bit absmax/code books, int8 row scales)."""
    total = 0
    for p in model.parameters():
        qs = getattr(p, "quant_state", None)
        if qs is not None:
            parts = [qs.absmax, qs.code, getattr(qs, "offset", None)]
            if qs.nested:
                parts += [qs.state2.absmax, qs.state2.code]
            total += sum(_size(t) for t in parts if t is not None)
        if getattr(p, "SCB", None) is not None:
            total += _size(p.SCB)
    return total


def _one_step(model, optim: str) -> dict[str, int]:
    """Run one optimizer step as the HF Trainer builds it; count what is allocated."""
    import torch
    from transformers import Trainer, TrainingArguments

    # Read before the first forward: on CPU only, bitsandbytes repacks some 4-bit weights for its CPU kernels.
    quant = _quant_state_bytes(model)
    args = TrainingArguments(output_dir="/tmp/unused", optim=optim, learning_rate=1e-3, report_to=[], use_cpu=True)
    cls, kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)
    opt = cls([p for p in model.parameters() if p.requires_grad], **kwargs)
    ids = torch.randint(0, TINY["vocab_size"], (2, 16))
    model(input_ids=ids, labels=ids).loss.backward()
    opt.step()

    seen, weights, grads = set(), 0, 0
    for p in model.parameters():
        if p.data_ptr() not in seen:
            seen.add(p.data_ptr())
            weights += _size(p)
            grads += _size(p.grad) if p.grad is not None else 0
    # torch keeps AdamW's `step` on the CPU unless the fused kernel runs: only then is it GPU memory
    fused = bool(getattr(opt, "defaults", {}).get("fused"))
    states = sum(_size(v) for st in opt.state.values() for k, v in st.items()
                 if torch.is_tensor(v) and (k != "step" or fused))
    return {"weights": weights, "gradients": grads, "optimizer_states": states, "quant_state": quant}


@pytest.mark.parametrize("optim", ["adamw_torch_fused", "adamw_torch", "adamw_bnb_8bit", "paged_adamw_32bit",
                                   "adafactor", "sgd"])
def test_full_finetune_matches_real_step(tiny_dir, optim):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    real = _one_step(model, optim)
    est = estimate(job(tiny_dir, args={"optim": optim}), POLICY).breakdown
    assert real["weights"] == est["weights"] == sum(p.numel() for p in model.parameters()) * 4
    assert est["gradients"] == real["gradients"]
    assert est["optimizer_states"] == real["optimizer_states"]


def test_lora_all_linear_matches_real_step(tiny_dir):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny_dir),
                           LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"))
    real = _one_step(model, "adamw_torch_fused")
    cfg = job(tiny_dir, peft={"method": "lora", "r": 8, "lora_alpha": 16, "target_modules": "all-linear"})
    e = estimate(cfg, POLICY)
    b = e.breakdown
    assert b["weights"] + b["adapters"] == real["weights"]
    assert b["gradients"] == real["gradients"] > 0
    assert b["optimizer_states"] == real["optimizer_states"]
    assert e.trainable_params == sum(p.numel() for p in model.parameters() if p.requires_grad)


def test_lora_named_targets(tiny_dir):
    cfg = job(tiny_dir, peft={"r": 4, "target_modules": ["q_proj", "v_proj"]})
    e = estimate(cfg, POLICY)
    # r * (in + out) per adapted linear, per layer: q 64->64, v 64->32
    assert e.trainable_params == 2 * 4 * ((64 + 64) + (64 + 32))
    with pytest.raises(ConfigError, match="'qkv' matches no linear layer"):
        estimate(job(tiny_dir, peft={"r": 4, "target_modules": ["qkv"]}), POLICY)


@pytest.mark.parametrize("double_quant", [False, True])
def test_qlora_4bit_matches_real_step(tiny_dir, double_quant):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=double_quant)
    model = AutoModelForCausalLM.from_pretrained(tiny_dir, quantization_config=bnb)
    model = get_peft_model(model, LoraConfig(r=8, target_modules="all-linear", task_type="CAUSAL_LM"))
    for p in model.parameters():  # as TRL does for quantized bases: adapters in bf16
        if p.requires_grad:
            p.data = p.data.to(torch.bfloat16)
    real = _one_step(model, "adamw_torch_fused")
    cfg = job(tiny_dir, peft={"r": 8, "target_modules": "all-linear"},
              quantization={"bits": 4, "quant_type": "nf4", "double_quant": double_quant})
    b = estimate(cfg, POLICY).breakdown
    assert b["weights"] + b["adapters"] == real["weights"]
    assert b["quant_state"] == real["quant_state"] > 0
    assert b["gradients"] == real["gradients"]
    assert b["optimizer_states"] == real["optimizer_states"]


def test_8bit_weights_match_loaded_model(tiny_dir):
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    model = AutoModelForCausalLM.from_pretrained(tiny_dir, quantization_config=BitsAndBytesConfig(load_in_8bit=True))
    weights = sum(_size(p) for p in model.parameters())
    b = estimate(job(tiny_dir, peft={"r": 8}, quantization={"bits": 8}), POLICY).breakdown
    assert b["weights"] == weights and b["quant_state"] == _quant_state_bytes(model) > 0


@pytest.mark.parametrize("model_type,extra", [
    ("llama", {}), ("llama", {"attention_bias": True, "mlp_bias": True, "tie_word_embeddings": True}),
    ("mistral", {}), ("qwen2", {}), ("qwen3", {"head_dim": 32}), ("gemma", {"head_dim": 16}),
    ("gemma2", {"head_dim": 16}), ("gemma3_text", {"head_dim": 16}), ("olmo2", {}),
    ("phi3", {"pad_token_id": 0}), ("mixtral", {"num_local_experts": 4}),
])
def test_param_count_matches_instantiated_model(model_type, extra):
    from transformers import AutoConfig, AutoModelForCausalLM

    config = AutoConfig.for_model(model_type, **TINY, **extra)
    model = AutoModelForCausalLM.from_config(config)
    assert shape_from_config(config.to_dict()).param_count == sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------- published shapes

@pytest.fixture()
def llama3_dir(tmp_path) -> Path:
    path = tmp_path / "llama3-8b"
    path.mkdir()
    (path / "config.json").write_text(json.dumps(LLAMA3_8B))
    return path


def test_llama3_8b_param_count_and_full_bf16(llama3_dir):
    h, i, L, V, kv = 4096, 14336, 32, 128256, 8 * 128
    per_layer = h * h * 2 + 2 * h * kv + 3 * h * i + 2 * h
    assert 2 * V * h + L * per_layer + h == 8_030_261_248
    cfg = job(llama3_dir, args={"bf16": True, "optim": "adamw_torch"})
    e = estimate(cfg, POLICY)
    assert e.params == 8_030_261_248
    b = e.breakdown
    assert b["weights"] == 2 * 8_030_261_248           # bf16 as config.json says (dtype auto)
    assert b["gradients"] == 2 * 8_030_261_248
    assert b["optimizer_states"] == 4 * 8_030_261_248  # two bf16 moments, step counter on the CPU
    assert b["master_weights"] == 0 and b["autocast_copies"] == 0


def test_llama3_8b_qlora_and_ddp_vs_zero3(llama3_dir):
    qlora = job(llama3_dir, peft={"r": 16, "target_modules": "all-linear"},
                quantization={"bits": 4, "double_quant": True, "compute_dtype": "bfloat16"})
    b = estimate(qlora, POLICY).breakdown
    # 4-bit linears (half a byte each) + bf16 embedding and lm_head + norms
    linear = 8_030_261_248 - 2 * 128256 * 4096 - (2 * 32 + 1) * 4096
    assert b["weights"] == linear // 2 + 2 * (2 * 128256 * 4096 + 65 * 4096)
    lora = 32 * 16 * ((4096 + 4096) * 2 + (4096 + 1024) * 2 + 3 * (4096 + 14336))
    assert b["adapters"] == 2 * lora == 2 * 41_943_040

    full = {"args": {"bf16": True, "optim": "adamw_torch"}}
    ddp = estimate(job(llama3_dir, launch={"num_processes": 4, "distributed": "ddp"}, **full), POLICY).breakdown
    z3 = estimate(job(llama3_dir, launch={"num_processes": 4, "distributed": "deepspeed", "zero_stage": 3},
                      **full), POLICY).breakdown
    n = 8_030_261_248
    assert ddp["weights"] == 2 * n and ddp["gradients"] == 2 * n and ddp["comm_buffers"] == 2 * n
    # ZeRO-3: bf16 weights and grads, fp32 masters and Adam moments, all divided by 4 ranks
    assert z3["weights"] == 2 * n // 4 and z3["gradients"] == 2 * n // 4
    assert z3["master_weights"] == 4 * n // 4 and z3["optimizer_states"] == 8 * n // 4
    assert z3["activations"] == ddp["activations"]     # activations are never divided
    z1 = estimate(job(llama3_dir, launch={"num_processes": 4, "distributed": "deepspeed", "zero_stage": 1},
                      **full), POLICY).breakdown
    assert z1["weights"] == 2 * n and z1["gradients"] == 2 * n and z1["optimizer_states"] == 8 * n // 4


def test_activations_scale_and_checkpointing(llama3_dir):
    def acts(**args):
        return estimate(job(llama3_dir, args={"bf16": True, **args}), POLICY).breakdown["activations"]

    assert acts(per_device_train_batch_size=4) > 1.9 * acts(per_device_train_batch_size=2)
    with_gc = acts(per_device_train_batch_size=4, gradient_checkpointing=True)
    assert with_gc < acts(per_device_train_batch_size=4) / 10


def test_reference_model_costs_only_without_lora(llama3_dir):
    dpo = (ModelUse("policy", trainable=True), ModelUse("reference", shares_base_with_lora=True))
    full = estimate(job(llama3_dir), dpo)
    assert full.breakdown["weights"] == 2 * 2 * 8_030_261_248
    lora = estimate(job(llama3_dir, peft={"r": 8}), dpo)
    assert lora.breakdown["weights"] == 2 * 8_030_261_248


def test_value_and_reward_models_use_score_head(llama3_dir):
    ppo = (ModelUse("policy", trainable=True), ModelUse("value", trainable=True), ModelUse("reward"))
    e = estimate(job(llama3_dir), ppo)
    by_role = {m["role"]: m for m in e.models}
    backbone = 8_030_261_248 - 128256 * 4096
    assert by_role["value"]["params"] == by_role["reward"]["params"] == backbone + 4096
    assert by_role["value"]["trainable_params"] == backbone + 4096


# ---------------------------------------------------------------- verdict and suggestion

def gpu(gib: float, used: float = 0) -> dict:
    return {"index": 0, "mem_total_bytes": int(gib * GiB), "mem_used_bytes": int(used * GiB)}


def test_verdict_fits_tight_exceeds(llama3_dir):
    cfg = job(llama3_dir, peft={"r": 16}, quantization={"bits": 4, "double_quant": True},
              args={"bf16": True, "gradient_checkpointing": True, "per_device_train_batch_size": 1,
                    "max_length": 512})
    total = estimate(cfg, POLICY).total_bytes
    assert estimate(cfg, POLICY, [gpu(80)]).verdict == "fits"
    assert estimate(cfg, POLICY, [gpu(total / GiB / 0.95)]).verdict == "tight"
    assert estimate(cfg, POLICY, [gpu(80, used=80 - total / GiB + 0.1)]).verdict == "exceeds"
    assert estimate(cfg, POLICY).verdict == "unknown"


def test_suggestion_on_24gib_gpu_is_the_cheapest_change(llama3_dir):
    # full bf16 fine-tuning of 8B cannot fit 24 GiB whatever the batch: only QLoRA does
    full = job(llama3_dir, args={"bf16": True, "per_device_train_batch_size": 8, "max_length": 1024})
    e = estimate(full, POLICY, [gpu(24)])
    assert e.verdict == "exceeds" and e.suggestion is not None
    assert e.suggestion.changes["quantization.bits"] == 4 and e.suggestion.changes["peft.method"] == "lora"
    assert e.suggestion.total_bytes <= 0.9 * 24 * GiB

    # QLoRA with a large batch: halving the batch (same effective batch) is enough
    qlora = job(llama3_dir, peft={"r": 16}, quantization={"bits": 4, "double_quant": True},
                args={"bf16": True, "gradient_checkpointing": True, "per_device_train_batch_size": 16,
                      "max_length": 2048})
    e = estimate(qlora, POLICY, [gpu(24)])
    assert e.verdict == "exceeds"
    ch = e.suggestion.changes
    assert set(ch) == {"trainer.args.per_device_train_batch_size", "trainer.args.gradient_accumulation_steps"}
    assert ch["trainer.args.per_device_train_batch_size"] * ch["trainer.args.gradient_accumulation_steps"] == 16
    bigger = dict(qlora, trainer={"name": "sft", "args": {**qlora["trainer"]["args"],
                  "per_device_train_batch_size": ch["trainer.args.per_device_train_batch_size"] * 2}})
    assert estimate(bigger, POLICY).total_bytes > 0.9 * 24 * GiB  # the next larger batch would not fit

    # without checkpointing, turning it on comes before the optimizer or quantization
    no_gc = job(llama3_dir, peft={"r": 16}, quantization={"bits": 4},
                args={"bf16": True, "gradient_checkpointing": False, "per_device_train_batch_size": 1,
                      "max_length": 4096})
    e = estimate(no_gc, POLICY, [gpu(24)])
    assert e.suggestion.changes.get("trainer.args.gradient_checkpointing") is True
    assert "quantization.bits" not in e.suggestion.changes


def test_json_and_table(llama3_dir):
    e = estimate(job(llama3_dir, args={"bf16": True}), POLICY, [gpu(24)])
    data = json.loads(e.to_json())
    assert data["total_bytes"] == sum(data["breakdown"].values()) == e.total_bytes
    assert data["breakdown"]["cuda_overhead"] >= CUDA_CONTEXT_BYTES
    table = e.format_table()
    assert "EXCEEDS" in table and "optimizer states" in table and "total" in table


# ---------------------------------------------------------------- errors and CLI

def test_bad_config_fields_are_named(llama3_dir):
    with pytest.raises(ConfigError, match=r"\[trainer.args\] per_device_train_batch_size"):
        estimate(job(llama3_dir, args={"per_device_train_batch_size": 0}), POLICY)
    with pytest.raises(ConfigError, match=r"\[quantization\] bits"):
        estimate(job(llama3_dir, quantization={"bits": 4}), POLICY)  # 4-bit without LoRA cannot train
    with pytest.raises(ConfigError, match="num_attention_heads"):
        shape_from_config({"model_type": "llama", "hidden_size": 64, "vocab_size": 8, "num_hidden_layers": 1,
                           "intermediate_size": 8})


def test_unreachable_hub_id_is_one_line_error(tmp_path):
    cfg = {"model": {"path": "workbench-tests/no-such-model-7f3a"}, "trainer": {"name": "sft"}}
    with pytest.raises(ConfigError) as info:
        estimate(cfg, POLICY, base_dir=tmp_path, source="job.toml")
    message = str(info.value)
    assert "\n" not in message and "workbench-tests/no-such-model-7f3a" in message
    assert message.startswith("job.toml: [model] path")


def _cli(*argv, cwd=None):
    return subprocess.run([sys.executable, "-m", "workbench.cli.main", "estimate", *argv],
                          capture_output=True, text=True, cwd=cwd, timeout=60)


def test_cli_missing_model_folder_is_one_line(tmp_path):
    (tmp_path / "job.toml").write_text('[model]\npath = "./no-such-model"\n[trainer]\nname = "sft"\n')
    out = _cli(str(tmp_path / "job.toml"))
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and str(tmp_path / "no-such-model") in lines[0], out.stderr


def test_cli_json_relative_model_path(tmp_path, llama3_dir):
    (tmp_path / "jobs").mkdir()
    rel = Path("..") / llama3_dir.relative_to(tmp_path)
    (tmp_path / "jobs" / "job.toml").write_text(
        f'[model]\npath = "{rel}"\n[trainer]\nname = "sft"\n[trainer.args]\nper_device_train_batch_size = 1\n'
        '[peft]\nmethod = "lora"\nr = 16\n[quantization]\nbits = 4\n')
    out = _cli("jobs/job.toml", "--json", "--gpu-mem", "24", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["params"] == 8_030_261_248 and data["verdict"] in ("fits", "tight")


def test_cli_refuses_a_misspelt_key_instead_of_estimating_the_default(tmp_path, llama3_dir):
    job_toml = tmp_path / "job.toml"
    job_toml.write_text(f'[model]\npath = "{llama3_dir}"\n[trainer]\nname = "sft"\n[trainer.args]\n'
                        'per_device_train_batchsize = 64\n')
    out = _cli(str(job_toml))
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith(f"error: {job_toml}:6: trainer.args.per_device_train_batchsize: not a field")
    assert "did you mean 'per_device_train_batch_size'" in out.stderr
    job_toml.write_text(f'[model]\npath = "{llama3_dir}"\nrevison = "main"\n[trainer]\nname = "sft"\n')
    out = _cli(str(job_toml))
    assert out.returncode == 2 and "model.revison: unknown key; did you mean 'revision'?" in out.stderr


def test_cli_set_overrides_change_the_estimate(tmp_path, llama3_dir):
    job_toml = tmp_path / "job.toml"
    job_toml.write_text(f'[model]\npath = "{llama3_dir}"\n[trainer]\nname = "sft"\n[trainer.args]\n'
                        'per_device_train_batch_size = 1\nbf16 = true\n')
    small = json.loads(_cli(str(job_toml), "--json").stdout)
    big = json.loads(_cli(str(job_toml), "--json", "--set", "trainer.args.per_device_train_batch_size=8").stdout)
    assert big["breakdown"]["activations"] > 4 * small["breakdown"]["activations"]

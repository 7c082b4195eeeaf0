"""GPU check of the VRAM estimator: estimate vs measured peak allocation.

Builds a Llama-architecture model from a config (random weights, no download), and
for each job — bf16 full SFT, LoRA, QLoRA — runs a few optimizer steps the way the
HF Trainer does (its optimizer factory, autocast, zero_grad(set_to_none)), in a fresh
process, measuring torch.cuda.max_memory_allocated(). Prints the estimate's tensor
part (total minus the CUDA context/allocator allowance, which the allocator does not
count), the measurement and their ratio; the goal is within 15%.

    python bench/bench_vram_gpu.py              # needs a CUDA GPU; otherwise prints "skipped: no CUDA GPU"
    python bench/bench_vram_gpu.py --device cpu --tiny   # exercise the code path on CPU (no measurement)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHAPE = dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=16, num_attention_heads=16,
             num_key_value_heads=4, vocab_size=32000)            # ~1.1 B parameters (TinyLlama-like)
TINY_SHAPE = dict(hidden_size=64, intermediate_size=176, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=512)

JOBS = {
    "full-bf16": {"args": {"gradient_checkpointing": False, "optim": "adamw_torch_fused"}},
    "full-bf16-gc": {"args": {"gradient_checkpointing": True, "optim": "adamw_torch_fused"}},
    "full-bf16-8bit-adam": {"args": {"gradient_checkpointing": True, "optim": "adamw_bnb_8bit"}},
    "lora": {"args": {"gradient_checkpointing": True}, "peft": {"method": "lora", "r": 16, "lora_alpha": 32,
                                                               "target_modules": "all-linear"}},
    "qlora": {"args": {"gradient_checkpointing": True}, "peft": {"method": "lora", "r": 16, "lora_alpha": 32,
                                                                "target_modules": "all-linear"},
              "quantization": {"bits": 4, "quant_type": "nf4", "double_quant": True, "compute_dtype": "bfloat16"}},
}


def job_config(model_dir: Path, name: str, batch: int, seq: int, accum: int) -> dict:
    spec = JOBS[name]
    args = {"per_device_train_batch_size": batch, "gradient_accumulation_steps": accum, "max_length": seq,
            "bf16": True, "optim": "adamw_torch_fused", **spec["args"]}
    cfg = {"model": {"path": str(model_dir), "dtype": "bfloat16"}, "trainer": {"name": "sft", "args": args}}
    for key in ("peft", "quantization"):
        if key in spec:
            cfg[key] = spec[key]
    return cfg


def run_one(cfg: dict, device: str, steps: int) -> dict:
    """Train `steps` optimizer steps of the job; return the peak allocation."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig, Trainer, TrainingArguments

    args = cfg["trainer"]["args"]
    cuda = device == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    kwargs = {"dtype": torch.bfloat16}
    q = cfg.get("quantization")
    if q:
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type=q["quant_type"], bnb_4bit_use_double_quant=q["double_quant"],
            bnb_4bit_compute_dtype=torch.bfloat16)
        kwargs["device_map"] = {"": 0} if cuda else {"": "cpu"}
    model = AutoModelForCausalLM.from_pretrained(cfg["model"]["path"], **kwargs)
    if not q:
        model.to(device)
    if args["gradient_checkpointing"]:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    if cfg.get("peft"):
        from peft import LoraConfig, get_peft_model

        p = cfg["peft"]
        model = get_peft_model(model, LoraConfig(r=p["r"], lora_alpha=p["lora_alpha"],
                                                 target_modules=p["target_modules"], task_type="CAUSAL_LM"))
        if args["gradient_checkpointing"]:
            model.enable_input_require_grads()
        if q:  # TRL keeps QLoRA adapters in bf16
            for prm in model.parameters():
                if prm.requires_grad:
                    prm.data = prm.data.to(torch.bfloat16)
    model.train()
    targs = TrainingArguments(output_dir=tempfile.mkdtemp(), optim=args["optim"], learning_rate=1e-5,
                              report_to=[], use_cpu=not cuda)
    opt_cls, opt_kwargs = Trainer.get_optimizer_cls_and_kwargs(targs, model)
    opt = opt_cls([prm for prm in model.parameters() if prm.requires_grad], **opt_kwargs)
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(0)
    for _ in range(steps):
        for _ in range(args["gradient_accumulation_steps"]):
            ids = torch.randint(0, vocab, (args["per_device_train_batch_size"], args["max_length"]),
                                generator=gen).to(device)
            with torch.autocast(device_type=device, dtype=torch.bfloat16):
                loss = model(input_ids=ids, labels=ids).loss
            loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    out = {"loss": float(loss)}
    if cuda:
        torch.cuda.synchronize()
        out["max_allocated"] = torch.cuda.max_memory_allocated()
        out["max_reserved"] = torch.cuda.max_memory_reserved()
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--tiny", action="store_true", help="a 2-layer model (code-path check)")
    parser.add_argument("--jobs", default=",".join(JOBS), help="comma-separated subset of: " + ", ".join(JOBS))
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=1024)
    parser.add_argument("--accum", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--one", help=argparse.SUPPRESS)   # child mode: JSON config path
    opts = parser.parse_args()

    if opts.one:
        cfg = json.loads(Path(opts.one).read_text())
        print("RESULT " + json.dumps(run_one(cfg, opts.device, opts.steps)), flush=True)
        return 0

    if opts.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("skipped: no CUDA GPU")
            return 0
        print(f"device: {torch.cuda.get_device_name(0)}")

    from transformers import LlamaConfig, LlamaForCausalLM

    from workbench.estimate import estimate
    from workbench.estimate.compute import GiB
    from workbench.specs import ModelUse

    work = Path(tempfile.mkdtemp(prefix="bench_vram_"))
    model_dir = work / "model"
    import torch

    shape = TINY_SHAPE if opts.tiny else SHAPE
    LlamaForCausalLM(LlamaConfig(**shape, dtype="bfloat16")).to(torch.bfloat16).save_pretrained(model_dir)
    print(f"model: llama {shape}, batch {opts.batch} x seq {opts.seq}, accum {opts.accum}, {opts.steps} steps")
    print(f"{'job':<22}{'estimate GiB':>14}{'measured GiB':>14}{'ratio':>8}{'reserved GiB':>14}")
    worst = 0.0
    for name in opts.jobs.split(","):
        cfg = job_config(model_dir, name, opts.batch, opts.seq, opts.accum)
        est = estimate(cfg, (ModelUse("policy", trainable=True),))
        tensors = est.total_bytes - est.breakdown["cuda_overhead"]
        cfg_path = work / f"{name}.json"
        cfg_path.write_text(json.dumps(cfg))
        proc = subprocess.run([sys.executable, __file__, "--one", str(cfg_path), "--device", opts.device,
                               "--steps", str(opts.steps)], capture_output=True, text=True, cwd=ROOT)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if proc.returncode or line is None:
            tail = (proc.stderr.strip().splitlines() or ["?"])[-1]
            print(f"{name:<22}{tensors / GiB:>14.2f}  failed: {tail}")
            worst = float("inf")
            continue
        res = json.loads(line[7:])
        if "max_allocated" in res:
            ratio = tensors / res["max_allocated"]
            worst = max(worst, abs(ratio - 1))
            print(f"{name:<22}{tensors / GiB:>14.2f}{res['max_allocated'] / GiB:>14.2f}{ratio:>8.2f}"
                  f"{res['max_reserved'] / GiB:>14.2f}")
        else:
            print(f"{name:<22}{tensors / GiB:>14.4f}{'n/a (cpu)':>14}")
        print("    " + ", ".join(f"{k} {v / GiB:.2f}" for k, v in est.breakdown.items() if v), flush=True)
    if opts.device == "cuda":
        print(f"worst deviation: {worst:.0%} (goal: within 15%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

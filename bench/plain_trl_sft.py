"""The baseline for bench_core.py: the same SFT job as a plain TRL script (no workbench).

    python bench/plain_trl_sft.py MODEL DATA OUT STEPS [LR] [lora] [WARMUP]
"""

import json
import sys
import time

from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

model_path, data_path, out_dir, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
lr = float(sys.argv[5]) if len(sys.argv) > 5 else 3e-3
lora = len(sys.argv) > 6 and sys.argv[6] == "lora"
warmup = int(sys.argv[7]) if len(sys.argv) > 7 else 2
tokenizer = AutoTokenizer.from_pretrained(model_path)
model = AutoModelForCausalLM.from_pretrained(model_path)
dataset = load_dataset("json", data_files=data_path, split="train")
peft_config = None
if lora:
    from peft import LoraConfig

    peft_config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
args = SFTConfig(output_dir=out_dir, max_steps=steps, learning_rate=lr, per_device_train_batch_size=8,
                 max_length=128, assistant_only_loss=True, logging_steps=1, save_steps=100000, warmup_steps=warmup,
                 report_to="none", disable_tqdm=True, seed=42, bf16=False)
trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer, peft_config=peft_config)
result = trainer.train()
trainer.save_model(out_dir + "/final")
print("RESULT " + json.dumps({"train_steps_per_second": result.metrics["train_steps_per_second"],
                              "train_runtime": result.metrics["train_runtime"], "time": time.time()}))

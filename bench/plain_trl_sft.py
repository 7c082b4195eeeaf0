"""The baseline for bench_core.py: the same SFT job as a plain TRL script (no workbench)."""

import json
import sys
import time

from datasets import load_dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import SFTConfig, SFTTrainer

model_path, data_path, out_dir, steps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
tokenizer = AutoTokenizer.from_pretrained(model_path)
model = AutoModelForCausalLM.from_pretrained(model_path)
dataset = load_dataset("json", data_files=data_path, split="train")
args = SFTConfig(output_dir=out_dir, max_steps=steps, learning_rate=3e-3, per_device_train_batch_size=8,
                 max_length=128, assistant_only_loss=True, logging_steps=1, save_steps=100000, warmup_steps=2,
                 report_to="none", disable_tqdm=True, seed=42, bf16=False)
trainer = SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
result = trainer.train()
trainer.save_model(out_dir + "/final")
print("RESULT " + json.dumps({"train_steps_per_second": result.metrics["train_steps_per_second"],
                              "train_runtime": result.metrics["train_runtime"], "time": time.time()}))

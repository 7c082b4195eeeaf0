"""Benchmark: Workbench's own PPO against TRL's last PPOTrainer (trl 1.12, trl.experimental.ppo).

Same bundled tiny Llama, same prompts, same toy reward (share of response tokens whose
id is in [20, 60), EOS included), same hyper-parameters and number of steps. TRL runs
in its own venv under bench/out/ (created here: `python -m venv` + `pip install
torch==2.13.0 'trl==1.12.*'`); each side runs in a fresh subprocess. Prints the reward
reached and steps/s, and ours/TRL ratios (goal: reward ratio >= 1, speed ratio >= 1).

    .venv/bin/python bench/bench_ppo.py [--steps 60] [--rounds 5] [--threads 1] [--quick]

Round i uses seed i for both sides (interleaved TRL, ours, TRL, ours, ...).

If the TRL venv cannot be installed, the reason is printed and the script exits 0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import Bench, add_arguments  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
MODEL = ROOT / "sample_data" / "models" / "tiny-llama"
PROMPTS = ROOT / "sample_data" / "data" / "prompts.jsonl"

# Shared by both sides: rollout 16 prompts, 2 minibatches of 8, 4 PPO epochs, 12 new tokens.
COMMON = dict(rollout=16, mini_batches=2, ppo_epochs=4, response_length=12, temperature=1.0, lr=1e-3, kl_coef=0.01)

PRELUDE = r'''
import json, sys, time
import torch
cfg = json.loads(sys.argv[1])
torch.set_num_threads(cfg["threads"])
LOW, HIGH = 20, 60
def fraction(ids):
    return sum(LOW <= t < HIGH for t in ids) / max(len(ids), 1)
rows = [json.loads(line) for line in open(cfg["prompts"]) if line.strip()]
'''

OURS = PRELUDE + r'''
from transformers import AutoModelForCausalLM, AutoTokenizer
from workbench_plugins.ppo.config import PPOConfig
from workbench_plugins.ppo.trainer import PPORunner

def reward(prompts, completions, completion_ids, **kw):
    return [fraction(ids) for ids in completion_ids]

torch.manual_seed(cfg["seed"])
tok = AutoTokenizer.from_pretrained(cfg["model"])
policy = AutoModelForCausalLM.from_pretrained(cfg["model"])
config = PPOConfig(
    output_dir=cfg["out"], max_steps=cfg["steps"], rollout_batch_size=cfg["rollout"], num_mini_batches=cfg["mini_batches"],
    num_ppo_epochs=cfg["ppo_epochs"], response_length=cfg["response_length"], temperature=cfg["temperature"],
    learning_rate=cfg["lr"], lr_scheduler_type="constant", kl_coef=cfg["kl_coef"], adam_epsilon=1e-5,
    max_grad_norm=None, seed=cfg["seed"],  # TRL's PPO loop clips no gradients
)
runner = PPORunner(policy=policy, tokenizer=tok, config=config, train_prompts=rows, reward_fn=reward)
t0 = time.perf_counter()
out = runner.train()
seconds = time.perf_counter() - t0
print("RESULT " + json.dumps({"rewards": [r["reward"] for r in out["log_history"]], "seconds": seconds}))
'''

TRL = PRELUDE + r'''
import torch.nn as nn
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer
from trl.experimental.ppo import PPOConfig, PPOTrainer

ASSISTANT = "<|assistant|>"

class Backbone(nn.Module):
    """Per position t of the response: share of target tokens so far (what TRL's get_reward reads at the last token)."""
    def __init__(self, assistant_id):
        super().__init__()
        self.assistant_id = assistant_id
    def forward(self, input_ids, attention_mask=None, **kw):
        start = (input_ids == self.assistant_id).float().argmax(1, keepdim=True) + 2  # after "<|assistant|>\n"
        pos = torch.arange(input_ids.size(1), device=input_ids.device).unsqueeze(0)
        in_resp = (pos >= start).float()
        hits = (((input_ids >= LOW) & (input_ids < HIGH)).float() * in_resp).cumsum(1)
        seen = in_resp.cumsum(1).clamp(min=1)
        class Out: pass
        out = Out(); out.hidden_states = ((hits / seen).unsqueeze(-1),)
        return out

class ToyRewardModel(nn.Module):
    base_model_prefix = "model"
    def __init__(self, assistant_id):
        super().__init__()
        self.model = Backbone(assistant_id)
        self.score = nn.Identity()

tok = AutoTokenizer.from_pretrained(cfg["model"], padding_side="left")
ids = [tok(tok.apply_chat_template(r["prompt"], tokenize=False, add_generation_prompt=True), add_special_tokens=False).input_ids for r in rows]
dataset = Dataset.from_dict({"input_ids": ids})
torch.manual_seed(cfg["seed"])
policy = AutoModelForCausalLM.from_pretrained(cfg["model"])
ref = AutoModelForCausalLM.from_pretrained(cfg["model"])
value = AutoModelForSequenceClassification.from_pretrained(cfg["model"], num_labels=1)
# TRL's rollout batch per process is per_device_train_batch_size * gradient_accumulation_steps, which
# num_mini_batches then splits; each micro-batch slice of a minibatch (here the whole minibatch) is one
# optimizer step. So per_device_train_batch_size=rollout gives our layout: 16 prompts per step, 2
# minibatches of 8, one optimizer step each (rollout // mini_batches here would halve the rollout and
# double the steps and optimizer updates).
args = PPOConfig(
    output_dir=cfg["out"], report_to="none", seed=cfg["seed"], use_cpu=True, bf16=False,
    per_device_train_batch_size=cfg["rollout"], gradient_accumulation_steps=1,
    num_mini_batches=cfg["mini_batches"], total_episodes=cfg["steps"] * cfg["rollout"],
    local_rollout_forward_batch_size=cfg["rollout"], num_ppo_epochs=cfg["ppo_epochs"],
    response_length=cfg["response_length"], temperature=cfg["temperature"], learning_rate=cfg["lr"],
    lr_scheduler_type="constant", kl_coef=cfg["kl_coef"], adam_epsilon=1e-5, stop_token="eos",
    num_sample_generations=0, logging_steps=1, save_strategy="no",
)
trainer = PPOTrainer(args=args, processing_class=tok, model=policy, ref_model=ref,
                     reward_model=ToyRewardModel(tok.convert_tokens_to_ids(ASSISTANT)), train_dataset=dataset, value_model=value)
layout = (args.local_batch_size, args.local_mini_batch_size, args.num_total_batches)
expected = (cfg["rollout"], cfg["rollout"] // cfg["mini_batches"], cfg["steps"])
if layout != expected:
    sys.exit(f"TRL batch layout (rollout, minibatch, steps) {layout} != {expected}: the comparison would be unfair")
t0 = time.perf_counter()
trainer.train()
seconds = time.perf_counter() - t0
rewards = [h["objective/scores"] for h in trainer.state.log_history if "objective/scores" in h]
print("RESULT " + json.dumps({"rewards": rewards, "seconds": seconds}))
'''


def trl_python(venv: Path, install: bool) -> Path | None:
    """The TRL 1.12 venv's python, created on first use; None (reason printed) when that fails."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import trl, trl.experimental.ppo; print(trl.__version__)"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    if not install:
        print(f"TRL venv missing at {venv} and --no-install given: skipping the comparison")
        return None
    print(f"creating {venv} with torch==2.13.0 and trl==1.12.* (one-time) ...", flush=True)
    steps = [
        [sys.executable, "-m", "venv", str(venv)],
        [str(python), "-m", "pip", "install", "-q", "torch==2.13.0", "trl==1.12.*"],
    ]
    for cmd in steps:
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            print(f"cannot set up the TRL baseline ({' '.join(cmd[:4])} ...): {' | '.join(tail)}")
            return None
    proc = subprocess.run(check, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"the installed TRL has no trl.experimental.ppo: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return python


def run_side(python: Path, script: str, cfg: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = {**cfg, "out": tmp}
        proc = subprocess.run([str(python), "-c", script, json.dumps(cfg)], capture_output=True, text=True, cwd=ROOT)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{python} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def summary(result: dict, k: int) -> tuple[float, float, float]:
    """(mean reward of the first k steps, of the last k steps, steps/s)."""
    r = result["rewards"]
    return statistics.mean(r[:k]), statistics.mean(r[-k:]), len(r) / result["seconds"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per side (1 is fastest for the tiny model)")
    parser.add_argument("--window", type=int, default=10, help="steps averaged for the first/last reward")
    parser.add_argument("--venv", type=Path, default=OUT / "trl-1.12-venv")
    parser.add_argument("--no-install", action="store_true")
    args = parser.parse_args()

    python = trl_python(args.venv, install=not args.no_install)
    if python is None:
        return 0
    bench = Bench("bench_ppo", args)
    base = {**COMMON, "steps": args.steps, "threads": args.threads, "model": str(MODEL), "prompts": str(PROMPTS)}
    bench.print(f"tiny Llama, {args.steps} PPO steps x {COMMON['rollout']} prompts, {COMMON['response_length']} new "
                f"tokens, {COMMON['ppo_epochs']} epochs x {COMMON['mini_batches']} minibatches, {args.threads} torch "
                "thread(s); round i = seed i")

    def side(py: Path, script: str, name: str):
        def run(i: int) -> dict[str, float]:
            result = run_side(py, script, {**base, "seed": max(i, 0)})
            if len(result["rewards"]) != args.steps:
                raise RuntimeError(f"{name} logged {len(result['rewards'])} steps, expected {args.steps}")
            first, last, speed = summary(result, args.window)
            return {"reward_first": first, "reward_last": last, "steps_per_s": speed}
        return run

    result = bench.compare("PPO", ("trl-1.12", side(python, TRL, "trl")), ("workbench", side(Path(sys.executable), OURS,
                                                                                           "workbench")),
                           metrics=["reward_first", "reward_last", "steps_per_s"])
    result.check("reward_last", ratio_at_least=1.0)
    result.check("steps_per_s", ratio_at_least=1.0)
    bench.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())

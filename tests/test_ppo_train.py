"""End-to-end PPO on the bundled tiny Llama: reward goes up, LoRA/full/reward-model runs, stop and resume."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")

from workbench.paths import sample_data_dir  # noqa: E402
from workbench.training import RunReporter  # noqa: E402
from workbench_plugins.ppo.config import PPOConfig  # noqa: E402
from workbench_plugins.ppo.trainer import PPORunner, build  # noqa: E402

MODEL = sample_data_dir() / "models" / "tiny-llama"
PROMPTS = [json.loads(line) for line in (sample_data_dir() / "data" / "prompts.jsonl").read_text().splitlines() if line.strip()]
TARGET_IDS = frozenset(range(20, 60))  # ~10% of the vocabulary: the toy reward is dense enough to learn fast


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The tiny model gains nothing from 2 threads, and on a busy 2-core machine they thrash (25x slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def target_fraction(prompts, completions, completion_ids, **kw):
    """Toy reward: share of completion tokens in TARGET_IDS (random policy: ~0.1)."""
    return [sum(t in TARGET_IDS for t in ids) / max(len(ids), 1) for ids in completion_ids]


def load_policy(seed: int = 0):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_pretrained(MODEL), AutoTokenizer.from_pretrained(MODEL)


def make_config(tmp_path: Path, **overrides) -> PPOConfig:
    args = dict(
        output_dir=str(tmp_path / "checkpoints"),
        max_steps=8,
        rollout_batch_size=16,
        num_mini_batches=2,
        num_ppo_epochs=4,
        response_length=12,
        temperature=1.0,
        learning_rate=1e-3,
        lr_scheduler_type="constant",
        kl_coef=0.01,
        seed=0,
    )
    args.update(overrides)
    return PPOConfig(**args)


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_toy_reward_rises_full_model(tmp_path):
    policy, tok = load_policy()
    steps, k = 60, 15
    runner = PPORunner(policy=policy, tokenizer=tok, config=make_config(tmp_path, max_steps=steps), train_prompts=PROMPTS, reward_fn=target_fraction, reporter=RunReporter(tmp_path))
    out = runner.train()
    rewards = [row["reward"] for row in out["log_history"]]
    assert len(rewards) == steps
    first, last = rewards[:k], rewards[-k:]
    # Noise floor: the standard error of the difference of two k-step means, from the step-to-step spread.
    spread = max(statistics.stdev(first), statistics.stdev(last))
    noise = spread * (2 / k) ** 0.5
    gain = statistics.mean(last) - statistics.mean(first)
    print(f"reward gain {gain:.3f}, noise {noise:.3f}")
    assert gain > max(5 * noise, 0.04), (gain, noise, rewards)
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in rows] == list(range(1, steps + 1))
    for key in ("reward", "non_score_reward", "kl", "entropy", "policy_loss", "value_loss", "clipfrac", "approxkl", "response_length", "lr"):
        assert key in rows[-1], key
    assert rows[-1]["kl"] > 0  # the policy moved away from the frozen reference
    assert (tmp_path / "checkpoints" / f"checkpoint-{steps}" / "trainer_state.json").is_file()


def test_first_update_starts_on_policy(tmp_path):
    """Rollout and update passes agree: the first minibatch's ratio is 1 (no clipping, approxkl ~ 0)."""
    policy, tok = load_policy()
    cfg = make_config(tmp_path, max_steps=1, num_ppo_epochs=1, num_mini_batches=1, learning_rate=1e-9)
    runner = PPORunner(policy=policy, tokenizer=tok, config=cfg, train_prompts=PROMPTS, reward_fn=target_fraction)
    row = runner.train()["log_history"][0]
    assert row["approxkl"] < 1e-8 and row["clipfrac"] == 0.0
    assert abs(row["ratio"] - 1.0) < 1e-5
    assert row["kl"] == pytest.approx(0.0, abs=1e-5)  # policy == reference before the first update


def test_lora_ppo_trains_adapter_only(tmp_path):
    from peft import LoraConfig, get_peft_model

    policy, tok = load_policy()
    base_before = {k: v.clone() for k, v in policy.state_dict().items()}
    policy = get_peft_model(policy, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], lora_dropout=0.1))
    cfg = make_config(tmp_path, max_steps=4, learning_rate=5e-3)
    runner = PPORunner(policy=policy, tokenizer=tok, config=cfg, train_prompts=PROMPTS, reward_fn=target_fraction)
    assert runner.ref_model is None  # the reference is the base with adapters disabled
    assert runner.accelerator.unwrap_model(runner.model).critic is None  # value_model="auto": a head on the policy
    out = runner.train()
    assert out["log_history"][0]["kl"] == pytest.approx(0.0, abs=1e-5)  # LoRA B starts at zero
    assert out["log_history"][-1]["kl"] != 0.0
    base_after = policy.get_base_model().state_dict()
    for name, before in base_before.items():
        key = name.replace(".weight", ".base_layer.weight") if name.replace(".weight", ".base_layer.weight") in base_after else name
        assert torch.equal(base_after[key], before), name
    runner.save_model(str(tmp_path / "final"))
    assert (tmp_path / "final" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "final" / "model.safetensors").exists()
    assert (tmp_path / "final" / "value_head.safetensors").is_file()


def test_ppo_with_a_reward_model(tmp_path):
    from transformers import AutoModelForSequenceClassification, LlamaConfig, LlamaForSequenceClassification

    policy, tok = load_policy()
    torch.manual_seed(1)
    rm_config = LlamaConfig(
        vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=1, num_labels=1, pad_token_id=tok.pad_token_id,
    )
    LlamaForSequenceClassification(rm_config).save_pretrained(tmp_path / "rm")
    tok.save_pretrained(tmp_path / "rm")
    reward_model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "rm", num_labels=1)
    cfg = make_config(tmp_path, max_steps=2, reward_model=str(tmp_path / "rm"), missing_eos_penalty=1.0)
    runner = PPORunner(policy=policy, tokenizer=tok, config=cfg, train_prompts=PROMPTS, reward_model=reward_model, reward_tokenizer=tok)
    assert runner.reward_scorer.same_vocab
    # The scorer's pooled logits match a direct forward pass of the reward model on one sequence.
    q, r = runner.queries[0], [40, 41, 42]
    direct = reward_model(input_ids=torch.tensor([q + r])).logits[0, 0]
    assert runner.reward_scorer([q, q[:3]], [r, r], batch_size=2)[0].item() == pytest.approx(direct.item(), abs=1e-5)
    out = runner.train()
    assert out["global_step"] == 2
    assert all(torch.isfinite(torch.tensor(row["reward"])) for row in out["log_history"])


def test_stop_request_checkpoints_and_resume_continues(tmp_path):
    calls = {"n": 0}

    def reward_then_stop(prompts, completions, completion_ids, **kw):
        calls["n"] += 1
        if calls["n"] == 3:  # during step 3: the stop is seen before step 4 starts
            (tmp_path / "stop.request").touch()
        return target_fraction(prompts, completions, completion_ids)

    policy, tok = load_policy()
    cfg = make_config(tmp_path, max_steps=5)
    reporter = RunReporter(tmp_path)
    out = PPORunner(policy=policy, tokenizer=tok, config=cfg, train_prompts=PROMPTS, reward_fn=reward_then_stop, reporter=reporter).train()
    assert out["stopped"] and out["global_step"] == 3
    ckpt = tmp_path / "checkpoints" / "checkpoint-3"
    for name in ("model.safetensors", "value_model/model.safetensors", "value_head.safetensors", "optimizer.pt", "scheduler.pt", "rng_state_0.pth", "trainer_state.json"):
        assert (ckpt / name).is_file(), name
    state = json.loads((ckpt / "trainer_state.json").read_text())
    assert state["global_step"] == 3 and [r["step"] for r in state["log_history"]] == [1, 2, 3]
    events = read_jsonl(tmp_path / "events.jsonl")
    assert [e["event"] for e in events] == ["stop_requested", "checkpoint"]
    assert events[1]["step"] == 3 and events[1]["path"] == ckpt.name  # named as the Trainer callback names it

    (tmp_path / "stop.request").unlink()
    fresh, tok = load_policy(seed=123)
    runner = PPORunner(policy=fresh, tokenizer=tok, config=cfg, train_prompts=PROMPTS, reward_fn=target_fraction, reporter=RunReporter(tmp_path))
    runner._load_checkpoint(ckpt)
    saved_head = runner.accelerator.unwrap_model(runner.model).value_head.summary.weight.detach().clone()
    from safetensors.torch import load_file

    assert torch.equal(saved_head, load_file(str(ckpt / "value_head.safetensors"))["summary.weight"])
    assert torch.equal(runner.accelerator.unwrap_model(runner.model).policy.model.embed_tokens.weight, load_file(str(ckpt / "model.safetensors"))["model.embed_tokens.weight"])
    out = runner.train(resume_from_checkpoint=str(ckpt))
    assert out["global_step"] == 5 and not out["stopped"]
    assert [r["step"] for r in out["log_history"]] == [1, 2, 3, 4, 5]
    assert [r["step"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [1, 2, 3, 4, 5]
    assert (tmp_path / "checkpoints" / "checkpoint-5").is_dir()

    # Resuming restored weights, optimizer, scheduler, RNG and prompt order: steps 4-5 equal an uninterrupted run's.
    policy, tok = load_policy()
    straight = PPORunner(policy=policy, tokenizer=tok, config=make_config(tmp_path / "straight", max_steps=5), train_prompts=PROMPTS, reward_fn=target_fraction).train()
    for resumed_row, straight_row in zip(out["log_history"][3:], straight["log_history"][3:]):
        for key in ("reward", "kl", "policy_loss", "value_loss", "lr"):
            assert resumed_row[key] == pytest.approx(straight_row[key], rel=1e-4, abs=1e-6), key


DDP_SCRIPT = '''
import json, sys
from pathlib import Path
from accelerate import Accelerator
from transformers import AutoModelForCausalLM, AutoTokenizer
from workbench.training import RunReporter
from workbench_plugins.ppo.config import PPOConfig
from workbench_plugins.ppo.trainer import PPORunner

model_dir, prompts_file, run_dir = sys.argv[1:4]
run = Path(run_dir)
acc = Accelerator()
rows = [json.loads(line) for line in open(prompts_file)]
calls = {"n": 0}

def reward(prompts, completions, completion_ids, **kw):
    calls["n"] += 1
    if calls["n"] == 2 and acc.is_main_process:  # only rank 0 sees the request
        (run / "stop.request").touch()
    return [sum(20 <= t < 60 for t in ids) / max(len(ids), 1) for ids in completion_ids]

cfg = PPOConfig(output_dir=str(run / "checkpoints"), max_steps=4, rollout_batch_size=4, num_mini_batches=2,
                gradient_accumulation_steps=2, response_length=6, temperature=1.0, learning_rate=1e-3, seed=0)
runner = PPORunner(policy=AutoModelForCausalLM.from_pretrained(model_dir), tokenizer=AutoTokenizer.from_pretrained(model_dir),
                   config=cfg, train_prompts=rows, reward_fn=reward, accelerator=acc,
                   reporter=RunReporter(run, is_main=acc.is_main_process))
out = runner.train()
print("RESULT", acc.process_index, acc.num_processes, out["global_step"], out["stopped"], flush=True)
'''


def test_two_process_ddp_stops_all_ranks_at_the_same_step(tmp_path):
    import os
    import subprocess
    import sys

    script = tmp_path / "ppo_ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", str(script), str(MODEL), str(sample_data_dir() / "data" / "prompts.jsonl"), str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = sorted(line.split()[1:] for line in proc.stdout.splitlines() if line.startswith("RESULT"))
    assert results == [["0", "2", "2", "True"], ["1", "2", "2", "True"]]
    assert [r["step"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [1, 2]  # rank 0 only writes
    assert (tmp_path / "checkpoints" / "checkpoint-2" / "rng_state_1.pth").is_file()


def test_build_from_a_train_context(tmp_path):
    """The factory reads trainer_args, loads models through the context and sends checkpoints to run_dir/checkpoints."""
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer

    (tmp_path / "checkpoints").mkdir()
    ctx = SimpleNamespace(
        trainer_args={"max_steps": 1, "rollout_batch_size": 4, "response_length": 6, "reward_function": f"{__name__}:target_fraction"},
        output_dir=tmp_path / "checkpoints",
        train_dataset=Dataset.from_list(PROMPTS[:8]),
        reporter=RunReporter(tmp_path),
        load_tokenizer=lambda: AutoTokenizer.from_pretrained(MODEL),
        load_model=lambda role="policy", path=None, model_class=None: AutoModelForCausalLM.from_pretrained(MODEL),
        peft_config=lambda: None,
    )
    runner = build(ctx)
    runner.train()
    assert [r["step"] for r in read_jsonl(tmp_path / "metrics.jsonl")] == [1]
    assert (tmp_path / "checkpoints" / "checkpoint-1" / "trainer_state.json").is_file()

"""[launch] -> accelerate.yaml / deepspeed.json, read back by Accelerate's own loader and plugins,
and the launch combinations that are one-line errors before anything starts."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tests.conftest import CONFIGS
from workbench.config import load_config
from workbench.errors import ConfigError
from workbench.launching.accelerate_config import launch_files


def resolved(*overrides: str, text: str | None = None, path: Path | None = None) -> dict:
    source = path or CONFIGS / "sft.toml"
    # deep=False: these tests are about the launch files; the trainer's own object (which refuses
    # bf16 on this CPU machine) is workbench.config.realargs' business, tested there
    return load_config(source if text is None else path, list(overrides), text=text, deep=False).data


def write_run_files(tmp_path: Path, config: dict) -> Path:
    run = tmp_path / "run"
    run.mkdir(exist_ok=True)
    for name, text in launch_files(config, run).items():
        (run / name).write_text(text)
    return run


def launch_env(run: Path) -> tuple[object, dict[str, str]]:
    """The environment `accelerate launch --config_file run/accelerate.yaml` gives the job (accelerate's own code)."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

    args = launch_command_parser().parse_args(["--config_file", str(run / "accelerate.yaml"),
                                               "-m", "workbench.worker", str(run)])
    args, defaults, _ = _validate_launch_command(args)
    if args.use_deepspeed:
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)
        _, env = prepare_deepspeed_cmd_env(args)
    else:
        env = prepare_multi_gpu_env(args)
    return args, {k: v for k, v in env.items() if os.environ.get(k) != v}


def loaded(run: Path):
    from accelerate.commands.config.config_args import load_config_from_file

    return load_config_from_file(str(run / "accelerate.yaml"))


def test_one_and_two_process_ddp_files_load(tmp_path):
    one = loaded(write_run_files(tmp_path, resolved()))
    assert one.distributed_type == "NO" and one.num_processes == 1 and one.mixed_precision == "no"
    two = loaded(write_run_files(tmp_path, resolved("launch.num_processes=2", "launch.gpu_ids='3,1'",
                                                    "launch.mixed_precision='bf16'", "launch.main_process_port=29777")))
    assert two.distributed_type == "MULTI_GPU" and two.num_processes == 2
    assert two.gpu_ids == "3,1" and two.mixed_precision == "bf16" and two.main_process_port == 29777


def test_fsdp2_settings_reach_accelerates_plugin(tmp_path):
    from accelerate.utils import FullyShardedDataParallelPlugin, patch_environment

    config = resolved("launch.distributed='fsdp'", "launch.num_processes=2",
                      "launch.fsdp.sharding_strategy='SHARD_GRAD_OP'", "launch.fsdp.auto_wrap_policy='size'",
                      "launch.fsdp.min_num_params=5000", "launch.fsdp.state_dict_type='full'",
                      "launch.fsdp.activation_checkpointing=true", "launch.fsdp.offload_params=true",
                      "launch.fsdp.cpu_ram_efficient_loading=false")
    run = write_run_files(tmp_path, config)
    cfg = loaded(run)
    assert cfg.distributed_type == "FSDP" and cfg.fsdp_config["fsdp_version"] == 2
    args, env = launch_env(run)
    assert args.use_fsdp
    with patch_environment(**env):
        plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2
    assert plugin.reshard_after_forward is False                       # SHARD_GRAD_OP
    assert "size_based" in plugin.auto_wrap_policy.__name__ and plugin.min_num_params == 5000
    assert plugin.state_dict_type.name == "FULL_STATE_DICT"
    assert plugin.activation_checkpointing is True
    assert plugin.cpu_ram_efficient_loading is False
    assert type(plugin.cpu_offload).__name__ == "CPUOffloadPolicy"


def test_fsdp1_layer_classes_and_strategy(tmp_path):
    from accelerate.utils import FullyShardedDataParallelPlugin, patch_environment

    config = resolved("launch.distributed='fsdp'", "launch.num_processes=4", "launch.fsdp.version=1",
                      "launch.fsdp.sharding_strategy='HYBRID_SHARD'", "launch.fsdp.layer_classes=['LlamaDecoderLayer']",
                      "launch.fsdp.use_orig_params=false")
    run = write_run_files(tmp_path, config)
    assert loaded(run).fsdp_config["fsdp_transformer_layer_cls_to_wrap"] == "LlamaDecoderLayer"
    _, env = launch_env(run)
    assert env["FSDP_SYNC_MODULE_STATES"] == "true"
    # sync_module_states makes the plugin look up the current GPU; this machine may have none.
    with patch_environment(**{**env, "FSDP_SYNC_MODULE_STATES": "false", "FSDP_CPU_RAM_EFFICIENT_LOADING": "false"}):
        plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 1 and plugin.sharding_strategy.name == "HYBRID_SHARD"
    assert plugin.transformer_cls_names_to_wrap == ["LlamaDecoderLayer"]
    assert plugin.use_orig_params is False


needs_deepspeed = pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None,
                                     reason="deepspeed not installed (pip install 'workbench[deepspeed]')")


@needs_deepspeed
def test_zero3_offload_settings_reach_accelerates_plugin(tmp_path):
    from accelerate.utils import DeepSpeedPlugin, patch_environment

    config = resolved("launch.distributed='deepspeed'", "launch.num_processes=2", "launch.zero_stage=3",
                      "launch.deepspeed.offload_optimizer='cpu'", "launch.deepspeed.offload_params='cpu'")
    run = write_run_files(tmp_path, config)
    cfg = loaded(run)
    assert cfg.distributed_type == "DEEPSPEED"
    assert cfg.deepspeed_config["deepspeed_config_file"] == str(run / "deepspeed.json")
    args, env = launch_env(run)   # accelerate refuses a JSON plus precision/accumulation in the YAML: it passes
    assert args.use_deepspeed
    with patch_environment(**env):
        plugin = DeepSpeedPlugin()
    zero = plugin.deepspeed_config["zero_optimization"]
    assert plugin.zero_stage == 3 and plugin.zero3_init_flag is True
    assert zero["offload_optimizer"]["device"] == "cpu" and zero["offload_param"]["device"] == "cpu"
    assert zero["stage3_gather_16bit_weights_on_model_save"] is True     # the final model is saved whole


@needs_deepspeed
def test_deepspeed_batch_accumulation_and_clipping_follow_trainer_args(tmp_path):
    """Was: gradient_accumulation_steps: 1 hard-coded in accelerate.yaml whatever the trainer's args said."""
    from accelerate.utils import DeepSpeedPlugin, patch_environment
    from transformers import TrainingArguments
    from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

    config = resolved("launch.distributed='deepspeed'", "launch.num_processes=2", "launch.zero_stage=2",
                      "trainer.args.gradient_accumulation_steps=4", "trainer.args.per_device_train_batch_size=3")
    run = write_run_files(tmp_path, config)
    assert "gradient_accumulation_steps" not in (run / "accelerate.yaml").read_text()
    _, env = launch_env(run)
    with patch_environment(**env):
        plugin = DeepSpeedPlugin()
    args = TrainingArguments(output_dir=str(tmp_path / "out"), per_device_train_batch_size=3,
                             gradient_accumulation_steps=4, max_grad_norm=0.5)
    filled = HfTrainerDeepSpeedConfig(plugin.hf_ds_config.config)
    filled.trainer_config_process(args)    # what the Trainer does with the plugin's config
    assert filled.config["gradient_accumulation_steps"] == 4
    assert filled.config["train_micro_batch_size_per_gpu"] == 3
    assert filled.config["gradient_clipping"] == 0.5
    assert filled.config["zero_optimization"]["stage"] == 2


def test_two_machine_yaml_counts_processes_over_machines(tmp_path):
    config = resolved("launch.num_processes=2", "launch.num_machines=2", "launch.machine_rank=1",
                      "launch.main_process_ip='10.0.0.5'")
    cfg = loaded(write_run_files(tmp_path, config))
    assert (cfg.num_processes, cfg.num_machines, cfg.machine_rank) == (4, 2, 1)
    assert cfg.main_process_ip == "10.0.0.5" and cfg.main_process_port == 29500   # all machines agree on it


QLORA = """
[model]
path = "../models/tiny-llama"
dtype = "{dtype}"
[data]
train = "../data/sft-messages.jsonl"
[trainer]
name = "sft"
[peft]
r = 8
[quantization]
bits = 4
compute_dtype = "bfloat16"
[launch]
num_processes = 2
{launch}
"""


def error_of(*overrides: str, text: str | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        if text is None:
            resolved(*overrides)
        else:
            resolved(*overrides, text=text, path=CONFIGS / "qlora-test.toml")
    message = str(info.value)
    assert "\n" not in message
    return info.value


def test_fsdp_with_one_process_is_an_error():
    exc = error_of("launch.distributed='fsdp'")
    assert "launch.distributed = \"fsdp\" needs launch.num_processes >= 2" in str(exc)


def test_qlora_with_fsdp_needs_the_storage_dtype_as_model_dtype():
    exc = error_of(text=QLORA.format(dtype="auto", launch='distributed = "fsdp"'))
    assert "model.dtype" in str(exc) and "quantization.compute_dtype" in str(exc) and "bnb_4bit_quant_storage" in str(exc)
    assert str(exc).startswith(f"{CONFIGS / 'qlora-test.toml'}:4:")     # the model.dtype line
    resolved(text=QLORA.format(dtype="bfloat16", launch='distributed = "fsdp"'), path=CONFIGS / "qlora-test.toml")


@needs_deepspeed
def test_qlora_with_zero3_needs_its_documented_settings():
    launch = 'distributed = "deepspeed"\nzero_stage = 3\n[launch.deepspeed]\nzero3_init = false'
    exc = error_of(text=QLORA.format(dtype="bfloat16", launch=launch))
    assert "launch.deepspeed.zero3_init = true" in str(exc)
    exc = error_of(text=QLORA.format(dtype="float32", launch='distributed = "deepspeed"\nzero_stage = 3'))
    assert "ZeRO-3" in str(exc) and "model.dtype" in str(exc)


def test_deepspeed_not_installed_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "deepspeed" else real(name, *a))
    exc = error_of("launch.distributed='deepspeed'", "launch.zero_stage=2")
    assert "DeepSpeed is not installed" in str(exc) and exc.hint == "pip install 'workbench[deepspeed]'"


@pytest.mark.parametrize("overrides, expected", [
    (["launch.fsdp.sharding_stratgy='FULL_SHARD'", "launch.distributed='fsdp'", "launch.num_processes=2"],
     "launch.fsdp.sharding_stratgy: unknown key; did you mean 'sharding_strategy'?"),
    (["launch.distributed='fsdp'", "launch.num_processes=2", "launch.fsdp.sharding_strategy='NO_SHARD'"],
     "is FSDP1 only"),
    (["launch.distributed='fsdp'", "launch.num_processes=2", "launch.fsdp.activation_checkpointing=true",
      "trainer.args.gradient_checkpointing=true"], "keep only FSDP's"),
    (["launch.zero_stage=2"], "launch.zero_stage = 2 needs launch.distributed = \"deepspeed\""),
    (["launch.distributed='deepspeed'"], "needs launch.zero_stage = 1, 2 or 3"),
    (["launch.distributed='deepspeed'", "launch.zero_stage=2", "launch.deepspeed.offload_params='cpu'"],
     "needs launch.zero_stage = 3"),
    (["launch.gpu_ids='0'", "launch.num_processes=2"], "launch.gpu_ids lists 1 GPU(s) for launch.num_processes = 2"),
    (["launch.gpu_ids='0,x'"], "is not \"all\" or distinct GPU indices"),
    (["launch.machine_rank=1"], "launch.machine_rank = 1 must be below launch.num_machines = 1"),
    (["launch.num_machines=2"], "needs launch.main_process_ip"),
    (["launch.ddp.timeout=60", "trainer.args.ddp_timeout=30"], "disagree"),
])
def test_wrong_launch_combinations_are_one_line_errors(overrides, expected, monkeypatch):
    import workbench.launching.options as options

    # The combination checks come after the install check: run them whether or not DeepSpeed is here
    # (they read only the config; test_deepspeed_not_installed_names_the_extra covers a missing one).
    monkeypatch.setattr(options, "deepspeed_installed", lambda: True)
    exc = error_of(*overrides)
    assert expected in str(exc)


def test_ddp_options_reach_the_trainer_and_process_group():
    from workbench.launching.runtime import process_group_kwargs

    config = resolved("launch.ddp.find_unused_parameters=true", "launch.ddp.timeout=90", "launch.ddp.backend='gloo'")
    kwargs = process_group_kwargs(config)
    assert kwargs["backend"] == "gloo" and kwargs["timeout"].total_seconds() == 90
    config = resolved("trainer.args.ddp_timeout=45")
    assert config["launch"]["ddp"]["timeout"] == 45     # one value for the trainer and the process group


def test_final_save_of_a_sharded_fsdp_run_asks_for_the_full_state_dict():
    from types import SimpleNamespace

    from accelerate.utils import FullyShardedDataParallelPlugin

    from workbench.launching.runtime import prepare_final_save

    plugin = FullyShardedDataParallelPlugin(fsdp_version=2, state_dict_type="SHARDED_STATE_DICT")
    runner = SimpleNamespace(is_fsdp_enabled=True, accelerator=SimpleNamespace(state=SimpleNamespace(fsdp_plugin=plugin)))
    prepare_final_save(runner)
    assert plugin.state_dict_type.name == "FULL_STATE_DICT"

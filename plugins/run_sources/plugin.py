"""Registers the built-in run sources: TensorBoard logs, trackio projects, LLaMA-Factory and HF Trainer folders."""

from __future__ import annotations

from workbench.hookspecs import hookimpl
from workbench.specs import RunSourceSpec

S = "workbench.sources"


@hookimpl
def register_run_sources() -> list[RunSourceSpec]:
    return [
        RunSourceSpec("tensorboard", f"{S}.tfevents:TfEventsSource", f"{S}.tfevents:detect",
                      "TensorBoard event files (events.out.tfevents.*), read with tensorboard's own loader"),
        RunSourceSpec("trackio", f"{S}.trackio:TrackioSource", f"{S}.trackio:detect",
                      "a trackio project (<project>.db, SQLite): its newest run"),
        RunSourceSpec("llamafactory", f"{S}.llamafactory:LlamaFactorySource", f"{S}.llamafactory:detect",
                      "a LLaMA-Factory output folder (trainer_log.jsonl)"),
        RunSourceSpec("hf-trainer", f"{S}.hf_trainer:TrainerDirSource", f"{S}.detect:trainer_dir",
                      "a Hugging Face Trainer / Axolotl output folder (trainer_state.json)"),
    ]

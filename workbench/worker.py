"""The job itself, run on every rank by `accelerate launch -m workbench.worker RUN_DIR`.

Reads job.toml, asks the plugin registry for the trainer, prepares the data, trains
with the metrics callback, saves the final model and writes result.json (rank 0).
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path

from workbench.errors import DataError, WorkbenchError
from workbench.runs.store import Run
from workbench.training.reporter import RunReporter

OOM_HINT = ("CUDA out of memory: lower trainer.args.per_device_train_batch_size (raise gradient_accumulation_steps), "
            "set trainer.args.gradient_checkpointing = true, or load the model in 4-bit ([quantization]); "
            "`workbench estimate CONFIG` shows the memory budget")


def load_split(config: dict, key: str, registry, reporter: RunReporter, is_main: bool):
    """Read and convert data.<key>; invalid rows fail the run or are skipped with a record."""
    from workbench.data.cache import load_rows
    from workbench.data.loading import bad_rows_error

    data_cfg = config["data"]
    prepared = load_rows(data_cfg[key], data_cfg, registry.data_formats, data_cfg["split"], data_cfg.get("max_rows"))
    reporter.event("data_cache", **prepared.event(key))
    if prepared.bad:
        if data_cfg["on_invalid"] == "fail":
            raise bad_rows_error(prepared.bad, prepared.total)
        if is_main:
            path = Path(reporter.run_dir) / f"invalid_rows.{key}.jsonl"
            path.write_text("".join(json.dumps(b.to_json()) + "\n" for b in prepared.bad), encoding="utf-8")
            reporter.event("invalid_rows", split=key, count=len(prepared.bad), total=prepared.total, file=path.name)
    if not len(prepared.dataset):
        raise DataError(f"data.{key}: no valid rows to train on", where=data_cfg[key])
    return prepared.dataset, prepared


def resolve_mixed_precision(value: str) -> str:
    """"auto" becomes bf16 on GPUs that support it, otherwise no autocast."""
    if value != "auto":
        return value
    import torch

    return "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def run_job(run_dir: Path) -> str:
    """Train; returns the outcome: completed | stopped | nan."""
    import torch
    from accelerate import PartialState
    from transformers import set_seed

    from workbench.plugin_manager import get_registry
    from workbench.plugin_runtime import load_spec_object, plugin_callbacks
    from workbench.training.callbacks import WorkbenchCallback
    from workbench.training.context import TrainContext

    run = Run(run_dir)
    config = run.config()
    # Without a GPU, cpu=True makes several ranks form a gloo (MULTI_CPU) group instead of
    # each running alone; trainers created later share this state.
    no_gpu = not torch.cuda.is_available()
    if no_gpu:  # transformers' TrainingArguments and Accelerator() read this flag
        os.environ["ACCELERATE_USE_CPU"] = "true"
    config["launch"]["mixed_precision"] = resolve_mixed_precision(config["launch"].get("mixed_precision", "auto"))
    # Accelerator() (own trainers) reads the env; transformers trainers get bf16/fp16 in their args.
    os.environ["ACCELERATE_MIXED_PRECISION"] = config["launch"]["mixed_precision"]
    from workbench.launching.runtime import effective_distribution, prepare_final_save, process_group_kwargs

    state = PartialState(cpu=no_gpu, **process_group_kwargs(config))
    is_main = state.is_main_process
    reporter = RunReporter(run_dir, is_main=is_main)
    ctx = None
    try:
        registry = get_registry()
        spec = registry.trainer(config["trainer"]["name"])
        set_seed(config["run"]["seed"])
        train, prepared = load_split(config, "train", registry, reporter, is_main)
        eval_ds = load_split(config, "eval", registry, reporter, is_main)[0] if config["data"].get("eval") else None
        if eval_ds is None and config["data"]["eval_fraction"] > 0:
            from workbench.data.cache import split_holdout

            train, eval_ds = split_holdout(train, config["data"]["eval_fraction"], config["run"]["seed"])
        reporter.event("data_ready", format=prepared.format.name, kind=prepared.format.kind, rows=len(train),
                       eval_rows=len(eval_ds) if eval_ds is not None else 0, world_size=state.num_processes,
                       mixed_precision=config["launch"]["mixed_precision"], device=str(state.device))
        callback = WorkbenchCallback(reporter, stop_on_nan=config["run"]["stop_on_nan"])
        trainer_opts = {k: v for k, v in config["trainer"].items() if k not in ("name", "args")}
        ctx = TrainContext(config=config, run_dir=run_dir,
                           trainer_args={**spec.default_args, **config["trainer"]["args"]}, options=trainer_opts,
                           reporter=reporter, train_dataset=train, eval_dataset=eval_ds, callbacks=[callback],
                           resume_from_checkpoint=os.environ.get("WORKBENCH_RESUME") or None)
        from workbench.evaluation.callbacks import evaluation_callbacks, unused_callbacks

        ctx.callbacks += plugin_callbacks(registry, ctx, reporter)  # register_callbacks() of every plugin
        ctx.callbacks.extend(evaluation_callbacks(ctx, registry))  # [eval] at = "checkpoints", [run] early_stopping
        runner = load_spec_object(registry, "trainers", spec.name)(ctx)
        if (config.get("eval") or {}).get("evaluators"):  # their scores reach report_to's trackers too
            from workbench.training.trackers import TrackerRelay

            ctx.trackers = TrackerRelay(runner)
            ctx.trackers.hold_train_end()  # open until the final evaluation has been sent
        for name in unused_callbacks(runner, ctx.callbacks):
            reporter.event("warning", message=f"trainer '{spec.name}' takes no Trainer callbacks: {name} is off")
        # What Accelerate made of launch.distributed (a CPU-only machine runs FSDP/DeepSpeed configs as MULTI_CPU).
        reporter.event("distributed", configured=config["launch"].get("distributed", "ddp"),
                       effective=effective_distribution(runner), world_size=state.num_processes)
        runner.train(resume_from_checkpoint=ctx.resume_from_checkpoint)
        if torch.cuda.is_available():  # what the VRAM estimate is checked against
            reporter.event("peak_memory", bytes=torch.cuda.max_memory_allocated(), device=str(state.device))
        stopped = callback.stop_requested or getattr(runner, "stopped", False) or reporter.stop_requested()
        if callback.nan_detected and config["run"]["stop_on_nan"]:
            return "nan"
        if reporter.files_lost:
            return f"files_lost:{reporter.files_lost}"
        if stopped:
            return "stopped"
        if getattr(runner, "produces_model", True):  # an evaluation run's runner has no model to save
            prepare_final_save(runner)  # a sharded run's final model is saved whole (or as the adapter)
            runner.save_model(str(ctx.output_dir / "final"))
            state.wait_for_everyone()
            reporter.event("saved", path="checkpoints/final")
        else:
            state.wait_for_everyone()
        if is_main and not getattr(runner, "evaluated", False):  # evaluators only write from rank 0
            run_evaluators(config, registry, ctx, reporter)
        return "completed"
    finally:
        reporter.close()
        if ctx is not None and ctx.trackers is not None:
            ctx.trackers.end_training()  # the integrations' on_train_end, held for the final evaluation


def run_evaluators(config: dict, registry, ctx, reporter: RunReporter) -> None:
    """[eval].evaluators on the final model: metrics rows, events, eval.json and samples.jsonl."""
    from workbench.evaluation.passes import run_pass

    if config.get("eval", {}).get("evaluators"):
        run_pass(ctx, registry, "final")


def write_result(run_dir: Path, outcome: str, reason: str | None, started: float, **extra) -> None:
    """result.json: the job's own account of how it ended, read by the supervisor (also one
    that adopted the job and cannot know its exit code)."""
    from workbench.runs.files import write_json_file
    from workbench.secrets import redact

    data = {"outcome": outcome, "reason": redact(reason) if reason else None,
            "seconds": round(time.time() - started, 3), **extra}
    try:
        write_json_file(run_dir / "result.json", data)
    except OSError:
        pass


CONSOLE_FLUSH_SECONDS = 0.5


def buffer_console(interval: float = CONSOLE_FLUSH_SECONDS) -> None:
    """Block-buffer stdout and flush it every `interval` seconds from a daemon thread.

    The supervisor starts jobs with PYTHONUNBUFFERED (so a script's output reaches console.log at
    once), but the Trainer prints every logged step: one pipe write and one wake-up of the console
    writer per step cost a short job ~5% of its steps/s on two cores. stderr stays line-buffered,
    so a traceback is never held back; exit_now() flushes what is left."""
    import threading

    try:
        sys.stdout.reconfigure(line_buffering=False, write_through=False)
    except (AttributeError, ValueError, OSError):  # not a TextIOWrapper (a test's capture): leave it
        return

    def flush_forever() -> None:
        while True:
            time.sleep(interval)
            try:
                sys.stdout.flush()
            except (OSError, ValueError):
                return

    threading.Thread(target=flush_forever, name="workbench-console-flush", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    from workbench.runs.diskspace import disk_full_message
    from workbench.training.reporter import RunDirectoryGone

    args = argv if argv is not None else sys.argv[1:]
    run_dir = Path(args[0] if args else os.environ["WORKBENCH_RUN_DIR"]).resolve()
    rank = int(os.environ.get("RANK", "0"))
    started = time.time()
    try:
        outcome = run_job(run_dir)
    except RunDirectoryGone as exc:  # nowhere left to write: say it on the console and leave
        print(f"workbench: error: {exc.one_line()}", file=sys.stderr)
        return 3
    except BaseException as exc:  # noqa: BLE001 - report every failure as an event and an exit code
        is_oom = "out of memory" in str(exc).lower() or type(exc).__name__ == "OutOfMemoryError"
        disk_full = disk_full_message(exc, run_dir) if rank == 0 else None
        if disk_full:
            message = disk_full
        elif isinstance(exc, WorkbenchError):
            message = exc.one_line()
        else:
            message = (f"{type(exc).__name__}: {exc}".splitlines() or [type(exc).__name__])[0]
        code = 2 if isinstance(exc, WorkbenchError) else 1
        if rank == 0:
            try:
                rep = RunReporter(run_dir)
                rep.event("no_space" if disk_full else "oom" if is_oom else "error", message=message,
                          hint=OOM_HINT if is_oom else getattr(exc, "hint", None))
                rep.close()
            except OSError:
                pass
            write_result(run_dir, "failed", message, started, exit_code=code)
        if disk_full:
            print(f"workbench: error: {disk_full}", file=sys.stderr)
        elif isinstance(exc, WorkbenchError):
            print(f"workbench: error: {exc.full()}", file=sys.stderr)
        else:
            traceback.print_exc()
        if is_oom:
            print(f"workbench: hint: {OOM_HINT}", file=sys.stderr)
        return code
    if rank == 0:
        reasons = {"nan": "loss became NaN/inf (run.stop_on_nan)"}
        if outcome.startswith("files_lost:"):
            outcome, reasons["failed"] = "failed", outcome.split(":", 1)[1] + "; stopped after saving a checkpoint"
        write_result(run_dir, outcome, reasons.get(outcome), started)
    return 0


def exit_now(code: int) -> None:
    """Leave without the interpreter's teardown of torch, transformers and datasets (a second or
    more at the end of every job, the time a short job's user waits for nothing). What a normal
    exit does that matters still happens: non-daemon threads finish (a tracker's writer), atexit
    handlers run (trackers' finish, logging's flush), the process group is left, output flushed."""
    import atexit
    import threading

    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.destroy_process_group()
    except Exception:  # noqa: BLE001 - leaving anyway
        pass
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join(timeout=30)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    buffer_console()
    exit_now(main())

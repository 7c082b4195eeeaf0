"""The transformers callback that turns a Trainer's logs into a run's metrics and events."""

from __future__ import annotations

import math
import time
from pathlib import Path

from transformers import TrainerCallback

from workbench.training.reporter import RunReporter

# Trainer log keys that are summaries, not per-step metrics.
SUMMARY_KEYS = {"train_runtime", "train_samples_per_second", "train_steps_per_second", "total_flos", "train_loss"}


def _barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover
        return
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def _any_rank(flag: bool) -> bool:
    """True on every rank if `flag` is true on any rank (so all ranks stop at the same step)."""
    try:
        import torch
        import torch.distributed as dist
    except ImportError:  # pragma: no cover
        return flag
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return flag
    device = "cuda" if dist.get_backend() == "nccl" else "cpu"
    t = torch.tensor([1 if flag else 0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def tokens_logged_until(metrics: Path, step: int) -> float | None:
    """num_tokens at `step` from metrics.jsonl: the last logged count at or before it, carried on
    to `step` at the pace of the two last logs (a checkpoint falls between logs); None when none was logged."""
    from workbench.runs.jsonl import tail_jsonl

    seen: list[tuple[int, float]] = []
    for row in reversed(tail_jsonl(metrics, 1 << 20)):
        tokens, at = row.get("num_tokens"), row.get("step")
        if isinstance(tokens, (int, float)) and isinstance(at, int) and at <= step:
            seen.append((at, float(tokens)))
            if len(seen) == 2:
                break
    if not seen:
        return None
    (last_step, last), rest = seen[0], seen[1:]
    if rest and last_step > rest[0][0] and last >= rest[0][1]:
        per_step = (last - rest[0][1]) / (last_step - rest[0][0])
        return float(round(last + per_step * (step - last_step)))
    return last


class WorkbenchCallback(TrainerCallback):
    """Writes metrics.jsonl (rank 0), checkpoint/NaN/stop events, honours stop requests."""

    def __init__(self, reporter: RunReporter, stop_on_nan: bool = True):
        self.reporter = reporter
        self.stop_on_nan = stop_on_nan
        self.nan_detected = False
        self.stop_requested = False
        self._last_tokens: tuple[float, float] | None = None  # (time, num_tokens)
        self._tokens_before: float | None = None
        """num_tokens logged up to the checkpoint a resume starts from (until the first log after it)."""
        self._tokens_offset = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        if state.global_step > 0:  # a resume: TRL counts num_tokens from 0 again, the run's curve must not
            self._tokens_before = tokens_logged_until(self.reporter.run_dir / "metrics.jsonl", state.global_step)
        world = max(1, getattr(args, "world_size", 1))
        self.reporter.event("train_begin", step=state.global_step, max_steps=state.max_steps,
                            num_train_epochs=args.num_train_epochs, world_size=world)

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = dict(logs or {})
        if any(k in logs for k in SUMMARY_KEYS):
            if "train_runtime" in logs:
                self.reporter.event("train_end", step=state.global_step, **{k: logs[k] for k in logs if k in SUMMARY_KEYS})
            return
        kind = "eval" if any(k.startswith("eval_") for k in logs) else "train"
        now = time.time()
        if "num_tokens" in logs:
            tokens = float(logs["num_tokens"])
            if self._tokens_before is not None:  # the first count after a resume: restarted from 0?
                self._tokens_offset = self._tokens_before if tokens < self._tokens_before else 0.0
                self._tokens_before = None
            tokens += self._tokens_offset
            logs["num_tokens"] = tokens
            if self._last_tokens and now > self._last_tokens[0] and tokens > self._last_tokens[1]:
                logs["tokens_per_second"] = round((tokens - self._last_tokens[1]) / (now - self._last_tokens[0]), 2)
            self._last_tokens = (now, tokens)
        if state.is_world_process_zero:
            self.reporter.log(logs, step=state.global_step, epoch=state.epoch, kind=kind)
        loss = logs.get("loss", logs.get("eval_loss"))
        if isinstance(loss, (int, float)) and not math.isfinite(loss):
            self.nan_detected = True
            self.reporter.event("nan", step=state.global_step, loss=loss, stopping=self.stop_on_nan)
            if self.stop_on_nan:
                control.should_training_stop = True

    def on_step_end(self, args, state, control, **kwargs):
        self.reporter.check_files()  # before the Trainer logs or saves into a folder that may be gone
        if not self.stop_requested and _any_rank(self.reporter.stop_requested()):
            self.stop_requested = True
            self.reporter.event("stopping", step=state.global_step, reason=self.reporter.files_lost or "stop requested")
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_save(self, args, state, control, **kwargs):
        _barrier()  # every rank has written its part (RNG state, shards) before the seal
        path = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        if state.is_world_process_zero and path.is_dir():
            self.reporter.checkpoint_saved(path, state.global_step)

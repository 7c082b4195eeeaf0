"""GPU panel: per-GPU utilisation, memory, temperature and power with history, and
which run owns each GPU process; CPU and RAM of the machine when there is no NVML."""

from __future__ import annotations

import os
from typing import Any

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import DataTable, Static

from workbench import numbers
from workbench.tui import fmt
from workbench.tui.polling import ThreadPoll

POLL_ENV = "WORKBENCH_GPU_POLL"
DEFAULT_POLL_S = 1.0
HISTORY = 300


def poll_interval(value: float | str | None = None) -> float:
    """Seconds between GPU samples: the argument, else $WORKBENCH_GPU_POLL, else 1 s (min 0.1 s)."""
    raw = value if value is not None else os.environ.get(POLL_ENV)
    if raw in (None, ""):
        return DEFAULT_POLL_S
    try:
        return max(0.1, float(raw))
    except ValueError:
        from workbench.errors import ConfigError

        raise ConfigError(f"not a number of seconds: {raw!r}", where=POLL_ENV) from None


def gpu_card_text(sample: Any, history: list[Any], width: int = 30) -> str:
    """Four lines for one GPU: name, util with bar and history, memory, temperature and power."""
    util = sample.util_percent
    mem = sample.mem_percent
    util_hist = fmt.spark([s.util_percent for s in history], width, 0, 100)
    mem_hist = fmt.spark([s.mem_percent for s in history], width, 0, 100)
    temp = "N/A" if sample.temperature_c is None else f"{sample.temperature_c:.0f}°C"
    power = "N/A" if sample.power_w is None else f"{sample.power_w:.0f}"
    if sample.power_limit_w is not None and sample.power_w is not None:
        power += f"/{sample.power_limit_w:.0f}"
    power += " W" if sample.power_w is not None else ""
    util_txt = "N/A" if util is None else f"{util:3.0f}%"
    mem_txt = f"{numbers.gib(sample.mem_used_bytes)}/{numbers.gib(sample.mem_total_bytes)}"
    lines = [
        f"GPU {sample.index}  {sample.name or 'unknown'}",
        f" util {fmt.bar(None if util is None else util / 100, 10)} {util_txt:>5}  {util_hist}",
        f" mem  {fmt.bar(None if mem is None else mem / 100, 10)} {mem_txt:>11}  {mem_hist}",
        f" temp {temp}  power {power}",
    ]
    if sample.errors:
        lines.append(" ! " + "; ".join(f"{k}: {v}" for k, v in sorted(sample.errors.items()))[:200])
    return "\n".join(lines)


def host_card_text(host: Any, history: list[Any], width: int = 30) -> str:
    """CPU per core and RAM, with a CPU history line."""
    cores = host.cpu_percent_per_core
    per = "  ".join(f"{i:>2} {fmt.bar(v / 100, 5)} {v:3.0f}%" for i, v in enumerate(cores[:16]))
    more = f"  (+{len(cores) - 16} cores)" if len(cores) > 16 else ""
    ram = host.mem_used_bytes / host.mem_total_bytes if host.mem_total_bytes else None
    return "\n".join([
        f"CPU  {fmt.bar(host.cpu_percent / 100, 10)} {host.cpu_percent:3.0f}%  "
        f"{fmt.spark([h.cpu_percent for h in history], width, 0, 100)}",
        f"RAM  {fmt.bar(ram, 10)} {numbers.gib(host.mem_used_bytes)}/{numbers.gib(host.mem_total_bytes)}  "
        f"{fmt.spark([h.mem_used_bytes / h.mem_total_bytes * 100 for h in history], width, 0, 100)}",
        f"cores  {per}{more}",
    ])


class GpuPanel(Widget):
    """Live GPU (or host) telemetry; sampling runs in a daemon thread, rendering on a timer."""

    def __init__(self, interval: float | None = None, backend_kind: str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.interval = poll_interval(interval)
        self.backend_kind = backend_kind
        self.backend: Any = None
        self.reason: str | None = None
        self.poller: Any = None
        self._poll: ThreadPoll | None = None
        self._cards: dict[int, Static] = {}
        self.last_snapshot: Any = None
        self.matches: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Static("Starting GPU telemetry…", id="gpu-summary")
        with VerticalScroll(id="gpu-cards"):
            yield Static("", id="host-card", classes="gpu-card")
        table = DataTable(id="gpu-procs", cursor_type="row", zebra_stripes=True)
        table.display = False
        yield table

    def on_mount(self) -> None:
        table = self.query_one("#gpu-procs", DataTable)
        table.add_columns("GPU", "PID", "memory", "run", "matched by")
        self.run_worker(self._open, thread=True, group="gpu-open", exit_on_error=False)

    def _open(self) -> None:
        from workbench.telemetry import GpuPoller, open_backend_with_reason

        try:
            backend, reason = open_backend_with_reason(self.backend_kind)
        except Exception as exc:  # noqa: BLE001 - a bad fake spec or driver must not take the app down
            backend, reason = None, f"{type(exc).__name__}: {exc}"
        poller = GpuPoller(backend, interval=self.interval, history=HISTORY).start()
        try:
            self.app.call_from_thread(self._opened, backend, reason, poller)
        except Exception:  # noqa: BLE001 - app closing
            poller.stop()
            if backend is not None:
                backend.close()

    def _opened(self, backend: Any, reason: str | None, poller: Any) -> None:
        self.backend, self.reason, self.poller = backend, reason, poller
        self._poll = ThreadPoll(self, self._fetch, self._show_snapshot, self.interval, "gpu-view").start()

    def on_unmount(self) -> None:
        if self._poll:
            self._poll.stop()
        if self.poller is not None:
            self.poller.stop(timeout=2)
        if self.backend is not None:
            self.backend.close()

    def _fetch(self) -> tuple[Any, list[Any]]:
        from workbench.telemetry import map_processes_to_runs

        snap = self.poller.snapshot()
        active = getattr(self.app, "active_runs", [])
        has_procs = any(s.processes for s in snap.latest)
        matches = map_processes_to_runs(snap.latest, active) if has_procs else []
        return snap, matches

    def _show_snapshot(self, result: tuple[Any, list[Any]]) -> None:
        snap, matches = result
        self.last_snapshot, self.matches = snap, matches
        summary = self.query_one("#gpu-summary", Static)
        cards = self.query_one("#gpu-cards", VerticalScroll)
        if self.backend is None:
            summary.update(f"No GPU telemetry ({self.reason or 'no NVML'}). This machine's CPU and RAM:")
        else:
            n = len(snap.latest)
            err = f"  last poll failed: {snap.error}" if snap.error else ""
            summary.update(f"{n} GPU{'s' if n != 1 else ''} · every {self.interval:g}s{err}")
        width = max(10, min(60, self.size.width - 40))
        for sample in snap.latest:
            card = self._cards.get(sample.index)
            if card is None:
                card = self._cards[sample.index] = Static("", classes="gpu-card", id=f"gpu-card-{sample.index}")
                cards.mount(card, before=self.query_one("#host-card"))
            card.update(gpu_card_text(sample, snap.history.get(sample.index, []), width))
        if snap.host is not None:
            self.query_one("#host-card", Static).update(host_card_text(snap.host, snap.host_history, width))
        table = self.query_one("#gpu-procs", DataTable)
        procs = [(s.index, p) for s in snap.latest for p in (s.processes or [])]
        table.display = bool(procs)
        if procs:
            owner = {(m.gpu_index, m.pid): m for m in matches}
            table.clear()
            for index, p in procs:
                m = owner.get((index, p.pid))
                run = (m.run_id or ("? " + ", ".join(m.candidates) if m.candidates else "-")) if m else "-"
                table.add_row(str(index), str(p.pid), numbers.gib(p.used_bytes), run, m.how if m else "-")

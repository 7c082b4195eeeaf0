"""GPU panel: one compact line per GPU (util, memory, temperature, power with bars and
thresholds), per-GPU history below, and every GPU process with its user, command, GPU
memory, CPU, host memory and the run it belongs to; `x`/`X` stop that run.

Eight GPUs fit in 80x24 with their history. Samples are appended to the workspace's
`.workbench/gpu.jsonl` (by one TUI of the workspace: workbench.tui.gpu_history), and the
history is read back from it when the panel opens, so it survives closing the TUI.
Without NVML the panel says why and shows this machine's CPU and RAM.
"""

from __future__ import annotations

import json
import os
import re
from collections import deque
from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import DataTable, Static

from workbench import numbers
from workbench.tui import fmt
from workbench.tui.gpu_history import HISTORY_FILE, HistoryWriter, read_history
from workbench.tui.polling import ThreadPoll

POLL_ENV = "WORKBENCH_GPU_POLL"
DEFAULT_POLL_S = 1.0
HISTORY = 300

TEMP_WARN, TEMP_CRIT = 80.0, 87.0
POWER_WARN, POWER_CRIT = 0.90, 0.98
MEM_WARN, MEM_CRIT = 0.90, 0.97


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


def level(value: float | None, warn: float, crit: float) -> str:
    """'ok', 'warn' or 'crit' for a reading against its thresholds."""
    if value is None:
        return "ok"
    return "crit" if value >= crit else ("warn" if value >= warn else "ok")


MARK = {"ok": "", "warn": "!", "crit": "!!"}
"""Threshold marks that read without colour."""


_NAME_NOISE = re.compile(r"^(NVIDIA |Tesla |GeForce )+|-(SXM\d?|PCIE)(?=-|$)| (HBM\d?e?|PCIe|SXM\d?)\b", re.IGNORECASE)


def short_name(name: str | None, width: int = 12) -> str:
    """The model of a GPU in `width` cells, its memory size kept: 'NVIDIA A100-SXM4-40GB' -> 'A100-40GB'.

    Vendor, brand and form factor go first; a name still too long ends in '…', never cut silently.
    """
    name = _NAME_NOISE.sub("", name or "GPU").strip() or "GPU"
    return name if len(name) <= width else name[: width - 1] + "…"


def gpu_line(s: Any, width: int = 80) -> Text:
    """'0 H100 80GB  util ████░░░░  62%  mem ███░░ 10.5/80.0G  51°C  310/700W' with threshold styles."""
    wide, narrow = width >= 100, width < 76
    ubar, mbar = (12, 10) if wide else ((4, 3) if narrow else (8, 6))
    util = s.util_percent
    mem = s.mem_percent
    mem_level = level(None if mem is None else mem / 100, MEM_WARN, MEM_CRIT)
    temp_level = level(s.temperature_c, TEMP_WARN, TEMP_CRIT)
    pfrac = (s.power_w / s.power_limit_w) if s.power_w is not None and s.power_limit_w else None
    power_level = level(pfrac, POWER_WARN, POWER_CRIT)
    style = {"ok": "", "warn": "bold yellow", "crit": "bold red"}
    t = Text(no_wrap=True, overflow="ellipsis")
    t.append(f"{s.index} {short_name(s.name, 9 if narrow else 12):<{9 if narrow else 12}} ")
    t.append("" if narrow else "util ")
    t.append(fmt.bar(None if util is None else util / 100, ubar), style="cyan")
    t.append(f" {'N/A' if util is None else f'{util:3.0f}%':>4}  ")
    t.append("" if narrow else "mem ")
    t.append(fmt.bar(None if mem is None else mem / 100, mbar), style=style[mem_level] or "magenta")
    used = "N/A" if s.mem_used_bytes is None else f"{s.mem_used_bytes / 1024**3:.1f}"
    t.append(f" {used}/{numbers.gib(s.mem_total_bytes)}{MARK[mem_level]}", style=style[mem_level])
    temp = "N/A" if s.temperature_c is None else f"{s.temperature_c:.0f}°C"
    t.append(f"  {temp}{MARK[temp_level]}", style=style[temp_level])
    if s.power_w is None:
        power = "N/A"
    else:
        power = f"{s.power_w:.0f}" + (f"/{s.power_limit_w:.0f}" if s.power_limit_w else "") + "W"
    t.append(f"  {power}{MARK[power_level]}", style=style[power_level])
    if s.errors:
        t.append("  ⚠ " + ", ".join(sorted(s.errors)), style="yellow")
    return t


def history_line(index: int, history: list[Any], width: int) -> str:
    """'0 ▁▂▃▅▇█▇▅ util' over the last samples."""
    return f"{index} " + fmt.spark([h.util_percent for h in history], max(1, width - 2), 0, 100)


def host_lines(host: Any, history: list[Any], width: int) -> str:
    """CPU and RAM of this machine, with a CPU history line."""
    cores = host.cpu_percent_per_core
    ram = host.mem_used_bytes / host.mem_total_bytes if host.mem_total_bytes else None
    per = " ".join(f"{v:3.0f}" for v in cores[: max(1, (width - 8) // 4)])
    return "\n".join([
        f"CPU  {fmt.bar(host.cpu_percent / 100, 10)} {host.cpu_percent:3.0f}%  "
        f"{fmt.spark([h.cpu_percent for h in history], max(1, width - 24), 0, 100)}",
        f"RAM  {fmt.bar(ram, 10)} {numbers.gib(host.mem_used_bytes)}/{numbers.gib(host.mem_total_bytes)}",
        f"per core %  {per}",
    ])


class ProcessInfo:
    """user, command, CPU % and RSS of host processes, with CPU measured between polls."""

    def __init__(self) -> None:
        self._procs: dict[int, Any] = {}

    def get(self, pid: int) -> dict[str, Any]:
        import psutil

        try:
            proc = self._procs.get(pid)
            if proc is None:
                proc = self._procs[pid] = psutil.Process(pid)
                proc.cpu_percent(None)  # primes: the next call measures since now
            with proc.oneshot():
                cmd = proc.cmdline()
                return {"user": proc.username(), "command": " ".join(cmd) if cmd else proc.name(),
                        "cpu": proc.cpu_percent(None), "rss": proc.memory_info().rss}
        except (psutil.Error, OSError):
            self._procs.pop(pid, None)
            return {"user": "?", "command": "(not visible from here)", "cpu": None, "rss": None}

    def forget_except(self, pids: set[int]) -> None:
        for pid in set(self._procs) - pids:
            del self._procs[pid]


class GpuPanel(Widget):
    """Live GPU (or host) telemetry; sampling runs in a daemon thread, rendering on a timer."""

    HELP_TITLE = "GPUs"
    BINDINGS = [
        Binding("x", "stop_run(False)", "Stop run", tooltip="stop the run of the highlighted process gracefully (asks first)"),
        Binding("X", "stop_run(True)", "Stop run now", show=False,
                tooltip="stop the run of the highlighted process now: SIGTERM, then SIGKILL (asks first)"),
        Binding("enter", "open_run", "Open run", show=False, tooltip="open the run of the highlighted process"),
    ]
    HELP_EXTRA = [("↑ / ↓", "move through the GPU processes")]

    def __init__(self, interval: float | None = None, backend_kind: str | None = None,
                 workspace: Path | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.interval = poll_interval(interval)
        self.backend_kind = backend_kind
        self.workspace = workspace
        self.backend: Any = None
        self.reason: str | None = None
        self.poller: Any = None
        self._poll: ThreadPoll | None = None
        self.last_snapshot: Any = None
        self.matches: list[Any] = []
        self.proc_rows: list[dict[str, Any]] = []
        self.history: dict[int, deque] = {}
        self._procinfo = ProcessInfo()
        self._shown: dict[str, str] = {}
        self.writer: HistoryWriter | None = None

    @property
    def history_path(self) -> Path | None:
        ws = self.workspace or getattr(self.app, "workspace", None)
        return Path(ws) / HISTORY_FILE if ws else None

    def compose(self) -> ComposeResult:
        yield Static("Starting GPU telemetry…", id="gpu-summary")
        yield Static("", id="gpu-lines")
        yield Static("", id="gpu-history")
        table = DataTable(id="gpu-procs", cursor_type="row", zebra_stripes=True)
        yield table

    def first_focus(self) -> Widget:
        return self.query_one("#gpu-procs", DataTable)

    def on_mount(self) -> None:
        table = self.query_one("#gpu-procs", DataTable)
        for key, label in (("gpu", "GPU"), ("pid", "PID"), ("user", "user"), ("gmem", "GPU mem"),
                           ("cpu", "CPU%"), ("rss", "host mem"), ("run", "run"), ("cmd", "command")):
            table.add_column(label, key=key)
        self.run_worker(self._open, thread=True, group="gpu-open", exit_on_error=False)

    def _open(self) -> None:
        from workbench.telemetry import GpuPoller, open_backend_with_reason

        try:
            backend, reason = open_backend_with_reason(self.backend_kind)
        except Exception as exc:  # noqa: BLE001 - a bad fake spec or driver must not take the app down
            backend, reason = None, f"{type(exc).__name__}: {exc}"
        path = self.history_path
        seeded: dict[int, list[Any]] = {}
        if path is not None and backend is not None:
            try:
                now = {s.index: s.uuid for s in backend.sample()}  # whose history this is
            except Exception:  # noqa: BLE001 - the poller reports a failing backend
                now = None
            seeded = read_history(path, HISTORY, now)
        poller = GpuPoller(backend, interval=self.interval, history=HISTORY).start()
        try:
            self.app.call_from_thread(self._opened, backend, reason, poller, seeded)
        except Exception:  # noqa: BLE001 - app closing
            poller.stop()
            if backend is not None:
                backend.close()

    def _opened(self, backend: Any, reason: str | None, poller: Any, seeded: dict[int, list[Any]]) -> None:
        self.backend, self.reason, self.poller = backend, reason, poller
        self.history = {i: deque(h, maxlen=HISTORY) for i, h in seeded.items()}
        self._seen_polls = 0
        self._poll = ThreadPoll(self, self._fetch, self._show_snapshot, self.interval, "gpu-view",
                                gate=lambda tick: self._visible() or tick % 5 == 0).start()

    def on_unmount(self) -> None:
        if self._poll:
            self._poll.stop()
        if self.writer is not None:
            self.writer.close()
        if self.poller is not None:
            self.poller.stop(timeout=2)
        if self.backend is not None:
            self.backend.close()

    def _fetch(self) -> tuple[Any, list[Any], list[dict[str, Any]]]:
        from workbench.telemetry import map_processes_to_runs

        snap = self.poller.snapshot()
        if snap.polls != getattr(self, "_written_polls", 0) and self.backend is not None:
            self._written_polls = snap.polls
            path = self.history_path
            if path is not None:
                if self.writer is None:
                    self.writer = HistoryWriter(path)
                self.writer.append(snap.latest)
        active = getattr(self.app, "active_runs", [])
        has_procs = any(s.processes for s in snap.latest)
        matches = map_processes_to_runs(snap.latest, active) if has_procs else []
        owner = {(m.gpu_index, m.pid): m for m in matches}
        rows = []
        for s in snap.latest:
            for p in s.processes or []:
                m = owner.get((s.index, p.pid))
                run = (m.run_id or ("? " + ", ".join(m.candidates) if m.candidates else "-")) if m else "-"
                rows.append({"gpu": s.index, "pid": p.pid, "gmem": p.used_bytes, "run": run,
                             "run_id": m.run_id if m else None, **self._procinfo.get(p.pid)})
        self._procinfo.forget_except({r["pid"] for r in rows})
        return snap, matches, rows

    def _visible(self) -> bool:
        return all(n.display for n in self.ancestors_with_self if isinstance(n, Widget)) and self.screen.is_current

    def _set(self, selector: str, text: Any) -> None:
        from workbench.tui.textset import set_text

        set_text(self.query_one(selector, Static), text)

    def _show_snapshot(self, result: tuple[Any, list[Any], list[dict[str, Any]]]) -> None:
        snap, matches, rows = result
        self.last_snapshot, self.matches = snap, matches
        if snap.polls != getattr(self, "_seen_polls", 0):
            self._seen_polls = snap.polls
            for s in snap.latest:
                self.history.setdefault(s.index, deque(maxlen=HISTORY)).append(s)
        self.proc_rows = rows
        if not self._visible():
            return  # hidden tab: nothing to paint
        width = max(40, self.size.width - 2)
        if self.backend is None:
            self._set("#gpu-summary", f"No GPU telemetry ({self.reason or 'no NVML'}). This machine's CPU and RAM:")
            if snap.host is not None:
                self._set("#gpu-lines", host_lines(snap.host, snap.host_history, width))
            self._set("#gpu-history", "")
        else:
            n = len(snap.latest)
            err = f"  last poll failed: {snap.error}" if snap.error else ""
            head = f"{n} GPU{'s' if n != 1 else ''} · every {self.interval:g}s"
            limits = (f" · ! warn !! critical (temp {TEMP_WARN:.0f}/{TEMP_CRIT:.0f}°C, power "
                      f"{POWER_WARN:.0%}/{POWER_CRIT:.0%}, mem {MEM_WARN:.0%}/{MEM_CRIT:.0%})")
            self._set("#gpu-summary", head + (limits if len(head + limits + err) <= width else "") + err)
            lines = Text("\n").join(gpu_line(s, width) for s in snap.latest)
            self._set("#gpu-lines", lines)
            hist = [history_line(i, list(self.history.get(i, [])), width) for i in sorted(self.history)]
            title = f"util history (last {len(next(iter(self.history.values()), []))} samples)"
            self._set("#gpu-history", "\n".join([title, *hist]) if hist else "")
        self._show_procs(rows)

    def _show_procs(self, rows: list[dict[str, Any]]) -> None:
        table = self.query_one("#gpu-procs", DataTable)
        cells = [(str(r["gpu"]), str(r["pid"]), r["user"], numbers.gib(r["gmem"]),
                  "-" if r["cpu"] is None else f"{r['cpu']:.0f}", numbers.size(r["rss"]), r["run"],
                  r["command"][:200]) for r in rows]
        key = json.dumps(cells)
        if self._shown.get("procs") == key:
            return
        self._shown["procs"] = key
        row = table.cursor_row
        table.clear()
        for i, c in enumerate(cells):
            table.add_row(*c, key=f"{rows[i]['gpu']}:{rows[i]['pid']}")
        if rows:
            table.move_cursor(row=min(row, len(rows) - 1), animate=False)

    def _highlighted(self) -> dict[str, Any] | None:
        table = self.query_one("#gpu-procs", DataTable)
        if not self.proc_rows or not 0 <= table.cursor_row < len(self.proc_rows):
            return None
        return self.proc_rows[table.cursor_row]

    def _run_of_highlighted(self):
        from workbench.paths import runs_dir
        from workbench.runs.store import Run

        row = self._highlighted()
        if row is None:
            self.notify("no GPU process selected", severity="warning")
            return None
        if not row.get("run_id"):
            self.notify(f"pid {row['pid']} belongs to no workbench run of this workspace", severity="warning")
            return None
        return Run(runs_dir(self.app.workspace) / row["run_id"])

    def action_stop_run(self, now: bool) -> None:
        run = self._run_of_highlighted()
        if run is not None:
            self.app.stop_run(run, now=now)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_run()

    def action_open_run(self) -> None:
        run = self._run_of_highlighted()
        if run is not None:
            self.app.open_run(run.id)

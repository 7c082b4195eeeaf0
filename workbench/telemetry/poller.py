"""Background polling of GPU (and host) telemetry with bounded history.

No Textual here: a UI passes `on_update` (e.g. wrapping `app.call_from_thread`) or
simply reads `snapshot()` on its own timer.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from workbench.telemetry.backend import GpuBackend
from workbench.telemetry.samples import GpuSample, HostSample, host_sample


@dataclass(frozen=True)
class PollerSnapshot:
    """A consistent copy of what the poller holds at one moment."""

    latest: list[GpuSample]
    history: dict[int, list[GpuSample]]
    host: HostSample | None
    host_history: list[HostSample]
    error: str | None
    polls: int


class GpuPoller:
    """Samples a backend every `interval` seconds in a daemon thread.

    Keeps the last `history` samples per GPU index (and of the host, when
    `include_host`). With `backend=None` only the host is polled: the "no GPU" panel.
    A failing poll is recorded in `snapshot().error` and polling goes on.
    """

    def __init__(
        self,
        backend: GpuBackend | None,
        interval: float = 1.0,
        history: int = 600,
        indices: Iterable[int] | None = None,
        include_host: bool = True,
        on_update: Callable[[], None] | None = None,
    ):
        if interval <= 0:
            raise ValueError("interval must be positive")
        if history < 1:
            raise ValueError("history must be at least 1")
        self.backend = backend
        self.interval = interval
        self.history_len = history
        self.indices = None if indices is None else list(indices)
        self.include_host = include_host
        self.on_update = on_update
        self._lock = threading.Lock()
        self._history: dict[int, deque[GpuSample]] = {}
        self._host_history: deque[HostSample] = deque(maxlen=history)
        self._latest: list[GpuSample] = []
        self._error: str | None = None
        self._polls = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def poll_once(self) -> None:
        """Take one sample now (the thread calls this; tests may call it directly)."""
        samples: list[GpuSample] = []
        error: str | None = None
        if self.backend is not None:
            try:
                samples = self.backend.sample(self.indices)
            except Exception as exc:  # a lost driver must not kill the viewer
                error = f"{type(exc).__name__}: {exc}"
        host = host_sample() if self.include_host else None
        with self._lock:
            for s in samples:
                hist = self._history.get(s.index)
                if hist is None:
                    hist = self._history[s.index] = deque(maxlen=self.history_len)
                hist.append(s)
            if samples or error is None:
                self._latest = samples
            if host is not None:
                self._host_history.append(host)
            self._error = error
            self._polls += 1
        if self.on_update is not None:
            self.on_update()

    def snapshot(self) -> PollerSnapshot:
        """Copy the current state (safe to call from any thread)."""
        with self._lock:
            return PollerSnapshot(
                latest=list(self._latest),
                history={i: list(h) for i, h in self._history.items()},
                host=self._host_history[-1] if self._host_history else None,
                host_history=list(self._host_history),
                error=self._error,
                polls=self._polls,
            )

    def start(self) -> GpuPoller:
        """Start the polling thread (no-op when already running)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            if self.include_host:
                host_sample()  # prime psutil so the first real reading covers an interval
            self._thread = threading.Thread(target=self._run, name="gpu-poller", daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll_once()
            self._stop.wait(self.interval)

    def stop(self, timeout: float | None = 5.0) -> None:
        """Stop the thread and wait for it; the backend stays open (its owner closes it)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> GpuPoller:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

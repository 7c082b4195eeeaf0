"""Periodic work off the UI thread: fetch in a worker thread, apply on the UI thread.

File reads, psutil calls and NVML queries must never stall key handling, so every
live view polls through a `ThreadPoll`: a timer kicks a thread worker (never two at a
time), whose result is handed to `apply` on the event loop.
"""

from __future__ import annotations

from typing import Any, Callable, Generic, TypeVar

from textual.dom import DOMNode
from textual.timer import Timer

T = TypeVar("T")


class ThreadPoll(Generic[T]):
    """Call `fetch()` in a thread every `interval` seconds and `apply(result)` on the UI thread."""

    def __init__(self, node: DOMNode, fetch: Callable[[], T], apply: Callable[[T], Any], interval: float,
                 name: str, on_error: Callable[[BaseException], Any] | None = None,
                 gate: Callable[[int], bool] | None = None):
        self.node = node
        self.fetch = fetch
        self.apply = apply
        self.interval = interval
        self.name = name
        self.on_error = on_error
        self.gate = gate
        """Called with the tick count on each timer tick: False skips this tick (a hidden view polls less)."""
        self.ticks = 0
        self.busy = False
        self.again = False
        self.rounds = 0
        self.timer: Timer | None = None
        self.stopped = False

    def start(self, now: bool = True) -> ThreadPoll[T]:
        """Start the timer (and poll once at once unless `now` is False)."""
        self.stopped = False
        if self.timer is None:
            self.timer = self.node.set_interval(self.interval, self._tick, name=self.name)
        if now:
            self.kick()
        return self

    def stop(self) -> None:
        """Stop polling; a result still in flight is dropped (its view may be gone)."""
        self.stopped = True
        if self.timer is not None:
            self.timer.stop()
            self.timer = None

    def pause(self) -> None:
        if self.timer is not None:
            self.timer.pause()

    def resume(self) -> None:
        if self.timer is not None:
            self.timer.resume()

    def _tick(self) -> None:
        self.ticks += 1
        if self.gate is None or self.gate(self.ticks):
            self.kick()

    def kick(self) -> None:
        """Poll now, unless a poll is in flight (then poll again right after it)."""
        if self.stopped:
            return
        if self.busy:
            self.again = True
            return
        self.busy = True
        self.node.run_worker(self._work, thread=True, group=self.name, exit_on_error=False, name=self.name)

    def _work(self) -> None:
        try:
            result: Any = self.fetch()
            ok = True
        except Exception as exc:  # noqa: BLE001 - reported on the UI thread, polling goes on
            result, ok = exc, False
        try:
            self.node.app.call_from_thread(self._done, result, ok)
        except Exception:  # noqa: BLE001 - the app is closing: nothing to show the result in
            pass

    def _done(self, result: Any, ok: bool) -> None:
        self.busy = False
        if self.stopped or not self.node.is_attached:
            return
        self.rounds += 1
        try:
            if ok:
                self.apply(result)
            elif self.on_error is not None:
                self.on_error(result)
        finally:
            if self.again:
                self.again = False
                self.kick()

"""How many transfers to keep in flight: found by measuring, not guessed.

The right number of parallel uploads depends on the link: on a long fat pipe
(50 ms RTT, 8 MB/s per TCP connection, 64 MB/s in total) it takes 12-16
connections to fill it, while on a 2 MB/s-per-connection, 8 MB/s uplink more
than 4-5 only add queueing and RAM. :class:`ConcurrencyTuner` starts small and
probes, the way TCP's slow start finds a window:

* **slow start**: every measurement window the in-flight limit doubles while the
  throughput of the window grows by more than ``gain`` (default 8 %: doubling from
  8 to 16 on the 50 ms / 64 MB/s profile gains only 10-20 %, the time each request
  spends on round trips, yet that is what fills the link; on a thin uplink 4 to 8
  gains ~5 % and is refused);
* two windows in a row that do not pay for the extra connections (one may be noise)
  end slow start, and the limit goes back to the best level seen (so it never keeps
  connections that did not help);
* **steady**: every ``probe_every`` windows it tries a quarter more and keeps it
  only if the throughput rises by ``gain / 2``, so a link that got faster is
  followed;
* **back-off**: a throttling or transient error (503 SlowDown, 5xx, timeouts,
  resets: reported with :meth:`throttled`) halves the limit, at most once per window.

What is measured: with ``per_round=True`` (what the uploader uses) the caller
reports whole transfers as they *finish* (:meth:`completed`) and a window lasts at
least ``window`` seconds *and* ``limit`` completions, one round of the pool (half a
round during slow start). Bytes
counted as the HTTP client hands them to the socket say little on a real link:
the kernel's send buffer (and, on loopback, the receiver's) take megabytes at
once, so a window's "sent" bytes are mostly how many transfers started in it; on
the 50 ms / 64 MB/s profile that noise (30-160 MB/s per 0.5 s window) ended slow
start at 8 or pushed it to 32 from one run to the next. Finished transfers are
what the link delivered, and a round of them averages out the lumps.

Windows in which the caller could not keep ``limit`` transfers busy (the tail of a
data set, or a file still being hashed) say nothing about the link and are ignored.
The limit stays within ``floor`` and ``cap``; the caller derives ``cap`` from its
memory budget. Pure logic with an injectable clock, so the tests drive it with a
simulated link.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ConcurrencyTuner", "TunerStep"]


@dataclass(frozen=True)
class TunerStep:
    """One measured window: the limit it ran at, its throughput and the decision."""

    limit: int
    bytes_per_s: float
    next_limit: int
    reason: str


class ConcurrencyTuner:
    """Adaptive in-flight limit for a pool of transfers (thread-safe).

    Args:
        start: initial limit.
        floor: never below this.
        cap: never above this (derive it from the memory budget).
        window: seconds per measurement.
        gain: relative throughput increase that justifies more connections.
        probe_every: windows between upward probes once settled.
        per_round: a window also needs ``limit`` completions (:meth:`completed`).
        clock: injectable monotonic clock.
    """

    def __init__(self, *, start: int = 4, floor: int = 1, cap: int = 32, window: float = 0.5,
                 gain: float = 0.08, probe_every: int = 6, per_round: bool = False,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 1 <= floor <= cap:
            raise ValueError(f"need 1 <= floor <= cap, got floor={floor}, cap={cap}")
        self.floor, self.cap = floor, cap
        self.limit = max(floor, min(cap, start))
        self.peak_limit = self.limit  # the most it ever allowed in flight
        self.window, self.gain, self.probe_every = window, gain, probe_every
        self._clock = clock
        self._lock = threading.Lock()
        self._slow_start = True
        self._doubted = False
        self._best_rate = 0.0
        self._best_limit = self.limit
        self._probing_from: int | None = None
        self._steady_windows = 0
        self._win_start = clock()
        self._win_bytes = 0
        self._win_done = 0
        self._first_done = False
        self.per_round = per_round
        self._saturated = True
        self._throttled_in_window = False
        self.history: list[TunerStep] = []

    # -- what the pool reports --------------------------------------------------------------
    def add_bytes(self, n: int) -> None:
        """Bytes sent (negative when a retry rolls a body back)."""
        with self._lock:
            self._win_bytes += n

    def completed(self, n: int) -> None:
        """A transfer of ``n`` bytes finished (the store confirmed it)."""
        with self._lock:
            if self.per_round and not self._first_done:
                # The first transfers also paid for connecting, the first request's
                # round trips and the client's start: measure from the first one on.
                self._first_done = True
                self._win_start, self._win_bytes, self._win_done = self._clock(), 0, 0
                return
            self._win_bytes += n
            self._win_done += 1

    def throttled(self) -> None:
        """The store pushed back (503/SlowDown, 5xx, timeout, reset): halve the limit."""
        with self._lock:
            if self._throttled_in_window:
                return
            self._throttled_in_window = True
            new = max(self.floor, self.limit // 2)
            self._record(0.0, new, "throttled")
            self._slow_start = False
            self._probing_from = None
            self._best_limit, self._best_rate = new, 0.0
            self.limit = new

    def tick(self, in_flight: int, backlog: bool) -> int:
        """Call often (e.g. whenever a transfer ends); returns the limit to keep.

        Args:
            in_flight: transfers running now.
            backlog: whether more transfers are waiting to start.
        """
        with self._lock:
            if in_flight < self.limit and not backlog:
                self._saturated = False  # the tail: nothing to learn from this window
            now = self._clock()
            elapsed = now - self._win_start
            if elapsed < self.window or (self.per_round and self._win_done < self._round()):
                return self.limit
            rate = self._win_bytes / elapsed if elapsed > 0 else 0.0
            if self._saturated and not self._throttled_in_window:
                self._decide(rate)
            self._win_start, self._win_bytes, self._win_done = now, 0, 0
            self._saturated = True
            self._throttled_in_window = False
            return self.limit

    def _round(self) -> int:
        # Completions a window needs: half the pool while slow start hunts (a short run
        # must not spend its first seconds measuring), the whole pool once settled.
        return max(2, self.limit // 2) if self._slow_start else self.limit

    # -- the rule ---------------------------------------------------------------------------
    def _decide(self, rate: float) -> None:
        limit = self.limit
        if self._slow_start:
            if rate > self._best_rate * (1 + self.gain):
                self._best_rate, self._best_limit = rate, limit
                self._doubted = False
                new = min(self.cap, limit * 2)
                if new == limit:
                    self._slow_start = False
                self._set(rate, new, "slow start: throughput grew")
            elif not self._doubted:
                # One flat window may be noise (a busy CPU, a slow object): measure the
                # same level once more before giving up on it.
                self._doubted = True
                self._set(rate, limit, "slow start: no gain yet, measuring again")
            else:
                self._slow_start = False
                self._set(rate, self._best_limit, "slow start ended: no gain")
            return
        if self._probing_from is not None:
            base = self._probing_from
            self._probing_from = None
            if rate > self._best_rate * (1 + self.gain / 2):
                self._best_rate, self._best_limit = rate, limit
                self._set(rate, limit, "probe kept")
            else:
                self._set(rate, base, "probe dropped")
            return
        # Settled: follow the link's current rate at the chosen level, probe now and then.
        self._best_rate = rate if limit == self._best_limit else self._best_rate
        self._steady_windows += 1
        if self._steady_windows >= self.probe_every and limit < self.cap:
            self._steady_windows = 0
            self._probing_from = limit
            self._set(rate, min(self.cap, limit + max(1, limit // 4)), "probe")
        else:
            self._set(rate, limit, "steady")

    def _set(self, rate: float, new: int, reason: str) -> None:
        self._record(rate, new, reason)
        self.limit = max(self.floor, min(self.cap, new))
        self.peak_limit = max(self.peak_limit, self.limit)

    def _record(self, rate: float, new: int, reason: str) -> None:
        self.history.append(TunerStep(self.limit, rate, new, reason))
        del self.history[:-200]  # bounded: a long upload keeps the last 200 windows

    @property
    def settled_limit(self) -> int:
        """The level the tuner judged best (what a report should state)."""
        return self._best_limit

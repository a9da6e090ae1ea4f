"""How many transfers to keep in flight: found by measuring, not guessed.

The right number of parallel uploads depends on the link: on a long fat pipe
(50 ms RTT, 8 MB/s per TCP connection, 64 MB/s in total) it takes 16-32
connections to fill it (each request also spends round trips and the store's
time sending nothing), while on a 2 MB/s-per-connection, 8 MB/s uplink more
than 4-8 only add queueing and RAM. :class:`ConcurrencyTuner` starts at a
modest level and probes, the way TCP's slow start finds a window.

**What is measured.** Every transfer is timed from its start to the store's
answer (:meth:`started` gives a ticket, :meth:`completed` hands it back). With
``L`` transfers kept in flight, each taking ``d`` seconds for ``b`` bytes, the
link delivers ``L * b / d`` (Little's law). This needs no measuring window: the
first transfers that ran entirely at a level say what that level delivers, so a
level is judged about one transfer's duration after it began (half of its
transfers finished), not after a fixed time plus a round counted from its first
completion. If doubling the transfers leaves each one's duration about the same,
the link was not full and throughput doubled; if each takes twice as long, the
extra connections only queue. Bytes counted as the HTTP client hands them to the
socket say little on a real link (kernel send buffers take megabytes at once:
30-160 MB/s per 0.5 s on a 64 MB/s link), so they are not used.

**The rule.**

* **slow start, first step**: there is nothing to compare the start level
  (default 8, the old fixed worker count) with yet, and every level costs one
  transfer's duration to judge, so where the start level goes first decides most of
  a short upload. If it already delivers ``fast_link`` (24 MB/s, ~200 Mbit/s), the
  link is fast: the next level is four times as many (a round there takes under a
  second; what it does not use, the steps below give back). On 50 ms, 8 MB/s per
  connection, 64 MB/s in total that is 32 in flight after ~0.9 s; starting at 4 and
  doubling took two rounds (1.5 s) to find out, 79-80 % of the link for 60 x 4 MB
  instead of the 85 % asked. A slower start level may already fill a thin uplink,
  so half as many are measured next (never more before more proved to help): on
  2 MB/s per connection, 8 MB/s in total, 4 deliver about what 8 do and it stays
  at 4 (or at 8 if 8 covered the round trips 4 leave idle), never above 8; a link
  of slow connections and a large total (a small TCP window on a long RTT) shows 8
  delivering twice what 4 do and continues upward as below;
* **slow start, then**: a level that delivers more than ``gain`` (default 8 %)
  above the one before is kept, and the next step depends on how close to linear
  the gain was (the share of the added connections' pro-rata throughput it
  delivered): at least three quarters (the link is far from full) -> fourfold; at
  least a quarter -> double; less -> stop here, since the next doubling would gain
  less still;
* a level that does not pay for its extra connections is measured once more (one
  flat measurement may be noise: a busy CPU, a slow object); if it still does not,
  slow start ends at the best level seen, so it never keeps connections that did
  not help;
* **steady**: the rate of the settled level is followed round by round (a round =
  ``limit`` finished transfers); every ``probe_every`` rounds it tries, in turn, a
  quarter more (kept only if the throughput rises by ``gain / 2``: a link that got
  faster is followed) and a quarter fewer (kept unless the throughput drops by
  ``gain / 2``: connections a fourfold step took but did not need are given back);
* **back-off**: a throttling or transient error (503 SlowDown, 5xx, timeouts,
  resets: reported with :meth:`throttled`) halves the limit and ends slow start;
  the reports of the transfers that were in flight together count once (the next
  halving waits until half of the new limit has finished).

Only transfers that started at the current level count for it (a ticket carries
the level's number), so a level change never mixes two levels' durations. Once
nothing is waiting to start (:meth:`tick` with ``backlog=False``: the last
transfers of a data set) the tuner stops deciding: fewer transfers in flight than
the limit say nothing about the link. The limit stays within ``floor`` and
``cap``; the caller derives ``cap`` from its memory budget. Pure logic with an
injectable clock, so the tests drive it with simulated links.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

__all__ = ["FAST_LINK", "ConcurrencyTuner", "Task", "Ticket", "TunerStep", "run_pool"]

log = logging.getLogger(__name__)

# Bytes/s at which the start level counts as a fast link (about 200 Mbit/s): see
# "slow start" in the module docstring.
FAST_LINK = 24e6


@dataclass(frozen=True)
class TunerStep:
    """One decision: the limit it judged, that level's throughput and the new limit."""

    limit: int
    bytes_per_s: float
    next_limit: int
    reason: str


@dataclass(frozen=True)
class Ticket:
    """When a transfer started, and at which level (see :meth:`ConcurrencyTuner.started`)."""

    at: float
    level: int


class ConcurrencyTuner:
    """Adaptive in-flight limit for a pool of transfers (thread-safe).

    Args:
        start: initial limit.
        floor: never below this.
        cap: never above this (derive it from the memory budget).
        gain: relative throughput increase that justifies more connections.
        probe_every: rounds between upward probes once settled.
        fast_link: bytes/s from which the start level's link counts as fast (the
            first step is then fourfold instead of a measurement of half as many).
        clock: injectable monotonic clock.

    Example:
        >>> tuner = ConcurrencyTuner(start=8, cap=32)
        >>> ticket = tuner.started()      # in the worker, before the request
        >>> tuner.completed(4_000_000, ticket)  # after the store confirmed it
        >>> tuner.tick(in_flight=7, backlog=True)  # the pool's loop: the limit to keep
        8
    """

    def __init__(self, *, start: int = 8, floor: int = 1, cap: int = 32, gain: float = 0.08,
                 probe_every: int = 6, fast_link: float = FAST_LINK,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not 1 <= floor <= cap:
            raise ValueError(f"need 1 <= floor <= cap, got floor={floor}, cap={cap}")
        self.floor, self.cap = floor, cap
        self.limit = max(floor, min(cap, start))
        self.peak_limit = self.limit  # the most it ever allowed in flight
        self.gain, self.probe_every, self.fast_link = gain, probe_every, fast_link
        self._clock = clock
        self._lock = threading.Lock()
        self._level = 0  # numbers the levels; tickets of older levels are not samples
        self._bytes = 0  # samples of the current level: bytes and seconds summed
        self._seconds = 0.0
        self._count = 0
        self._slow_start = True
        self._doubted = False
        self._best_rate = 0.0
        self._best_limit = self.limit
        self._prev: tuple[int, float] | None = None  # (limit, rate) of the level before
        self._halved_from: tuple[int, float] | None = None  # the start level, while half runs
        self._probing_from: int | None = None
        self._probe_down = False  # steady probes alternate: a quarter more, a quarter fewer
        self._steady_rounds = 0
        self._tail = False
        self._calm_after = 0  # completions to wait before the next halving counts
        self.history: list[TunerStep] = []

    # -- what the pool reports --------------------------------------------------------------
    def started(self) -> Ticket:
        """A transfer starts now; hand the ticket to :meth:`completed` when it ends."""
        with self._lock:
            return Ticket(self._clock(), self._level)

    def completed(self, n: int, ticket: Ticket) -> None:
        """A transfer of ``n`` bytes, begun with ``ticket``, finished (the store confirmed it)."""
        with self._lock:
            self._calm_after = max(0, self._calm_after - 1)
            if ticket.level != self._level or self._tail or n <= 0:
                return
            self._bytes += n
            self._seconds += max(self._clock() - ticket.at, 1e-6)
            self._count += 1
            if self._count >= self._needed():
                rate = self.limit * self._bytes / self._seconds  # Little's law
                self._bytes, self._seconds, self._count = 0, 0.0, 0
                self._decide(rate)

    def throttled(self) -> None:
        """The store pushed back (503/SlowDown, 5xx, timeout, reset): halve the limit."""
        with self._lock:
            if self._calm_after:
                return  # the same push-back, reported by another transfer of that crowd
            new = max(self.floor, self.limit // 2)
            self._calm_after = max(1, new // 2)
            self._record(0.0, new, "throttled")
            self._slow_start = False
            self._probing_from = self._halved_from = None
            self._best_limit, self._best_rate = new, 0.0
            self._new_level(new)

    def tick(self, in_flight: int, backlog: bool) -> int:
        """Call often (e.g. whenever a transfer ends); returns the limit to keep.

        Args:
            in_flight: transfers running now.
            backlog: whether more transfers are waiting to start.
        """
        with self._lock:
            if not backlog and in_flight < self.limit:
                self._tail = True  # the last transfers: nothing more to learn
            return self.limit

    # -- the rule ---------------------------------------------------------------------------
    def _needed(self) -> int:
        # Finished transfers that judge a level: half of it while slow start hunts (they
        # started together, so the first half ends about when the level's first round
        # would), a whole round once settled (steadier, and there is no hurry).
        return max(2, self.limit // 2) if self._slow_start else max(2, self.limit)

    def _decide(self, rate: float) -> None:
        limit = self.limit
        if self._slow_start:
            self._slow_start_step(limit, rate)
            return
        if self._probing_from is not None:
            base = self._probing_from
            self._probing_from = None
            if limit > base:  # more connections must pay for themselves
                keep = rate > self._best_rate * (1 + self.gain / 2)
            else:  # fewer are kept unless they lose throughput
                keep = rate >= self._best_rate * (1 - self.gain / 2)
            if keep:
                self._best_rate, self._best_limit = rate, limit
                self._set(rate, limit, "probe kept")
            else:
                self._set(rate, base, "probe dropped")
            return
        # Settled: follow the link's current rate at the chosen level, probe now and then.
        self._best_rate = rate if limit == self._best_limit else self._best_rate
        self._steady_rounds += 1
        if self._steady_rounds < self.probe_every:
            self._set(rate, limit, "steady")
            return
        self._steady_rounds = 0
        self._probe_down = not self._probe_down
        step = max(1, limit // 4)
        new = limit - step if self._probe_down else limit + step
        if not self.floor <= new <= self.cap:
            self._set(rate, limit, "steady")
            return
        self._probing_from = limit
        self._set(rate, new, "probe down" if self._probe_down else "probe up")

    def _slow_start_step(self, limit: int, rate: float) -> None:
        if self._prev is None:
            self._first_step(limit, rate)
            return
        if self._halved_from is not None:
            self._after_half(limit, rate)
            return
        prev = self._prev
        if rate > prev[1] * (1 + self.gain):
            # Share of the linear gain this level got (1.0: every added connection
            # delivered as much as the ones before; the link is far from full).
            self._grow(limit, rate, (rate / prev[1] - 1) / (limit / prev[0] - 1))
        elif not self._doubted:
            # One flat measurement may be noise: measure the same level once more.
            self._doubted = True
            self._set(rate, limit, "slow start: no gain yet, measuring again")
        else:
            self._slow_start = False
            self._set(rate, self._best_limit, "slow start ended: no gain")

    def _first_step(self, limit: int, rate: float) -> None:
        # Nothing to compare with yet. A start level that already moves fast_link is
        # on a fast link: one round at four times as many costs well under a second
        # there, and what it does not use, the next steps give back. Anything slower
        # may be a thin uplink that the start level already fills: half as many are
        # measured next, so the start level is never exceeded before it proved it
        # helps (on 2 MB/s per connection, 8 MB/s in total, 8 and 4 deliver alike).
        self._best_rate, self._best_limit = rate, limit
        self._prev = (limit, rate)
        half = max(self.floor, limit // 2)
        if rate < self.fast_link and half < limit:
            self._halved_from = (limit, rate)
            self._set(rate, half, "slow start: not a fast link, measuring half as many")
            return
        new = min(self.cap, limit * (4 if rate >= self.fast_link else 2))
        if new == limit:
            self._slow_start = False
            self._set(rate, new, "slow start ended: at the cap")
        else:
            why = "a fast link" if rate >= self.fast_link else "first step"
            self._set(rate, new, f"slow start: {why}, x{new // limit}"
                      if new % limit == 0 else f"slow start: {why}, to the cap")

    def _after_half(self, limit: int, rate: float) -> None:
        # ``limit`` is half of the start level: judge the start level against it as if
        # it had come second.
        top, top_rate = self._halved_from or (limit, rate)
        self._halved_from = None
        if top_rate > rate * (1 + self.gain):
            self._grow(top, top_rate, (top_rate / rate - 1) / (top / limit - 1), judged=rate)
        else:
            self._slow_start = False
            self._best_rate, self._best_limit = rate, limit
            self._set(rate, limit, "slow start ended: half as many deliver as much")

    def _grow(self, limit: int, rate: float, linear: float, judged: float | None = None) -> None:
        """``limit`` delivered ``rate``, ``linear`` of the pro-rata gain over the level below."""
        self._best_rate, self._best_limit = rate, limit
        self._doubted = False
        factor = 4 if linear >= 0.75 else 2 if linear >= 0.25 else 1
        new = min(self.cap, limit * factor)
        self._prev = (limit, rate)
        shown = rate if judged is None else judged
        if new == limit:
            # At the cap, or diminishing returns: this level paid for itself, but by so
            # little that another doubling would not (on a 2 MB/s-per-connection, 8 MB/s
            # uplink 4 -> 8 gains ~10 %, covering the round trips; 16 would only queue).
            self._slow_start = False
            self._set(shown, new, "slow start ended: " + (
                "at the cap" if new == self.cap else "less than a quarter of linear"))
        else:
            self._set(shown, new, f"slow start: throughput grew, x{new // limit}"
                      if new % limit == 0 else "slow start: throughput grew, to the cap")

    def _set(self, rate: float, new: int, reason: str) -> None:
        self._record(rate, new, reason)
        new = max(self.floor, min(self.cap, new))
        if new != self.limit:
            self._new_level(new)

    def _new_level(self, new: int) -> None:
        self.limit = new
        self.peak_limit = max(self.peak_limit, new)
        self._level += 1
        self._bytes, self._seconds, self._count = 0, 0.0, 0

    def _record(self, rate: float, new: int, reason: str) -> None:
        self.history.append(TunerStep(self.limit, rate, new, reason))
        del self.history[:-200]  # bounded: a long upload keeps the last 200 decisions

    @property
    def settled_limit(self) -> int:
        """The level the tuner judged best so far (what a report should state)."""
        return self._best_limit


# A transfer to run: moves its bytes, returns how many (0: nothing to measure).
Task = Callable[[], int]


def run_pool(tasks: Iterator[Task], *, limit: int, tuner: ConcurrencyTuner | None,
             name: str, stop_on_error: bool = False) -> BaseException | None:
    """Run ``tasks`` with at most ``limit`` in flight, or as many as ``tuner`` says.

    The one scheduling loop of uploads and downloads: each task is timed as the
    tuner's measurement (its bytes over its duration; 0 bytes count for nothing), and
    the pool asks :meth:`ConcurrencyTuner.tick` how many to keep in flight whenever one
    ends. A task that raises does not stop the others: with ``stop_on_error`` no new
    task starts after it (the running ones finish), else every task runs (other files
    still arrive). The first error is returned, not raised, so the caller can save
    its state first.
    """
    first: list[BaseException] = []

    def run(task: Task) -> None:
        ticket = tuner.started() if tuner is not None else None
        try:
            n = task()
        except BaseException as exc:  # handed back to the caller below
            first.append(exc)
            return
        if tuner is not None and ticket is not None:
            tuner.completed(n, ticket)

    with ThreadPoolExecutor(max_workers=limit, thread_name_prefix=name) as pool:
        running: set[Future[None]] = set()
        backlog = True
        while backlog or running:
            cap = tuner.tick(len(running), backlog) if tuner is not None else limit
            while backlog and len(running) < cap and not (stop_on_error and first):
                task = next(tasks, None)
                if task is None:
                    backlog = False
                    break
                running.add(pool.submit(run, task))
            if stop_on_error and first:
                backlog = False
            if running:
                _, running = wait(running, return_when=FIRST_COMPLETED)
    if tuner is not None:
        log.info("%s concurrency settled at %d (peak %d)", name, tuner.settled_limit,
                 tuner.peak_limit)
    return first[0] if first else None

"""Waiting for a job: polling with backoff that survives flaky networks and a sleeping laptop.

:func:`wait_for` polls a status function until the job is terminal:

* the interval starts at ``interval`` and grows by ``backoff`` up to
  ``max_interval`` while nothing changes; it drops back as soon as the state or
  progress moves;
* transient failures (:class:`~terranb.errors.TransportError`,
  :class:`~terranb.errors.ServerError`) are logged and retried with their own
  exponential backoff; the job goes on at the service either way;
* ``timeout`` counts on the monotonic clock, i.e. time this machine was awake;
  when the wall clock jumps ahead of it (a laptop lid closed, a VM paused) the
  waiter polls at once with the short interval instead of sleeping on, and
  forgives the connection errors typical right after waking up;
* ``clock``, ``wall`` and ``sleep`` are injectable, so tests take milliseconds.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable

from terranb.errors import JobTimeout, TerranbError, is_transient_service_error
from terranb.jobs.states import JobStatus
from terranb.retry import RetryPolicy

__all__ = ["wait_for"]

log = logging.getLogger(__name__)

SUSPEND_THRESHOLD = 30.0  # wall-clock seconds unaccounted for by the monotonic clock


def wait_for(poll: Callable[[], JobStatus], *,
             on_update: Callable[[JobStatus], None] | None = None,
             timeout: float | None = None, interval: float = 5.0, max_interval: float = 60.0,
             backoff: float = 1.5, max_errors: int | None = 50,
             clock: Callable[[], float] = time.monotonic,
             wall: Callable[[], float] = time.time,
             sleep: Callable[[float], None] = time.sleep) -> JobStatus:
    """Poll ``poll()`` until it returns a terminal status; return that status.

    Args:
        poll: returns the job's current :class:`JobStatus`.
        on_update: called with every status that differs from the previous one.
        timeout: seconds (awake time) before :class:`JobTimeout`; ``None`` waits forever.
        interval: first and shortest poll interval, seconds.
        max_interval: longest poll interval, seconds.
        backoff: growth factor of the interval while nothing changes.
        max_errors: consecutive transient errors tolerated (``None``: unlimited).
        clock, wall, sleep: injectable monotonic clock, wall clock and sleep.

    Raises:
        JobTimeout: the job was not finished after ``timeout`` (it keeps running).
        TransportError, ServerError: more than ``max_errors`` failures in a row.
    """
    interval = max(0.0, interval)
    start = clock()
    deadline = math.inf if timeout is None else start + timeout
    delay = interval
    errors = 0
    last: JobStatus | None = None
    last_wall, last_mono = wall(), clock()
    while True:
        try:
            status = poll()
        except TerranbError as exc:
            if not is_transient_service_error(exc):
                raise
            errors += 1
            if max_errors is not None and errors > max_errors:
                raise
            # The project's one backoff rule (terranb.retry), without jitter: one poller.
            wait_s = RetryPolicy(backoff=max(interval, 1.0), max_backoff=max_interval,
                                 jitter=0.0).delay(min(errors, 7))
            log.info("status poll failed (%s); retrying in %.0f s", exc, wait_s)
        else:
            errors = 0
            changed = last is None or (status.state, round(status.progress, 4),
                                       status.message) != (last.state, round(last.progress, 4),
                                                           last.message)
            if changed and on_update is not None:
                on_update(status)
            if status.is_terminal:
                return status
            delay = interval if changed else min(max_interval, max(delay, 1e-3) * backoff)
            last = status
            wait_s = delay
        now = clock()
        if now >= deadline:
            where = last.describe() if last else "no status received"
            raise JobTimeout(f"job {last.job_id if last else ''} not finished after "
                             f"{timeout:.0f} s ({where}); it keeps running at the service: "
                             "wait again or re-attach later", job=last)
        sleep(min(wait_s, deadline - now))
        now_wall, now_mono = wall(), clock()
        slept = (now_wall - last_wall) - (now_mono - last_mono)
        if slept > SUSPEND_THRESHOLD:
            log.info("the clock jumped %.0f s (sleep or suspend); polling now", slept)
            delay = interval / max(backoff, 1.0)  # the next wait is the short one again
            errors = 0
        last_wall, last_mono = now_wall, now_mono

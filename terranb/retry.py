"""The one retry rule of terranb: capped exponential backoff with jitter.

Every retry loop (API calls in :mod:`terranb.api.session`, job steps in
:mod:`terranb.jobs`, object transfers in :mod:`terranb.transfer`) waits
``RetryPolicy.delay(attempt)`` between attempts:

    base  = min(max_backoff, backoff * 2 ** (attempt - 1))
    delay = base * (1 - jitter) + base * jitter * U(0, 1)

so retry number 1 waits about ``backoff``, each further one twice as long, never
more than ``max_backoff``; the random part keeps many clients (or many workers of one
upload) from retrying in lock step. :func:`retry_call` runs a callable under a policy
and, for calls that are not idempotent, can *reconcile* after a failure: ask the
service whether the lost call took effect (a job that was created although its
answer was lost) before sending it again.

This module sits below ``api``, ``jobs`` and ``transfer`` and imports nothing of terranb
but the logger, so each of them can use it without importing another.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["JOB_STEPS", "NOT_FOUND", "TRANSFERS", "RetryPolicy", "retry_call"]

log = logging.getLogger("terranb.retry")

T = TypeVar("T")


class _NotFound:
    def __repr__(self) -> str:
        return "NOT_FOUND"


NOT_FOUND: Any = _NotFound()
"""What a ``reconcile`` callable returns when the lost call did not take effect."""


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry.

    Attributes:
        max_attempts: total attempts including the first (1 = no retry).
        backoff: the first delay in seconds; doubles each attempt.
        max_backoff: the cap of one delay (also caps ``Retry-After``).
        jitter: fraction of each delay that is random (0 = none, 1 = full jitter).
    """

    max_attempts: int = 4
    backoff: float = 0.5
    max_backoff: float = 30.0
    jitter: float = 0.5

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Delay before retry number ``attempt`` (1-based)."""
        base = min(self.max_backoff, self.backoff * (2 ** (max(attempt, 1) - 1)))
        return base * (1.0 - self.jitter) + base * self.jitter * rand()


# Job steps (create, start, stop, list): a few attempts over ~15 s.
JOB_STEPS = RetryPolicy(max_attempts=5, backoff=1.0, max_backoff=10.0, jitter=0.5)
# Object transfers (PUT, parts, GET ranges, binding batches): more, shorter waits, since a
# worker that waits holds a connection of the pool.
TRANSFERS = RetryPolicy(max_attempts=6, backoff=0.5, max_backoff=20.0, jitter=0.5)


def retry_call(fn: Callable[[], T], *, retryable: Callable[[BaseException], bool],
               policy: RetryPolicy = JOB_STEPS, what: str = "call",
               sleep: Callable[[float], None] = time.sleep,
               rand: Callable[[], float] = random.random,
               reconcile: Callable[[], Any] | None = None) -> T:
    """Call ``fn`` until it succeeds, fails for good or the attempts run out.

    Args:
        fn: the call.
        retryable: whether an exception is worth another attempt (others propagate).
        policy: attempts and backoff.
        what: names the call in log lines.
        sleep, rand: injectable for tests.
        reconcile: after a failed attempt (and its backoff), returns the result the
            lost call produced if it did take effect, else :data:`NOT_FOUND`. Errors it
            raises that are ``retryable`` are ignored (the next attempt decides).

    Returns:
        ``fn()``'s result, or what ``reconcile`` found.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            if not retryable(exc) or attempt >= policy.max_attempts:
                raise
            delay = policy.delay(attempt, rand)
            log.info("%s failed (%s: %s); retry %d in %.1f s", what, type(exc).__name__,
                     exc, attempt, delay)
            sleep(delay)
        if reconcile is not None:
            try:
                found = reconcile()
            except Exception as exc2:
                if not retryable(exc2):
                    raise
                found = NOT_FOUND
            if found is not NOT_FOUND:
                return found  # type: ignore[no-any-return]

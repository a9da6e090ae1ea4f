"""Network and fault knobs of the emulator: latency, bandwidth and injected failures.

One :class:`NetemConfig` carries the command-line knobs (``--latency-ms``,
``--bandwidth`` per connection and in total, ``--fail-rate``, ``--seed``). Two
places apply it:

* the S3 side, inside :mod:`terranb.emulator.s3proxy` (latency per request,
  token-bucket bandwidth per TCP connection and across all connections, S3 XML
  500/503 errors and dropped connections);
* the API side, through :class:`ApiFaultMiddleware`, an ASGI middleware that the
  HTTP app is wrapped with (latency per request, JSON 500/503 responses and
  dropped connections; bandwidth is not shaped on the API side).

Determinism: every injected fault is drawn from one :class:`FaultInjector` whose
random stream is seeded with ``seed``; the n-th request that reaches the
injector always gets the same verdict for the same seed. Requests that arrive
concurrently are numbered in arrival order, so only sequential clients see an
exactly repeatable sequence (the usual situation in tests).
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ApiFaultMiddleware",
    "Fault",
    "FaultInjector",
    "NetemConfig",
    "TokenBucket",
]

# Verdicts a FaultInjector hands out.
Fault = str  # "ok" | "500" | "503" | "drop"


@dataclass(frozen=True)
class NetemConfig:
    """Network emulation knobs (all off by default).

    Attributes:
        latency_ms: added delay per request, in milliseconds.
        bandwidth_bps_per_conn: byte rate limit of each TCP connection to the
            S3 endpoint (bytes per second, both directions), ``None`` = unlimited.
        bandwidth_bps_total: byte rate limit shared by all S3 connections.
        fail_rate: probability in [0, 1] that a request fails: one third of the
            failures are HTTP 500, one third HTTP 503, one third a dropped
            connection.
        seed: seed of the fault stream.
    """

    latency_ms: float = 0.0
    bandwidth_bps_per_conn: float | None = None
    bandwidth_bps_total: float | None = None
    fail_rate: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be within [0, 1], got {self.fail_rate}")
        for name in ("bandwidth_bps_per_conn", "bandwidth_bps_total"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0 bytes/s or None (unlimited), got {value}")

    @property
    def latency_s(self) -> float:
        """Latency in seconds."""
        return self.latency_ms / 1000.0


class FaultInjector:
    """Seeded, thread-safe source of fault verdicts.

    Example:
        >>> a, b = FaultInjector(0.5, seed=1), FaultInjector(0.5, seed=1)
        >>> [a.next() for _ in range(8)] == [b.next() for _ in range(8)]
        True
    """

    def __init__(self, fail_rate: float, seed: int = 0) -> None:
        self.fail_rate = fail_rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {"ok": 0, "500": 0, "503": 0, "drop": 0}

    def next(self) -> Fault:
        """The verdict for the next request: ``"ok"``, ``"500"``, ``"503"`` or ``"drop"``."""
        with self._lock:
            # Two draws per request, always, so the stream stays aligned whatever the rate.
            hit = self._rng.random()
            kind = self._rng.random()
            if self.fail_rate <= 0 or hit >= self.fail_rate:
                verdict = "ok"
            elif kind < 1 / 3:
                verdict = "500"
            elif kind < 2 / 3:
                verdict = "503"
            else:
                verdict = "drop"
            self.counts[verdict] += 1
            return verdict


class TokenBucket:
    """Thread-safe token bucket limiting a byte rate.

    ``consume(n)`` blocks until ``n`` bytes may pass. The burst is a tenth of a
    second of traffic (at least 1 KiB), so short transfers are not let through
    faster than the rate allows.
    """

    def __init__(self, rate_bps: float, burst: float | None = None) -> None:
        if rate_bps <= 0:
            raise ValueError(f"rate must be > 0 bytes/s, got {rate_bps}")
        self.rate = float(rate_bps)
        self.burst = float(burst if burst is not None else max(1024.0, rate_bps / 10.0))
        self._tokens = self.burst
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def consume(self, n: int) -> None:
        """Block until ``n`` bytes have been paid for."""
        remaining = float(n)
        while remaining > 0:
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
                self._last = now
                take = min(remaining, self.burst)
                if self._tokens >= take:
                    self._tokens -= take
                    remaining -= take
                    continue
                wait = (take - self._tokens) / self.rate
            time.sleep(wait)

    def chunk_size(self) -> int:
        """A chunk size that keeps the shaping smooth at this rate."""
        return int(max(1024, min(64 * 1024, self.burst)))


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class ApiFaultMiddleware:
    """ASGI middleware applying ``latency_ms`` and ``fail_rate`` to every HTTP request.

    Injected failures are a 500 or 503 with a JSON body ``{"message": ...}`` that
    says it was injected, or a dropped connection: the response head is sent and
    the connection is closed before the body, which clients see as a broken
    connection (uvicorn logs "returned without completing response" for it).

    Example:
        >>> app = ApiFaultMiddleware(fastapi_app, NetemConfig(latency_ms=50))  # doctest: +SKIP
    """

    def __init__(self, app: ASGIApp, netem: NetemConfig | None = None) -> None:
        self.app = app
        self.netem = netem or NetemConfig()
        self.faults = FaultInjector(self.netem.fail_rate, self.netem.seed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        if self.netem.latency_ms > 0:
            await asyncio.sleep(self.netem.latency_s)
        verdict = self.faults.next() if self.netem.fail_rate > 0 else "ok"
        if verdict == "ok":
            await self.app(scope, receive, send)
            return
        if verdict == "drop":
            # Promise a body and never send it: the server closes the transport.
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"64")],
                }
            )
            return
        status = int(verdict)
        text = "Internal Server Error" if status == 500 else "Service Unavailable"
        body = json.dumps({"message": f"{text} (injected by --fail-rate)"}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if status == 503:
            headers.append((b"retry-after", b"1"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

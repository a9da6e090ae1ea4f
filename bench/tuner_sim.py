"""The upload concurrency tuner on simulated links: how it compares with fixed worker counts.

bench/upload.py measures the real Uploader through a real (local) link on two profiles.
This runs :class:`terranb.transfer.concurrency.ConcurrencyTuner` itself, with a fake
clock, against a fluid model of more link shapes than a real run can afford, the way its
rules were chosen: every transfer spends ``pre`` seconds in the client (hashing, journal),
one RTT to open a connection the first time a connection is used, half an RTT for its
headers, then its body at its share of the link (each moving body gets
``min(per_conn, total / moving)``), then half an RTT plus ``server`` seconds for the
answer. ``startup`` is the time before the first transfer (credentials, client).

It prints, per link shape: seconds, the share of the link's total rate, the most
transfers in flight (= connections), and for the tuner the level it settled on. The
model leaves out CPU contention and the emulator's own costs, so it reads ~3 points of
the link above bench/upload.py's real runs (wan: 92 % simulated, 86.5-87.4 % measured).

Usage::

    python bench/tuner_sim.py
"""

from __future__ import annotations

from collections.abc import Callable

from terranb.transfer.concurrency import ConcurrencyTuner

# name: (MB/s per connection, MB/s total, files, MB each, RTT s)
LINKS = {
    "wan (bench/upload.py)": (8.0, 64.0, 60, 4.0, 0.05),
    "thin (bench/upload.py)": (2.0, 8.0, 24, 4.0, 0.05),
    "thin, 60 files": (2.0, 8.0, 60, 4.0, 0.05),
    "small windows, big total": (1.0, 100.0, 200, 4.0, 0.05),
    "LAN": (100.0, 100.0, 60, 4.0, 0.002),
    "wan, 16 MB/s total": (8.0, 16.0, 60, 4.0, 0.05),
    "wan, 16 MB parts": (8.0, 64.0, 60, 16.0, 0.05),
}


def simulate(tuner: ConcurrencyTuner | None, fixed: int, *, per_conn: float, total: float,
             files: int, size: float, rtt: float, startup: float = 0.09, pre: float = 0.02,
             server: float = 0.02) -> tuple[float, int]:
    """``(seconds, most in flight)`` for ``files`` transfers of ``size`` bytes."""
    now = 0.0
    if tuner is not None:
        tuner._clock = lambda: now  # the tuner judges by this simulation's time
    active: list[dict[str, object]] = []
    pending, idle, peak = files, 0, 0
    now = startup
    while pending or active:
        limit = fixed if tuner is None else tuner.tick(len(active), pending > 0)
        while pending and len(active) < limit:
            pending -= 1
            fresh = idle == 0
            idle = idle if fresh else idle - 1
            ticket = tuner.started() if tuner is not None else None
            active.append({"phase": "pre", "until": now + pre + (rtt if fresh else 0) + rtt / 2,
                           "left": size, "ticket": ticket})
        peak = max(peak, len(active))
        bodies = [a for a in active if a["phase"] == "body"]
        rate = min(per_conn, total / len(bodies)) if bodies else 0.0
        ends = [float(a["until"]) for a in active if a["phase"] != "body"]  # type: ignore[arg-type]
        if bodies:
            ends.append(now + min(float(a["left"]) for a in bodies) / rate)  # type: ignore[arg-type]
        step = min(ends) - now
        for a in bodies:
            a["left"] = float(a["left"]) - rate * step  # type: ignore[arg-type]
        now += step
        for a in list(active):
            if a["phase"] == "pre" and float(a["until"]) <= now + 1e-12:  # type: ignore[arg-type]
                a["phase"] = "body"
            elif a["phase"] == "body" and float(a["left"]) <= 1e-6:  # type: ignore[arg-type]
                a["phase"], a["until"] = "post", now + rtt / 2 + server
            elif a["phase"] == "post" and float(a["until"]) <= now + 1e-12:  # type: ignore[arg-type]
                active.remove(a)
                idle += 1
                if tuner is not None:
                    tuner.completed(int(size), a["ticket"])  # type: ignore[arg-type]
    return now, peak


def main() -> int:
    contenders: list[tuple[str, Callable[[], ConcurrencyTuner | None], int]] = [
        ("defaults (tuner)", lambda: ConcurrencyTuner(cap=32), 0),
        ("workers=8", lambda: None, 8),
        ("workers=16", lambda: None, 16),
        ("workers=32", lambda: None, 32),
    ]
    for name, (per_conn, total, files, size_mb, rtt) in LINKS.items():
        print(f"{name}: {per_conn:g} MB/s per connection, {total:g} MB/s total, "
              f"{files} x {size_mb:g} MB, RTT {rtt * 1000:g} ms")
        for label, make, fixed in contenders:
            tuner = make()
            secs, peak = simulate(tuner, fixed, per_conn=per_conn * 1e6, total=total * 1e6,
                                  files=files, size=size_mb * 1e6, rtt=rtt)
            share = files * size_mb / total / secs
            settled = f", settled on {tuner.settled_limit}" if tuner is not None else ""
            print(f"  {label:18s} {secs:7.2f} s {100 * share:5.1f} % of the link, "
                  f"at most {peak} in flight{settled}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""ConcurrencyTuner against simulated links: it fills fat pipes and does not flood thin ones."""

from __future__ import annotations

import pytest

from terranb.transfer.concurrency import ConcurrencyTuner


class Link:
    """Throughput of ``n`` connections: each at most ``per_conn``, all at most ``total``."""

    def __init__(self, per_conn: float, total: float, overload_at: int | None = None) -> None:
        self.per_conn, self.total, self.overload_at = per_conn, total, overload_at

    def rate(self, n: int) -> float:
        r = min(n * self.per_conn, self.total)
        if self.overload_at is not None and n > self.overload_at:
            r *= 0.7  # a congested store: more connections make it worse
        return r


def drive(tuner: ConcurrencyTuner, link: Link, seconds: float, step: float = 0.05) -> list[int]:
    now = [0.0]
    tuner._clock = lambda: now[0]  # type: ignore[method-assign]
    tuner._win_start = 0.0
    limits = []
    while now[0] < seconds:
        tuner.add_bytes(int(link.rate(tuner.limit) * step))
        now[0] += step
        limits.append(tuner.tick(tuner.limit, backlog=True))
    return limits


def test_fat_pipe_grows_until_full() -> None:
    tuner = ConcurrencyTuner(start=4, cap=32)
    drive(tuner, Link(per_conn=8e6, total=64e6), seconds=6)
    # 8 connections fill 64 MB/s; 16 add nothing, so it goes back to 8.
    assert tuner.settled_limit == 8
    assert tuner.limit in (8, 10)  # 10 = an upward probe in progress


def test_thin_uplink_stays_small() -> None:
    tuner = ConcurrencyTuner(start=4, cap=32)
    limits = drive(tuner, Link(per_conn=2e6, total=8e6), seconds=6)
    assert tuner.settled_limit == 4
    assert max(limits) <= 8  # tried 8 once, found no gain


def test_cap_is_never_exceeded() -> None:
    tuner = ConcurrencyTuner(start=4, cap=6)
    limits = drive(tuner, Link(per_conn=1e6, total=1e9), seconds=6)
    assert max(limits) <= 6 and tuner.settled_limit == 6


def test_congestion_makes_it_back_off() -> None:
    tuner = ConcurrencyTuner(start=4, cap=32)
    drive(tuner, Link(per_conn=4e6, total=32e6, overload_at=8), seconds=6)
    assert tuner.settled_limit == 8


def test_throttling_halves_once_per_window() -> None:
    tuner = ConcurrencyTuner(start=16, cap=32, clock=lambda: 0.0)
    tuner.throttled()
    tuner.throttled()  # the same window: many workers report the same push-back
    assert tuner.limit == 8
    assert [s.reason for s in tuner.history] == ["throttled"]


def test_tail_windows_teach_nothing() -> None:
    tuner = ConcurrencyTuner(start=4, cap=32)
    now = [0.0]
    tuner._clock = lambda: now[0]  # type: ignore[method-assign]
    tuner._win_start = 0.0
    for _ in range(40):  # only 1 transfer left, nothing waiting: rate is low, not the link
        tuner.add_bytes(1000)
        now[0] += 0.05
        tuner.tick(1, backlog=False)
    assert tuner.limit == 4 and not tuner.history


@pytest.mark.parametrize("floor,cap", [(0, 4), (5, 4)])
def test_bad_bounds_are_refused(floor: int, cap: int) -> None:
    with pytest.raises(ValueError, match="floor"):
        ConcurrencyTuner(floor=floor, cap=cap)


def drive_transfers(tuner: ConcurrencyTuner, per_conn: float, total: float, *, size: float = 4e6,
                    overhead: float = 0.1, count: int = 400, step: float = 0.01) -> float:
    """Whole transfers over a shared link, reported as they finish (``per_round``).

    Each transfer waits ``overhead`` seconds (request round trips, the store's work)
    and then moves ``size`` bytes at its share of the link. Returns the seconds taken.
    """
    now = [0.0]
    tuner._clock = lambda: now[0]  # type: ignore[method-assign]
    tuner._win_start = 0.0
    active: list[list[float]] = []  # [overhead left, bytes left]
    started = 0
    while started < count or active:
        while started < count and len(active) < tuner.limit:
            active.append([overhead, size])
            started += 1
        moving = [t for t in active if t[0] <= 0]
        share = min(per_conn, total / len(moving)) if moving else 0.0
        for t in active:
            if t[0] > 0:
                t[0] -= step
            else:
                t[1] -= share * step
        for t in [t for t in active if t[1] <= 0]:
            active.remove(t)
            tuner.completed(int(size))
        now[0] += step
        tuner.tick(len(active), backlog=started < count)
    return now[0]


def test_per_round_windows_find_the_fat_pipes_level() -> None:
    # 8 connections would fill 64 MB/s if every request were all payload; the 0.1 s a
    # request spends on round trips takes ~17 % of each, so it takes more than 8.
    tuner = ConcurrencyTuner(start=4, cap=32, per_round=True)
    secs = drive_transfers(tuner, 8e6, 64e6)
    assert tuner.settled_limit >= 12
    assert 400 * 4e6 / secs > 0.85 * 64e6


def test_per_round_windows_stay_small_on_a_thin_uplink() -> None:
    tuner = ConcurrencyTuner(start=4, cap=32, per_round=True)
    drive_transfers(tuner, 2e6, 8e6, count=60)
    assert tuner.settled_limit <= 5 and tuner.peak_limit <= 8

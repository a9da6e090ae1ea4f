"""ConcurrencyTuner against simulated links: it fills fat pipes and does not flood thin ones."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from terranb.transfer.concurrency import ConcurrencyTuner


class Link:
    """``n`` connections, each at most ``per_conn`` bytes/s, all together at most ``total``.

    ``overhead``: seconds each transfer spends sending nothing (request and answer round
    trips, the store's work); ``overload_at``: above this many transfers moving at once
    the store slows down (a congested store: more connections make it worse).
    """

    def __init__(self, per_conn: float, total: float, *, overhead: float = 0.1,
                 overload_at: int | None = None) -> None:
        self.per_conn, self.total, self.overhead = per_conn, total, overhead
        self.overload_at = overload_at

    def share(self, moving: int) -> float:
        r = min(self.per_conn, self.total / moving)
        if self.overload_at is not None and moving > self.overload_at:
            r *= 0.7
        return r


@dataclass
class Run:
    seconds: float
    limits: list[int]  # the limit after every step
    peak_in_flight: int


def drive(tuner: ConcurrencyTuner, link: Link, *, count: int, size: float = 4e6,
          step: float = 0.01) -> Run:
    """``count`` transfers of ``size`` bytes through ``link``, as the uploader runs them.

    Keeps ``tuner.limit`` transfers in flight, reports each one's start and end, and
    calls :meth:`~ConcurrencyTuner.tick` after every step like the uploader's loop.
    """
    now = [0.0]
    tuner._clock = lambda: now[0]  # type: ignore[method-assign]
    active: list[list[Any]] = []  # [overhead left, bytes left, ticket]
    started, peak, limits = 0, 0, []
    while started < count or active:
        limit = tuner.tick(len(active), backlog=started < count)
        while started < count and len(active) < limit:
            active.append([link.overhead, size, tuner.started()])
            started += 1
        peak = max(peak, len(active))
        moving = [t for t in active if t[0] <= 0]
        share = link.share(len(moving)) if moving else 0.0
        for t in active:
            if t[0] > 0:
                t[0] -= step
            else:
                t[1] -= share * step
        now[0] += step
        for t in [t for t in active if t[1] <= 0]:
            active.remove(t)
            tuner.completed(int(size), t[2])
        limits.append(tuner.limit)
    return Run(now[0], limits, peak)


def share_of_link(run: Run, link: Link, count: int, size: float = 4e6) -> float:
    return count * size / run.seconds / link.total


def test_fat_pipe_grows_until_full() -> None:
    # 8 connections would fill 64 MB/s if every request were all payload; the 0.1 s a
    # request spends on round trips takes ~17 % of each, so it takes more than 8.
    tuner = ConcurrencyTuner(cap=32)
    link = Link(per_conn=8e6, total=64e6)
    run = drive(tuner, link, count=400)
    assert tuner.settled_limit >= 12
    assert share_of_link(run, link, 400) > 0.9


def test_wan_profile_short_run() -> None:
    # bench/upload.py's wan profile: 60 x 4 MB is 3.75 s at the link's rate, so the first
    # step decides most of it. 8 in flight already move ~27 MB/s (a fast link): the next
    # level is 32, from ~0.5 s on here. Starting at 4 and doubling took two judged rounds
    # to get there (79-80 % of the link on the real bench instead of the 85 % asked).
    tuner = ConcurrencyTuner(cap=32)
    link = Link(per_conn=8e6, total=64e6)
    run = drive(tuner, link, count=60)
    assert tuner.history[0].limit == 8 and tuner.history[0].next_limit == 32
    assert "fast link" in tuner.history[0].reason
    assert run.limits.index(32) * 0.01 < 0.7
    assert share_of_link(run, link, 60) > 0.9


def test_just_under_fast_measures_half_first() -> None:
    # 8 in flight moving a little less than FAST_LINK: not known to be fast, so the next
    # level is half as many, never more than the start before more proved to help.
    tuner = ConcurrencyTuner(cap=32)
    link = Link(per_conn=2.9e6, total=2.9e6 * 8)
    drive(tuner, link, count=20)
    assert tuner.history[0].next_limit == 4
    assert tuner.history[1].limit == 4  # judged at 4 before anything above 8 was tried


@pytest.mark.parametrize("overhead,settles", [(0.1, 4), (0.4, 8)])
@pytest.mark.parametrize("count", [24, 60])
def test_thin_uplink_stays_small(overhead: float, settles: int, count: int) -> None:
    # 2 MB/s per connection, 8 MB/s in total (bench/upload.py's thin profile; 24 and
    # 60 x 4 MB). 8 in flight move 8 MB/s, not a fast link: 4 are measured next. With
    # 0.1 s of round trips per request 4 deliver as much as 8 (within the 8 % gain): it
    # stays at 4. With 0.4 s, 8 gain ~9 % over 4 (they cover the round trips 4 leave
    # idle): back to 8, but that gain is under a quarter of linear, so 16 is never tried.
    tuner = ConcurrencyTuner(cap=32)
    link = Link(per_conn=2e6, total=8e6, overhead=overhead)
    run = drive(tuner, link, count=count)
    assert run.peak_in_flight <= 8 and tuner.peak_limit <= 8
    assert tuner.history[0].next_limit == 4
    assert tuner.settled_limit == settles
    assert share_of_link(run, link, count) > 0.85


def test_thin_uplink_long_run_stays_small() -> None:
    tuner = ConcurrencyTuner(cap=32)
    link = Link(per_conn=2e6, total=8e6)
    run = drive(tuner, link, count=200)
    # Steady probes try a quarter more (5) now and then and drop it: 4 to 5 gains
    # only the round trips, less than gain / 2.
    assert tuner.settled_limit <= 5 and max(run.limits) <= 8


def test_slow_connections_on_a_big_link_still_grow() -> None:
    # 1 MB/s per connection (a small TCP window on a long RTT) and no total limit: 8 in
    # flight are slow, 4 deliver half of it (linear), so it goes on fourfold to the cap.
    tuner = ConcurrencyTuner(cap=32)
    link = Link(per_conn=1e6, total=1e9)
    drive(tuner, link, count=200)
    assert [s.next_limit for s in tuner.history][:2] == [4, 32]
    assert tuner.settled_limit == 32


def test_cap_is_never_exceeded() -> None:
    tuner = ConcurrencyTuner(cap=6)
    run = drive(tuner, Link(per_conn=1e6, total=1e9), count=100)
    assert run.peak_in_flight <= 6 and tuner.settled_limit == 6


def test_congestion_makes_it_back_off() -> None:
    # A store that slows down above 8 transfers: 8 move ~28 MB/s (a fast link), the
    # fourfold step to 32 delivers less, is measured again, and slow start ends at 8;
    # the steady probes then try 6 and 10 now and then.
    tuner = ConcurrencyTuner(cap=32)
    drive(tuner, Link(per_conn=4e6, total=32e6, overload_at=8), count=200)
    assert [s.next_limit for s in tuner.history][:3] == [32, 32, 8]
    assert tuner.settled_limit == 8 and tuner.limit in (6, 8, 10)


def test_a_fourfold_step_that_overshoots_gives_connections_back() -> None:
    # Linear up to 16 connections, flat above: 8 in flight move 16 MB/s (not fast), 4 half
    # of it (linear), so it jumps to 32 and keeps it (more than 8 delivered); the steady
    # probes then try a quarter fewer and keep every step down that loses nothing.
    tuner = ConcurrencyTuner(cap=32, probe_every=2)
    run = drive(tuner, Link(per_conn=2e6, total=32e6, overhead=0.0), count=600)
    assert [s.next_limit for s in tuner.history][:2] == [4, 32]
    assert 16 <= tuner.settled_limit <= 18 and run.limits[-1] <= 22


def test_throttling_halves_once_per_crowd() -> None:
    tuner = ConcurrencyTuner(start=16, cap=32, clock=lambda: 0.0)
    tuner.throttled()
    tuner.throttled()  # the same push-back, reported by another transfer
    assert tuner.limit == 8
    assert [s.reason for s in tuner.history] == ["throttled"]
    for _ in range(4):  # half of the new limit finished: a new push-back counts again
        tuner.completed(1000, tuner.started())
    tuner.throttled()
    assert tuner.limit == 4


def test_tail_transfers_teach_nothing() -> None:
    now = [0.0]
    tuner = ConcurrencyTuner(cap=32, clock=lambda: now[0])
    tickets = [tuner.started() for _ in range(8)]
    tuner.tick(7, backlog=False)  # nothing waiting and fewer than the limit in flight
    for t in tickets:
        now[0] += 0.5
        tuner.completed(4_000_000, t)
    assert tuner.limit == 8 and not tuner.history


def test_transfers_of_an_earlier_level_are_not_samples() -> None:
    now = [0.0]
    tuner = ConcurrencyTuner(cap=32, clock=lambda: now[0])
    old = [tuner.started() for _ in range(10)]
    now[0] = 2.0
    for t in old[:4]:
        tuner.completed(4_000_000, t)
    assert tuner.limit == 4  # judged on half of the start level: 16 MB/s, half as many next
    now[0] = 9.0  # the old transfers end late: they must not judge the new level
    for t in old[4:]:
        tuner.completed(4_000_000, t)
    assert tuner.limit == 4 and len(tuner.history) == 1


@pytest.mark.parametrize("floor,cap", [(0, 4), (5, 4)])
def test_bad_bounds_are_refused(floor: int, cap: int) -> None:
    with pytest.raises(ValueError, match="floor"):
        ConcurrencyTuner(floor=floor, cap=cap)

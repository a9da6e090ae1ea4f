"""Waiting (backoff, transient errors, sleep/suspend, timeout), state mapping, the ledger."""

from __future__ import annotations

import types

import pytest

from terranb.errors import ApiError, JobTimeout, NotFoundError, ServerError, TransportError
from terranb.jobs.ledger import Ledger, LedgerRecord, default_ledger_path
from terranb.jobs.states import JobState, JobStatus, from_fh2, from_terra
from terranb.jobs.waiter import wait_for


class FakeTime:
    """Monotonic and wall clocks that only move when the waiter sleeps (or the test jumps)."""

    def __init__(self) -> None:
        self.mono = 0.0
        self.wall = 1_700_000_000.0
        self.sleeps: list[float] = []

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.mono += s
        self.wall += s


def _st(state: JobState, progress: float = 0.0, msg: str = "") -> JobStatus:
    return JobStatus("j1", state, 3, progress, msg)


def _clock(ft: FakeTime) -> dict:
    return {"clock": lambda: ft.mono, "wall": lambda: ft.wall, "sleep": ft.sleep}


def test_backoff_grows_while_nothing_changes_and_resets_on_progress():
    ft = FakeTime()
    seq = [_st(JobState.RUNNING, 0.1)] * 5 + [_st(JobState.RUNNING, 0.5)] * 2 + \
          [_st(JobState.SUCCEEDED, 1.0)]
    it = iter(seq)
    updates = []
    out = wait_for(lambda: next(it), on_update=updates.append, interval=2, max_interval=5,
                   backoff=2, **_clock(ft))
    assert out.state is JobState.SUCCEEDED
    assert ft.sleeps == [2, 4, 5, 5, 5, 2, 4]
    assert [u.progress for u in updates] == [0.1, 0.5, 1.0]


def test_transient_errors_are_ridden_out():
    ft = FakeTime()
    answers: list = [TransportError("reset"), ServerError("502", status_code=502),
                     ApiError("gateway", status_code=503), _st(JobState.RUNNING),
                     TransportError("again"), _st(JobState.SUCCEEDED)]

    def poll():
        a = answers.pop(0)
        if isinstance(a, Exception):
            raise a
        return a

    assert wait_for(poll, interval=1, **_clock(ft)).state is JobState.SUCCEEDED
    assert ft.sleeps[:3] == [1, 2, 4]  # error backoff doubles


def test_permanent_errors_are_raised_at_once():
    ft = FakeTime()

    def poll():
        raise NotFoundError("no such job", status_code=404)

    with pytest.raises(NotFoundError):
        wait_for(poll, **_clock(ft))
    assert ft.sleeps == []


def test_too_many_consecutive_errors_raise():
    ft = FakeTime()

    def poll():
        raise TransportError("down")

    with pytest.raises(TransportError):
        wait_for(poll, interval=1, max_errors=3, **_clock(ft))
    assert len(ft.sleeps) == 3


def test_timeout_counts_awake_time_and_keeps_the_last_status():
    ft = FakeTime()
    with pytest.raises(JobTimeout, match="keeps running") as info:
        wait_for(lambda: _st(JobState.RUNNING, 0.3), timeout=30, interval=4, max_interval=8,
                 **_clock(ft))
    assert ft.mono == pytest.approx(30) and info.value.job.progress == 0.3


def test_laptop_sleep_polls_at_once_with_the_short_interval():
    ft = FakeTime()
    polls = {"n": 0}

    def poll():
        polls["n"] += 1
        if polls["n"] == 4:
            ft.wall += 3600  # the lid was closed for an hour: wall clock jumps, monotonic not
        return _st(JobState.SUCCEEDED) if polls["n"] == 6 else _st(JobState.RUNNING, 0.2)

    wait_for(poll, interval=1, max_interval=60, backoff=3, **_clock(ft))
    # 1, 3, 9 (no change), 27 would follow; after the jump the interval is back to 1.
    assert ft.sleeps[:3] == [1, 3, 9] and ft.sleeps[4] == 1


def test_wall_clock_going_backwards_is_harmless():
    ft = FakeTime()
    polls = {"n": 0}

    def poll():
        polls["n"] += 1
        ft.wall -= 7200  # NTP correction
        return _st(JobState.SUCCEEDED) if polls["n"] == 3 else _st(JobState.RUNNING)

    assert wait_for(poll, interval=1, **_clock(ft)).state is JobState.SUCCEEDED


@pytest.mark.parametrize("code,state", [(0, JobState.CREATED), (1, JobState.QUEUED),
                                        (3, JobState.RUNNING), (4, JobState.PROCESSING),
                                        (5, JobState.CANCELLED), (6, JobState.SUCCEEDED),
                                        (7, JobState.FAILED), (42, JobState.UNKNOWN)])
def test_terra_states(code, state):
    job = types.SimpleNamespace(uuid="u", status=code, percentage=0.5, message="",
                                remain_seconds=3, output_resource_uuid="out")
    st = from_terra(job)
    assert st.state is state and st.raw_status == code
    assert st.is_terminal == (code in (5, 6, 7))


@pytest.mark.parametrize("status,zip_status,state", [
    (12, 0, JobState.QUEUED), (14, 0, JobState.RUNNING), (15, 1, JobState.PROCESSING),
    (15, 2, JobState.SUCCEEDED), (9, 2, JobState.SUCCEEDED), (9, 1, JobState.PROCESSING),
    (15, 3, JobState.FAILED), (8, 0, JobState.FAILED), (13, 0, JobState.FAILED),
    (16, 0, JobState.CANCELLED), (99, 0, JobState.UNKNOWN)])
def test_flighthub_states(status, zip_status, state):
    model = types.SimpleNamespace(model_uuid="m", model_status=status, zip_status=zip_status,
                                  reconstruction_progress=50, error_code=310001 if status == 8
                                  else 0, zip_progress=40, zip_file_key="k.zip")
    st = from_fh2(model)
    assert st.state is state
    if status == 8:
        assert "310001" in st.message
    if state is JobState.SUCCEEDED:
        assert st.output_ref == "k.zip" and st.progress == 1.0


def test_ledger_roundtrip_prefix_and_updates(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.add(LedgerRecord("abcdef12-0000", "terra", base_url="http://x", parameters="{}",
                            outputs=["a"]))
    ledger.add(LedgerRecord("abcdff34-1111", "flighthub", submitted_at=1.0))
    assert ledger.get("abcdef12-0000").outputs == ["a"]
    assert ledger.get("abcde").job_id == "abcdef12-0000"
    with pytest.raises(Exception, match="matches 2 jobs"):
        ledger.get("abcd")
    ledger.update_status("abcdef12-0000", JobStatus("abcdef12-0000", JobState.RUNNING, 3, 0.4))
    assert ledger.get("abcdef12-0000").finished_at is None
    ledger.update_status("abcdef12-0000",
                         JobStatus("abcdef12-0000", JobState.SUCCEEDED, 6, 1.0, output_ref="o"))
    rec = ledger.get("abcdef12-0000")
    assert rec.state == "succeeded" and rec.finished_at and rec.output_ref == "o"
    ledger.set_outputs("abcdef12-0000", "/tmp/out", ["map/result.tif"])
    assert [r.job_id for r in ledger.list()] == ["abcdef12-0000", "abcdff34-1111"]
    assert [r.job_id for r in Ledger(tmp_path).list(backend="flighthub")] == ["abcdff34-1111"]


def test_last_status_reads_back_what_update_status_stored(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.add(LedgerRecord("f00d-1", "flighthub"))
    assert ledger.get("f00d-1").last_status().state is JobState.UNKNOWN  # nothing seen yet
    seen = JobStatus("f00d-1", JobState.PROCESSING, 15, 0.96, "packing results 20%",
                     remain_seconds=30, output_ref="zip-key")
    ledger.update_status("f00d-1", seen)
    back = ledger.get("f00d-1").last_status()
    # all but the ETA, which the ledger does not keep (it would be stale when read back)
    assert back == JobStatus("f00d-1", JobState.PROCESSING, 15, 0.96, "packing results 20%",
                             output_ref="zip-key")
    # a word from another version of terranb reads as unknown, not as an error
    assert LedgerRecord("x", "terra", state="paused").last_status().state is JobState.UNKNOWN
    assert JobState.parse("cancelled") is JobState.CANCELLED


def test_default_ledger_path_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("TERRANB_LEDGER_DIR", str(tmp_path / "L"))
    assert default_ledger_path() == tmp_path / "L" / "ledger.sqlite3"
    monkeypatch.delenv("TERRANB_LEDGER_DIR")
    assert default_ledger_path().name == "ledger.sqlite3"
    assert "terranb" in str(default_ledger_path())

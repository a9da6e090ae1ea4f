"""Model parsing: tolerant enums, kept unknown fields, short reprs, time parsing."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from terranb.api.models import (
    Job,
    JobType,
    ModelStatus,
    ModelType,
    ResourceStatus,
    TerraJobStatus,
    ZipStatus,
    parse_time,
)
from terranb.api.models_cloudapi import CloudUser, MediaFile
from terranb.api.models_flighthub import Model


def test_enum_values_and_unknown_fallback() -> None:
    assert [s.value for s in TerraJobStatus if s.value >= 0] == list(range(8))
    assert {t.value for t in JobType} == {-1, 0, 13, 14, 15}
    assert {t.value for t in ModelType} == {-1, 1, 2, 3, 4}
    assert {s.value for s in ModelStatus} == {-1, 8, 9, 12, 13, 14, 15, 16}
    assert {s.value for s in ZipStatus} == {-1, 0, 1, 2, 3}
    assert {s.value for s in ResourceStatus} == {-1, 1, 2, 3}
    assert TerraJobStatus(42) is TerraJobStatus.UNKNOWN
    assert ModelStatus.parse("x") is ModelStatus.UNKNOWN
    assert ModelType.parse(None) is ModelType.UNKNOWN


def test_terminal_helpers() -> None:
    assert {s for s in TerraJobStatus if s.is_terminal} == {
        TerraJobStatus.STOPPED, TerraJobStatus.FINISHED, TerraJobStatus.FAILED}
    assert [s.can_stop for s in TerraJobStatus if s.value >= 0] == [
        False, True, True, True, False, False, False, False]
    assert {s for s in ModelStatus if s.is_terminal} == {8, 9, 13, 15, 16}
    assert {s for s in ModelStatus if s.is_success} == {9, 15}
    assert ZipStatus.FINISHED.is_terminal and not ZipStatus.RUNNING.is_terminal


def test_job_from_api_case_insensitive_and_extra() -> None:
    job = Job.from_api({"UUID": "abcdef12-3456", "Status": 7, "type": 13, "percentage": 1,
                        "message": "E1001", "completedAt": "2024-01-01T00:00:00+02:00",
                        "brandNew": [1]})
    assert job.uuid == "abcdef12-3456" and job.status is TerraJobStatus.FAILED
    assert job.type is JobType.LIDAR and job.is_terminal
    assert job.extra == {"brandNew": [1]}
    assert job.completed_at is not None and job.completed_at.utcoffset() == timedelta(hours=2)
    assert repr(job) == "Job('abcdef12-3456', '', FAILED, LIDAR, 100%)"
    assert Job.from_api(job.raw) == job


def test_model_and_reprs() -> None:
    m = Model.from_api({"model_uuid": "476954f7-3ad4-4dcf-a03f-2654d5e0d3cc", "model_type": 3,
                        "model_status": 15, "zip_status": 2, "zip_file_key": "k.zip"})
    assert m.is_terminal and m.model_type is ModelType.GAUSSIAN_SPLATTING
    assert repr(m) == "Model('476954f7…', GAUSSIAN_SPLATTING, SUCCEEDED, 0%, zip=FINISHED)"
    u = CloudUser.from_api({"user_id": "u", "access_token": "T0K3N-x", "mqtt_password": "PW-y"})
    assert "T0K3N-x" not in repr(u) and "PW-y" not in repr(u) and "T0K3N" not in str(u.to_dict())
    mf = MediaFile.from_api({"file_id": "f", "create_time": "2023-01-01 20:00:00"})
    assert mf.create_time is not None and mf.create_time.hour == 20


def test_parse_time() -> None:
    assert parse_time("") is None and parse_time("garbage") is None
    t = parse_time("2024-03-01T10:00:00.5Z")
    assert t is not None and t.microsecond == 500000 and t.utcoffset() == timedelta(0)


def test_parse_time_unix_seconds_millis_and_numeric_text() -> None:
    want = datetime(2024, 3, 1, 10, 0, tzinfo=timezone.utc)
    for wire in (1709287200, 1709287200.0, 1709287200000, "1709287200", "1709287200000"):
        assert parse_time(wire) == want, wire
    assert parse_time(1e30) is None  # out of range: unparseable, not an exception
    assert parse_time("20240301") == datetime(2024, 3, 1)  # a compact ISO date, not seconds


def test_flight_task_times_from_iso_or_unix_and_newest_first() -> None:
    from terranb.api.models_fh2_dock import FlightTask, newest_first

    iso = FlightTask.from_api({"uuid": "a", "begin_at": "2024-03-01T10:00:00Z"})
    unix = FlightTask.from_api({"uuid": "b", "begin_at": 1709290800, "end_at": "1709294400"})
    naive = FlightTask.from_api({"uuid": "c", "begin_at": "2020-01-01T00:00:00"})
    none = FlightTask.from_api({"uuid": "d"})
    assert iso.begin_at == datetime(2024, 3, 1, 10, tzinfo=timezone.utc)
    assert unix.end_at == datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
    assert naive.began == "2020-01-01 00:00" and none.began == "-" and none.begin_at is None
    assert [t.uuid for t in newest_first([naive, none, iso, unix])] == ["b", "a", "c", "d"]

"""Model parsing: tolerant enums, kept unknown fields, short reprs, time parsing."""

from __future__ import annotations

import dataclasses
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
from terranb.api.wire_fields import WireModel


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
    assert repr(job) == "Job('abcdef12-3456', name='', status=FAILED, type=LIDAR, percentage=1)"
    assert Job.from_api(job.raw) == job


def test_model_and_reprs() -> None:
    m = Model.from_api({"model_uuid": "476954f7-3ad4-4dcf-a03f-2654d5e0d3cc", "model_type": 3,
                        "model_status": 15, "zip_status": 2, "zip_file_key": "k.zip"})
    assert m.is_terminal and m.model_type is ModelType.GAUSSIAN_SPLATTING
    assert repr(m) == ("Model('476954f7…', model_type=GAUSSIAN_SPLATTING, model_status=SUCCEEDED, "
                       "reconstruction_progress=0, zip_status=FINISHED)")
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


def _wire_models() -> list[type[WireModel]]:
    found: list[type[WireModel]] = []
    todo = [WireModel]
    while todo:
        cls = todo.pop()
        found += [c for c in cls.__subclasses__() if c.__module__.startswith("terranb.api.")]
        todo += cls.__subclasses__()
    return found


def test_generic_repr_never_shows_a_secret_field() -> None:
    models = _wire_models()
    assert {"File", "Job", "CloudUser", "MapModel", "TaskMedia"} <= {c.__name__ for c in models}
    listed_secrets = 0
    for cls in models:
        blank = cls.from_api({})
        # every text field set to a marker naming it, secrets included
        texts = {f.name: f"marker-{f.name}-x" for f in dataclasses.fields(cls)
                 if isinstance(getattr(blank, f.name), str)}
        obj = dataclasses.replace(blank, **texts)
        shown = repr(obj)
        assert str(obj) == shown and shown.startswith(f"{cls.__name__}(")
        for f in dataclasses.fields(cls):
            if not f.repr and f.name in texts:
                assert texts[f.name] not in shown, f"{cls.__name__}.{f.name} leaked: {shown}"
                if f.name in cls._repr_fields:
                    listed_secrets += 1
                    assert f"{f.name}=yes" in shown
        # the rule is not "show nothing": a listed plain text field is shown (ids shortened)
        secret = {f.name for f in dataclasses.fields(cls) if not f.repr}
        plain = [n for n in cls._repr_fields if n in texts and n not in secret
                 and n != "uuid" and not n.endswith(("_id", "_uuid"))]
        assert all(texts[n] in shown for n in plain), shown
    assert listed_secrets >= 4  # File.url, CloudUser.access_token, MapModel.url, TaskMedia


def test_generic_repr_secret_wins_over_the_id_rule() -> None:
    @dataclasses.dataclass(frozen=True)
    class Grant(WireModel):
        grant_id: str
        session_id: str = dataclasses.field(default="", repr=False)
        _repr_fields = ("grant_id", "session_id")

    g = Grant.from_api({"grant_id": "g-1", "session_id": "s3cr3t-session"})
    assert repr(g) == "Grant('g-1', session_id=yes)"
    assert repr(Grant("g")) == "Grant('g', session_id=no)"

"""The helpers that replaced copies (issue 15 point 4): each one still does what every copy did."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import pytest

from terranb.api.models import File, Job, ModelStatus, ResourceDetail, TerraJobStatus, ZipStatus
from terranb.api.models_cloudapi import CloudUser, MediaFile
from terranb.api.models_fh2_dock import FlightTask, Project
from terranb.api.wire_fields import WireFields
from terranb.cli._common import to_jsonable
from terranb.config import Settings
from terranb.errors import ConfigError, ValidationError
from terranb.params import Params2D, Params3D
from terranb.report.runcard import utc_iso


@pytest.mark.parametrize("data", [None, [], "text", 3])
def test_from_api_reads_a_non_object_as_empty(data: object) -> None:
    job = Job.from_api(data)
    assert (job.uuid, job.status, job.extra, job.raw) == ("", TerraJobStatus.UNKNOWN, {}, {})


def test_wire_fields_mapping_reads_nested_objects_only() -> None:
    fields = WireFields({"a": {"x": 1}, "b": [1], "c": None})
    assert fields.mapping("a") == {"x": 1}
    assert fields.mapping("b") == {} and fields.mapping("c") == {} and fields.mapping("d") == {}
    assert fields.extra() == {}  # a key read as a nested object is not "unknown"
    task = FlightTask.from_api({"uuid": "t", "folder_info": "oops", "x": 1})
    assert task.folder_id is None and task.extra == {"x": 1}
    project = Project.from_api({"uuid": "p", "project_work_center_point": {"latitude": "1.5"}})
    assert (project.latitude, project.longitude) == (1.5, None)
    assert ResourceDetail.from_api({"summary": [1]}).summary.uuid == ""


def test_extra_and_raw_are_inherited_keyword_only_and_raw_never_holds_a_login() -> None:
    f = File.from_api({"uuid": "f", "createdAt": "2024-01-01T00:00:00Z", "future": 1})
    assert f.extra == {"future": 1} and f.raw["future"] == 1
    assert isinstance(f.created_at, datetime) and f.updated_at is None
    assert MediaFile.from_api({"file_id": "m", "x": 2}).raw == {"file_id": "m", "x": 2}
    user = CloudUser.from_api({"user_id": "u", "access_token": "secret-jwt"})
    assert not hasattr(user, "raw")  # the whole login answer (its token) is never kept
    assert "secret-jwt" not in repr(user)
    with pytest.raises(TypeError):
        File("f", "name", "sum", 1, "url", "meta", None, {})  # type: ignore[misc]
    assert [x.name for x in dataclasses.fields(File) if x.kw_only] == [
        "extra", "raw", "created_at", "updated_at"]


def test_lifecycle_table() -> None:
    assert {s for s in TerraJobStatus if s.is_terminal} == {
        TerraJobStatus.STOPPED, TerraJobStatus.FINISHED, TerraJobStatus.FAILED}
    assert {s for s in TerraJobStatus if s.is_success} == {TerraJobStatus.FINISHED}
    assert {int(s) for s in ModelStatus if s.is_terminal} == {8, 9, 13, 15, 16}
    assert {s for s in ModelStatus if s.is_success} == {ModelStatus.MAP_SUCCEEDED,
                                                          ModelStatus.SUCCEEDED}
    assert {s for s in ZipStatus if s.is_terminal} == {ZipStatus.FINISHED, ZipStatus.FAILED}
    assert not TerraJobStatus.UNKNOWN.is_terminal and not ModelStatus.UNKNOWN.is_success


def test_settings_for_client_puts_given_values_over_settings() -> None:
    base = Settings(app_key="ak", secret_key="sk")
    assert Settings.for_client(base, app_key=None, region=None) is base
    moved = Settings.for_client(base, base_url="http://127.0.0.1:9", region="cn")
    assert (moved.app_key, moved.base_url, moved.region) == ("ak", "http://127.0.0.1:9", "cn")
    with pytest.raises(ConfigError, match="unknown TerraAPI region"):
        Settings.for_client(base, region="mars")


def test_utc_iso() -> None:
    assert utc_iso(0) == "1970-01-01T00:00:00+00:00"
    assert utc_iso(1.75) == "1970-01-01T00:00:01+00:00"
    now = datetime.fromisoformat(utc_iso())
    assert now.microsecond == 0 and now.utcoffset() is not None and now.utcoffset().seconds == 0


def test_param_wire_names_default_to_the_attribute() -> None:
    assert Params2D(use_wallis=True).parameter_dict() == {"use_Wallis": True}
    assert Params3D(generate_obj=True, output_mesh=True).parameter_dict()["generate_obj"] is True
    with pytest.raises(ValidationError, match="use_Dehaze must be true or false"):
        Params2D(use_dehaze="yes")  # type: ignore[arg-type]


def test_json_output_lists_a_models_own_fields_first() -> None:
    keys = list(to_jsonable(Job.from_api({"uuid": "j", "x": 1})))
    assert keys[:2] == ["uuid", "name"] and keys[-3:] == ["extra", "created_at", "updated_at"]

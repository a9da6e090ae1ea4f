"""Wire tests for FlightHubClient: the nine open-modeling endpoints (protocol.md §3)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from _api_helpers import FH_PROJECT, FH_TOKEN, FH_US

from terranb.api.flighthub import FlightHubClient
from terranb.api.models import (
    ModelStatus,
    ModelType,
    ResourceStatus,
    ZipStatus,
)
from terranb.api.models_flighthub import FlightHubResource, Model
from terranb.credentials import StorageCredentials
from terranb.errors import (
    ApiError,
    AuthenticationError,
    JobLimitError,
    NotFoundError,
    ServerError,
    ValidationError,
)
from terranb.params import GeoDesc, Params3D

V01 = "/openapi/v0.1"
SEED_3D = ('{"parameter":{"cut_AOI":false,"generate_b3dm":true,"generate_las":false,'
           '"generate_obj":false,"generate_osgb":false,"generate_ply":false,"generate_pnts":false,'
           '"generate_point_ply":false,"global_min_depth":-1,"model_simplify":0.2,'
           '"output_geo_desc":{"cs_type":"GEO_CS","geo_cs":"EPSG:32650","geo_cs_wkt":"",'
           '"override_vertical_cs":""},"output_mesh":true,"output_ply_with_normals":false,'
           '"output_pointcloud":false,"ply_with_normals_level":0,"quality_level":3,'
           '"stereo_mode":false,"usable_memory_GB":60,"water_refine":false}}')
TOKEN = {"cloud_name": "ali", "access_key_id": "STS.key", "secret_access_key": "sts-secret",
         "session_token": "sts-session", "region": "oss-cn-hangzhou",
         "cloud_bucket_name": "fh2-bucket", "callback_param": "cbp",
         "store_path": "org/prj/{fileName}", "expire_time": 1779443600,
         "end_point": "https://oss-cn-hangzhou.aliyuncs.com"}
MODEL = {"resource_uuid": "r-1", "model_uuid": "m-1", "model_type": 2, "model_status": 14,
         "model_size": 1024, "reconstruction_progress": 42, "error_code": 0, "zip_status": 1,
         "zip_progress": 12, "zip_file_key": "", "new_field": "x"}


def env(data: Any = None, code: int = 0, message: str = "") -> dict[str, Any]:
    return {"code": code, "message": message, "data": data}


CASES: list[tuple[str, Any, str, str, bytes | None, Any, Any]] = [
    ("obtain_token", lambda c: c.obtain_token(), "POST", "/open_model/stores/obtain_token", None,
     env(TOKEN), lambda r: isinstance(r, StorageCredentials) and r.is_oss
     and r.endpoint_url == "https://oss-cn-hangzhou.aliyuncs.com"
     and r.key_for("a.JPG") == "org/prj/a.JPG"),
    ("upload_callback", lambda c: c.upload_callback("r-1", "cbp", [
        {"name": "DJI_0001.JPG", "etag": '"e1"'}, {"name": "DJI_0002.JPG", "etag": "e2"}],
        resource_name="site A"),
     "POST", "/open_model/stores/upload_callback",
     b'{"resource_uuid": "r-1", "resource_name": "site A", "callback_param": "cbp", "files": '
     b'[{"name": "DJI_0001.JPG", "etag": "e1"}, {"name": "DJI_0002.JPG", "etag": "e2"}]}',
     env({"resource_uuid": "r-1", "upload_count": 2,
          "file_name_list": ["DJI_0001.JPG", "DJI_0002.JPG"]}),
     lambda r: r.upload_count == 2 and r.file_name_list == ("DJI_0001.JPG", "DJI_0002.JPG")),
    ("get_resource", lambda c: c.get_resource("r-1"), "GET", "/open_model/resource/r-1", None,
     env({"resource_uuid": "r-1", "status": 1, "resource_size": 8192, "file_names": ["a"]}),
     lambda r: isinstance(r, FlightHubResource) and r.status is ResourceStatus.IMPORT_SUCCESS
     and r.resource_size == 8192),
    ("delete_resource", lambda c: c.delete_resource("r-1"), "DELETE",
     "/open_model/resource/r-1", None, env({}), lambda r: r is None),
    ("start_reconstruction", lambda c: c.start_reconstruction(
        "69e49a97-6a02-4638-b1b5-b9e871b6c51e", parameter_3d=SEED_3D),
     "POST", "/open_model/models/reconstruction/start",
     json.dumps({"resource_uuid": "69e49a97-6a02-4638-b1b5-b9e871b6c51e", "parameter_2d": "",
                 "parameter_3d": SEED_3D, "parameter_3dgs": "", "parameter_lidar": "",
                 "delete_resource_if_finish": False}).encode(),
     env({"model_3d": {"uuid": "476954f7-3ad4-4dcf-a03f-2654d5e0d3cc", "status": 12,
                       "sub_error_code": 0}}),
     lambda r: list(r) == ["model_3d"] and r["model_3d"].status is
     ModelStatus.REQUESTING_RESOURCE),
    ("stop_model", lambda c: c.stop_model("m-1"), "POST",
     "/open_model/models/m-1/reconstruction/stop", None, env({}), lambda r: r is None),
    ("get_model", lambda c: c.get_model("m-1"), "GET", "/open_model/models/m-1", None,
     env(MODEL), lambda r: isinstance(r, Model) and r.model_type is ModelType.MODEL_3D
     and r.model_status is ModelStatus.EXECUTING and r.zip_status is ZipStatus.RUNNING
     and r.reconstruction_progress == 42 and r.extra == {"new_field": "x"}),
    ("delete_model", lambda c: c.delete_model("m-1"), "DELETE", "/open_model/models/m-1", None,
     env({}), lambda r: r is None),
    ("running_models", lambda c: c.running_models(), "GET", "/open_model/models/running", None,
     env({"list": [MODEL, {**MODEL, "model_uuid": "m-2", "model_status": 99}]}),
     lambda r: [m.uuid for m in r] == ["m-1", "m-2"] and r[1].model_status is
     ModelStatus.UNKNOWN),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_endpoint_wire(case: Any, fh: FlightHubClient, rm: responses.RequestsMock) -> None:
    _, call, method, path, body, answer, check = case
    rm.add(method, FH_US + V01 + path, json=answer)
    result = call(fh)
    assert len(rm.calls) == 1
    req = rm.calls[0].request
    assert req.method == method
    assert req.url == FH_US + V01 + path
    assert req.headers["X-User-Token"] == FH_TOKEN
    assert req.headers["X-Project-Uuid"] == FH_PROJECT
    assert req.headers["X-Request-Id"] == "req-0"
    assert req.headers["X-Language"] == "en"
    assert "Authorization" not in req.headers
    if body is None:
        assert not req.body
        assert "Content-Type" not in req.headers
    else:
        assert req.body == body
        assert req.headers["Content-Type"] == "application/json"
    assert check(result)


def test_fresh_request_id_per_call_with_default_generator(rm: responses.RequestsMock) -> None:
    c = FlightHubClient(FH_TOKEN, FH_PROJECT, region="eu", api_version="v2.0", language="zh")
    url = "https://es-flight-api-eu.djigate.com/openapi/v2.0/open_model/models/m-1"
    rm.add("GET", url, json=env(MODEL))
    c.get_model("m-1")
    c.get_model("m-1")
    ids = [call.request.headers["X-Request-Id"] for call in rm.calls]
    assert len(set(ids)) == 2 and all(len(i) == 36 for i in ids)
    assert rm.calls[0].request.headers["X-Language"] == "zh"


def test_start_with_params_objects(fh: FlightHubClient, rm: responses.RequestsMock) -> None:
    rm.add("POST", FH_US + V01 + "/open_model/models/reconstruction/start",
           json=env({"model_3d": {"uuid": "a", "status": 12},
                     "model_3dgs": {"uuid": "b", "status": 12}}))
    refs = fh.start_reconstruction("r", parameter_3d=Params3D(output_mesh=True, generate_obj=True,
                                                               output_geo_desc=GeoDesc(4326)),
                                   parameter_3dgs={"iterations": 7000},
                                   delete_resource_if_finish=True)
    sent = json.loads(rm.calls[0].request.body)
    assert sent["parameter_3d"] == ('{"parameter":{"output_mesh":true,"generate_obj":true,'
                                    '"output_geo_desc":{"cs_type":"GEO_CS","geo_cs":"EPSG:4326",'
                                    '"geo_cs_wkt":"","override_vertical_cs":""}}}')
    assert sent["parameter_3dgs"] == '{"iterations":7000}'
    assert sent["delete_resource_if_finish"] is True
    assert set(refs) == {"model_3d", "model_3dgs"}


def test_start_needs_a_parameter(fh: FlightHubClient) -> None:
    with pytest.raises(ValidationError, match="at least one"):
        fh.start_reconstruction("r")
    with pytest.raises(ValidationError, match="JSON object"):
        fh.start_reconstruction("r", parameter_3dgs="[1, 2]")


def test_http_200_with_error_code(fh: FlightHubClient, rm: responses.RequestsMock) -> None:
    rm.add("GET", FH_US + V01 + "/open_model/models/m-1",
           json={"code": 310001, "message": "model failed", "data": None})
    with pytest.raises(ApiError) as info:
        fh.get_model("m-1")
    assert info.value.code == 310001 and info.value.status_code == 200
    assert info.value.request_id == "req-0"
    assert "model failed" in str(info.value) and "req-0" in str(info.value)


@pytest.mark.parametrize(("code", "cls"), [(200404, NotFoundError), (200401, AuthenticationError),
                                           (210429, JobLimitError), (210500, ServerError),
                                           (401, AuthenticationError), (231011, ApiError)])
def test_http_200_codes_typed_by_their_http_tail(code: int, cls: type, fh: FlightHubClient,
                                                 rm: responses.RequestsMock) -> None:
    rm.add("GET", FH_US + V01 + "/open_model/resource/r", json={"code": code, "message": "x"})
    with pytest.raises(cls) as info:
        fh.get_resource("r")
    assert type(info.value) is cls and info.value.code == code


@pytest.mark.parametrize(("status", "cls"), [(401, AuthenticationError), (404, NotFoundError),
                                             (500, ServerError)])
def test_http_errors(status: int, cls: type, fh: FlightHubClient,
                     rm: responses.RequestsMock) -> None:
    rm.add("DELETE", FH_US + V01 + "/open_model/models/m-1", status=status,
           json={"code": 200000 + status, "message": "nope"})
    with pytest.raises(cls) as info:
        fh.delete_model("m-1")
    assert info.value.status_code == status
    assert FH_TOKEN not in str(info.value)


def test_upload_callback_batches(fh: FlightHubClient, rm: responses.RequestsMock) -> None:
    def answer(request: Any) -> tuple[int, dict, str]:
        names = [f["name"] for f in json.loads(request.body)["files"]]
        return 200, {}, json.dumps(env({"resource_uuid": "r", "upload_count": len(names),
                                        "file_name_list": names}))

    rm.add_callback("POST", FH_US + V01 + "/open_model/stores/upload_callback", callback=answer)
    files = [{"name": f"{i}.JPG", "etag": "e"} for i in range(250)]
    res = fh.upload_callback("r", "cbp", files)
    assert len(rm.calls) == 3
    assert res.upload_count == 250 and len(res.file_name_list) == 250
    assert "resource_name" not in json.loads(rm.calls[0].request.body)

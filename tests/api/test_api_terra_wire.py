"""Wire tests for TerraClient: exact method, path, query, headers and body of every
endpoint, and the parsing of realistic answers (protocol.md §1.4-§1.6)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from _api_helpers import AK, DATE, SK, US, ok, reference_authorization

from terranb.api.models import File, Job, JobType, Resource, ResourceDetail, TerraJobStatus
from terranb.api.terra import TerraClient
from terranb.credentials import StorageCredentials
from terranb.params import GeoDesc, Params2D

P = "/terra-rescon-be"

RESOURCE = {"uuid": "r-1", "name": "test_resource", "type": "map", "meta": "", "fileCount": 2,
            "totalSize": 2048, "scope": {"minLatitude": 1.0, "maxLatitude": 2.0,
                                         "minLongitude": 3.0, "maxLongitude": 4.0},
            "revisable": True, "downloadUsedTime": 0, "uploadUsedTime": 1.5,
            "createdAt": "2024-03-01T10:00:00+08:00", "updatedAt": "2024-03-01T10:00:00Z",
            "futureField": 7}
FILE = {"uuid": "f-1", "name": "sub/DJI_0001.JPG", "checksum": "abc", "size": 1024, "meta": "",
        "position": {"attitude": 0, "latitude": 22.5, "longitude": 113.9},
        "url": "https://b.s3.amazonaws.com/k?X-Amz-Algorithm=A&X-Amz-Signature=s",
        "createdAt": "2024-03-01T10:00:00.123456789Z", "updatedAt": "2024-03-01T10:00:00Z"}
JOB = {"uuid": "j-1", "name": "test_name", "meta": "", "status": 3, "type": 14,
       "createdAt": "2024-03-01T10:00:00Z", "updatedAt": "2024-03-01T10:05:00Z",
       "startedAt": "2024-03-01T10:01:00Z", "originResourceUuid": "r-1",
       "parameters": '{"parameter":{"map_mode":1}}', "percentage": 0.42, "pixels": 1.2e9,
       "remainSeconds": 600, "message": "executing"}
TOKEN = {"cloudName": "aws_s3", "accessKeyID": "ASIA-STS-KEY", "secretAccessKey": "sts-secret",
         "sessionToken": "sts-session", "region": "us-east-1", "cloudBucketName": "vg-terra-be-dev",
         "storePath": "ak/tmp/x1/{fileName}", "callbackParam": "ek1zZ3Np", "expireTime": 1711114461}


def page(items: list[dict[str, Any]], page_no: int = 1, rows: int = 100, total: int | None = None
         ) -> dict[str, Any]:
    return ok({"list": items, "page": page_no, "rows": rows,
               "total": len(items) if total is None else total})


def assert_signed(req: Any, method: str, target: str, body: bytes) -> None:
    assert req.method == method
    assert req.url == US + target
    sent = req.body or b""
    if isinstance(sent, str):
        sent = sent.encode()
    assert sent == body
    digest, auth = reference_authorization(method, target, body)
    assert req.headers["Date"] == DATE
    assert req.headers["Digest"] == digest
    assert req.headers["Authorization"] == auth
    assert req.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert req.headers["User-Agent"].startswith("terranb/")


# (call, method, target, body, answer, check)
CASES: list[tuple[str, Any, str, str, bytes, Any, Any]] = [
    ("obtain_token", lambda c: c.store.obtain_token(), "POST", f"{P}/v2/store/obtain_token", b"",
     ok(TOKEN), lambda r: isinstance(r, StorageCredentials) and r.bucket == "vg-terra-be-dev"
     and r.key_for("a/b.JPG") == "ak/tmp/x1/a/b.JPG" and r.expire_time == 1711114461
     and r.callback_param == "ek1zZ3Np"),
    ("upload_callback",
     lambda c: c.store.upload_callback("r-1", "ek1zZ3Np",
                                       [{"name": "DJI_0001.JPG", "etag": '"e1"'},
                                        {"name": "sub\\DJI_0002.JPG", "etag": "e2",
                                         "checksum": "c2",
                                         "position": {"attitude": 1.0, "latitude": 2.0,
                                                      "longitude": 3.0}}]),
     "POST", f"{P}/v2/store/upload_callback",
     b'{"resourceUUID": "r-1", "callbackParam": "ek1zZ3Np", "files": [{"name": "DJI_0001.JPG", '
     b'"etag": "e1", "checksum": "e1"}, {"name": "sub/DJI_0002.JPG", "etag": "e2", '
     b'"checksum": "c2", "position": {"attitude": 1.0, "latitude": 2.0, "longitude": 3.0}}]}',
     ok([FILE, {**FILE, "uuid": "f-2"}]),
     lambda r: [f.uuid for f in r] == ["f-1", "f-2"] and isinstance(r[0], File)),
    ("resources.create", lambda c: c.resources.create("test_resource"), "POST",
     f"{P}/v2/resources", b'{"name": "test_resource", "type": "map"}', ok(RESOURCE),
     lambda r: isinstance(r, Resource) and r.uuid == "r-1" and r.file_count == 2
     and r.extra == {"futureField": 7} and r.scope["maxLongitude"] == 4.0),
    ("resources.create meta", lambda c: c.resources.create("n", meta="m", files=["f-1"]), "POST",
     f"{P}/v2/resources", b'{"name": "n", "type": "map", "meta": "m", "files": ["f-1"]}',
     ok(RESOURCE), lambda r: r.uuid == "r-1"),
    ("resources.list", lambda c: list(c.resources.list(search="a b", type="map",
                                                        uuids=["u1", "u2"])),
     "GET", f"{P}/v2/resources?page=1&rows=100&search=a%20b&uuids=u1%2Cu2&type=map", b"",
     page([RESOURCE]), lambda r: [x.uuid for x in r] == ["r-1"]),
    ("resources.get", lambda c: c.resources.get("r-1"), "GET", f"{P}/v2/resources/r-1", b"",
     ok({"summary": RESOURCE, "fileUuids": ["f-1", "f-2"], "inputJobUuids": [],
         "outputJobUuids": ["j-1"]}),
     lambda r: isinstance(r, ResourceDetail) and r.file_uuids == ("f-1", "f-2")
     and r.output_job_uuids == ("j-1",) and r.uuid == "r-1"),
    ("resources.delete", lambda c: c.resources.delete("r-1"), "DELETE",
     f"{P}/v2/resources/r-1?deleteMode=0", b"", {"result": {"code": 0, "msg": "ok"}},
     lambda r: r is None),
    ("resources.delete mode 1", lambda c: c.resources.delete("r-1", delete_mode=1), "DELETE",
     f"{P}/v2/resources/r-1?deleteMode=1", b"", ok(), lambda r: r is None),
    ("files.list", lambda c: list(c.files.list(resource_uuid="r-1", need_url=True,
                                               order_asc=True)),
     "GET", f"{P}/v2/files?page=1&rows=100&needURL=true&resourceUuid=r-1&orderAsc=true", b"",
     page([FILE]), lambda r: r[0].name == "sub/DJI_0001.JPG"),
    ("files.list plain", lambda c: list(c.files.list()), "GET", f"{P}/v2/files?page=1&rows=100",
     b"", page([]), lambda r: r == []),
    ("files.get", lambda c: c.files.get("f-1"), "GET", f"{P}/v2/files/f-1", b"", ok(FILE),
     lambda r: r.url.endswith("X-Amz-Algorithm=A&X-Amz-Signature=s") and r.size == 1024
     and r.created_at is not None and r.created_at.microsecond == 123456),
    ("files.delete", lambda c: c.files.delete("f-1"), "DELETE", f"{P}/v2/files/f-1", b"",
     {"result": {"code": 0}}, lambda r: r is None),
    ("jobs.create", lambda c: c.jobs.create("test_name"), "POST", f"{P}/v2/jobs",
     b'{"name": "test_name"}', ok({**JOB, "status": 0, "type": 0}),
     lambda r: isinstance(r, Job) and r.status is TerraJobStatus.WAITING_FOR_START
     and r.type is JobType.NONE),
    ("jobs.list", lambda c: list(c.jobs.list(type="2d", status=3,
                                             origin_resource_uuid="r-1")),
     "GET", f"{P}/v2/jobs?page=1&rows=100&type=14&status=3&originResourceUuid=r-1", b"",
     page([JOB]), lambda r: r[0].status is TerraJobStatus.EXECUTING and r[0].percentage == 0.42),
    ("jobs.get", lambda c: c.jobs.get("j-1"), "GET", f"{P}/v2/jobs/j-1", b"", ok(JOB),
     lambda r: r.type is JobType.MAP_2D and r.remain_seconds == 600 and r.pixels == 1.2e9
     and r.started_at is not None and r.completed_at is None),
    ("jobs.start", lambda c: c.jobs.start(
        "j-1", "2d", "r-1", Params2D(map_mode=1, quality_level=1,
                                     output_geo_desc=GeoDesc("EPSG:32650"))),
     "POST", f"{P}/v2/jobs/j-1/start",
     # byte for byte the quick start's 2D start payload
     b'{"type": 14, "resourceUuid": "r-1", "parameters": "{\\"parameter\\":{\\"map_mode\\":1,'
     b'\\"quality_level\\":1,\\"output_geo_desc\\":{\\"cs_type\\":\\"GEO_CS\\",\\"geo_cs\\":'
     b'\\"EPSG:32650\\",\\"geo_cs_wkt\\":\\"\\",\\"override_vertical_cs\\":\\"\\"}}}"}',
     ok({**JOB, "status": 1}), lambda r: r.status is TerraJobStatus.WAITING),
    ("jobs.start dict", lambda c: c.jobs.start("j-1", 15, "r-1",
                                               {"parameter": {"output_mesh": True}},
                                               output_resource_uuid="r-9"),
     "POST", f"{P}/v2/jobs/j-1/start",
     b'{"type": 15, "resourceUuid": "r-1", "parameters": "{\\"parameter\\":{\\"output_mesh\\":'
     b'true}}", "outputResourceUuid": "r-9"}', ok(JOB), lambda r: r.uuid == "j-1"),
    ("jobs.stop", lambda c: c.jobs.stop("j-1"), "POST", f"{P}/v2/jobs/j-1/stop", b"",
     {"result": {"code": 0}}, lambda r: r is None),
    ("jobs.delete", lambda c: c.jobs.delete("j-1"), "DELETE", f"{P}/v2/jobs/j-1", b"", ok(),
     lambda r: r is None),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_endpoint_wire(case: Any, terra: TerraClient, rm: responses.RequestsMock) -> None:
    _, call, method, target, body, answer, check = case
    rm.add(method, US + target.split("?")[0], json=answer)
    result = call(terra)
    assert len(rm.calls) == 1
    assert_signed(rm.calls[0].request, method, target, body)
    assert check(result)


def test_create_sends_return_detail(terra: TerraClient, rm: responses.RequestsMock) -> None:
    rm.add("POST", f"{US}{P}/v2/jobs", json=ok(JOB))
    rm.add("POST", f"{US}{P}/v2/resources", json=ok(RESOURCE))
    terra.jobs.create("x")
    terra.resources.create("y")
    assert [c.request.headers.get("Return-Detail") for c in rm.calls] == ["true", "true"]


def test_start_without_job_in_answer_fetches_it(terra: TerraClient,
                                                rm: responses.RequestsMock) -> None:
    rm.add("POST", f"{US}{P}/v2/jobs/j-1/start", json={"result": {"code": 0}})
    rm.add("GET", f"{US}{P}/v2/jobs/j-1", json=ok({**JOB, "status": 1}))
    job = terra.jobs.start("j-1", 14, "r-1", '{"parameter":{}}')
    assert job.status is TerraJobStatus.WAITING
    assert [c.request.method for c in rm.calls] == ["POST", "GET"]


def test_url_unicode_escape_is_decoded(terra: TerraClient, rm: responses.RequestsMock) -> None:
    # The service HTML-escapes '&' as \u0026 (FAQ); the client must JSON-decode it.
    raw = ('{"result":{"code":0,"msg":"","desc":""},"data":{"uuid":"f-1","name":"map/result.tif",'
           '"url":"https://b.example/k?X-Amz-Date=1\\u0026X-Amz-Signature=zz"}}')
    rm.add("GET", f"{US}{P}/v2/files/f-1", body=raw, content_type="application/json")
    assert terra.files.get("f-1").url == "https://b.example/k?X-Amz-Date=1&X-Amz-Signature=zz"


def test_paging_walks_pages_until_total(terra: TerraClient, rm: responses.RequestsMock) -> None:
    items = [{**JOB, "uuid": f"j-{i}"} for i in range(5)]
    for n in (1, 2, 3):
        rm.add("GET", f"{US}{P}/v2/jobs", json=page(items[(n - 1) * 2:n * 2], n, 2, total=5),
               match=[responses.matchers.query_param_matcher({"page": str(n), "rows": "2"})])
    got = [j.uuid for j in terra.jobs.list(page_size=2)]
    assert got == [f"j-{i}" for i in range(5)]
    assert len(rm.calls) == 3
    # every page is signed over its own path+query
    for n, call in enumerate(rm.calls, 1):
        assert_signed(call.request, "GET", f"{P}/v2/jobs?page={n}&rows=2", b"")


def test_paging_limit_stops_early(terra: TerraClient, rm: responses.RequestsMock) -> None:
    rm.add("GET", f"{US}{P}/v2/files", json=page([FILE] * 3, 1, 3, total=99))
    assert len(list(terra.files.list(page_size=3, limit=2))) == 2
    assert len(rm.calls) == 1


def test_upload_callback_batches_of_50(terra: TerraClient, rm: responses.RequestsMock) -> None:
    rm.add("POST", f"{US}{P}/v2/store/upload_callback", json=ok([FILE]))
    files = [{"name": f"DJI_{i:04d}.JPG", "etag": f"e{i}"} for i in range(120)]
    out = terra.store.upload_callback("r-1", "cb", files)
    sizes = [len(json.loads(c.request.body)["files"]) for c in rm.calls]
    assert sizes == [50, 50, 20]
    assert len(out) == 3


def test_region_cn_and_base_url_override() -> None:
    assert TerraClient(AK, SK, region="cn").base_url == "https://openapi-cn.dji.com"
    c = TerraClient(AK, SK, base_url="http://127.0.0.1:9/terra-rescon-be")
    assert c.base_url == "http://127.0.0.1:9"


def test_obtain_token_fills_s3_endpoint(rm: responses.RequestsMock) -> None:
    c = TerraClient(AK, SK, base_url="http://127.0.0.1:9", s3_endpoint_url="http://127.0.0.1:7")
    rm.add("POST", f"http://127.0.0.1:9{P}/v2/store/obtain_token", json=ok(TOKEN))
    assert c.store.obtain_token().endpoint_url == "http://127.0.0.1:7"


def test_x_date_variant(rm: responses.RequestsMock) -> None:
    c = TerraClient(AK, SK, date=lambda: DATE, use_x_date=True)
    rm.add("GET", f"{US}{P}/v2/jobs/j-1", json=ok(JOB))
    c.jobs.get("j-1")
    h = rm.calls[0].request.headers
    assert h["X-Date"] == DATE and "Date" not in h
    assert 'headers="x-date @request-target digest"' in h["Authorization"]
    from terranb.api.signing import verify
    assert verify("GET", f"{P}/v2/jobs/j-1", "", dict(h), b"", {AK: SK}.get,
                  now=1704067200) == AK


def test_every_attempt_is_resigned_with_a_fresh_date(rm: responses.RequestsMock) -> None:
    dates = iter(["Mon, 01 Jan 2024 00:00:00 GMT", "Mon, 01 Jan 2024 00:00:05 GMT",
                  "Mon, 01 Jan 2024 00:00:12 GMT"])
    c = TerraClient(AK, SK, date=lambda: next(dates), sleep=lambda s: None)
    rm.add("GET", f"{US}{P}/v2/jobs/j-1", status=503, body="busy")
    rm.add("GET", f"{US}{P}/v2/jobs/j-1", status=502, body="bad gw")
    rm.add("GET", f"{US}{P}/v2/jobs/j-1", json=ok(JOB))
    assert c.jobs.get("j-1").uuid == "j-1"
    seen = [call.request.headers["Date"] for call in rm.calls]
    assert len(set(seen)) == 3
    for call in rm.calls:
        d = call.request.headers["Date"]
        assert call.request.headers["Authorization"] == reference_authorization(
            "GET", f"{P}/v2/jobs/j-1", b"", date=d)[1]

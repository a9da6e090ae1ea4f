"""TerraAPI routes: envelope, Go-style JSON, case-insensitive keys, binding rules, limits, jobs."""

from __future__ import annotations

import json
import time

import requests
from emu_helpers import bound_resource, upload_files

from terranb.api.signing import sign


def _job(t, name="j"):
    return t.ok("POST", "/jobs", {"name": name})["uuid"]


def _params_2d():
    return json.dumps({"parameter": {"map_mode": 1, "quality_level": 3}})


def _wait(t, job_uuid, until=(5, 6, 7), timeout=60.0):
    deadline = time.time() + timeout
    seen = []
    while time.time() < deadline:
        job = t.ok("GET", f"/jobs/{job_uuid}")
        if not seen or seen[-1] != job["status"]:
            seen.append(job["status"])
        if job["status"] in until:
            return job, seen
        time.sleep(0.05)
    raise AssertionError(f"job {job_uuid} stuck: {seen}")


def test_envelope_and_error_statuses(served):
    t = served.terra()
    created = t.ok("POST", "/jobs", {"name": "n", "meta": "m"})
    assert created["status"] == 0 and created["name"] == "n" and "startedAt" not in created
    assert t.err("GET", "/jobs/does-not-exist")[:2] == (404, 102114)
    assert t.err("GET", "/resources/nope")[:2] == (404, 102002)
    assert t.err("GET", "/files/nope")[:2] == (404, 102002)
    assert t.err("POST", "/jobs", b"{not json")[:2] == (400, 102001)
    assert t.err("POST", "/jobs", {"meta": "no name"})[:2] == (400, 102001)
    assert t.err("POST", "/resources", {"name": "x", "type": "job_output"})[:2] == (400, 102001)
    assert t.err("GET", "/resources", query="page=abc")[:2] == (400, 102001)
    # another account cannot see it
    other = served.terra()
    assert other.err("GET", f"/jobs/{created['uuid']}")[:2] == (404, 102114)


def test_go_style_json_escaping(served):
    t = served.terra()
    r = t.call("POST", "/jobs", {"name": "a&b<c>"})
    assert b"a\\u0026b\\u003cc\\u003e" in r.content
    assert r.json()["data"]["name"] == "a&b<c>"


def test_obtain_token_shape(served):
    t = served.terra()
    tok = t.ok("POST", "/store/obtain_token")
    assert set(tok) == {
        "cloudName",
        "accessKeyID",
        "secretAccessKey",
        "sessionToken",
        "region",
        "cloudBucketName",
        "storePath",
        "callbackParam",
        "expireTime",
    }
    assert tok["storePath"].endswith("/{fileName}") and "/tmp/" in tok["storePath"]
    assert tok["cloudBucketName"] == "vg-terra-be-dev" and tok["region"] == "us-east-1"
    assert abs(tok["expireTime"] - (time.time() + 600)) < 30


def test_upload_callback_rules(served):
    t = served.terra()
    tok = t.ok("POST", "/store/obtain_token")
    files = upload_files(served.info.s3_endpoint_url, tok, {"a/x.JPG": b"1" * 10, "y.JPG": b"22"})
    res = t.ok("POST", "/resources", {"name": "r", "type": "map"})["uuid"]
    # wrong callbackParam
    code = t.err(
        "POST",
        "/store/upload_callback",
        {"resourceUUID": res, "callbackParam": "bogus", "files": files},
    )
    assert code[:2] == (400, 102001) and "callbackParam" in code[2]
    # object that is not in the bucket
    missing = [{"name": "z.JPG", "etag": "0" * 32, "checksum": "0" * 32}]
    code = t.err(
        "POST",
        "/store/upload_callback",
        {"resourceUUID": res, "callbackParam": tok["callbackParam"], "files": missing},
    )
    assert code[1] == 102001 and "not found" in code[2]
    # wrong etag
    bad = [dict(files[0], etag="f" * 32)]
    code = t.err(
        "POST",
        "/store/upload_callback",
        {"resourceUUID": res, "callbackParam": tok["callbackParam"], "files": bad},
    )
    assert code[1] == 102001 and "etag" in code[2]
    # quoted ETag accepted, lower-case key spelling accepted
    quoted = [dict(f, etag=f'"{f["etag"]}"') for f in files]
    out = t.ok(
        "POST",
        "/store/upload_callback",
        {"resourceuuid": res, "CALLBACKPARAM": tok["callbackParam"], "files": quoted},
    )
    assert sorted(f["name"] for f in out) == ["a/x.JPG", "y.JPG"]
    assert {f["size"] for f in out} == {10, 2}
    # idempotent re-bind of the same name + etag
    again = t.ok(
        "POST",
        "/store/upload_callback",
        {"resourceUuid": res, "callbackParam": tok["callbackParam"], "files": files},
    )
    assert {f["uuid"] for f in again} == {f["uuid"] for f in out}
    detail = t.ok("GET", f"/resources/{res}")
    assert len(detail["fileUuids"]) == 2 and detail["summary"]["fileCount"] == 2
    # same name, different object -> refused
    files2 = upload_files(served.info.s3_endpoint_url, tok, {"y.JPG": b"changed"})
    code = t.err(
        "POST",
        "/store/upload_callback",
        {"resourceUUID": res, "callbackParam": tok["callbackParam"], "files": files2},
    )
    assert code[:2] == (409, 102003)
    # unsafe names
    code = t.err(
        "POST",
        "/store/upload_callback",
        {
            "resourceUUID": res,
            "callbackParam": tok["callbackParam"],
            "files": [{"name": "../x", "etag": "1", "checksum": "1"}],
        },
    )
    assert code[1] == 102001
    # another account's callbackParam is not accepted
    other = served.terra()
    res2 = other.ok("POST", "/resources", {"name": "r"})["uuid"]
    assert (
        other.err(
            "POST",
            "/store/upload_callback",
            {"resourceUUID": res2, "callbackParam": tok["callbackParam"], "files": files},
        )[1]
        == 102001
    )


def test_files_list_and_url(served, photos):
    t = served.terra()
    res = bound_resource(served, t, photos[:3])
    listed = t.ok("GET", "/files", query=f"resourceUuid={res}&needURL=true&orderAsc=true")
    assert listed["total"] == 3 and all(
        f["url"].startswith("http://127.0.0.1") for f in listed["list"]
    )
    one = t.ok("GET", f"/files/{listed['list'][0]['uuid']}")
    body = requests.get(one["url"], timeout=10).content
    assert body == next(p for p in photos if p.name == one["name"]).read_bytes()
    r = t.call("GET", f"/files/{one['uuid']}")
    assert b"\\u0026" in r.content  # the presigned URL's & is escaped like Go does
    page = t.ok("GET", "/files", query=f"resourceUuid={res}&page=2&rows=2")
    assert page["page"] == 2 and page["rows"] == 2 and len(page["list"]) == 1


def test_start_validation_and_limits(served, photos):
    t = served.terra()
    few = bound_resource(served, t, photos[:9])
    job = _job(t)
    assert t.err(
        "POST", f"/jobs/{job}/start", {"type": 14, "resourceUuid": few, "parameters": _params_2d()}
    )[:2] == (400, 102001)
    res = bound_resource(served, t, photos[:10])
    # parameters must be a string
    code = t.err(
        "POST",
        f"/jobs/{job}/start",
        {"type": 14, "resourceUuid": res, "parameters": {"parameter": {}}},
    )
    assert code[1] == 102001 and "JSON string" in code[2]
    assert (
        t.err(
            "POST", f"/jobs/{job}/start", {"type": 14, "resourceUuid": res, "parameters": "{oops"}
        )[1]
        == 102001
    )
    assert (
        t.err("POST", f"/jobs/{job}/start", {"type": 99, "resourceUuid": res, "parameters": "{}"})[
            1
        ]
        == 102001
    )
    assert (
        t.err(
            "POST", f"/jobs/{job}/start", {"type": "14", "resourceUuid": res, "parameters": "{}"}
        )[1]
        == 102001
    )
    assert t.err(
        "POST", f"/jobs/{job}/start", {"type": 14, "resourceUuid": "nope", "parameters": "{}"}
    )[:2] == (404, 102002)
    assert t.err("POST", "/jobs/nope/start", {"type": 14, "resourceUuid": res, "parameters": "{}"})[
        :2
    ] == (404, 102114)
    # stop before start
    assert t.err("POST", f"/jobs/{job}/stop")[:2] == (409, 102003)


def test_image_count_upper_limit(served, photos):
    # 4,001 tiny "images" would be slow to upload; bind the same bytes under many names in SQL
    import uuid as uuidlib

    t = served.terra()
    res = bound_resource(served, t, photos[:1])
    st = served.emulator.state
    f = st.resource_files(res)[0]
    now = time.time()
    with st.transaction():
        for i in range(4001):
            fu = str(uuidlib.uuid4())
            st.insert(
                "files",
                {
                    **{
                        k: f[k]
                        for k in (
                            "owner",
                            "checksum",
                            "etag",
                            "size",
                            "meta",
                            "bucket",
                            "object_key",
                        )
                    },
                    "uuid": fu,
                    "name": f"img{i}.jpg",
                    "position": {},
                    "created_at": now,
                    "updated_at": now,
                },
            )
            st.bind_file(res, fu, f"img{i}.jpg")
    code = t.err(
        "POST",
        f"/jobs/{_job(t)}/start",
        {"type": 14, "resourceUuid": res, "parameters": _params_2d()},
    )
    assert code[1] == 102001 and "4000" in code[2]
    # the limit is per job type: a 3D job takes up to 20,000 images, so 4,001 pass
    job3 = _job(t)
    started = t.ok("POST", f"/jobs/{job3}/start",
                   {"type": 15, "resourceUuid": res, "parameters": "{}"})
    assert started["status"] == 1
    assert t.ok("POST", f"/jobs/{job3}/stop")["status"] == 5


def test_lidar_size_limit(served, photos):
    t = served.terra()
    res = bound_resource(served, t, photos[:1])
    st = served.emulator.state
    f = st.resource_files(res)[0]
    st.update("files", "uuid", f["uuid"], {"size": 49 * 1024**3})
    code = t.err(
        "POST", f"/jobs/{_job(t)}/start", {"type": 13, "resourceUuid": res, "parameters": "{}"}
    )
    assert code[1] == 102001 and "48 GB" in code[2]


def test_job_lifecycle_limits_and_outputs(served, photos):
    t = served.terra()
    res = bound_resource(served, t, photos)
    jobs = [_job(t, f"j{i}") for i in range(3)]
    started = t.ok(
        "POST",
        f"/jobs/{jobs[0]}/start",
        {"type": 14, "resourceUUID": res, "parameters": _params_2d()},
    )
    assert started["status"] == 1 and started["originResourceUuid"] == res
    assert started["outputResourceUuid"] and "startedAt" in started
    # starting twice
    assert t.err(
        "POST",
        f"/jobs/{jobs[0]}/start",
        {"type": 14, "resourceUuid": res, "parameters": _params_2d()},
    )[:2] == (409, 102003)
    t.ok(
        "POST",
        f"/jobs/{jobs[1]}/start",
        {"type": 14, "resourceUuid": res, "parameters": _params_2d()},
    )
    # third unfinished job -> 801
    r = t.call(
        "POST",
        f"/jobs/{jobs[2]}/start",
        {"type": 14, "resourceUuid": res, "parameters": _params_2d()},
    )
    assert r.status_code == 429
    assert r.json()["result"] == {
        "code": 801,
        "msg": "too many requests: jobs over limit",
        "desc": r.json()["result"]["desc"],
    }
    # the input resource is no longer revisable
    assert t.ok("GET", f"/resources/{res}")["summary"]["revisable"] is False
    # stop the second one
    stopped = t.ok("POST", f"/jobs/{jobs[1]}/stop")
    assert stopped["status"] == 5
    final, seen = _wait(t, jobs[0])
    assert final["status"] == 6, final
    assert seen == sorted(seen) and seen[-1] == 6
    assert final["percentage"] == 1.0 and final["remainSeconds"] == 0 and "completedAt" in final
    # stopping a finished job
    assert t.err("POST", f"/jobs/{jobs[0]}/stop")[:2] == (409, 102003)
    out = t.ok("GET", f"/resources/{final['outputResourceUuid']}")
    assert out["summary"]["name"] == f"output of job: {jobs[0]}"
    assert out["summary"]["type"] == "job_output"
    assert jobs[0] in out["outputJobUuids"]
    names = {t.ok("GET", f"/files/{u}")["name"] for u in out["fileUuids"]}
    assert "map/result.tif" in names
    # now the third one can start
    t.ok(
        "POST",
        f"/jobs/{jobs[2]}/start",
        {"type": 14, "resourceUuid": res, "parameters": _params_2d()},
    )
    listed = t.ok("GET", "/jobs", query="status=5")
    assert [j["uuid"] for j in listed["list"]] == [jobs[1]]
    _wait(t, jobs[2])


def test_engine_failure_gives_status_7_with_message(served, photos):
    t = served.terra()
    # LiDAR job on photos only: the engine finds no LAS/LAZ and fails with a message
    res = bound_resource(served, t, photos[:2])
    job = _job(t)
    t.ok("POST", f"/jobs/{job}/start", {"type": 13, "resourceUuid": res, "parameters": "{}"})
    final, _ = _wait(t, job)
    assert final["status"] == 7 and final["message"], final


def test_resource_and_job_management(served, photos):
    t = served.terra()
    res = bound_resource(served, t, photos[:2])
    upd = t.ok("PUT", f"/resources/{res}", {"name": "renamed", "meta": "m"})
    assert upd["name"] == "renamed"
    cp = t.ok("POST", f"/resources/{res}/copy", {"name": "c"})
    assert cp["fileCount"] == 2
    listed = t.ok("GET", "/resources", query="search=renamed")
    assert [r["uuid"] for r in listed["list"]] == [res]
    t.ok("DELETE", f"/resources/{cp['uuid']}", query="deleteMode=0")
    assert t.err("GET", f"/resources/{cp['uuid']}")[0] == 404
    file_uuid = t.ok("GET", f"/resources/{res}")["fileUuids"][0]
    t.ok("DELETE", f"/files/{file_uuid}")
    assert t.ok("GET", f"/resources/{res}")["summary"]["fileCount"] == 1
    t.ok("DELETE", f"/resources/{res}", query="deleteMode=1")
    assert t.ok("GET", "/files")["total"] == 0
    job = _job(t)
    assert t.ok("PUT", f"/jobs/{job}", {"name": "new"})["name"] == "new"
    copy = t.ok("POST", f"/jobs/{job}/copy")
    assert copy["uuid"] != job and copy["status"] == 0
    t.ok("DELETE", f"/jobs/{job}")
    assert t.err("GET", f"/jobs/{job}")[0] == 404


def test_unknown_route_under_gateway(served):
    t = served.terra()
    path = "/terra-rescon-be/v2/nothing"
    h = sign("GET", path, b"", t.app_key, t.secret_key)
    r = requests.get(served.base_url + path, headers=h, timeout=10)
    assert r.status_code == 404 and "message" in r.json()

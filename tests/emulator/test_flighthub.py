"""FlightHub 2 open modeling: headers, envelope, upload_callback, start rules, model lifecycle."""

from __future__ import annotations

import json
import time
import uuid

import requests
from emu_helpers import s3_client, upload_files

PARAM_2D = json.dumps({"parameter": {"map_mode": 1, "quality_level": 3}})


def _call(served, method, path, body=None, headers=None, version="v0.1", status=200):
    h = served.fh2_headers() if headers is None else headers
    url = f"{served.base_url}/openapi/{version}/open_model{path}"
    data = None if body is None else json.dumps(body)
    r = requests.request(method, url, data=data, headers=h, timeout=30)
    assert r.status_code == status, r.text  # FH2 business errors are HTTP 200
    return r.json()


def _ok(served, method, path, body=None, version="v0.1"):
    doc = _call(served, method, path, body, version=version)
    assert doc["code"] == 0, doc
    return doc["data"]


def _resource(served, photos, version="v0.1"):
    tok = _ok(served, "POST", "/stores/obtain_token", version=version)
    assert tok["end_point"] == served.info.s3_endpoint_url and "{fileName}" in tok["store_path"]
    files = upload_files(tok["end_point"], tok, {p.name: p.read_bytes() for p in photos})
    # The resource is the batch of the store_path (flighthub2-cli, live-verified).
    ruuid = tok["store_path"].split("/{fileName}")[0].rsplit("/", 1)[-1]
    out = _ok(
        served,
        "POST",
        "/stores/upload_callback",
        {
            "resource_uuid": ruuid,
            "resource_name": "flight",
            "callback_param": tok["callback_param"],
            "files": [{"name": f["name"], "etag": f["etag"]} for f in files],
        },
        version=version,
    )
    assert out == {
        "resource_uuid": ruuid,
        "upload_count": len(photos),
        "file_name_list": [p.name for p in photos],
    }
    return ruuid, tok


def test_headers_checked(served):
    h = served.fh2_headers()
    for broken, status in (
        ({**h, "X-User-Token": "nope"}, 401),  # a wrong key: HTTP 401 as on the live gateways
        ({k: v for k, v in h.items() if k != "X-User-Token"}, 200),
        ({**h, "X-Project-Uuid": str(uuid.uuid4())}, 200),
        ({k: v for k, v in h.items() if k != "X-Project-Uuid"}, 200),
    ):
        doc = _call(served, "GET", "/models/running", headers=broken, status=status)
        assert doc["code"] != 0 and doc["message"]
    assert _call(served, "GET", "/models/running")["code"] == 0


def test_resource_and_start_rules(served, photos):
    ruuid, tok = _resource(served, photos[:4], version="v2.0")
    detail = _ok(served, "GET", f"/resource/{ruuid}", version="v2.0")
    assert detail["status"] == 1 and detail["file_names"] == [p.name for p in photos[:4]]
    assert detail["resource_size"] == sum(p.stat().st_size for p in photos[:4])
    # fewer than 5 images
    doc = _call(
        served,
        "POST",
        "/models/reconstruction/start",
        {"resource_uuid": ruuid, "parameter_2d": PARAM_2D},
    )
    assert doc["code"] != 0 and "at least 5" in doc["message"]
    # no parameter at all
    doc = _call(
        served,
        "POST",
        "/models/reconstruction/start",
        {"resource_uuid": ruuid, "parameter_2d": "", "parameter_3d": ""},
    )
    assert doc["code"] != 0 and "parameter_" in doc["message"]
    # parameter must be a string
    doc = _call(
        served,
        "POST",
        "/models/reconstruction/start",
        {"resource_uuid": ruuid, "parameter_2d": {"parameter": {}}},
    )
    assert doc["code"] != 0
    # wrong callback param, missing object
    doc = _call(
        served,
        "POST",
        "/stores/upload_callback",
        {"resource_uuid": ruuid, "callback_param": "x", "files": [{"name": "a", "etag": "b"}]},
    )
    assert doc["code"] != 0
    doc = _call(
        served,
        "POST",
        "/stores/upload_callback",
        {
            "resource_uuid": ruuid,
            "callback_param": tok["callback_param"],
            "files": [{"name": "missing.JPG", "etag": "b"}],
        },
    )
    assert doc["code"] != 0 and "not found" in doc["message"]
    assert _call(served, "GET", f"/resource/{uuid.uuid4()}")["code"] != 0
    assert _call(served, "GET", f"/models/{uuid.uuid4()}")["code"] != 0
    _ok(served, "DELETE", f"/resource/{ruuid}")
    assert _call(served, "GET", f"/resource/{ruuid}")["code"] != 0


def test_model_lifecycle_and_zip(served, photos):
    ruuid, tok = _resource(served, photos)
    started = _ok(
        served,
        "POST",
        "/models/reconstruction/start",
        {
            "resource_uuid": ruuid,
            "parameter_2d": PARAM_2D,
            "parameter_3d": "",
            "parameter_3dgs": "",
            "parameter_lidar": "",
            "delete_resource_if_finish": False,
        },
    )
    assert set(started) == {"model_2d"} and started["model_2d"]["status"] == 12
    model = started["model_2d"]["uuid"]
    seen = []
    deadline = time.time() + 60
    while time.time() < deadline:
        m = _ok(served, "GET", f"/models/{model}")
        if not seen or seen[-1] != m["model_status"]:
            seen.append(m["model_status"])
        if m["model_status"] in (8, 16) or m["zip_status"] in (2, 3):
            break
        time.sleep(0.05)
    assert m["model_status"] == 15 and m["zip_status"] == 2, m
    assert m["reconstruction_progress"] == 100 and m["zip_progress"] == 100
    assert set(seen) <= {12, 14, 15} and seen[-1] == 15
    assert m["model_type"] == 1 and m["resource_uuid"] == ruuid and m["model_size"] > 0
    client = s3_client(tok["end_point"], _ok(served, "POST", "/stores/obtain_token"))
    obj = client.get_object(Bucket=tok["cloud_bucket_name"], Key=m["zip_file_key"])
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(obj["Body"].read())).namelist()
    assert "map/result.tif" in names
    # stop a finished model -> error; delete works
    assert _call(served, "POST", f"/models/{model}/reconstruction/stop")["code"] != 0
    _ok(served, "DELETE", f"/models/{model}")
    assert _call(served, "GET", f"/models/{model}")["code"] != 0


def test_stop_running_model(served, photos):
    ruuid, _ = _resource(served, photos[:5])
    started = _ok(
        served,
        "POST",
        "/models/reconstruction/start",
        {"resource_uuid": ruuid, "parameter_3d": PARAM_2D},
    )
    model = started["model_3d"]["uuid"]
    running = _ok(served, "GET", "/models/running")
    assert model in [m["model_uuid"] for m in running["list"]]
    _ok(served, "POST", f"/models/{model}/reconstruction/stop")
    m = _ok(served, "GET", f"/models/{model}")
    assert m["model_status"] == 16
    time.sleep(0.3)
    assert _ok(served, "GET", f"/models/{model}")["model_status"] == 16

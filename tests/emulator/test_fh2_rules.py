"""FlightHub 2 rules flighthub2-cli found on the live service, as the emulator enforces them.

resource_uuid = the batch id of store_path (with the documented variants), at most
100 files per upload_callback, running + requested models <= 2, and FlightHub's
envelope (HTTP 404, code 200501) on every route the emulator does not serve.
"""

from __future__ import annotations

import json
import uuid

import requests
from emu_helpers import upload_files

from terranb.emulator import errors_wire as E

PARAM = json.dumps({"parameter": {"map_mode": 1, "quality_level": 3}})


def _post(served, path, body=None):
    r = requests.post(f"{served.base_url}/openapi/v0.1/open_model{path}",
                      data=None if body is None else json.dumps(body),
                      headers=served.fh2_headers(), timeout=30)
    assert r.status_code == 200, r.text  # business errors are HTTP 200
    return r.json()


def _batch(tok):
    return tok["store_path"].split("/{fileName}")[0].rsplit("/", 1)[-1]


def _uploaded(served, photos):
    tok = _post(served, "/stores/obtain_token")["data"]
    files = upload_files(tok["end_point"], tok, {p.name: p.read_bytes() for p in photos})
    return tok, [{"name": f["name"], "etag": f["etag"]} for f in files]


def _bind(served, ruuid, tok, files):
    return _post(served, "/stores/upload_callback",
                 {"resource_uuid": ruuid, "callback_param": tok["callback_param"],
                  "files": files})


def test_store_path_has_the_live_shape(served):
    tok = _post(served, "/stores/obtain_token")["data"]
    parts = tok["store_path"].split("/")
    assert parts[:2] == ["fh", "organizations"] and parts[3:5] == ["open_reconstruction", "tmp"]
    assert parts[-1] == "{fileName}" and str(uuid.UUID(parts[-2])) == parts[-2]


def test_resource_uuid_must_be_the_batch(served, photos):
    tok, files = _uploaded(served, photos[:3])
    doc = _bind(served, str(uuid.uuid4()), tok, files)  # what terranb used to send
    assert doc["code"] == E.FH2_NOT_BATCH and _batch(tok) in doc["message"], doc
    # The batch of another upload is refused too while it has no resource yet.
    other = _post(served, "/stores/obtain_token")["data"]
    assert _bind(served, _batch(other), tok, files)["code"] == E.FH2_NOT_BATCH
    # Variant 2: another letter case and blanks, normalised to the issued id.
    doc = _bind(served, f" {_batch(tok).upper()} ", tok, files[:1])
    assert doc["code"] == 0 and doc["data"]["resource_uuid"] == _batch(tok), doc
    # Live rule: the batch itself.
    assert _bind(served, _batch(tok), tok, files[1:2])["code"] == 0


def test_renewed_token_continues_an_existing_resource(served, photos):
    tok, files = _uploaded(served, photos[:2])
    assert _bind(served, _batch(tok), tok, files[:1])["code"] == 0
    tok2, files2 = _uploaded(served, photos[2:3])
    doc = _bind(served, _batch(tok), tok2, files2)  # variant 3
    assert doc["code"] == 0 and doc["data"]["resource_uuid"] == _batch(tok), doc
    r = requests.get(f"{served.base_url}/openapi/v0.1/open_model/resource/{_batch(tok)}",
                     headers=served.fh2_headers(), timeout=30).json()
    assert sorted(r["data"]["file_names"]) == sorted([files[0]["name"], files2[0]["name"]])


def test_at_most_100_files_per_callback(served, photos):
    tok, files = _uploaded(served, photos[:1])
    many = [{"name": f"IMG_{i:04d}.JPG", "etag": "0" * 32} for i in range(101)]
    doc = _bind(served, _batch(tok), tok, many)
    assert doc["code"] == E.FH2_TOO_MANY_FILES and "at most 100" in doc["message"], doc
    # Nothing half done: the resource was not created.
    assert _bind(served, _batch(tok), tok, files)["data"]["upload_count"] == 1


def test_requested_models_count_against_the_limit(served, photos):
    tok, files = _uploaded(served, photos[:6])
    ruuid = _batch(tok)
    assert _bind(served, ruuid, tok, files)["code"] == 0
    slow = json.dumps({"parameter": {"quality_level": 1}})
    first = _post(served, "/models/reconstruction/start",
                  {"resource_uuid": ruuid, "parameter_3d": slow})
    assert first["code"] == 0, first
    try:
        doc = _post(served, "/models/reconstruction/start",
                    {"resource_uuid": ruuid, "parameter_2d": PARAM, "parameter_3d": PARAM})
        assert doc["code"] == E.FH2_TOO_MANY, doc  # 1 running + 2 requested > 2
        assert "1 reconstruction task(s) running and 2 requested" in doc["message"]
        running = requests.get(f"{served.base_url}/openapi/v0.1/open_model/models/running",
                               headers=served.fh2_headers(), timeout=30).json()["data"]["list"]
        assert [m["model_uuid"] for m in running] == [first["data"]["model_3d"]["uuid"]]
    finally:
        _post(served, f"/models/{first['data']['model_3d']['uuid']}/reconstruction/stop")
    both = _post(served, "/models/reconstruction/start",
                 {"resource_uuid": ruuid, "parameter_2d": PARAM, "parameter_3d": PARAM})
    assert both["code"] == 0 and set(both["data"]) == {"model_2d", "model_3d"}
    for ref in both["data"].values():
        _post(served, f"/models/{ref['uuid']}/reconstruction/stop")


def test_unknown_routes_get_the_flighthub_envelope(served):
    for method, path in (("GET", "/openapi/v0.1/no-such-thing"),
                         ("GET", "/openapi/v2.0/open_model/nope"),
                         ("POST", "/openapi/v0.1/flight-task/x/y/z"),
                         ("PATCH", "/openapi/v0.1/open_model/models/running")):
        r = requests.request(method, served.base_url + path, headers=served.fh2_headers(),
                             timeout=30)
        assert r.status_code in (404, 405), (path, r.status_code)
        doc = r.json()
        assert set(doc) == {"code", "message", "data"}, doc
        assert doc["code"] == E.FH2_NO_ROUTE and path in doc["message"]

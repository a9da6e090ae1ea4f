"""Cloud API demo: login/refresh JWT, 401 empty body, sts, media callback, fingerprints, 302."""

from __future__ import annotations

import time

import jwt
import pytest
import requests
from emu_helpers import s3_client

WS = "e3dea0f5-37f2-4d79-ae58-490af3228069"


def _login(served, username="adminPC", password="adminPC", flag=1):
    r = requests.post(
        f"{served.base_url}/manage/api/v1/login",
        json={"username": username, "password": password, "flag": flag},
        timeout=10,
    )
    assert r.status_code == 200
    return r.json()


# DJI's published demo secret is 14 bytes; PyJWT warns about that in this test's own calls.
@pytest.mark.filterwarnings("ignore:The HMAC key is")
def test_login_and_refresh(served):
    doc = _login(served)
    assert doc["code"] == 0 and doc["message"] == "success"
    data = doc["data"]
    assert data["workspace_id"] == WS and data["user_type"] == 1 and data["username"] == "adminPC"
    claims = jwt.decode(data["access_token"], "CloudApiSample", algorithms=["HS256"])
    assert claims["iss"] == "DJI" and claims["username"] == "adminPC" and claims["user_type"] == "1"
    assert _login(served, "pilot", "pilot123", 2)["code"] == 0
    assert _login(served, "nobody", "x")["message"] == "invalid username"
    assert _login(served, "adminPC", "x")["message"] == "invalid password"
    assert _login(served, "adminPC", "adminPC", 2) == {
        "code": -1,
        "message": "The account type does not match.",
    }
    r = requests.post(
        f"{served.base_url}/manage/api/v1/token/refresh",
        headers={"x-auth-token": data["access_token"]},
        timeout=10,
    )
    assert r.json()["code"] == 0 and r.json()["data"]["access_token"]
    # an expired token (valid signature) is still refreshed
    expired = jwt.encode(
        {**claims, "exp": int(time.time()) - 10}, "CloudApiSample", algorithm="HS256"
    )
    r = requests.post(
        f"{served.base_url}/manage/api/v1/token/refresh",
        headers={"x-auth-token": expired},
        timeout=10,
    )
    assert r.json()["code"] == 0
    r = requests.post(
        f"{served.base_url}/manage/api/v1/token/refresh",
        headers={"x-auth-token": "garbage"},
        timeout=10,
    )
    assert r.status_code == 401 and r.json() == {"code": -1, "message": "token is null"}


def test_401_empty_body(served):
    for method, path in (
        ("GET", f"/media/api/v1/files/{WS}/files"),
        ("POST", f"/storage/api/v1/workspaces/{WS}/sts"),
        ("POST", f"/media/api/v1/workspaces/{WS}/fast-upload"),
    ):
        for headers in ({}, {"x-auth-token": "bad"}):
            r = requests.request(method, served.base_url + path, headers=headers, timeout=10)
            assert r.status_code == 401 and r.content == b"", (path, r.content)


def test_media_flow(served, photos):
    token = _login(served)["data"]["access_token"]
    h = {"x-auth-token": token}
    base = served.base_url
    sts = requests.post(f"{base}/storage/api/v1/workspaces/{WS}/sts", headers=h, timeout=10).json()
    data = sts["data"]
    assert data["provider"] == "aws" and data["endpoint"] == served.info.s3_endpoint_url
    assert 500 < data["credentials"]["expire"] <= 600
    creds = {
        "access_key_id": data["credentials"]["access_key_id"],
        "secret_access_key": data["credentials"]["access_key_secret"],
        "session_token": data["credentials"]["security_token"],
        "region": data["region"],
    }
    key = f"{data['object_key_prefix']}/{photos[0].name}"
    s3_client(data["endpoint"], creds).put_object(
        Bucket=data["bucket"], Key=key, Body=photos[0].read_bytes()
    )
    fp = "7F78C9F1999425CB61F10E1FE206009E"
    r = requests.post(
        f"{base}/media/api/v1/workspaces/{WS}/fast-upload",
        headers=h,
        json={"fingerprint": fp, "name": photos[0].name},
        timeout=10,
    ).json()
    assert r == {"code": -1, "message": f"{fp}don't exist."}
    body = {
        "object_key": key,
        "sub_file_type": 0,
        "ext": {
            "drone_model_key": "0-67-0",
            "file_group_id": "g1",
            "is_original": True,
            "payload_model_key": "1-42-0",
            "tinny_fingerprint": "tiny1",
            "sn": "1AD3",
        },
        "fingerprint": fp,
        "name": photos[0].name,
        "path": "DJI_x",
        "metadata": {
            "absolute_altitude": 1.0,
            "created_time": "2023-01-01T20:00:00+08:00",
            "gimbal_yaw_degree": 0.0,
            "relative_altitude": 60.0,
            "shoot_position": {"lat": 22.6, "lng": 114.1},
        },
    }
    r = requests.post(
        f"{base}/media/api/v1/workspaces/{WS}/upload-callback", headers=h, json=body, timeout=10
    ).json()
    assert r == {"code": 0, "message": "success", "data": key}
    missing = dict(body, object_key="media/none.jpg")
    assert (
        requests.post(
            f"{base}/media/api/v1/workspaces/{WS}/upload-callback",
            headers=h,
            json=missing,
            timeout=10,
        ).json()["code"]
        == -1
    )
    assert (
        requests.post(
            f"{base}/media/api/v1/workspaces/{WS}/fast-upload",
            headers=h,
            json={"fingerprint": fp},
            timeout=10,
        ).json()["code"]
        == 0
    )
    r = requests.post(
        f"{base}/media/api/v1/workspaces/{WS}/files/tiny-fingerprints",
        headers=h,
        json={"tiny_fingerprints": ["tiny1", "other"]},
        timeout=10,
    ).json()
    assert r["data"] == {"tiny_fingerprints": ["tiny1"]}
    r = requests.post(
        f"{base}/media/api/v1/workspaces/{WS}/group-upload-callback",
        headers=h,
        json={"file_group_id": "g1", "file_count": 1, "file_uploaded_count": 1},
        timeout=10,
    )
    assert r.status_code == 200 and r.content == b""
    listed = requests.get(
        f"{base}/media/api/v1/files/{WS}/files?page=1&page_size=10", headers=h, timeout=10
    ).json()["data"]
    assert listed["pagination"] == {"page": 1, "page_size": 10, "total": 1}
    item = listed["list"][0]
    assert item["object_key"] == key and item["drone"] == "1AD3" and item["job_id"] == "g1"
    r = requests.get(
        f"{base}/media/api/v1/files/{WS}/file/{item['file_id']}/url",
        headers=h,
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 302
    assert requests.get(r.headers["location"], timeout=10).content == photos[0].read_bytes()
    r = requests.get(f"{base}/media/api/v1/files/{WS}/file/nope/url", headers=h, timeout=10).json()
    assert r == {"code": -1, "message": "{} doesn't exist."}

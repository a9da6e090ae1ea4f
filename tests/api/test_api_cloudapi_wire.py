"""Wire tests for CloudApiClient (protocol.md §4, seed 003)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from _api_helpers import CA_BASE, CA_PASSWORD, CA_TOKEN, CA_TOKEN2

from terranb.api.cloudapi import CloudApiClient
from terranb.errors import AuthenticationError, ConfigError, NotFoundError

WS = "e3dea0f5-37f2-4d79-ae58-490af3228069"
USER = {"user_id": "a1559e7c-8dd8-4780-b952-100cc4797da2", "username": "adminPC",
        "workspace_id": WS, "user_type": 1, "mqtt_username": "admin",
        "mqtt_password": "admin-mqtt-pw", "access_token": CA_TOKEN,
        "mqtt_addr": "tcp://127.0.0.1:1883"}
MEDIA = {"file_id": "mf-1", "file_name": "DJI_1.JPG", "file_path": "DJI_202208311455_008",
         "object_key": "media/DJI_1.JPG", "is_original": True, "drone": "1AD3CA2VL3LAD6",
         "payload": "M3E Camera", "tinny_fingerprint": "297f_2022", "fingerprint": "7F78",
         "create_time": "2023-01-01 20:00:00", "job_id": "g-1"}
# Seed 003's example with sub_file_type as the int the demo's enum serialises to.
SEED_CALLBACK = {
    "object_key": "media/DJI_20220831151616_0004_W_Waypoint4.JPG", "sub_file_type": 0,
    "ext": {"drone_model_key": "0-67-0", "file_group_id": "string", "is_original": True,
            "payload_model_key": "1-42-0",
            "tinny_fingerprint": "297f490b0252690d3f93841818567cc6_2022_8_31_15_16_16",
            "sn": "1AD3CA2VL3LAD6"},
    "fingerprint": "7F78C9F1999425CB61F10E1FE206009E",
    "name": "DJI_20220831151616_0004_W_Waypoint4.JPG", "path": "DJI_202208311455_008_Waypoint1",
    "metadata": {"absolute_altitude": -36.889, "created_time": "2023-01-01T20:00:00+08:00",
                 "gimbal_yaw_degree": -4.3,
                 "shoot_position": {"lat": 22.577666, "lng": 113.943194},
                 "relative_altitude": 100.001}}


def env(data: Any = "", code: int = 0, message: str = "success") -> dict[str, Any]:
    return {"code": code, "message": message, "data": data}


@pytest.fixture
def logged_in(ca: CloudApiClient, rm: responses.RequestsMock) -> CloudApiClient:
    rm.add("POST", f"{CA_BASE}/manage/api/v1/login", json=env(USER))
    ca.login()
    rm.calls.reset()
    return ca


def test_login_wire(ca: CloudApiClient, rm: responses.RequestsMock) -> None:
    rm.add("POST", f"{CA_BASE}/manage/api/v1/login", json=env(USER))
    user = ca.login()
    req = rm.calls[0].request
    assert req.body == json.dumps({"username": "adminPC", "password": CA_PASSWORD,
                                   "flag": 1}).encode()
    assert req.headers["Content-Type"] == "application/json"
    assert "x-auth-token" not in {k.lower() for k in req.headers}
    assert user.workspace_id == WS and ca.workspace_id == WS
    assert CA_TOKEN not in repr(user) and "admin-mqtt-pw" not in repr(user)


@pytest.mark.parametrize(("code", "message", "hint"), [
    (401, "invalid username", "username and password"),
    (401, "invalid password", "username and password"),
    (-1, "The account type does not match.", "1 = web user, 2 = pilot"),
])
def test_login_failures(code: int, message: str, hint: str, ca: CloudApiClient,
                        rm: responses.RequestsMock) -> None:
    rm.add("POST", f"{CA_BASE}/manage/api/v1/login", json={"code": code, "message": message})
    with pytest.raises(AuthenticationError, match=hint):
        ca.login()


def test_refresh_wire(logged_in: CloudApiClient, rm: responses.RequestsMock) -> None:
    rm.add("POST", f"{CA_BASE}/manage/api/v1/token/refresh",
           json=env({**USER, "access_token": CA_TOKEN2}))
    logged_in.refresh()
    req = rm.calls[0].request
    assert req.headers["x-auth-token"] == CA_TOKEN and not req.body
    assert logged_in._token == CA_TOKEN2


def test_list_media_paged(logged_in: CloudApiClient, rm: responses.RequestsMock) -> None:
    url = f"{CA_BASE}/media/api/v1/files/{WS}/files"
    for p in (1, 2):
        rm.add("GET", url, json=env({"list": [{**MEDIA, "file_id": f"mf-{p}a"},
                                              {**MEDIA, "file_id": f"mf-{p}b"}][: 2 if p == 1
                                                                                else 1],
                                     "pagination": {"page": p, "page_size": 2, "total": 3}}),
               match=[responses.matchers.query_param_matcher({"page": str(p),
                                                              "page_size": "2"})])
    items = list(logged_in.list_media(page_size=2))
    assert [m.file_id for m in items] == ["mf-1a", "mf-1b", "mf-2a"]
    assert items[0].create_time is not None and items[0].create_time.year == 2023
    assert [c.request.url for c in rm.calls] == [f"{url}?page=1&page_size=2",
                                                 f"{url}?page=2&page_size=2"]
    assert all(c.request.headers["x-auth-token"] == CA_TOKEN for c in rm.calls)


def test_download_url_returns_location_without_following(logged_in: CloudApiClient,
                                                         rm: responses.RequestsMock) -> None:
    presigned = "https://bucket.oss.example/media/DJI_1.JPG?Expires=1&Signature=abc"
    rm.add("GET", f"{CA_BASE}/media/api/v1/files/{WS}/file/mf-1/url", status=302,
           headers={"Location": presigned})
    assert logged_in.media_download_url(None, "mf-1") == presigned
    assert len(rm.calls) == 1


def test_download_url_unknown_file(logged_in: CloudApiClient, rm: responses.RequestsMock) -> None:
    rm.add("GET", f"{CA_BASE}/media/api/v1/files/{WS}/file/nope/url",
           json={"code": -1, "message": "{} doesn't exist."})
    with pytest.raises(NotFoundError):
        logged_in.media_download_url(WS, "nope")


def test_fast_upload(logged_in: CloudApiClient, rm: responses.RequestsMock) -> None:
    url = f"{CA_BASE}/media/api/v1/workspaces/{WS}/fast-upload"
    rm.add("POST", url, json=env())
    rm.add("POST", url, json={"code": -1, "message": "7F78don't exist."})
    ext = {"sn": "1AD3", "drone_model_key": "0-67-0", "is_original": True,
           "payload_model_key": "1-42-0", "tinny_fingerprint": "t"}
    assert logged_in.fast_upload(WS, "7F78", "a.JPG", ext, path="p") is True
    assert logged_in.fast_upload(WS, "7F78", "a.JPG", ext) is False
    body = rm.calls[0].request.body
    assert body == json.dumps({"ext": {"drone_model_key": "0-67-0", "is_original": True,
                                       "payload_model_key": "1-42-0", "tinny_fingerprint": "t",
                                       "sn": "1AD3"},
                               "fingerprint": "7F78", "name": "a.JPG", "path": "p"}).encode()


def test_upload_callback_exact_seed_body(logged_in: CloudApiClient,
                                         rm: responses.RequestsMock) -> None:
    rm.add("POST", f"{CA_BASE}/media/api/v1/workspaces/{WS}/upload-callback",
           json=env(SEED_CALLBACK["object_key"]))
    s = SEED_CALLBACK
    # keys given in a scrambled order come out in the seed's order
    key = logged_in.upload_callback(
        WS, metadata=dict(reversed(list(s["metadata"].items()))),
        ext=dict(reversed(list(s["ext"].items()))), name=s["name"], fingerprint=s["fingerprint"],
        object_key=s["object_key"], path=s["path"], sub_file_type="NORMAL")
    req = rm.calls[0].request
    assert req.body == json.dumps(SEED_CALLBACK).encode()
    assert req.headers["x-auth-token"] == CA_TOKEN
    assert key == s["object_key"]


def test_tiny_fingerprints_and_group_callback(logged_in: CloudApiClient,
                                              rm: responses.RequestsMock) -> None:
    rm.add("POST", f"{CA_BASE}/media/api/v1/workspaces/{WS}/files/tiny-fingerprints",
           json=env({"tiny_fingerprints": ["b"]}))
    rm.add("POST", f"{CA_BASE}/media/api/v1/workspaces/{WS}/group-upload-callback",
           body="", status=200)
    assert logged_in.tiny_fingerprints(WS, ["a", "b"]) == ["b"]
    assert rm.calls[0].request.body == b'{"tiny_fingerprints": ["a", "b"]}'
    assert logged_in.group_upload_callback(WS, "g-1", 3, 2) is None
    assert rm.calls[1].request.body == (b'{"file_group_id": "g-1", "file_count": 3, '
                                        b'"file_uploaded_count": 2}')


def test_sts(logged_in: CloudApiClient, rm: responses.RequestsMock) -> None:
    rm.add("POST", f"{CA_BASE}/storage/api/v1/workspaces/{WS}/sts", json=env({
        "bucket": "cloudapi-bucket",
        "credentials": {"access_key_id": "AKID", "access_key_secret": "sts-secret", "expire": 3600,
                        "security_token": "sts-token"},
        "endpoint": "https://oss-cn-hangzhou.aliyuncs.com", "object_key_prefix": "wayline",
        "provider": "ali", "region": "cn-hangzhou"}))
    creds = logged_in.sts()
    assert not rm.calls[0].request.body
    assert creds.is_oss and creds.bucket == "cloudapi-bucket"
    assert creds.expire_time == 1_700_000_000.0 + 3600
    assert creds.key_for("x.JPG") == "wayline/x.JPG"


def test_401_refreshes_once_and_replays(logged_in: CloudApiClient,
                                        rm: responses.RequestsMock) -> None:
    url = f"{CA_BASE}/storage/api/v1/workspaces/{WS}/sts"
    rm.add("POST", url, status=401, body="")
    rm.add("POST", f"{CA_BASE}/manage/api/v1/token/refresh",
           json=env({**USER, "access_token": CA_TOKEN2}))
    rm.add("POST", url, json=env({"bucket": "b", "credentials": {}, "provider": "aws"}))
    assert logged_in.sts().bucket == "b"
    tokens = [c.request.headers.get("x-auth-token") for c in rm.calls]
    assert tokens == [CA_TOKEN, CA_TOKEN, CA_TOKEN2]


def test_401_twice_gives_clear_error(rm: responses.RequestsMock) -> None:
    c = CloudApiClient(CA_BASE, access_token=CA_TOKEN, workspace_id=WS)
    url = f"{CA_BASE}/storage/api/v1/workspaces/{WS}/sts"
    rm.add("POST", url, status=401, body="")
    rm.add("POST", f"{CA_BASE}/manage/api/v1/token/refresh", status=401,
           json={"code": -1, "message": "token is null"})
    with pytest.raises(AuthenticationError, match=r"token is null.*log in again"):
        c.sts()


def test_401_empty_body_without_credentials(rm: responses.RequestsMock) -> None:
    c = CloudApiClient(CA_BASE, workspace_id=WS)
    rm.add("GET", f"{CA_BASE}/media/api/v1/files/{WS}/files", status=401, body="")
    with pytest.raises(AuthenticationError, match="missing or invalid x-auth-token"):
        list(c.list_media())
    assert len(rm.calls) == 1


def test_auto_login_when_no_token(ca: CloudApiClient, rm: responses.RequestsMock) -> None:
    rm.add("POST", f"{CA_BASE}/manage/api/v1/login", json=env(USER))
    rm.add("GET", f"{CA_BASE}/media/api/v1/files/{WS}/files",
           json=env({"list": [], "pagination": {"page": 1, "page_size": 10, "total": 0}}))
    assert list(ca.list_media()) == []
    assert [c.request.url.split("?")[0] for c in rm.calls] == [
        f"{CA_BASE}/manage/api/v1/login", f"{CA_BASE}/media/api/v1/files/{WS}/files"]


def test_login_without_password_names_what_is_missing_and_the_fix() -> None:
    c = CloudApiClient(CA_BASE, username="adminPC")
    with pytest.raises(ConfigError, match="needs a password") as info:
        c.login()
    assert "TERRANB_CLOUDAPI_PASSWORD" in str(info.value)
    assert "terranb configure --cloudapi-username" in str(info.value)
    with pytest.raises(ConfigError, match="needs a username and password"):
        CloudApiClient(CA_BASE).login()


def test_every_authenticated_call_exact_method_url_and_headers(
        logged_in: CloudApiClient, rm: responses.RequestsMock) -> None:
    ws = f"{CA_BASE}/media/api/v1/workspaces/{WS}"
    rm.add("GET", f"{CA_BASE}/media/api/v1/files/{WS}/files",
           json=env({"list": [], "pagination": {"page": 1, "page_size": 10, "total": 0}}))
    rm.add("GET", f"{CA_BASE}/media/api/v1/files/{WS}/file/mf-1/url", status=302,
           headers={"Location": "https://b.example/k"})
    for path in ("fast-upload", "upload-callback", "files/tiny-fingerprints",
                 "group-upload-callback"):
        rm.add("POST", f"{ws}/{path}", json=env({}))
    rm.add("POST", f"{CA_BASE}/storage/api/v1/workspaces/{WS}/sts", json=env({
        "bucket": "b", "provider": "aws", "region": "r", "credentials": {
            "access_key_id": "a", "access_key_secret": "s", "expire": 60,
            "security_token": "t"}}))
    list(logged_in.list_media())
    logged_in.media_download_url(None, "mf-1")
    logged_in.fast_upload(None, "fp", "a.JPG", {"sn": "1"})
    logged_in.upload_callback(None, object_key="k", name="a.JPG", fingerprint="fp",
                              ext={"sn": "1"}, metadata={"relative_altitude": 1.0})
    logged_in.tiny_fingerprints(None, ["t"])
    logged_in.group_upload_callback(None, "g", 1, 1)
    logged_in.sts()
    seen = [(c.request.method, c.request.url, c.request.headers.get("x-auth-token"),
             c.request.headers.get("Content-Type")) for c in rm.calls]
    json_ct = "application/json"
    assert seen == [
        ("GET", f"{CA_BASE}/media/api/v1/files/{WS}/files?page=1&page_size=10", CA_TOKEN, None),
        ("GET", f"{CA_BASE}/media/api/v1/files/{WS}/file/mf-1/url", CA_TOKEN, None),
        ("POST", f"{ws}/fast-upload", CA_TOKEN, json_ct),
        ("POST", f"{ws}/upload-callback", CA_TOKEN, json_ct),
        ("POST", f"{ws}/files/tiny-fingerprints", CA_TOKEN, json_ct),
        ("POST", f"{ws}/group-upload-callback", CA_TOKEN, json_ct),
        ("POST", f"{CA_BASE}/storage/api/v1/workspaces/{WS}/sts", CA_TOKEN, None),
    ]
    assert json.loads(rm.calls[3].request.body) == {
        "object_key": "k", "sub_file_type": 0, "ext": {"sn": "1"}, "fingerprint": "fp",
        "name": "a.JPG", "metadata": {"relative_altitude": 1.0}}

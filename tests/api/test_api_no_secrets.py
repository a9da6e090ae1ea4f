"""Secrets (SK, STS keys, user tokens, x-auth-token, passwords, presigned query
strings) never reach log lines, reprs or exception texts, at DEBUG level."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests
import responses
from _api_helpers import (
    AK,
    CA_BASE,
    CA_PASSWORD,
    CA_TOKEN,
    CA_TOKEN2,
    FH_TOKEN,
    FH_US,
    SK,
    US,
    ok,
)

from terranb.api.cloudapi import CloudApiClient
from terranb.api.flighthub import FlightHubClient
from terranb.api.session import redact_url
from terranb.api.terra import TerraClient
from terranb.config import Settings

STS_SECRET = "STS-secret-access-key-0a9b8c"
STS_SESSION = "STS-session-token-1d2e3f"
PRESIGNED_SIG = "presigned-sig-5e6f7a"
SECRETS = [SK, FH_TOKEN, CA_PASSWORD, CA_TOKEN, CA_TOKEN2, STS_SECRET, STS_SESSION, PRESIGNED_SIG]
P = "/terra-rescon-be"
WS = "ws-1"


def _drive_terra(rm: responses.RequestsMock, texts: list[str]) -> list[Any]:
    rm.add("POST", f"{US}{P}/v2/store/obtain_token", json=ok({
        "cloudName": "aws_s3", "accessKeyID": "ASIA1", "secretAccessKey": STS_SECRET,
        "sessionToken": STS_SESSION, "region": "us-east-1", "cloudBucketName": "b",
        "storePath": "p/{fileName}", "callbackParam": "cb", "expireTime": 1}))
    rm.add("GET", f"{US}{P}/v2/files/f-1", json=ok({
        "uuid": "f-1", "name": "a.tif",
        "url": f"https://b.s3.amazonaws.com/a.tif?X-Amz-Signature={PRESIGNED_SIG}"}))
    rm.add("GET", f"{US}{P}/v2/files", json=ok({"list": [], "page": 1, "rows": 100, "total": 0}),
           match=[responses.matchers.query_param_matcher(
               {"page": "1", "rows": "100", "needURL": "true"})])
    rm.add("GET", f"{US}{P}/v2/jobs/j-1", status=401,
           json={"message": "HMAC signature does not match"})
    rm.add("POST", f"{US}{P}/v2/jobs", status=429,
           json={"result": {"code": 801, "msg": "too many requests: jobs over limit"}})
    rm.add("GET", f"{US}{P}/v2/jobs/j-2", body=requests.exceptions.ConnectionError("reset"))
    c = TerraClient(AK, SK, sleep=lambda s: None)
    objs: list[Any] = [c, c.store, c.jobs, c.session, c.settings]
    objs.append(c.store.obtain_token())
    objs.append(c.files.get("f-1"))
    list(c.files.list(need_url=True))
    for call in (lambda: c.jobs.get("j-1"), lambda: c.jobs.create("x"),
                 lambda: c.jobs.get("j-2")):
        with pytest.raises(Exception) as info:
            call()
        texts.append(str(info.value))
        texts.append(repr(info.value))
    return objs


def _drive_flighthub(rm: responses.RequestsMock, texts: list[str]) -> list[Any]:
    base = f"{FH_US}/openapi/v0.1/open_model"
    rm.add("POST", f"{base}/stores/obtain_token", json={"code": 0, "message": "", "data": {
        "cloud_name": "ali", "access_key_id": "STS.1", "secret_access_key": STS_SECRET,
        "session_token": STS_SESSION, "region": "r", "cloud_bucket_name": "b",
        "callback_param": "cb", "store_path": "{fileName}", "expire_time": 1}})
    rm.add("GET", f"{base}/models/m-1", status=401, json={"code": 401, "message": "bad token"})
    rm.add("GET", f"{base}/models/running", json={"code": 1234, "message": "denied"})
    c = FlightHubClient(FH_TOKEN, "prj", region="us", sleep=lambda s: None)
    objs: list[Any] = [c, c.session, c.settings, c.obtain_token()]
    for call in (lambda: c.get_model("m-1"), c.running_models):
        with pytest.raises(Exception) as info:
            call()
        texts.append(str(info.value))
    return objs


def _drive_cloudapi(rm: responses.RequestsMock, texts: list[str]) -> list[Any]:
    user = {"user_id": "u", "username": "adminPC", "workspace_id": WS, "user_type": 1,
            "mqtt_password": CA_PASSWORD, "access_token": CA_TOKEN}
    rm.add("POST", f"{CA_BASE}/manage/api/v1/login", json={"code": 0, "data": user})
    rm.add("POST", f"{CA_BASE}/storage/api/v1/workspaces/{WS}/sts", status=401, body="")
    rm.add("POST", f"{CA_BASE}/manage/api/v1/token/refresh",
           json={"code": 0, "data": {**user, "access_token": CA_TOKEN2}})
    rm.add("POST", f"{CA_BASE}/storage/api/v1/workspaces/{WS}/sts", json={"code": 0, "data": {
        "bucket": "b", "provider": "aws", "region": "r", "credentials": {
            "access_key_id": "AK1", "access_key_secret": STS_SECRET, "expire": 60,
            "security_token": STS_SESSION}}})
    rm.add("GET", f"{CA_BASE}/media/api/v1/files/{WS}/file/mf/url", status=302,
           headers={"Location": f"https://oss.example/x?Signature={PRESIGNED_SIG}"})
    rm.add("POST", f"{CA_BASE}/media/api/v1/workspaces/{WS}/fast-upload", status=401, body="")
    rm.add("POST", f"{CA_BASE}/manage/api/v1/token/refresh", status=401,
           json={"code": -1, "message": "token is null"})
    rm.add("POST", f"{CA_BASE}/manage/api/v1/login", json={"code": 401,
                                                           "message": "invalid password"})
    c = CloudApiClient(CA_BASE, username="adminPC", password=CA_PASSWORD, sleep=lambda s: None)
    objs: list[Any] = [c, c.login(), c.sts(), c.settings]
    assert c.media_download_url(None, "mf").endswith(PRESIGNED_SIG)  # returned, not logged
    with pytest.raises(Exception) as info:
        c.fast_upload(None, "fp", "n", {})
    texts.append(str(info.value))
    objs.append(c)
    return objs


def test_no_secret_in_logs_reprs_or_errors(rm: responses.RequestsMock,
                                           caplog: pytest.LogCaptureFixture) -> None:
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):
        # urllib3 logs the request line at DEBUG too; it must not carry secrets either.
        objs = _drive_terra(rm, texts) + _drive_flighthub(rm, texts) + _drive_cloudapi(rm, texts)
    texts += [repr(o) for o in objs] + [str(o) for o in objs]
    texts += [r.getMessage() for r in caplog.records]
    assert any("GET /terra-rescon-be/v2/files/f-1 -> 200" in t for t in texts)  # logs exist
    assert len(caplog.records) > 10
    blob = "\n".join(texts)
    for secret in SECRETS:
        assert secret not in blob, f"secret {secret!r} leaked"


def test_settings_repr_masks_secrets() -> None:
    s = Settings.load(app_key=AK, secret_key=SK, fh2_user_token=FH_TOKEN,
                      cloudapi_password=CA_PASSWORD)
    for text in (repr(s), str(s), str(s.to_dict())):
        assert SK not in text and FH_TOKEN not in text and CA_PASSWORD not in text
    assert AK in repr(s)  # the AK is not a secret (it travels in clear in every header)


def test_redact_url() -> None:
    url = ("https://bucket.s3.amazonaws.com/k.tif?X-Amz-Algorithm=AWS4&X-Amz-Credential=AKIA%2F1"
           f"&X-Amz-Security-Token=tok&X-Amz-Signature={PRESIGNED_SIG}&partNumber=2")
    red = redact_url(url)
    assert PRESIGNED_SIG not in red and "tok&" not in red and "AKIA" not in red
    assert "partNumber=2" in red and "X-Amz-Algorithm=AWS4" in red
    oss = redact_url("https://b.oss.example/k?OSSAccessKeyId=LTAI&Expires=1&Signature=s%2Bx"
                     "&security-token=st")
    assert "LTAI" not in oss and "s%2Bx" not in oss and "st" not in oss.split("security-token=")[1]

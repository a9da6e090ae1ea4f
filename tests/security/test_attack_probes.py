"""Attack battery against the emulator: every probe asserts the status and the error code.

Gateway (TerraAPI HMAC, Kong hmac-auth as configured for DJI), the S3 endpoint's
STS policy (bucket + storePath prefix), presigned URLs, Cloud API JWTs and
FlightHub 2 organisation keys. Positive controls sit next to the probes, so a
probe cannot pass because everything is refused.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import pytest
import requests

pytest.importorskip("boto3")

from emu_helpers import s3_client

from terranb.api.signing import (
    MSG_BAD_DATE,
    MSG_CANNOT_VERIFY,
    MSG_MISMATCH,
    MSG_UNAUTHORIZED,
    body_digest,
    http_date,
    sign,
)
from terranb.emulator.config import FH2_BUCKET, TERRA_BUCKET

pytestmark = pytest.mark.served

P = "/terra-rescon-be/v2"
BODY = b'{"name": "probe"}'


# ---------------------------------------------------------------- gateway helpers
def _auth(ak: str, sk: str, names: list[str], lines: list[str], algorithm: str = "hmac-sha256",
          digestmod: Any = hashlib.sha256) -> str:
    sig = base64.b64encode(hmac.new(sk.encode(), "\n".join(lines).encode(), digestmod).digest())
    return (f'hmac username="{ak}", algorithm="{algorithm}", headers="{" ".join(names)}", '
            f'signature="{sig.decode()}"')


def _send(served: Any, method: str, target: str, headers: dict[str, str],
          body: bytes = b"") -> requests.Response:
    return requests.request(method, served.base_url + target, data=body,
                            headers={"Content-Type": "application/json", **headers}, timeout=10)


def _gateway(r: requests.Response, message: str) -> None:
    assert r.status_code == 401, (r.status_code, r.text)
    assert r.json() == {"message": message}


@pytest.fixture(scope="module")
def terra(served: Any) -> Any:
    return served.terra()


def test_control_quickstart_signature_is_accepted(served, terra):
    h = sign("POST", f"{P}/jobs", BODY, terra.app_key, terra.secret_key)
    r = _send(served, "POST", f"{P}/jobs", h, BODY)
    assert r.status_code == 200 and r.json()["result"]["code"] == 0


def test_control_request_line_variant_is_accepted(served, terra):
    date = http_date()
    digest = f"SHA-256={body_digest(b'')}"
    auth = _auth(terra.app_key, terra.secret_key, ["date", "request-line", "digest"],
                 [f"date: {date}", f"GET {P}/jobs HTTP/1.1", f"digest: {digest}"])
    r = _send(served, "GET", f"{P}/jobs", {"Date": date, "Digest": digest, "Authorization": auth})
    assert r.status_code == 200, r.text


def test_probe_date_only_signature_on_a_body(served, terra):
    date = http_date()
    auth = _auth(terra.app_key, terra.secret_key, ["date"], [f"date: {date}"])
    r = _send(served, "POST", f"{P}/jobs", {"Date": date, "Authorization": auth}, BODY)
    _gateway(r, MSG_CANNOT_VERIFY)


def test_probe_date_only_signature_replayed_as_delete(served, terra):
    job = terra.ok("POST", "/jobs", {"name": "victim"})["uuid"]
    date = http_date()
    auth = _auth(terra.app_key, terra.secret_key, ["date"], [f"date: {date}"])
    r = _send(served, "DELETE", f"{P}/jobs/{job}", {"Date": date, "Authorization": auth})
    _gateway(r, MSG_CANNOT_VERIFY)
    assert terra.ok("GET", f"/jobs/{job}")["uuid"] == job  # still there


def test_probe_empty_header_list_is_no_credential(served, terra):
    auth = _auth(terra.app_key, terra.secret_key, [], [])
    r = _send(served, "GET", f"{P}/jobs", {"Date": http_date(), "Authorization": auth})
    _gateway(r, MSG_CANNOT_VERIFY)


def test_probe_body_without_signed_digest(served, terra):
    date = http_date()
    auth = _auth(terra.app_key, terra.secret_key, ["date", "@request-target"],
                 [f"date: {date}", f"@request-target: post {P}/jobs"])
    r = _send(served, "POST", f"{P}/jobs", {"Date": date, "Authorization": auth}, BODY)
    _gateway(r, MSG_CANNOT_VERIFY)


def test_probe_date_not_signed(served, terra):
    digest = f"SHA-256={body_digest(b'')}"
    auth = _auth(terra.app_key, terra.secret_key, ["@request-target", "digest"],
                 [f"@request-target: get {P}/jobs", f"digest: {digest}"])
    r = _send(served, "GET", f"{P}/jobs",
              {"Date": http_date(), "Digest": digest, "Authorization": auth})
    _gateway(r, MSG_CANNOT_VERIFY)


def test_probe_unsigned_x_date_beside_a_signed_date(served, terra):
    # The skew is checked on X-Date when sent, so X-Date itself must be signed.
    h = sign("GET", f"{P}/jobs", b"", terra.app_key, terra.secret_key,
             date=http_date(time.time() - 3600))
    r = _send(served, "GET", f"{P}/jobs", {**h, "X-Date": http_date()})
    _gateway(r, MSG_CANNOT_VERIFY)


@pytest.mark.parametrize("method,path", [("GET", "/resources"), ("DELETE", "/jobs/{job}")])
def test_probe_replay_on_other_method_or_path(served, terra, method, path):
    job = terra.ok("POST", "/jobs", {"name": "replayed"})["uuid"]
    h = sign("GET", f"{P}/jobs/{job}", b"", terra.app_key, terra.secret_key)
    _gateway(_send(served, method, f"{P}{path.format(job=job)}", h), MSG_MISMATCH)
    assert terra.ok("GET", f"/jobs/{job}")["uuid"] == job


def test_probe_replay_with_another_body_same_digest(served, terra):
    h = sign("POST", f"{P}/jobs", BODY, terra.app_key, terra.secret_key)
    _gateway(_send(served, "POST", f"{P}/jobs", h, b'{"name": "evil"}'), MSG_MISMATCH)


def test_probe_replay_with_another_body_and_its_digest(served, terra):
    evil = b'{"name": "evil"}'
    h = sign("POST", f"{P}/jobs", BODY, terra.app_key, terra.secret_key)
    h["Digest"] = f"SHA-256={body_digest(evil)}"
    _gateway(_send(served, "POST", f"{P}/jobs", h, evil), MSG_MISMATCH)


def test_probe_signed_query_swapped(served, terra):
    h = sign("GET", f"{P}/jobs?page=1&rows=10", b"", terra.app_key, terra.secret_key)
    _gateway(_send(served, "GET", f"{P}/jobs?page=2&rows=10", h), MSG_MISMATCH)


@pytest.mark.parametrize("offset", [-600, 600])
def test_probe_stale_or_future_date(served, terra, offset):
    h = sign("GET", f"{P}/jobs", b"", terra.app_key, terra.secret_key,
             date=http_date(time.time() + offset))
    _gateway(_send(served, "GET", f"{P}/jobs", h), MSG_BAD_DATE)


def test_probe_unknown_app_key(served, terra):
    h = sign("GET", f"{P}/jobs", b"", "no-such-ak", terra.secret_key)
    _gateway(_send(served, "GET", f"{P}/jobs", h), MSG_CANNOT_VERIFY)


def test_probe_wrong_secret_key(served, terra):
    h = sign("GET", f"{P}/jobs", b"", terra.app_key, terra.secret_key + "x")
    _gateway(_send(served, "GET", f"{P}/jobs", h), MSG_MISMATCH)


def test_probe_unsupported_algorithm(served, terra):
    date = http_date()
    digest = f"SHA-256={body_digest(b'')}"
    auth = _auth(terra.app_key, terra.secret_key, ["date", "@request-target", "digest"],
                 [f"date: {date}", f"@request-target: get {P}/jobs", f"digest: {digest}"],
                 algorithm="hmac-md5", digestmod=hashlib.md5)
    r = _send(served, "GET", f"{P}/jobs", {"Date": date, "Digest": digest, "Authorization": auth})
    _gateway(r, MSG_CANNOT_VERIFY)


def test_probe_no_authorization(served):
    _gateway(_send(served, "GET", f"{P}/jobs", {"Date": http_date()}), MSG_UNAUTHORIZED)


# ---------------------------------------------------------------- S3 STS policy
def _code(exc: Any) -> tuple[int, str]:
    err = exc.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"]


@pytest.fixture(scope="module")
def token(terra: Any) -> dict[str, Any]:
    return dict(terra.ok("POST", "/store/obtain_token"))


@pytest.fixture(scope="module")
def s3(served: Any, token: dict[str, Any]) -> Any:
    return s3_client(served.info.s3_endpoint_url, token)


@pytest.fixture(scope="module")
def other_key(served: Any) -> str:
    """An object of another account, uploaded with that account's own keys."""
    other = served.terra()
    tok = other.ok("POST", "/store/obtain_token")
    key = tok["storePath"].replace("{fileName}", "private.jpg")
    s3_client(served.info.s3_endpoint_url, tok).put_object(Bucket=TERRA_BUCKET, Key=key,
                                                           Body=b"theirs")
    return str(key)


def _own(token: dict[str, Any], name: str) -> str:
    return str(token["storePath"].replace("{fileName}", name))


def _prefix(token: dict[str, Any]) -> str:
    return str(token["storePath"].split("{fileName}")[0])


def test_control_sts_keys_work_inside_their_store_path(s3, token):
    s3.put_object(Bucket=TERRA_BUCKET, Key=_own(token, "a/b.jpg"), Body=b"mine")
    assert s3.get_object(Bucket=TERRA_BUCKET, Key=_own(token, "a/b.jpg"))["Body"].read() == b"mine"
    listed = s3.list_objects_v2(Bucket=TERRA_BUCKET, Prefix=_prefix(token))
    assert [o["Key"] for o in listed["Contents"]] == [_own(token, "a/b.jpg")]


@pytest.mark.parametrize("where", ["bucket root", "account root", "other tmp"])
def test_probe_put_outside_store_path(s3, token, where):
    account = _prefix(token).split("/")[0]
    key = {"bucket root": "evil.jpg", "account root": f"{account}/evil.jpg",
           "other tmp": f"{account}/tmp/{uuid.uuid4()}/evil.jpg"}[where]
    with pytest.raises(Exception) as exc:
        s3.put_object(Bucket=TERRA_BUCKET, Key=key, Body=b"x")
    assert _code(exc) == (403, "AccessDenied")


def test_probe_put_into_another_account(s3, other_key):
    with pytest.raises(Exception) as exc:
        s3.put_object(Bucket=TERRA_BUCKET, Key=other_key, Body=b"overwritten")
    assert _code(exc) == (403, "AccessDenied")


def test_probe_get_and_head_outside(s3, other_key):
    with pytest.raises(Exception) as exc:
        s3.get_object(Bucket=TERRA_BUCKET, Key=other_key)
    assert _code(exc) == (403, "AccessDenied")
    with pytest.raises(Exception) as exc:
        s3.head_object(Bucket=TERRA_BUCKET, Key=other_key)
    assert _code(exc)[0] == 403


@pytest.mark.parametrize("prefix", [None, "", "other-account/"])
def test_probe_list_outside(s3, prefix):
    kwargs = {"Bucket": TERRA_BUCKET} | ({} if prefix is None else {"Prefix": prefix})
    with pytest.raises(Exception) as exc:
        s3.list_objects_v2(**kwargs)
    assert _code(exc) == (403, "AccessDenied")


def test_probe_list_multipart_uploads_of_the_bucket(s3):
    with pytest.raises(Exception) as exc:
        s3.list_multipart_uploads(Bucket=TERRA_BUCKET)
    assert _code(exc) == (403, "AccessDenied")


def test_probe_delete_outside(s3, other_key):
    with pytest.raises(Exception) as exc:
        s3.delete_object(Bucket=TERRA_BUCKET, Key=other_key)
    assert _code(exc) == (403, "AccessDenied")


def test_probe_delete_objects_batch(s3, other_key):
    with pytest.raises(Exception) as exc:
        s3.delete_objects(Bucket=TERRA_BUCKET, Delete={"Objects": [{"Key": other_key}]})
    assert _code(exc) == (403, "AccessDenied")


def test_probe_multipart_outside(s3, other_key):
    with pytest.raises(Exception) as exc:
        s3.create_multipart_upload(Bucket=TERRA_BUCKET, Key=other_key)
    assert _code(exc) == (403, "AccessDenied")
    with pytest.raises(Exception) as exc:
        s3.upload_part(Bucket=TERRA_BUCKET, Key=other_key, UploadId="forged", PartNumber=1,
                       Body=b"x")
    assert _code(exc) == (403, "AccessDenied")


def test_probe_copy_from_another_account(s3, token, other_key):
    with pytest.raises(Exception) as exc:
        s3.copy_object(Bucket=TERRA_BUCKET, Key=_own(token, "stolen.jpg"),
                       CopySource={"Bucket": TERRA_BUCKET, "Key": other_key})
    assert _code(exc) == (403, "AccessDenied")


@pytest.mark.parametrize("name", ["../../escape.jpg", "./a.jpg", "a/../../b.jpg"])
def test_probe_dot_segments_in_key(s3, token, name):
    with pytest.raises(Exception) as exc:
        s3.put_object(Bucket=TERRA_BUCKET, Key=_own(token, name), Body=b"x")
    assert _code(exc) == (400, "InvalidArgument")


def test_probe_absolute_key(s3):
    with pytest.raises(Exception) as exc:
        s3.put_object(Bucket=TERRA_BUCKET, Key="/etc/passwd", Body=b"x")
    assert _code(exc) == (400, "InvalidArgument")


def test_probe_terra_keys_write_into_the_flighthub_bucket(s3, token):
    with pytest.raises(Exception) as exc:
        s3.put_object(Bucket=FH2_BUCKET, Key=_own(token, "x.jpg"), Body=b"x")
    assert _code(exc) == (403, "AccessDenied")


def test_probe_flighthub_keys_write_into_the_terra_bucket(served, token):
    r = requests.post(f"{served.base_url}/openapi/v0.1/open_model/stores/obtain_token",
                      headers=served.fh2_headers(), data=b"{}", timeout=10)
    fh = r.json()["data"]
    client = s3_client(served.info.s3_endpoint_url, fh)
    with pytest.raises(Exception) as exc:
        client.put_object(Bucket=TERRA_BUCKET, Key=_own(token, "x.jpg"), Body=b"x")
    assert _code(exc) == (403, "AccessDenied")
    client.put_object(Bucket=FH2_BUCKET, Key=fh["store_path"].replace("{fileName}", "ok.jpg"),
                      Body=b"ok")  # control: its own storePath works


def test_probe_bucket_level_operations(s3):
    for call in (lambda: s3.list_buckets(), lambda: s3.create_bucket(Bucket="probe-new"),
                 lambda: s3.delete_bucket(Bucket=TERRA_BUCKET)):
        with pytest.raises(Exception) as exc:
            call()
        assert _code(exc) == (403, "AccessDenied")


def test_probe_wrong_session_token(served, token):
    bad = dict(token, sessionToken=token["sessionToken"][:-4] + "AAAA")
    with pytest.raises(Exception) as exc:
        s3_client(served.info.s3_endpoint_url, bad).put_object(
            Bucket=TERRA_BUCKET, Key=_own(token, "t.jpg"), Body=b"x")
    assert _code(exc) == (400, "InvalidToken")


def test_probe_unknown_access_key(served, token):
    bad = dict(token, accessKeyID="ASIANOSUCHKEY0000000")
    with pytest.raises(Exception) as exc:
        s3_client(served.info.s3_endpoint_url, bad).get_object(
            Bucket=TERRA_BUCKET, Key=_own(token, "a/b.jpg"))
    assert _code(exc) == (403, "InvalidAccessKeyId")


# ---------------------------------------------------------------- presigned URLs
def _presign(s3: Any, method: str, key: str) -> str:
    return str(s3.generate_presigned_url(method, Params={"Bucket": TERRA_BUCKET, "Key": key},
                                         ExpiresIn=300))


def test_probe_presigned_url_with_another_key(s3, token):
    s3.put_object(Bucket=TERRA_BUCKET, Key=_own(token, "p.jpg"), Body=b"p")
    url = _presign(s3, "get_object", _own(token, "p.jpg"))
    assert requests.get(url, timeout=10).content == b"p"  # control
    tampered = url.replace("p.jpg", "a/b.jpg")
    r = requests.get(tampered, timeout=10)
    assert r.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in r.content


def test_probe_presigned_url_with_longer_expiry(s3, token):
    import re

    url = _presign(s3, "get_object", _own(token, "p.jpg"))
    if "X-Amz-Expires=" in url:  # SigV4: a lifetime; SigV2 (boto3's default here): a time
        tampered = url.replace("X-Amz-Expires=300", "X-Amz-Expires=604800")
    else:
        tampered = re.sub(r"Expires=(\d+)", lambda m: f"Expires={int(m[1]) + 86400}", url)
    assert tampered != url
    r = requests.get(tampered, timeout=10)
    assert r.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in r.content


def test_probe_presigned_put_outside_store_path(s3, other_key):
    url = _presign(s3, "put_object", other_key)
    r = requests.put(url, data=b"overwritten", timeout=10)
    assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content


def test_probe_result_url_cannot_be_turned_into_a_write(served, terra, token, s3):
    # The emulator's own download URLs are signed with its internal key: changing the
    # method turns the signature invalid.
    s3.put_object(Bucket=TERRA_BUCKET, Key=_own(token, "r.jpg"), Body=b"r")
    res = terra.ok("POST", "/resources", {"name": "r", "type": "map"})
    etag = hashlib.md5(b"r").hexdigest()
    terra.ok("POST", "/store/upload_callback", {
        "resourceUUID": res["uuid"], "callbackParam": token["callbackParam"],
        "files": [{"name": "r.jpg", "etag": etag, "checksum": etag}]})
    files = terra.ok("GET", "/files", query=f"resourceUUID={res['uuid']}&needURL=true")
    url = (files["list"] if isinstance(files, dict) else files)[0]["url"]
    assert requests.get(url, timeout=10).content == b"r"  # control
    r = requests.put(url, data=b"replaced", timeout=10)
    assert r.status_code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in r.content


# ---------------------------------------------------------------- Cloud API JWT
def _cloud_login(served: Any) -> dict[str, Any]:
    r = requests.post(f"{served.base_url}/manage/api/v1/login",
                      json={"username": "adminPC", "password": "adminPC", "flag": 1}, timeout=10)
    return dict(r.json()["data"])


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def _media(served: Any, ws: str, token: str) -> requests.Response:
    return requests.get(f"{served.base_url}/media/api/v1/files/{ws}/files",
                        headers={"x-auth-token": token}, timeout=10)


def test_probe_jwt_alg_none(served):
    data = _cloud_login(served)
    assert _media(served, data["workspace_id"], data["access_token"]).status_code == 200
    claims = json.loads(base64.urlsafe_b64decode(data["access_token"].split(".")[1] + "=="))
    forged = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."
    r = _media(served, data["workspace_id"], forged)
    assert r.status_code == 401 and r.content == b""


@pytest.mark.filterwarnings("ignore:The HMAC key is")
def test_probe_jwt_expired_or_foreign_secret(served):
    jwt = pytest.importorskip("jwt")
    data = _cloud_login(served)
    claims = jwt.decode(data["access_token"], options={"verify_signature": False})
    expired = jwt.encode({**claims, "exp": int(time.time()) - 5}, "CloudApiSample",
                         algorithm="HS256")
    foreign = jwt.encode(claims, "not-the-demo-secret-at-all-0123456789", algorithm="HS256")
    for token in (expired, foreign):
        r = _media(served, data["workspace_id"], token)
        assert r.status_code == 401 and r.content == b""


def test_probe_cloudapi_sts_outside_media_prefix(served):
    data = _cloud_login(served)
    r = requests.post(f"{served.base_url}/storage/api/v1/workspaces/{data['workspace_id']}/sts",
                      headers={"x-auth-token": data["access_token"]}, timeout=10)
    sts = r.json()["data"]
    creds = sts["credentials"]
    client = s3_client(sts["endpoint"], {
        "access_key_id": creds["access_key_id"], "secret_access_key": creds["access_key_secret"],
        "session_token": creds["security_token"], "region": sts["region"]})
    client.put_object(Bucket=sts["bucket"], Key=f"{sts['object_key_prefix']}/ok.jpg",
                      Body=b"ok")  # control
    with pytest.raises(Exception) as exc:
        client.put_object(Bucket=sts["bucket"], Key="not-media/evil.jpg", Body=b"x")
    assert _code(exc) == (403, "AccessDenied")


# ---------------------------------------------------------------- FlightHub 2 keys
@pytest.mark.parametrize("header,value,code,status", [
    ("X-Project-Uuid", "5d0c1f55-0000-4000-8000-00000000beef", 200403, 200),  # fixed: xdist ids
    # A key that is not this organisation's: HTTP 401, as the live gateways answer
    # (flighthub2-cli's README); the envelope still carries the code.
    ("X-User-Token", "not-the-organization-key", 200401, 401),
])
def test_probe_flighthub_other_project_or_key(served, header, value, code, status):
    headers = served.fh2_headers() | {header: value}
    r = requests.post(f"{served.base_url}/openapi/v0.1/open_model/stores/obtain_token",
                      headers=headers, data=b"{}", timeout=10)
    assert r.status_code == status and r.json()["code"] == code and r.json()["data"] == {}

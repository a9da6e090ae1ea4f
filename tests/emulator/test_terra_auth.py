"""TerraAPI gateway signature checks: every negative gets the gateway's 401 {"message"}."""

from __future__ import annotations

import json
import time

import requests

from terranb.api.signing import (
    MSG_BAD_DATE,
    MSG_CANNOT_VERIFY,
    MSG_MISMATCH,
    MSG_UNAUTHORIZED,
    sign,
)

PATH = "/terra-rescon-be/v2/jobs"


def _post(served, headers, body=b'{"name": "x"}'):
    return requests.post(served.base_url + PATH, data=body, headers=headers, timeout=10)


def _assert_gateway_401(r, message):
    assert r.status_code == 401, r.text
    assert r.json() == {"message": message}


def test_valid_signature_accepted(served):
    t = served.terra()
    body = b'{"name": "test_name"}'
    r = _post(served, sign("POST", PATH, body, t.app_key, t.secret_key), body)
    assert r.status_code == 200 and r.json()["result"]["code"] == 0


def test_wrong_secret_key(served):
    t = served.terra()
    body = b'{"name": "x"}'
    _assert_gateway_401(
        _post(served, sign("POST", PATH, body, t.app_key, "wrong-sk"), body), MSG_MISMATCH
    )


def test_changed_body(served):
    t = served.terra()
    h = sign("POST", PATH, b'{"name": "x"}', t.app_key, t.secret_key)
    _assert_gateway_401(_post(served, h, b'{"name": "y"}'), MSG_MISMATCH)


def test_digest_header_altered_with_body(served):
    # A forged Digest that matches the new body but not the signature.
    t = served.terra()
    h = sign("POST", PATH, b'{"name": "x"}', t.app_key, t.secret_key)
    body = b'{"name": "evil"}'
    from terranb.api.signing import body_digest

    h["Digest"] = f"SHA-256={body_digest(body)}"
    _assert_gateway_401(_post(served, h, body), MSG_MISMATCH)


def test_date_older_than_skew(served):
    t = served.terra()
    body = b'{"name": "x"}'
    h = sign("POST", PATH, body, t.app_key, t.secret_key, date=time.time() - 301)
    _assert_gateway_401(_post(served, h, body), MSG_BAD_DATE)


def test_date_within_skew_ok(served):
    t = served.terra()
    body = b'{"name": "x"}'
    h = sign("POST", PATH, body, t.app_key, t.secret_key, date=time.time() - 200)
    assert _post(served, h, body).status_code == 200


def test_missing_headers(served):
    t = served.terra()
    body = b'{"name": "x"}'
    full = sign("POST", PATH, body, t.app_key, t.secret_key)
    _assert_gateway_401(_post(served, {}, body), MSG_UNAUTHORIZED)
    no_date = {k: v for k, v in full.items() if k != "Date"}
    _assert_gateway_401(_post(served, no_date, body), MSG_BAD_DATE)
    no_digest = {k: v for k, v in full.items() if k != "Digest"}
    _assert_gateway_401(_post(served, no_digest, body), MSG_MISMATCH)


def test_unknown_app_key(served):
    body = b'{"name": "x"}'
    _assert_gateway_401(
        _post(served, sign("POST", PATH, body, "no-such-ak", "sk"), body), MSG_CANNOT_VERIFY
    )


def test_wrong_algorithm(served):
    t = served.terra()
    body = b'{"name": "x"}'
    h = sign("POST", PATH, body, t.app_key, t.secret_key)
    h["Authorization"] = h["Authorization"].replace("hmac-sha256", "hmac-md5")
    _assert_gateway_401(_post(served, h, body), MSG_CANNOT_VERIFY)
    # a real but different algorithm than the one used to sign -> mismatch
    h = sign("POST", PATH, body, t.app_key, t.secret_key)
    h["Authorization"] = h["Authorization"].replace("hmac-sha256", "hmac-sha512")
    _assert_gateway_401(_post(served, h, body), MSG_MISMATCH)


def test_other_algorithms_and_x_date(served):
    t = served.terra()
    body = b'{"name": "x"}'
    for algo in ("hmac-sha1", "hmac-sha384", "hmac-sha512"):
        h = sign("POST", PATH, body, t.app_key, t.secret_key, algorithm=algo)
        assert _post(served, h, body).status_code == 200, algo
    h = sign("POST", PATH, body, t.app_key, t.secret_key, use_x_date=True)
    assert _post(served, h, body).status_code == 200


def test_target_with_and_without_query(served):
    t = served.terra()
    target = "/terra-rescon-be/v2/jobs?page=1&rows=5"
    for signed in (target, "/terra-rescon-be/v2/jobs"):
        h = sign("GET", signed, b"", t.app_key, t.secret_key)
        r = requests.get(served.base_url + target, headers=h, timeout=10)
        assert r.status_code == 200, (signed, r.text)
        assert r.json()["data"]["rows"] == 5
    h = sign("GET", "/terra-rescon-be/v2/jobs?page=2", b"", t.app_key, t.secret_key)
    _assert_gateway_401(requests.get(served.base_url + target, headers=h, timeout=10), MSG_MISMATCH)


def test_wrong_method_or_path_signed(served):
    t = served.terra()
    h = sign("GET", PATH, b"", t.app_key, t.secret_key)
    _assert_gateway_401(_post(served, h, b""), MSG_MISMATCH)
    h = sign("GET", "/terra-rescon-be/v2/files", b"", t.app_key, t.secret_key)
    _assert_gateway_401(requests.get(served.base_url + PATH, headers=h, timeout=10), MSG_MISMATCH)


def test_gateway_body_is_plain_json_message(served):
    r = requests.get(served.base_url + PATH, timeout=10)
    assert r.headers["content-type"].startswith("application/json")
    assert json.loads(r.content) == {"message": MSG_UNAUTHORIZED}

"""HMAC gateway signing: DJI's own openssl pipeline, the protocol.md vectors and
property tests of sign/verify (protocol.md §1.2)."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from terranb.api.signing import body_digest, http_date, sign, verify
from terranb.errors import SignatureError

DATE = "Mon, 01 Jan 2024 00:00:00 GMT"
NOW = datetime(2024, 1, 1, tzinfo=timezone.utc)

# The quick start's bash functions, unchanged except that the inputs come from
# the environment and the Authorization header is printed instead of curl'ed.
_SIGN_LINE = ('signature=$(echo -n -e "${content}" | openssl dgst -sha256 -hmac '
              '"${DJI_SECRET_KEY}" -binary | openssl enc -base64 -A)')
_SIGNED = ('request_signature=$(calculate_signature "date: ${x_date}\\n@request-target: '
           '${lower_method} ${URI}\\ndigest: SHA-256=${digest}")')
_AUTH = ('echo "Authorization: hmac username=\\"${DJI_APP_KEY}\\", algorithm=\\"hmac-sha256\\", '
         'headers=\\"date @request-target digest\\", signature=\\"${request_signature}\\""')
QUICK_START_BASH = "\n".join([
    "set -euo pipefail",
    "function calculate_signature() {",
    'content="$1"',
    _SIGN_LINE,
    "echo ${signature}",
    "}",
    "lower_method=$(echo \"${HTTP_METHOD}\" | tr '[:upper:]' '[:lower:]')",
    'digest=$(echo -n "${payload}" | openssl dgst -sha256 -binary | base64)',
    _SIGNED,
    'echo "Digest: SHA-256=${digest}"',
    _AUTH,
])

START_2D = ('{"type": 14, "resourceUuid": "r-1", "parameters": "{\\"parameter\\":{\\"map_mode\\":1,'
            '\\"quality_level\\":1,\\"output_geo_desc\\":{\\"cs_type\\":\\"GEO_CS\\",\\"geo_cs\\":'
            '\\"EPSG:32650\\",\\"geo_cs_wkt\\":\\"\\",\\"override_vertical_cs\\":\\"\\"}}}"}')


@pytest.mark.skipif(shutil.which("openssl") is None or shutil.which("bash") is None,
                    reason="openssl or bash not installed")
@pytest.mark.parametrize(("method", "uri", "payload"), [
    ("POST", "/terra-rescon-be/v2/store/obtain_token", ""),
    ("GET", "/terra-rescon-be/v2/jobs/4f2c", ""),
    ("POST", "/terra-rescon-be/v2/resources", '{"name": "test_resource", "type": "map"}'),
    ("POST", "/terra-rescon-be/v2/jobs/4f2c/start", START_2D),
    ("POST", "/terra-rescon-be/v2/jobs", '{"name": "测量 Zürich ✓"}'),
    ("GET", "/terra-rescon-be/v2/files?page=2&rows=50&needURL=true", ""),
])
def test_matches_the_quick_start_openssl_pipeline(method: str, uri: str, payload: str) -> None:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8",
           "DJI_APP_KEY": "my-app-key", "DJI_SECRET_KEY": "my/secret+key=",
           "HTTP_METHOD": method, "URI": uri, "payload": payload, "x_date": DATE}
    out = subprocess.run(["bash", "-c", QUICK_START_BASH], env=env, capture_output=True,
                         check=True).stdout.decode("utf-8").splitlines()
    ours = sign(method, uri, payload.encode("utf-8"), "my-app-key", "my/secret+key=", date=DATE)
    assert out[0] == f"Digest: {ours['Digest']}"
    assert out[1] == f"Authorization: {ours['Authorization']}"


@pytest.mark.parametrize(("method", "target", "body", "digest", "signature"), [
    ("post", "/terra-rescon-be/v2/jobs", b'{"name": "test_name"}',
     "Bx5bsUHplmvVtwoHtNDnCPKRvcapzSJOmxB4gb4joJE=",
     "lgBQfdRILXm4fXA11B8iUTCgXi+lzTHSPabtK9XUIpM="),
    ("get", "/terra-rescon-be/v2/resources?page=1&rows=10", b"",
     "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
     "9x2HjT+2usgrCj6yUTTiKI0eKClihXShG08ho30GUwE="),
    ("post", "/terra-rescon-be/v2/store/obtain_token", b"",
     "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
     "muBYTqTTX+Jp1swIfJGnxbF2pJTI/NwIY57JIx/iThI="),
])
def test_protocol_vectors(method: str, target: str, body: bytes, digest: str,
                          signature: str) -> None:
    h = sign(method, target, body, "ak", "test-sk", date=DATE)
    assert h["Digest"] == f"SHA-256={digest}"
    assert h["Authorization"].endswith(f'signature="{signature}"')
    assert h["Date"] == DATE


def test_gateway_doc_digest_and_date_format() -> None:
    assert body_digest(b"A small body") == "SBH7QEtqnYUpEcIhDbmStNd1MxtHg2+feBfWc1105MA="
    assert http_date(datetime(2017, 6, 22, 21, 12, 36, tzinfo=timezone.utc)) == \
        "Thu, 22 Jun 2017 21:12:36 GMT"


# ------------------------------------------------------------------ properties

methods = st.sampled_from(["GET", "POST", "DELETE", "PUT", "get", "post"])
segments = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=12)
paths = st.lists(segments, min_size=1, max_size=4).map(
    lambda s: "/terra-rescon-be/" + "/".join(s))
queries = st.one_of(st.just(""), st.lists(st.tuples(segments, segments), min_size=1, max_size=3)
                    .map(lambda kv: "&".join(f"{k}={v}" for k, v in kv)))
bodies = st.binary(max_size=256)
keys = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() == s and '"' not in s)
offsets = st.integers(min_value=-250, max_value=250)


def _verify(method: str, path: str, query: str, headers: dict[str, str], body: bytes,
            ak: str, sk: str, now: datetime = NOW) -> str:
    return verify(method, path, query, headers, body, {ak: sk}.get, now=now)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(method=methods, path=paths, query=queries, body=bodies, ak=keys, sk=keys, off=offsets,
       x_date=st.booleans())
def test_sign_then_verify(method: str, path: str, query: str, body: bytes, ak: str, sk: str,
                          off: int, x_date: bool) -> None:
    date = http_date(NOW.timestamp() + off)
    target = f"{path}?{query}" if query else path
    h = sign(method, target, body, ak, sk, date=date, use_x_date=x_date)
    assert _verify(method, path, query, h, body, ak, sk) == ak


@settings(max_examples=40, deadline=None)
@given(method=methods, path=paths, query=queries, body=bodies, ak=keys, sk=keys,
       which=st.sampled_from(["method", "path", "body", "date", "key", "query"]),
       x_date=st.booleans(), data=st.data())
def test_any_change_fails(method: str, path: str, query: str, body: bytes, ak: str, sk: str,
                          which: str, x_date: bool, data: st.DataObject) -> None:
    date = http_date(NOW)
    target = f"{path}?{query}" if query else path
    h = sign(method, target, body, ak, sk, date=date, use_x_date=x_date)
    v_method, v_path, v_query, v_body, v_sk = method, path, query, body, sk
    if which == "method":
        v_method = data.draw(methods.filter(lambda m: m.lower() != method.lower()))
    elif which == "path":
        v_path = path + data.draw(segments)
    elif which == "query":
        # Only a signed query is protected: like Kong, verify() also accepts a
        # signature over the bare path, so a query added later is not detected.
        assume(query)
        v_query = query + "&x=" + data.draw(segments)
    elif which == "body":
        v_body = body + data.draw(st.binary(min_size=1, max_size=8))
    elif which == "date":
        name = "X-Date" if x_date else "Date"
        h = {**h, name: http_date(NOW.timestamp() + data.draw(st.integers(1, 200)))}
    else:
        v_sk = sk + data.draw(st.text(min_size=1, max_size=4))
    with pytest.raises(SignatureError):
        _verify(v_method, v_path, v_query, h, v_body, ak, v_sk)


def test_path_only_signature_is_accepted_too() -> None:
    # Kong falls back to the bare path: a client that signs without the query passes.
    h = sign("GET", "/terra-rescon-be/v2/jobs", b"", "ak", "sk", date=DATE)
    assert _verify("GET", "/terra-rescon-be/v2/jobs", "page=1", h, b"", "ak", "sk") == "ak"


def test_clock_skew_rejected() -> None:
    h = sign("GET", "/terra-rescon-be/v2/jobs", b"", "ak", "sk", date=http_date(NOW.timestamp()
                                                                                 - 301))
    with pytest.raises(SignatureError, match="valid date"):
        _verify("GET", "/terra-rescon-be/v2/jobs", "", h, b"", "ak", "sk")

"""Bounded fuzz of the emulator's S3 endpoint (the surface the OpenAPI fuzz does not reach).

tests/emulator/test_openapi_fuzz.py covers every FastAPI route (it checks that
the served routes equal the documented ones). This fuzz sends correctly
SigV4-signed requests with STS keys and arbitrary methods, keys (dot segments,
percent signs, unicode, slashes), sub-resources and headers to the S3 proxy,
plus unsigned garbage. Faults are not injected, so any 5xx is a bug; every
answer must also be an S3 XML error or a success.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
import requests

pytest.importorskip("boto3")
hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from terranb.emulator.config import TERRA_BUCKET  # noqa: E402

pytestmark = pytest.mark.served

METHODS = st.sampled_from(["GET", "HEAD", "PUT", "POST", "DELETE"])
SUBRESOURCES = st.sampled_from(["", "uploads", "uploadId=x&partNumber=1", "list-type=2",
                                "prefix=a", "delete", "acl", "tagging", "location",
                                "versions", "partNumber=0", "uploadId="])
KEY_PART = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",),
                                          exclude_characters="\x00\r\n"),
                   min_size=0, max_size=12)
SEGMENTS = st.lists(st.one_of(KEY_PART, st.sampled_from(["..", ".", "", "%2e%2e", "~"])),
                    min_size=0, max_size=4)
BUCKETS = st.sampled_from([TERRA_BUCKET, "fh2-open-model", "", "nope", "..", "UPPER"])
BODIES = st.one_of(st.just(b""), st.binary(max_size=64),
                   st.just(b"<Delete><Object><Key>x</Key></Object></Delete>"))


@pytest.fixture(scope="module")
def signer(served: Any) -> Any:
    from botocore.auth import SigV4Auth
    from botocore.credentials import Credentials

    terra = served.terra()
    tok = terra.ok("POST", "/store/obtain_token")
    creds = Credentials(tok["accessKeyID"], tok["secretAccessKey"], tok["sessionToken"])
    return SigV4Auth(creds, "s3", tok["region"]), tok


def _signed(signer: Any, method: str, url: str, body: bytes) -> dict[str, str]:
    from botocore.awsrequest import AWSRequest

    auth, _ = signer
    req = AWSRequest(method=method, url=url, data=body,
                     headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    auth.add_auth(req)
    return dict(req.headers.items())


def _check(resp: requests.Response, what: str, failures: list[str]) -> None:
    if resp.status_code >= 500:
        failures.append(f"{what}: {resp.status_code} {resp.text[:200]}")
    elif resp.status_code >= 400 and resp.request.method != "HEAD" and (
            b"<Error>" not in resp.content):
        failures.append(f"{what}: {resp.status_code} without an S3 error document")


@pytest.mark.slow
def test_s3_endpoint_fuzz_no_server_errors(served, signer):
    base = served.info.s3_endpoint_url
    prefix = signer[1]["storePath"].split("{fileName}")[0]
    failures: list[str] = []
    count = 0
    statuses: dict[int, int] = {}

    @settings(max_examples=150, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(method=METHODS, bucket=BUCKETS, own=st.booleans(), segments=SEGMENTS,
           sub=SUBRESOURCES, body=BODIES, signed=st.integers(0, 4))
    def run(method: str, bucket: str, own: bool, segments: list[str], sub: str, body: bytes,
            signed: int) -> None:
        nonlocal count
        count += 1
        key = (prefix if own else "") + "/".join(segments)
        path = f"/{quote(bucket, safe='')}/{quote(key, safe='/%')}" if bucket else "/"
        url = base + path + (f"?{sub}" if sub else "")
        headers = _signed(signer, method, url, body) if signed else {"Authorization": "garbage"}
        try:
            resp = requests.request(method, url, data=body, headers=headers, timeout=20)
        except requests.RequestException as exc:  # the proxy must answer, not hang or reset
            failures.append(f"{method} {path}?{sub}: {type(exc).__name__}")
            return
        statuses[resp.status_code] = statuses.get(resp.status_code, 0) + 1
        _check(resp, f"{method} {path}?{sub}", failures)

    run()
    assert count >= 150
    # past authentication and policy into moto too, not only early refusals
    assert sum(n for code, n in statuses.items() if code < 300) >= 5, statuses
    assert {400, 403} <= set(statuses), statuses
    assert not failures, "\n".join(failures[:20])

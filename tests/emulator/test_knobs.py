"""--token-ttl, --job-seconds and --clock-skew change what the served emulator does."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError
from emu_helpers import bound_resource, s3_client

from terranb.api.signing import MSG_BAD_DATE


@pytest.fixture
def options(served):
    """The served emulator's live options, restored after the test."""
    opts = served.emulator.options
    saved = (opts.token_ttl, opts.job_seconds, opts.clock_skew)
    yield opts
    opts.token_ttl, opts.job_seconds, opts.clock_skew = saved


def test_token_ttl_expires_sts_credentials(served, options):
    options.token_ttl = 1.5
    t = served.terra()
    tok = t.ok("POST", "/store/obtain_token")
    assert tok["expireTime"] <= time.time() + 2
    client = s3_client(served.info.s3_endpoint_url, tok)
    key = tok["storePath"].replace("{fileName}", "a.JPG")
    client.put_object(Bucket=tok["cloudBucketName"], Key=key, Body=b"ok")
    time.sleep(2.0)
    with pytest.raises(ClientError) as info:
        client.put_object(Bucket=tok["cloudBucketName"], Key=key, Body=b"late")
    assert info.value.response["Error"]["Code"] == "ExpiredToken"


def test_job_seconds_is_the_least_duration(served, options, photos):
    options.job_seconds = 3.0
    t = served.terra()
    res = bound_resource(served, t, photos[:10])
    job = t.ok("POST", "/jobs", {"name": "slow"})["uuid"]
    t0 = time.monotonic()
    params = json.dumps({"parameter": {"quality_level": 3}})
    t.ok("POST", f"/jobs/{job}/start", {"type": 14, "resourceUuid": res, "parameters": params})
    seen: dict[int, float] = {}
    remains = []
    while True:
        j = t.ok("GET", f"/jobs/{job}")
        seen.setdefault(j["status"], j["percentage"])
        remains.append(j["remainSeconds"])
        if j["status"] in (5, 6, 7):
            break
        time.sleep(0.05)
    assert j["status"] == 6
    assert time.monotonic() - t0 >= 3.0
    assert list(seen) == [1, 2, 3, 4, 6]  # every state is visible
    assert list(seen.values()) == sorted(seen.values())
    assert max(remains) >= 2 and remains[-1] == 0


def test_clock_skew_option(served, options):
    t = served.terra()
    options.clock_skew = 10
    r = t.call("POST", "/jobs", {"name": "x"}, sign_kw={"date": time.time() - 30})
    assert r.status_code == 401 and r.json() == {"message": MSG_BAD_DATE}
    options.clock_skew = 300
    r = t.call("POST", "/jobs", {"name": "x"}, sign_kw={"date": time.time() - 30})
    assert r.status_code == 200

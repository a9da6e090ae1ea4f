"""TerraAPI error envelopes, gateway 401s and the retry rules (protocol.md §1.3)."""

from __future__ import annotations

import pytest
import requests
import responses
from _api_helpers import AK, SK, US, Sleeps, ok

from terranb.api import signing
from terranb.api.session import RetryPolicy
from terranb.api.terra import TerraClient
from terranb.errors import (
    ApiError,
    AuthenticationError,
    BillingError,
    InvalidOperationError,
    InvalidParameterError,
    JobLimitError,
    NotFoundError,
    ServerError,
    TransportError,
)

P = "/terra-rescon-be"
JOB_URL = f"{US}{P}/v2/jobs/j-1"


def err(code: int, msg: str = "", desc: str = "") -> dict:
    return {"result": {"code": code, "msg": msg, "desc": desc}}


@pytest.mark.parametrize(("status", "code", "cls", "hint_word"), [
    (401, 701, AuthenticationError, "secret key"),
    (429, 801, JobLimitError, "stop one"),
    (500, 102000, ServerError, "retry"),
    (400, 102001, InvalidParameterError, "parameter"),
    (404, 102002, NotFoundError, "does not exist"),
    (409, 102003, InvalidOperationError, "twice"),
    (404, 102114, NotFoundError, "job does not exist"),
    (402, 102116, BillingError, "billing"),
    (400, 102050, InvalidParameterError, "error-code"),
    (418, 102099, ApiError, "error-code"),
])
def test_result_codes_map_to_typed_errors(status: int, code: int, cls: type, hint_word: str,
                                          rm: responses.RequestsMock) -> None:
    c = TerraClient(AK, SK, retry=RetryPolicy(max_attempts=1))
    rm.add("POST", f"{US}{P}/v2/jobs", status=status, json=err(code, "boom", "details"))
    with pytest.raises(cls) as info:
        c.jobs.create("x")
    e = info.value
    assert type(e) is cls
    assert e.code == code and e.status_code == status
    assert "boom: details" in str(e)
    assert hint_word in str(e)


def test_real_801_body_from_the_blog(rm: responses.RequestsMock) -> None:
    c = TerraClient(AK, SK, sleep=Sleeps())
    rm.add("POST", f"{US}{P}/v2/jobs/j-1/start", status=429,
           json={"result": {"code": 801, "msg": "too many requests: jobs over limit"}})
    with pytest.raises(JobLimitError, match=r"jobs over limit.*wait for a job to finish"):
        c.jobs.start("j-1", 14, "r-1", "{}")
    assert len(rm.calls) == 1  # 801 is never retried, even though 429 usually is


def test_code_checked_even_with_http_200(rm: responses.RequestsMock) -> None:
    c = TerraClient(AK, SK)
    rm.add("GET", JOB_URL, status=200, json=err(102114, "job not found"))
    with pytest.raises(NotFoundError):
        c.jobs.get("j-1")


@pytest.mark.parametrize(("message", "hint"), [
    (signing.MSG_BAD_DATE, "check the system clock"),
    (signing.MSG_MISMATCH, "secret key (SK) is probably wrong"),
    (signing.MSG_CANNOT_VERIFY, "DJI_APP_KEY"),
    (signing.MSG_UNAUTHORIZED, "no valid Authorization"),
])
def test_gateway_401_messages(message: str, hint: str, rm: responses.RequestsMock) -> None:
    c = TerraClient(AK, SK)
    rm.add("GET", JOB_URL, status=401, json={"message": message})
    with pytest.raises(AuthenticationError) as info:
        c.jobs.get("j-1")
    assert hint in str(info.value)
    assert message in str(info.value)
    assert info.value.status_code == 401 and info.value.code is None
    assert len(rm.calls) == 1


def test_non_json_5xx_is_server_error_after_retries(rm: responses.RequestsMock) -> None:
    sleeps = Sleeps()
    c = TerraClient(AK, SK, sleep=sleeps, rand=lambda: 1.0,
                    retry=RetryPolicy(max_attempts=4, backoff=0.5, jitter=0.5))
    rm.add("GET", JOB_URL, status=503, body="<html>busy</html>")
    with pytest.raises(ServerError, match="HTTP 503"):
        c.jobs.get("j-1")
    assert len(rm.calls) == 4
    assert sleeps == [0.5, 1.0, 2.0]  # exponential; rand()=1 -> the full base delay


def test_jitter_is_applied(rm: responses.RequestsMock) -> None:
    sleeps = Sleeps()
    c = TerraClient(AK, SK, sleep=sleeps, rand=lambda: 0.0,
                    retry=RetryPolicy(max_attempts=3, backoff=1.0, jitter=0.5))
    rm.add("GET", JOB_URL, status=500, json=err(102000))
    with pytest.raises(ServerError):
        c.jobs.get("j-1")
    assert sleeps == [0.5, 1.0]


def test_retry_after_is_honoured_and_capped(rm: responses.RequestsMock) -> None:
    sleeps = Sleeps()
    c = TerraClient(AK, SK, sleep=sleeps, rand=lambda: 0.0,
                    retry=RetryPolicy(max_attempts=3, backoff=0.1, max_backoff=5.0))
    rm.add("GET", JOB_URL, status=429, headers={"Retry-After": "3"}, body="")
    rm.add("GET", JOB_URL, status=429, headers={"Retry-After": "999"}, body="")
    rm.add("GET", JOB_URL, json=ok({"uuid": "j-1"}))
    assert c.jobs.get("j-1").uuid == "j-1"
    assert sleeps == [3.0, 5.0]


def test_create_post_not_replayed_on_5xx(rm: responses.RequestsMock) -> None:
    c = TerraClient(AK, SK, sleep=Sleeps())
    rm.add("POST", f"{US}{P}/v2/jobs", status=502, body="bad gateway")
    with pytest.raises(ServerError):
        c.jobs.create("x")
    assert len(rm.calls) == 1


def test_create_post_not_replayed_on_read_timeout(rm: responses.RequestsMock) -> None:
    c = TerraClient(AK, SK, sleep=Sleeps())
    rm.add("POST", f"{US}{P}/v2/jobs", body=requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(TransportError, match="may or may not have been processed"):
        c.jobs.create("x")
    assert len(rm.calls) == 1


def test_create_post_replayed_when_never_sent(rm: responses.RequestsMock) -> None:
    c = TerraClient(AK, SK, sleep=Sleeps())
    rm.add("POST", f"{US}{P}/v2/jobs", body=requests.exceptions.ConnectTimeout("no route"))
    rm.add("POST", f"{US}{P}/v2/jobs", json=ok({"uuid": "j-9"}))
    assert c.jobs.create("x").uuid == "j-9"
    assert len(rm.calls) == 2


def test_get_retried_on_connection_errors(rm: responses.RequestsMock) -> None:
    sleeps = Sleeps()
    c = TerraClient(AK, SK, sleep=sleeps)
    rm.add("GET", JOB_URL, body=requests.exceptions.ConnectionError("reset"))
    rm.add("GET", JOB_URL, body=requests.exceptions.ReadTimeout("slow"))
    rm.add("GET", JOB_URL, json=ok({"uuid": "j-1", "status": 6}))
    assert c.jobs.get("j-1").status.is_success
    assert len(sleeps) == 2


def test_connection_refused_against_a_closed_port() -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    sleeps = Sleeps()
    c = TerraClient(AK, SK, base_url=f"http://127.0.0.1:{port}", sleep=sleeps,
                    retry=RetryPolicy(max_attempts=2), timeout=(2, 2))
    with pytest.raises(TransportError, match="could not connect"):
        c.jobs.create("x")  # a create is replayed: a refused connection was never sent
    assert len(sleeps) == 1

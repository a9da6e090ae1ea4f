"""ApiSession helpers: query encoding, backoff bounds, redaction, request ids on retry."""

from __future__ import annotations

import pytest
import responses
from hypothesis import given
from hypothesis import strategies as st

from terranb.api.flighthub import FlightHubClient
from terranb.api.session import RetryPolicy, build_query, redact_url


def test_build_query() -> None:
    assert build_query(None) == ""
    assert build_query({"page": 1, "rows": 10, "needURL": True, "orderAsc": False,
                        "search": None, "uuids": ["a", "b"], "q": "ä b&c"}) == \
        "page=1&rows=10&needURL=true&orderAsc=false&uuids=a%2Cb&q=%C3%A4%20b%26c"


@given(attempt=st.integers(1, 12), r=st.floats(0, 1), backoff=st.floats(0.01, 5),
       cap=st.floats(0.1, 60), jitter=st.floats(0, 1))
def test_backoff_bounds(attempt: int, r: float, backoff: float, cap: float, jitter: float) -> None:
    p = RetryPolicy(backoff=backoff, max_backoff=cap, jitter=jitter)
    base = min(cap, backoff * 2 ** (attempt - 1))
    d = p.delay(attempt, lambda: r)
    assert base * (1 - jitter) - 1e-9 <= d <= base + 1e-9


def test_redact_url_keeps_plain_urls() -> None:
    assert redact_url("/terra-rescon-be/v2/jobs?page=1&rows=10") == \
        "/terra-rescon-be/v2/jobs?page=1&rows=10"
    assert redact_url("/x?token=abc") == "/x?token=***"


def test_flighthub_retry_keeps_request_id_and_sleeps() -> None:
    slept: list[float] = []
    ids = iter(["id-1", "id-2"])
    c = FlightHubClient("tok", "prj", base_url="http://fh.test", sleep=slept.append,
                        request_id=lambda: next(ids), retry=RetryPolicy(max_attempts=3))
    url = "http://fh.test/openapi/v0.1/open_model/models/running"
    with responses.RequestsMock() as rm:
        rm.add("GET", url, status=503, body="")
        rm.add("GET", url, json={"code": 0, "data": {"list": []}})
        assert c.running_models() == []
        assert [x.request.headers["X-Request-Id"] for x in rm.calls] == ["id-1", "id-1"]
    assert len(slept) == 1


def test_flighthub_create_call_not_replayed() -> None:
    c = FlightHubClient("tok", "prj", base_url="http://fh.test", sleep=lambda s: None)
    url = "http://fh.test/openapi/v0.1/open_model/models/reconstruction/start"
    with responses.RequestsMock() as rm:
        rm.add("POST", url, status=504, body="")
        from terranb.errors import ServerError
        with pytest.raises(ServerError):
            c.start_reconstruction("r", parameter_2d='{"parameter":{}}')
        assert len(rm.calls) == 1


def test_truncated_body_on_a_safe_call_is_retried() -> None:
    """A GET whose body is cut mid-stream is replayed (reported by the transfer layer)."""
    import requests as _rq

    from terranb.api.session import ApiSession, RetryPolicy

    calls = {"n": 0}

    class Cut(_rq.adapters.BaseAdapter):
        def send(self, request, **kwargs):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] == 1:
                raise _rq.exceptions.ChunkedEncodingError("connection broken mid-body")
            resp = _rq.Response()
            resp.status_code = 200
            resp._content = b"{}"
            resp.request = request
            return resp

        def close(self) -> None:
            pass

    http = _rq.Session()
    http.mount("http://", Cut())
    session = ApiSession("http://api.test", http=http, retry=RetryPolicy(max_attempts=3),
                         sleep=lambda s: None)
    assert session.request("GET", "/x").status_code == 200
    assert calls["n"] == 2


def test_gateway_5xx_is_a_server_error() -> None:
    import requests as _rq

    from terranb.api.terra import decode_terra_response
    from terranb.errors import ServerError

    resp = _rq.Response()
    resp.status_code = 503
    resp._content = b'{"message": "upstream unavailable"}'
    with pytest.raises(ServerError, match="retry later"):
        decode_terra_response(resp)

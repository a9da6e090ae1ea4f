"""Network knobs: latency, bandwidth per connection and in total, seeded faults (S3 and API)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from terranb.emulator.netem import ApiFaultMiddleware, FaultInjector, NetemConfig, TokenBucket


def test_netem_config_validates():
    with pytest.raises(ValueError, match="fail_rate"):
        NetemConfig(fail_rate=1.5)
    with pytest.raises(ValueError, match="bandwidth_bps_total"):
        NetemConfig(bandwidth_bps_total=0)
    with pytest.raises(ValueError, match="latency_ms"):
        NetemConfig(latency_ms=-1)


def test_token_bucket_limits_rate():
    bucket = TokenBucket(200_000)
    start = time.monotonic()
    for _ in range(20):
        bucket.consume(10_000)  # 200 kB at 200 kB/s, minus the 20 kB burst
    elapsed = time.monotonic() - start
    assert 0.8 <= elapsed <= 1.5


def test_fault_injector_is_seeded_and_near_its_rate():
    seq = [FaultInjector(0.3, seed=7).next() for _ in range(1)]
    a, b, c = FaultInjector(0.3, seed=7), FaultInjector(0.3, seed=7), FaultInjector(0.3, seed=8)
    sa = [a.next() for _ in range(2000)]
    assert sa == [b.next() for _ in range(2000)]
    assert sa != [c.next() for _ in range(2000)]
    assert seq[0] == sa[0]
    failures = sum(v != "ok" for v in sa)
    assert 0.25 * 2000 <= failures <= 0.35 * 2000
    assert {"500", "503", "drop"} <= set(sa)
    assert all(v == "ok" for v in (FaultInjector(0.0, seed=1).next() for _ in range(100)))


# -- API side -------------------------------------------------------------------------------


async def _ok_app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _call(app, n):
    async def run():
        results = []
        for _ in range(n):
            sent = []

            async def receive():
                return {"type": "http.request", "body": b"", "more_body": False}

            async def send(message):
                sent.append(message)

            await app({"type": "http", "method": "GET", "path": "/"}, receive, send)
            start = sent[0]
            bodies = [m for m in sent if m["type"] == "http.response.body"]
            results.append("drop" if not bodies else str(start["status"]))
        return results

    return asyncio.run(run())


def test_api_middleware_latency_and_seeded_faults():
    slow = ApiFaultMiddleware(_ok_app, NetemConfig(latency_ms=100))
    t0 = time.monotonic()
    assert _call(slow, 3) == ["200"] * 3
    assert time.monotonic() - t0 >= 0.3
    run1 = _call(ApiFaultMiddleware(_ok_app, NetemConfig(fail_rate=0.5, seed=3)), 60)
    run2 = _call(ApiFaultMiddleware(_ok_app, NetemConfig(fail_rate=0.5, seed=3)), 60)
    assert run1 == run2
    assert {"200", "500", "503", "drop"} <= set(run1)
    assert 15 <= sum(r != "200" for r in run1) <= 45


def test_api_middleware_passes_lifespan_through():
    seen = []

    async def app(scope, receive, send):
        seen.append(scope["type"])

    mw = ApiFaultMiddleware(app, NetemConfig(fail_rate=1.0))
    asyncio.run(mw({"type": "lifespan"}, None, None))
    assert seen == ["lifespan"]


# -- S3 side ----------------------------------------------------------------------------------

moto = pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")
requests = pytest.importorskip("requests")

from botocore.config import Config  # noqa: E402

from terranb.emulator.storage import EmbeddedStorage  # noqa: E402

BUCKET = "netem-bucket"


def _storage(tmp_path, **knobs) -> EmbeddedStorage:
    st = EmbeddedStorage(tmp_path, netem=NetemConfig(**knobs))
    st.start()
    st.ensure_bucket(BUCKET, "us-east-1")
    return st


def _client(st, retries=1):
    c = st.issue_credentials(600)
    return boto3.client(
        "s3",
        endpoint_url=st.endpoint_url,
        aws_access_key_id=c.access_key_id,
        aws_secret_access_key=c.secret_access_key,
        aws_session_token=c.session_token,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": retries, "mode": "standard"}),
    )


def test_s3_latency_per_request(tmp_path):
    st = _storage(tmp_path, latency_ms=150)
    try:
        s3 = _client(st)
        t0 = time.monotonic()
        for _ in range(3):
            s3.list_objects_v2(Bucket=BUCKET)
        assert time.monotonic() - t0 >= 0.45
    finally:
        st.stop()


def test_s3_bandwidth_per_connection_and_total(tmp_path):
    size = 150_000
    rate = 300_000  # bytes/s
    st = _storage(tmp_path / "per", bandwidth_bps_per_conn=rate)
    try:
        s3 = _client(st)
        t0 = time.monotonic()
        s3.put_object(Bucket=BUCKET, Key="up", Body=b"u" * size)  # shaped upload
        up = time.monotonic() - t0
        urls = []
        for i in range(2):
            st.upload_file(BUCKET, f"k{i}", _payload(tmp_path, size))
            urls.append(st.presigned_get_url(BUCKET, f"k{i}"))
        single = _timed_parallel(urls[:1])
        double = _timed_parallel(urls)  # separate connections: each gets the full rate
    finally:
        st.stop()
    expected = size / rate  # 0.5 s
    assert up >= 0.7 * expected
    assert 0.7 * expected <= single <= 2.5 * expected
    assert double <= 1.6 * single + 0.2

    st = _storage(tmp_path / "total", bandwidth_bps_total=rate)
    try:
        urls = []
        for i in range(2):
            st.upload_file(BUCKET, f"k{i}", _payload(tmp_path, size))
            urls.append(st.presigned_get_url(BUCKET, f"k{i}"))
        both = _timed_parallel(urls)  # share one budget: twice as long
    finally:
        st.stop()
    assert both >= 0.7 * (2 * size / rate)


def _payload(tmp_path, size):
    p = tmp_path / f"payload{size}.bin"
    if not p.exists():
        p.write_bytes(b"x" * size)
    return p


def _timed_parallel(urls):
    out = []

    def get(u):
        out.append(len(requests.get(u, timeout=30).content))

    threads = [threading.Thread(target=get, args=(u,)) for u in urls]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(out) == len(urls) and all(n > 0 for n in out)
    return time.monotonic() - t0


def _outcomes(st, n):
    url = st.presigned_get_url(BUCKET, "obj")
    seq = []
    for _ in range(n):
        try:
            r = requests.get(url, timeout=10)
            seq.append(str(r.status_code))
        except requests.ConnectionError:
            seq.append("drop")
    return seq


def test_s3_fail_rate_is_deterministic_under_seed(tmp_path):
    runs = []
    for i, seed in enumerate((11, 11, 12)):
        st = _storage(tmp_path / f"r{i}", fail_rate=0.4, seed=seed)
        try:
            st.upload_file(BUCKET, "obj", _payload(tmp_path, 100))
            runs.append(_outcomes(st, 40))
        finally:
            st.stop()
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert {"200", "500", "503", "drop"} <= set(runs[0])
    assert 8 <= sum(r != "200" for r in runs[0]) <= 28


def test_boto3_retries_through_injected_faults(tmp_path):
    st = _storage(tmp_path, fail_rate=0.3, seed=5)
    try:
        s3 = _client(st, retries=10)
        for i in range(10):
            s3.put_object(Bucket=BUCKET, Key=f"r{i}", Body=b"data")
        assert len(st.list_objects(BUCKET)) == 10
        # A 503 carries the S3 error document.
        seen = _outcomes_with_body(st)
        assert (
            b"<Code>SlowDown</Code>" in seen["503"] and b"<Code>InternalError</Code>" in seen["500"]
        )
    finally:
        st.stop()


def _outcomes_with_body(st):
    url = st.presigned_get_url(BUCKET, "r0")
    seen = {}
    for _ in range(60):
        try:
            r = requests.get(url, timeout=10)
        except requests.ConnectionError:
            continue
        seen.setdefault(str(r.status_code), r.content)
        if "500" in seen and "503" in seen:
            break
    return seen

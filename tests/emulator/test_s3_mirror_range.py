"""Range GETs served from the storage's disk copy answer exactly what moto answers."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")
requests = pytest.importorskip("requests")

from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from terranb.emulator.s3mirror_read import parse_single_range  # noqa: E402
from terranb.emulator.storage import EmbeddedStorage  # noqa: E402

BUCKET = "vg-terra-be-dev"
KEY = "mirror/tmp/a b.bin"
BODY = os.urandom(3_000_000)
# Headers whose value must be the same whichever path answered (Date and Server differ).
SAME = ("ETag", "Content-Type", "Content-Range", "Content-Length", "Last-Modified",
        "Accept-Ranges", "x-amz-meta-purpose", "x-amz-checksum-crc32",
        "x-amz-sdk-checksum-algorithm")


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory):
    st = EmbeddedStorage(tmp_path_factory.mktemp("s3mirror"))
    st.start()
    st.ensure_bucket(BUCKET, "us-east-1")
    yield st
    st.stop()


@pytest.fixture(scope="module")
def s3(storage):
    creds = storage.issue_credentials(600)
    client = boto3.client(
        "s3", endpoint_url=storage.endpoint_url, aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key, aws_session_token=creds.session_token,
        region_name="us-east-1", config=Config(retries={"max_attempts": 1}))
    client.put_object(Bucket=BUCKET, Key=KEY, Body=BODY, ContentType="application/x-test",
                      Metadata={"purpose": "mirror"})
    return client


@pytest.fixture
def served(storage, monkeypatch):
    """Counts the GETs the disk copy answered (the lookup is called again to re-check)."""
    calls: list[str] = []
    lookup = storage._proxy.mirror_copy

    def counting(bucket: str, key: str):
        calls.append(key)
        return lookup(bucket, key)

    monkeypatch.setattr(storage._proxy, "mirror_copy", counting)
    return calls


def _get(s3, rng: str, **kw):
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": KEY, **kw})
    # checksum mode as boto3 asks by default: the whole-object CRC must not come with a part
    return requests.get(url, headers={"Range": rng, "x-amz-checksum-mode": "ENABLED"},
                        timeout=30)


@pytest.mark.parametrize("rng", ["bytes=0-99", "bytes=100-", "bytes=-500",
                                 "bytes=2999000-99999999", "bytes=5-5", "bytes=0-"])
def test_range_from_disk_equals_moto(storage, s3, served, monkeypatch, rng):
    fast = _get(s3, rng)
    assert served, "the disk copy was not asked"
    monkeypatch.setattr(storage._proxy, "mirror_copy", None)
    slow = _get(s3, rng)
    assert fast.status_code == slow.status_code == 206
    assert fast.content == slow.content
    first, last = parse_single_range(rng, len(BODY)) or (0, 0)
    assert fast.content == BODY[first:last + 1]
    for name in SAME:
        assert fast.headers.get(name) == slow.headers.get(name), name


def test_boto3_ranged_get(s3, served):
    got = s3.get_object(Bucket=BUCKET, Key=KEY, Range="bytes=1000-1999")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["Body"].read() == BODY[1000:2000]
    assert got["ContentRange"] == f"bytes 1000-1999/{len(BODY)}"
    assert got["Metadata"] == {"purpose": "mirror"} and served


def test_the_bytes_come_from_the_disk_copy(storage, s3):
    # White-box: a disk copy edited behind the storage's back is what a Range GET returns
    # (while moto still has the original), so the fast path really is taken.
    path, _, _ = storage.mirror_copy(BUCKET, KEY)
    original = path.read_bytes()
    try:
        path.write_bytes(b"X" * 10 + original[10:])
        assert _get(s3, "bytes=0-9").content == b"X" * 10
    finally:
        path.write_bytes(original)


@pytest.mark.parametrize("rng,status", [("bytes=0-1,5-6", None), ("bytes=3000000-", 416),
                                        ("bytes=abc", None)])
def test_what_moto_answers_itself(storage, s3, served, monkeypatch, rng, status):
    fast = _get(s3, rng)
    assert not served or storage.mirror_copy(BUCKET, KEY) is not None
    monkeypatch.setattr(storage._proxy, "mirror_copy", None)
    slow = _get(s3, rng)
    assert fast.status_code == slow.status_code
    assert status is None or fast.status_code == status
    assert fast.content == slow.content


def test_conditional_and_overrides_go_to_moto(s3):
    etag = s3.head_object(Bucket=BUCKET, Key=KEY)["ETag"]
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": KEY})
    r = requests.get(url, headers={"Range": "bytes=0-9", "If-None-Match": etag}, timeout=30)
    assert r.status_code == 304 and not r.content
    r = _get(s3, "bytes=0-9", ResponseContentType="text/plain")
    assert r.status_code == 206 and r.headers["Content-Type"] == "text/plain"
    assert r.content == BODY[:10]


def test_overwritten_and_deleted_objects(s3):
    key = "mirror/tmp/changing.bin"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"first version")
    assert s3.get_object(Bucket=BUCKET, Key=key, Range="bytes=0-4")["Body"].read() == b"first"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"second version")
    assert s3.get_object(Bucket=BUCKET, Key=key, Range="bytes=0-5")["Body"].read() == b"second"
    s3.delete_object(Bucket=BUCKET, Key=key)
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=BUCKET, Key=key, Range="bytes=0-5")
    assert err.value.response["Error"]["Code"] in ("NoSuchKey", "404")


def test_a_stale_disk_copy_is_not_served(storage, s3, served):
    # The record says another ETag than moto (a copy being replaced): moto answers.
    key = "mirror/tmp/stale.bin"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"0123456789")
    meta = storage._meta_path(BUCKET, key)
    text = meta.read_text()
    try:
        meta.write_text(text.replace(storage.mirror_copy(BUCKET, key)[1], "0" * 32))
        path, _, _ = storage.mirror_copy(BUCKET, key)
        path.write_bytes(b"abcdefghij")
        assert s3.get_object(Bucket=BUCKET, Key=key, Range="bytes=0-3")["Body"].read() == b"0123"
    finally:
        meta.write_text(text)


@pytest.mark.parametrize("value,size,want", [
    ("bytes=0-0", 10, (0, 0)), ("bytes=3-", 10, (3, 9)), ("bytes=-3", 10, (7, 9)),
    ("bytes=-30", 10, (0, 9)), ("bytes=5-100", 10, (5, 9)), ("bytes=10-", 10, None),
    ("bytes=4-2", 10, None), ("bytes=-0", 10, None), ("bytes=0-1,3-4", 10, None),
    ("items=0-1", 10, None), ("bytes=0-1", 0, None)])
def test_parse_single_range(value, size, want):
    assert parse_single_range(value, size) == want

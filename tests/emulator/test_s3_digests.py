"""The S3 proxy checks the digests a body promises, unsigned payloads included, as S3 does."""

from __future__ import annotations

import base64
import hashlib
import io
import zlib

import pytest

pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")

from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from terranb.emulator.storage import EmbeddedStorage  # noqa: E402

BUCKET = "vg-terra-be-dev"


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory):
    st = EmbeddedStorage(tmp_path_factory.mktemp("s3digest"))
    st.start()
    st.ensure_bucket(BUCKET, "us-east-1")
    yield st
    st.stop()


def client(st: EmbeddedStorage, *, unsigned: bool = True, secret: str | None = None):
    creds = st.issue_credentials(600)
    return boto3.client(
        "s3", endpoint_url=st.endpoint_url, aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=secret or creds.secret_access_key,
        aws_session_token=creds.session_token, region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, request_checksum_calculation="when_required",
                      s3={"payload_signing_enabled": not unsigned}))


def b64md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def corrupt_in_transit(s3, flip_at: int = 10) -> None:
    """Change one byte of every request body after signing (a link that corrupts data)."""
    def handler(request, **_):
        data = request.body if isinstance(request.body, bytes) else request.body.read()
        if len(data) > flip_at:
            data = data[:flip_at] + bytes([data[flip_at] ^ 0xFF]) + data[flip_at + 1:]
        request.body = io.BytesIO(data)
    s3.meta.events.register("before-send.s3", handler)


def code(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


def test_unsigned_payload_with_content_md5_is_stored_and_headers_still_verified(storage):
    s3 = client(storage)
    sent: dict[str, str] = {}
    s3.meta.events.register("before-send.s3",
                            lambda request, **_: sent.update(request.headers.items()))
    body = bytes(range(256)) * 100
    resp = s3.put_object(Bucket=BUCKET, Key="dg/ok.bin", Body=body, ContentMD5=b64md5(body))
    assert sent["X-Amz-Content-SHA256"] in (b"UNSIGNED-PAYLOAD", "UNSIGNED-PAYLOAD")
    assert resp["ETag"].strip('"') == hashlib.md5(body).hexdigest()
    assert s3.get_object(Bucket=BUCKET, Key="dg/ok.bin")["Body"].read() == body
    # Not signing the payload does not mean not signing: a wrong secret is still refused.
    with pytest.raises(ClientError) as exc:
        client(storage, secret="wrong" * 8).put_object(Bucket=BUCKET, Key="dg/x.bin", Body=b"x")
    assert code(exc) == ("SignatureDoesNotMatch", 403)


def test_body_that_does_not_match_its_content_md5_is_refused_and_not_stored(storage):
    s3 = client(storage)
    s3.put_object(Bucket=BUCKET, Key="dg/keep.bin", Body=b"old contents")
    bad = client(storage)
    corrupt_in_transit(bad)
    body = b"new contents, corrupted on the way"
    with pytest.raises(ClientError) as exc:
        bad.put_object(Bucket=BUCKET, Key="dg/keep.bin", Body=body, ContentMD5=b64md5(body))
    assert code(exc) == ("BadDigest", 400)
    assert s3.get_object(Bucket=BUCKET, Key="dg/keep.bin")["Body"].read() == b"old contents"
    # The connection is still usable and a good body goes through.
    s3.put_object(Bucket=BUCKET, Key="dg/keep.bin", Body=body, ContentMD5=b64md5(body))
    assert s3.get_object(Bucket=BUCKET, Key="dg/keep.bin")["Body"].read() == body


def test_multipart_part_with_a_wrong_md5_is_refused(storage):
    s3 = client(storage)
    up = s3.create_multipart_upload(Bucket=BUCKET, Key="dg/mp.bin")["UploadId"]
    part = b"p" * (5 << 20)
    with pytest.raises(ClientError) as exc:
        s3.upload_part(Bucket=BUCKET, Key="dg/mp.bin", UploadId=up, PartNumber=1, Body=part,
                       ContentMD5=b64md5(b"something else"))
    assert code(exc) == ("BadDigest", 400)
    assert s3.list_parts(Bucket=BUCKET, Key="dg/mp.bin", UploadId=up).get("Parts", []) == []
    etag = s3.upload_part(Bucket=BUCKET, Key="dg/mp.bin", UploadId=up, PartNumber=1, Body=part,
                          ContentMD5=b64md5(part))["ETag"]
    assert etag.strip('"') == hashlib.md5(part).hexdigest()
    s3.abort_multipart_upload(Bucket=BUCKET, Key="dg/mp.bin", UploadId=up)


def test_malformed_and_empty_body_digests(storage):
    s3 = client(storage)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=BUCKET, Key="dg/m.bin", Body=b"abc", ContentMD5="not-base64!")
    assert code(exc) == ("InvalidDigest", 400)
    with pytest.raises(ClientError) as exc:
        s3.put_object(Bucket=BUCKET, Key="dg/empty.bin", Body=b"", ContentMD5=b64md5(b"x"))
    assert code(exc) == ("BadDigest", 400)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=BUCKET, Key="dg/empty.bin")
    s3.put_object(Bucket=BUCKET, Key="dg/empty.bin", Body=b"", ContentMD5=b64md5(b""))


def test_flexible_checksum_header_is_verified(storage):
    s3 = client(storage)
    body = b"checksummed " * 1000
    good = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    s3.put_object(Bucket=BUCKET, Key="dg/crc.bin", Body=body, ChecksumCRC32=good)
    bad = client(storage)
    corrupt_in_transit(bad)
    with pytest.raises(ClientError) as exc:
        bad.put_object(Bucket=BUCKET, Key="dg/crc.bin", Body=body, ChecksumCRC32=good)
    assert code(exc) == ("BadDigest", 400)


def test_signed_payload_hash_is_verified(storage):
    signed = client(storage, unsigned=False)
    signed.put_object(Bucket=BUCKET, Key="dg/sig.bin", Body=b"signed body " * 50)
    corrupt_in_transit(signed)
    with pytest.raises(ClientError) as exc:
        signed.put_object(Bucket=BUCKET, Key="dg/sig.bin", Body=b"tampered body " * 50)
    assert code(exc) == ("XAmzContentSHA256Mismatch", 400)
    assert client(storage).get_object(Bucket=BUCKET, Key="dg/sig.bin")["Body"].read() == (
        b"signed body " * 50)

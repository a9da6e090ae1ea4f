"""The request shape boto3 sends: Ali OSS needs virtual hosts and no checksum trailers."""

from __future__ import annotations

from typing import Any

import pytest

from terranb.credentials import StorageCredentials
from terranb.transfer.s3client import is_expired_error, make_client


def _capture(client: Any) -> list[Any]:
    from botocore.awsrequest import AWSResponse

    seen: list[Any] = []

    class Raw:
        def stream(self, **_: Any):
            yield b""

    def before_send(request: Any, **_: Any) -> Any:
        seen.append(request)
        return AWSResponse(request.url, 200, {"ETag": '"d41d8cd98f00b204e9800998ecf8427e"'}, Raw())

    client.meta.events.register("before-send.s3", before_send)
    return seen


def _assert_no_checksum_trailers(request: Any) -> None:
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert not [h for h in headers if h.startswith("x-amz-checksum")], headers
    assert "x-amz-sdk-checksum-algorithm" not in headers
    assert "x-amz-trailer" not in headers
    assert "aws-chunked" not in str(headers.get("content-encoding", ""))
    assert "STREAMING" not in str(headers.get("x-amz-content-sha256", ""))


@pytest.mark.parametrize("op", ["put_object", "upload_part"])
def test_oss_requests_are_virtual_hosted_without_checksum_trailers(op, tmp_path):
    creds = StorageCredentials("ali_oss", "STS.key", "secret", "sess-token", "oss-cn-hangzhou",
                               "hz-terra-be-prod", store_path="p/{fileName}")
    client = make_client(creds)
    seen = _capture(client)
    body = tmp_path / "a.jpg"
    body.write_bytes(b"x" * 1000)
    with open(body, "rb") as fh:
        kwargs: dict[str, Any] = {"Bucket": creds.bucket, "Key": creds.key_for("a.jpg"), "Body": fh}
        if op == "upload_part":
            kwargs.update(UploadId="u1", PartNumber=1)
        getattr(client, op)(**kwargs)
    (request,) = seen
    assert request.url.startswith("https://hz-terra-be-prod.oss-cn-hangzhou.aliyuncs.com/p/a.jpg")
    _assert_no_checksum_trailers(request)
    assert request.headers["x-amz-security-token"] == b"sess-token" or \
        request.headers["x-amz-security-token"] == "sess-token"
    assert "Credential=STS.key/" in str(request.headers["Authorization"])


def test_aws_client_uses_endpoint_region_and_plain_bodies():
    creds = StorageCredentials("aws_s3", "AK", "SK", "TOK", "us-east-1", "vg-terra-be-dev",
                               endpoint_url="http://127.0.0.1:9")
    client = make_client(creds)
    seen = _capture(client)
    client.put_object(Bucket=creds.bucket, Key="k", Body=b"abc")
    (request,) = seen
    assert request.url.startswith("http://127.0.0.1:9/vg-terra-be-dev/k")
    assert "/us-east-1/s3/aws4_request" in str(request.headers["Authorization"])
    _assert_no_checksum_trailers(request)


def test_expired_error_classification():
    from botocore.exceptions import ClientError

    def err(code: str, msg: str = "") -> ClientError:
        return ClientError({"Error": {"Code": code, "Message": msg}}, "PutObject")

    assert is_expired_error(err("ExpiredToken"))
    assert is_expired_error(err("InvalidAccessKeyId"))
    assert is_expired_error(err("AccessDenied", "The security token has expired"))
    assert not is_expired_error(err("AccessDenied", "bucket policy denies"))
    assert not is_expired_error(err("NoSuchKey"))


def test_client_repr_and_errors_hold_no_secrets():
    creds = StorageCredentials("aws_s3", "AKSECRET", "SKSECRET", "TOKSECRET", "us-east-1", "b")
    assert "SKSECRET" not in repr(creds) and "TOKSECRET" not in repr(creds)


def test_clients_share_one_session_but_sign_with_their_own_keys(monkeypatch):
    """One boto3 session for all clients (cheap renewals) must not mix up STS keys."""
    from terranb.transfer import s3client

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ENVKEY")  # never picked up
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ENVSECRET")
    s3client.preload()
    clients = [make_client(StorageCredentials(
        "aws_s3", f"AK{i}", f"SK{i}", f"TOK{i}", "us-east-1", "b",
        endpoint_url="http://127.0.0.1:9")) for i in (1, 2)]
    seen = [_capture(c) for c in clients]
    for c in clients:
        c.put_object(Bucket="b", Key="k", Body=b"x")
    for i, requests in zip((1, 2), seen, strict=True):
        headers = {k.lower(): v.decode() if isinstance(v, bytes) else v
                   for k, v in requests[0].headers.items()}
        assert f"Credential=AK{i}/" in headers["authorization"]
        assert headers["x-amz-security-token"] == f"TOK{i}"


def test_small_puts_skip_the_100_continue_wait_large_keep_it() -> None:
    """One round trip less per object or part up to 16 MiB; larger bodies still wait."""
    import io
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from terranb.transfer.s3client import CONTINUE_THRESHOLD

    seen: list[tuple[int, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_PUT(self) -> None:
            n = int(self.headers["Content-Length"])
            seen.append((n, self.headers.get("Expect")))
            self.rfile.read(n)
            self.send_response(200)
            self.send_header("ETag", '"x"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        creds = StorageCredentials("aws_s3", "AK", "SK", "TOKEN", "us-east-1", "b",
                                   endpoint_url=f"http://127.0.0.1:{srv.server_address[1]}")
        s3 = make_client(creds)
        for size in (1_000, CONTINUE_THRESHOLD, CONTINUE_THRESHOLD + 1):
            s3.put_object(Bucket="b", Key=f"k{size}", Body=io.BytesIO(b"x" * size))
    finally:
        srv.shutdown()
        srv.server_close()
    assert seen == [(1_000, None), (CONTINUE_THRESHOLD, None),
                    (CONTINUE_THRESHOLD + 1, "100-continue")]

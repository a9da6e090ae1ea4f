"""The S3 proxy never leaves a client hanging: early answers, stalled bodies, timeouts.

Raw sockets drive the risky paths (a body the proxy does not want, a body that
never arrives) so the tests see exactly what goes over the wire; every socket
here has a timeout, so a regression fails in seconds instead of hanging.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

pytest.importorskip("moto")
boto3 = pytest.importorskip("boto3")

from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError  # noqa: E402

from terranb.emulator.storage import EmbeddedStorage, IssuedCredentials  # noqa: E402

BUCKET = "vg-terra-be-dev"
BODY_TIMEOUT = 0.6
# Anything slower than this is a hang for these tests.
CLIENT_TIMEOUT = 8.0


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedStorage]:
    st = EmbeddedStorage(tmp_path_factory.mktemp("s3hang"), body_timeout=BODY_TIMEOUT)
    st.start()
    st.ensure_bucket(BUCKET, "us-east-1")
    yield st
    st.stop()


def _connect(st: EmbeddedStorage) -> socket.socket:
    host, port = st.endpoint_url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=CLIENT_TIMEOUT)
    sock.settimeout(CLIENT_TIMEOUT)
    return sock


def _request_head(method: str, target: str, creds: IssuedCredentials, length: int,
                  expect: bool = False) -> bytes:
    """Request headers signed with SigV4 (unsigned payload), as botocore would send them."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials

    url = f"http://127.0.0.1{target}"
    headers = {"x-amz-content-sha256": "UNSIGNED-PAYLOAD", "Content-Length": str(length)}
    if expect:
        headers["Expect"] = "100-continue"
    request = AWSRequest(method=method, url=url, headers=headers)
    # Without this botocore signs the SHA-256 of the (here absent) body, which the
    # proxy checks against the bytes that follow, as S3 does.
    request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    keys = Credentials(creds.access_key_id, creds.secret_access_key, creds.session_token)
    S3SigV4Auth(keys, "s3", "us-east-1").add_auth(request)
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response (status, lower-case headers, body), skipping 100 Continue."""
    buf = b""
    while True:
        while b"\r\n\r\n" not in buf:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError(f"connection closed before a full response: {buf!r}")
            buf += data
        head, _, buf = buf.partition(b"\r\n\r\n")
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split()[1])
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if status != 100:
            break
    length = int(headers.get("content-length", "0"))
    while len(buf) < length:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed inside the response body")
        buf += data
    return status, headers, buf[:length]


def _closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _expired(st: EmbeddedStorage) -> IssuedCredentials:
    creds = st.issue_credentials(0.05)
    time.sleep(0.1)
    return creds


def _multipart(st: EmbeddedStorage) -> tuple[str, str]:
    s3 = st._require_started()
    key = f"hang/{os.urandom(4).hex()}.bin"
    upload_id = s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    return key, upload_id


def test_expired_keys_small_part_body_is_drained_and_connection_reused(storage):
    key, upload_id = _multipart(storage)
    body = os.urandom(64 * 1024)
    target = f"/{BUCKET}/{key}?partNumber=1&uploadId={upload_id}"
    with _connect(storage) as sock:
        sock.sendall(_request_head("PUT", target, _expired(storage), len(body)) + body)
        status, headers, text = _read_response(sock)
        assert status == 400 and b"<Code>ExpiredToken</Code>" in text
        assert headers.get("connection", "").lower() != "close"
        # Same connection, next request: the proxy read past the rejected body.
        good = storage.issue_credentials(600)
        sock.sendall(_request_head("PUT", target, good, len(body)) + body)
        status, _, text = _read_response(sock)
        assert status == 200, text


def test_expired_keys_large_part_body_gets_answer_and_close(storage):
    key, upload_id = _multipart(storage)
    body = os.urandom(3 * 1024 * 1024)  # above what the proxy reads away
    target = f"/{BUCKET}/{key}?partNumber=1&uploadId={upload_id}"
    with _connect(storage) as sock:
        sock.sendall(_request_head("PUT", target, _expired(storage), len(body)))
        sender = threading.Thread(target=lambda: _send_quietly(sock, body), daemon=True)
        sender.start()
        status, headers, text = _read_response(sock)
        assert status == 400 and b"<Code>ExpiredToken</Code>" in text
        assert headers["connection"].lower() == "close"
        assert _closed_by_peer(sock)
        sender.join(CLIENT_TIMEOUT)
        assert not sender.is_alive()


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    try:
        sock.sendall(data)
    except OSError:
        pass  # the proxy closed after its answer: expected


@pytest.mark.parametrize("send_body_anyway", [False, True])
def test_expired_keys_with_expect_100_continue(storage, send_body_anyway):
    """botocore sends ``Expect: 100-continue`` and, after 1 s without an answer, the body anyway."""
    key, upload_id = _multipart(storage)
    body = os.urandom(256 * 1024)
    target = f"/{BUCKET}/{key}?partNumber=1&uploadId={upload_id}"
    with _connect(storage) as sock:
        head = _request_head("PUT", target, _expired(storage), len(body), expect=True)
        sock.sendall(head + (body if send_body_anyway else b""))
        status, headers, text = _read_response(sock)
        # The client reads the real answer, not a TCP reset, even with the body unread.
        assert status == 400 and b"<Code>ExpiredToken</Code>" in text
        assert headers["connection"].lower() == "close"
        assert _closed_by_peer(sock)


@pytest.mark.parametrize("expect", [False, True])
def test_body_that_stops_arriving_gets_request_timeout(storage, expect):
    """A client that promises 64 KiB and sends less gets S3's RequestTimeout, not a hang."""
    key, upload_id = _multipart(storage)
    target = f"/{BUCKET}/{key}?partNumber=1&uploadId={upload_id}"
    with _connect(storage) as sock:
        good = storage.issue_credentials(600)
        sock.sendall(_request_head("PUT", target, good, 64 * 1024, expect=expect) + b"x" * 1000)
        start = time.monotonic()
        status, headers, text = _read_response(sock)
        elapsed = time.monotonic() - start
        assert status == 400 and b"<Code>RequestTimeout</Code>" in text
        assert headers["connection"].lower() == "close"
        assert BODY_TIMEOUT * 0.8 <= elapsed < BODY_TIMEOUT + 3
        assert _closed_by_peer(sock)
    # Nothing was stored from the partial body.
    parts = storage._require_started().list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id)
    assert not parts.get("Parts")


def test_boto3_retry_recovers_from_a_body_not_rewound(storage, tmp_path):
    """A retried call given an already-read file sends no bytes; botocore rewinds on RequestTimeout.

    This is the client mistake behind the jobs-suite hang: the proxy now answers it
    within ``body_timeout`` instead of holding the connection until the client's
    60 s read timeout. The rewound retry then sends all the bytes, but botocore took
    the body's checksums (CRC32, SHA-256) from the consumed file, i.e. of no bytes:
    the store refuses the part (BadDigest, as S3 does) instead of storing a body
    its headers do not describe.
    """
    key, upload_id = _multipart(storage)
    data = os.urandom(70 * 1024)
    path = tmp_path / "part.bin"
    path.write_bytes(data)
    creds = storage.issue_credentials(600)
    s3 = boto3.client(
        "s3",
        endpoint_url=storage.endpoint_url,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=creds.session_token,
        region_name="us-east-1",
        config=Config(retries={"mode": "standard", "max_attempts": 3}, read_timeout=CLIENT_TIMEOUT,
                      connect_timeout=CLIENT_TIMEOUT),
    )
    with open(path, "rb") as fh:
        fh.read()  # an earlier, rejected attempt consumed the file
        start = time.monotonic()
        with pytest.raises(ClientError) as exc:
            s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload_id, PartNumber=1,
                           Body=fh, ContentLength=len(data))
    assert time.monotonic() - start < BODY_TIMEOUT + 5
    assert exc.value.response["ResponseMetadata"]["RetryAttempts"] >= 1
    assert exc.value.response["Error"]["Code"] == "BadDigest"
    assert not s3.list_parts(Bucket=BUCKET, Key=key, UploadId=upload_id).get("Parts")


def test_idle_keep_alive_connection_is_closed_after_idle_timeout(tmp_path):
    from terranb.emulator.s3proxy import KeyRing, S3Proxy

    with pytest.raises(ValueError, match="body_timeout must be > 0"):
        S3Proxy("127.0.0.1", 9, KeyRing(), body_timeout=0)
    proxy = S3Proxy("127.0.0.1", 9, KeyRing(), idle_timeout=0.3)
    proxy.start()
    try:
        host, port = proxy.endpoint_url.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=CLIENT_TIMEOUT) as sock:
            sock.settimeout(CLIENT_TIMEOUT)
            start = time.monotonic()
            assert _closed_by_peer(sock)  # no request at all: closed after idle_timeout
            assert time.monotonic() - start < 3
    finally:
        proxy.stop()


def test_injected_fault_on_a_large_body_answers_and_closes(tmp_path):
    from terranb.emulator.netem import NetemConfig

    st = EmbeddedStorage(tmp_path / "faulty", netem=NetemConfig(fail_rate=1.0, seed=3),
                         body_timeout=BODY_TIMEOUT)
    st.start()
    try:
        creds = st.issue_credentials(600)
        body = os.urandom(2 * 1024 * 1024)
        answered = 0
        for _ in range(6):  # seed 3: a mix of 500, 503 and dropped connections
            with _connect(st) as sock:
                sock.sendall(_request_head("PUT", f"/{BUCKET}/f.bin", creds, len(body)))
                sender = threading.Thread(target=lambda s=sock: _send_quietly(s, body),
                                          daemon=True)
                sender.start()
                try:
                    status, headers, _ = _read_response(sock)
                except ConnectionError:
                    continue  # an injected drop
                answered += 1
                assert status in (500, 503)
                assert headers["connection"].lower() == "close"
                assert _closed_by_peer(sock)
                sender.join(CLIENT_TIMEOUT)
                assert not sender.is_alive()
        assert answered >= 1
    finally:
        st.stop()

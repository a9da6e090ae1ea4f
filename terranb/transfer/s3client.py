"""boto3 clients built from :class:`~terranb.credentials.StorageCredentials`, and their renewal.

This is the only module of terranb that imports boto3 (lazily, so ``import
terranb`` stays light). Two things live here:

* :func:`make_client` turns STS credentials into an S3 client: endpoint from
  ``credentials.resolved_endpoint()``, region, session token, a connection pool
  as large as the worker count, and botocore's ``standard`` retry mode.
* :class:`CredentialSource` wraps the caller's provider callable (for example
  ``lambda: client.store.obtain_token()``), hands out the current credentials,
  renews them a margin before ``expire_time`` and whenever the store says they
  expired, and caches one client per credentials generation.

Checksums: every client is built with ``request_checksum_calculation`` and
``response_checksum_validation`` set to ``"when_required"``. boto3 >= 1.36 adds a
CRC32 checksum as an ``aws-chunked`` trailer to every PUT by default; Ali OSS's
S3-compatible endpoint rejects those requests, and other S3-compatible stores
(old MinIO, proxies) do too. Instead of a transport checksum terranb checks the
ETag the store returns against the MD5 it computed while hashing the file (single
PUTs and each multipart part), and sends that MD5 as ``Content-MD5`` so the store
refuses a corrupted body (``BadDigest``) before storing it; both work on AWS S3,
Ali OSS and the emulator alike.

Payload signing: clients sign ``UNSIGNED-PAYLOAD`` instead of the SHA-256 of the
body (``payload_signing_enabled=False``). The headers, and with them the
``Content-MD5``, are still signed. botocore already does this by itself over HTTPS
for streamed bodies that carry a Content-MD5 (which is how boto3 uploaded to S3 and
OSS for years before 1.36); the explicit setting extends it to plain-HTTP
endpoints (the emulator, a local MinIO), where botocore would otherwise read and
hash every body a second time before sending it, the largest CPU cost of an
upload after the file hashing itself (bench/upload.py --link prints the split).
Ali OSS additionally needs virtual-hosted addressing (``bucket.oss-...``); path
style is refused there. We chose boto3 over ``oss2`` so there is one code path
(and one dependency) for both clouds; DJI's own TypeScript SDK does the same.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from terranb.credentials import StorageCredentials
from terranb.errors import CredentialsExpiredError, TransferError, require

__all__ = [
    "CredentialProvider",
    "CredentialSource",
    "error_code",
    "is_expired_error",
    "is_transient_error",
    "make_client",
    "preload",
]

log = logging.getLogger(__name__)

CredentialProvider = Callable[[], StorageCredentials]

_EXPIRED_CODES = {"ExpiredToken", "ExpiredTokenException", "InvalidAccessKeyId",
                  "TokenRefreshRequired", "InvalidToken", "SecurityTokenExpired",
                  "InvalidSecurityToken", "RequestExpired"}
_SESSION: Any = None  # the boto3 session every client is made from (see make_client)
_SESSION_LOCK = threading.Lock()
_PRELOADED = False
_TRANSIENT_CODES = {"InternalError", "ServiceUnavailable", "SlowDown", "RequestTimeout",
                    "RequestTimeTooSkewed", "Throttling", "ThrottlingException",
                    "500", "502", "503", "504", "BadDigest", "IncompleteBody"}


def make_client(creds: StorageCredentials, *, max_pool_connections: int = 10,
                max_attempts: int = 4, connect_timeout: float = 10.0,
                read_timeout: float = 60.0) -> Any:
    """An S3 client for ``creds`` (AWS S3, Ali OSS through its S3 endpoint, MinIO, moto).

    Args:
        creds: STS credentials from ``obtain_token``.
        max_pool_connections: HTTP connection pool size; give at least the worker count.
        max_attempts: botocore's own retries per request (``standard`` mode).
        connect_timeout: seconds to open a connection.
        read_timeout: seconds without a byte before a request fails.

    Example:
        >>> s3 = make_client(creds)  # doctest: +SKIP
        >>> s3.head_object(Bucket=creds.bucket, Key=creds.key_for("a.JPG"))  # doctest: +SKIP
    """
    boto3 = require("boto3", "transfer")
    from botocore.config import Config

    # UNSIGNED-PAYLOAD: botocore would otherwise read and SHA-256 every body once more
    # before sending it (always over plain HTTP); integrity comes from Content-MD5,
    # which the uploads send and the store verifies (see the module docstring).
    s3_cfg: dict[str, Any] = {"payload_signing_enabled": False}
    if creds.is_oss:
        s3_cfg["addressing_style"] = "virtual"
    config = Config(
        region_name=creds.region or None,
        signature_version="s3v4",
        s3=s3_cfg,
        max_pool_connections=max(1, max_pool_connections),
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        user_agent_extra="terranb",
    )
    # Explicit keys: the user's ~/.aws profile or env keys are never picked up. One
    # boto3 session for every client keeps the parsed S3 service model: a new session
    # per STS generation costs 0.2-1 s of CPU on each renewal (tokens can last 15 min
    # or, in tests, seconds). boto3 sessions are not thread-safe, hence the lock.
    global _SESSION
    with _SESSION_LOCK:
        if _SESSION is None:
            _SESSION = boto3.session.Session()
        client = _SESSION.client(
            "s3",
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            aws_session_token=creds.session_token or None,
            region_name=creds.region or None,
            endpoint_url=creds.resolved_endpoint(),
            config=config,
        )
    client.meta.events.register("before-send.s3", _no_continue_for_small_bodies)
    return client


# Bodies up to this size go without ``Expect: 100-continue``.
CONTINUE_THRESHOLD = 16 * 2**20


def _no_continue_for_small_bodies(request: Any, **_: Any) -> None:
    """Drop ``Expect: 100-continue`` from PUTs of at most :data:`CONTINUE_THRESHOLD` bytes.

    botocore asks every PUT body to wait for the server's ``100 Continue``: one more
    round trip per object or part before its first byte moves (50 ms on a 50 ms link,
    a tenth of a 4 MB transfer at 8 MB/s). What the wait saves is sending a body the
    server refuses (expired keys, no permission); for bodies this small that costs less
    than the round trip every accepted request pays. Larger bodies keep the wait.
    ``Expect`` is not among the SigV4-signed headers, so removing it here, after
    signing, leaves the signature valid; the store still checks ``Content-MD5``.
    """
    headers = request.headers
    expect = headers.get("Expect") or ""
    if isinstance(expect, bytes):  # botocore keeps some header values as bytes
        expect = expect.decode("latin-1")
    if expect.lower() != "100-continue":
        return
    try:
        size = int(headers.get("Content-Length") or "")
    except ValueError:
        return  # unknown length (streamed): keep the wait
    if size <= CONTINUE_THRESHOLD:
        del headers["Expect"]


def preload() -> None:
    """Build the shared boto3 session and load the S3 model (the slow part of a first client).

    :class:`~terranb.transfer.upload.Uploader` runs this in a thread while it asks
    the service for STS credentials, so the two waits overlap; later clients take
    milliseconds. Harmless to call more than once, or without boto3 (it does nothing).
    """
    global _SESSION, _PRELOADED
    try:
        boto3 = require("boto3", "transfer")
        with _SESSION_LOCK:
            if _PRELOADED:
                return
            if _SESSION is None:
                _SESSION = boto3.session.Session()
            # A throwaway client loads the service model, endpoint rules and partitions
            # into the session's loader cache; it sends nothing.
            _SESSION.client("s3", aws_access_key_id="preload",
                            aws_secret_access_key="preload", region_name="us-east-1",
                            endpoint_url="http://127.0.0.1:9")
            _PRELOADED = True
    except Exception as exc:  # only an optimisation: make_client reports real problems
        log.debug("preloading boto3 failed: %s", type(exc).__name__)


def error_code(exc: BaseException) -> str:
    """The S3 error code of a botocore ``ClientError`` ('' for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    err = response.get("Error") or {}
    code = str(err.get("Code") or "")
    if not code:
        status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
        code = str(status or "")
    return code


def is_expired_error(exc: BaseException) -> bool:
    """True when the store rejected the request because the STS keys expired or are unknown."""
    code = error_code(exc)
    if code in _EXPIRED_CODES:
        return True
    if code in {"AccessDenied", "403", "InvalidAccessKeyId"}:
        message = str((getattr(exc, "response", {}) or {}).get("Error", {}).get("Message", ""))
        return "expire" in message.lower() or "token" in message.lower()
    return False


def is_transient_error(exc: BaseException) -> bool:
    """True for failures worth retrying with the same credentials (5xx, resets, timeouts)."""
    try:
        from botocore.exceptions import (
            ConnectionClosedError,
            ConnectTimeoutError,
            EndpointConnectionError,
            IncompleteReadError,
            ReadTimeoutError,
            ResponseStreamingError,
        )
        from urllib3.exceptions import ProtocolError
    except ImportError:  # pragma: no cover - boto3 always brings these
        return False
    network = (ConnectionClosedError, ConnectTimeoutError, EndpointConnectionError,
               IncompleteReadError, ReadTimeoutError, ResponseStreamingError, ProtocolError,
               ConnectionError, TimeoutError)
    if isinstance(exc, network):
        return True
    code = error_code(exc)
    return code in _TRANSIENT_CODES or code.startswith("5")


class CredentialSource:
    """Current STS credentials from a provider callable, renewed before they expire.

    Renewal happens when fewer than ``margin`` seconds are left (at most a fifth
    of the token's lifetime, so a 15-second token is not renewed on every call),
    and when a request fails with an expired-credentials error
    (:meth:`invalidate`). Many workers may report the same failure; only the
    first renews, the rest get the new generation.

    The *target* of an upload (bucket, key template, callback parameter) is the
    first credentials' and stays fixed: later tokens only contribute keys, so
    parts and multipart uploads started under one token are continued under the
    next (S3 and OSS tie a multipart upload id to the bucket and key, not to
    the access key).

    Args:
        provider: callable returning fresh :class:`StorageCredentials`.
        margin: renew this many seconds before ``expire_time``.
        clock: wall clock in Unix seconds (``expire_time`` is wall time).
        pool: connection pool size for the clients made here.
        max_renewals_per_minute: guard against a provider that hands out
            already-expired keys (raises :class:`CredentialsExpiredError`).
    """

    def __init__(self, provider: CredentialProvider | StorageCredentials, *,
                 margin: float = 60.0, clock: Callable[[], float] = time.time,
                 pool: int = 10, max_renewals_per_minute: int = 30) -> None:
        if isinstance(provider, StorageCredentials):
            fixed = provider
            self._provider: CredentialProvider = lambda: fixed
        else:
            self._provider = provider
        self.margin = margin
        self._clock = clock
        self._pool = pool
        self._lock = threading.Lock()
        self._creds: StorageCredentials | None = None
        self._obtained_at = 0.0
        self._client: Any = None
        self.generation = 0
        self._renewals: list[float] = []
        self._max_renewals = max_renewals_per_minute

    def _effective_margin(self, creds: StorageCredentials) -> float:
        if not creds.expire_time:
            return 0.0
        lifetime = creds.expire_time - self._obtained_at
        return max(0.0, min(self.margin, lifetime / 5.0)) if lifetime > 0 else 0.0

    def _renew_locked(self) -> None:
        now = self._clock()
        self._renewals = [t for t in self._renewals if now - t < 60.0] + [now]
        if len(self._renewals) > self._max_renewals:
            raise CredentialsExpiredError(
                f"storage credentials were renewed {len(self._renewals)} times in a minute and "
                "still fail; check the system clock and the credentials the service returns")
        try:
            creds = self._provider()
        except Exception as exc:
            raise CredentialsExpiredError(
                f"could not obtain new storage credentials: {type(exc).__name__}: {exc}") from exc
        if not isinstance(creds, StorageCredentials):
            raise TransferError("the credentials provider must return StorageCredentials, "
                                f"got {type(creds).__name__}")
        self._creds = creds
        self._obtained_at = now
        self._client = None
        self.generation += 1
        log.info("storage credentials obtained (generation %d, %.0f s left)",
                 self.generation, creds.seconds_left(now))

    def get(self) -> StorageCredentials:
        """The current credentials, renewed first when they are about to expire."""
        with self._lock:
            if self._creds is None or self._creds.expires_within(
                    self._effective_margin(self._creds), self._clock()):
                self._renew_locked()
            assert self._creds is not None
            return self._creds

    def client(self) -> tuple[Any, int]:
        """``(s3 client, generation)`` for the current credentials."""
        creds = self.get()
        with self._lock:
            if self._client is None or self._creds is not creds:
                self._client = make_client(self._creds or creds, max_pool_connections=self._pool)
            return self._client, self.generation

    def invalidate(self, generation: int) -> None:
        """Renew now, unless another worker already renewed since ``generation`` failed."""
        with self._lock:
            if generation == self.generation:
                self._renew_locked()

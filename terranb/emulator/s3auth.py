"""Who is asking: the S3 proxy's key ring and request authentication.

:class:`KeyRing` holds the keys the endpoint accepts (the storage's internal
key and every issued STS key set, with its expiry and :class:`~.s3policy.StsPolicy`).
:func:`authenticate` finds the access key of a request (SigV4 ``Authorization``
header or presigned ``X-Amz-Credential``; SigV2 ``AWS AKID:sig`` or presigned
``AWSAccessKeyId``), and answers like S3: ``InvalidAccessKeyId`` (403) for
unknown keys, ``ExpiredToken`` (400) once issued keys expired (presigned URLs
made with them included), ``InvalidToken`` (400) for a wrong session token,
``SignatureDoesNotMatch`` (403), ``AccessDenied`` (403, "Request has expired")
for a presigned URL past its expiry, ``RequestTimeTooSkewed`` (403) beyond 15
minutes of clock skew.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import terranb.emulator.sigv4 as sigv4
from terranb.emulator.s3policy import StsPolicy
from terranb.emulator.s3wire import S3Error

__all__ = ["MAX_SKEW_S", "KeyEntry", "KeyRing", "authenticate", "check_skew"]

# Clock skew S3 tolerates for header-signed requests.
MAX_SKEW_S = 15 * 60
_SKEWED = "The difference between the request time and the current time is too large."


@dataclass(frozen=True)
class KeyEntry:
    """One access key the proxy accepts."""

    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expire_time: float  # unix seconds; inf for the internal key
    policy: StsPolicy | None = None  # None: the internal key, unrestricted


class KeyRing:
    """Thread-safe table of access keys the proxy accepts, with their expiry."""

    def __init__(self) -> None:
        self._keys: dict[str, KeyEntry] = {}
        self._lock = threading.Lock()

    def add(self, access_key_id: str, secret: str, session_token: str, expire_time: float,
            policy: StsPolicy | None = None) -> None:
        """Accept ``access_key_id`` until ``expire_time`` (unix seconds), within ``policy``."""
        with self._lock:
            self._keys[access_key_id] = KeyEntry(secret, session_token, expire_time, policy)

    def get(self, access_key_id: str) -> KeyEntry | None:
        """The entry of a key, expired or not; ``None`` when unknown."""
        with self._lock:
            return self._keys.get(access_key_id)

    def items(self) -> list[tuple[str, KeyEntry]]:
        """A snapshot of all keys."""
        with self._lock:
            return list(self._keys.items())

    def prune(self, now: float, keep_s: float) -> None:
        """Forget keys that expired more than ``keep_s`` seconds ago."""
        with self._lock:
            for k in [k for k, e in self._keys.items() if e.expire_time + keep_s < now]:
                del self._keys[k]

    def write_prefixes(self, entry: KeyEntry) -> list[str]:
        """The prefixes ``entry`` may write: its own and its principal's other keys' ones.

        See :mod:`.s3policy` for why a principal's keys share their prefixes.
        """
        policy = entry.policy
        if policy is None:
            return []
        if not policy.principal:
            return [policy.prefix]
        with self._lock:
            shared = {e.policy.prefix for e in self._keys.values()
                      if e.policy is not None and e.policy.principal == policy.principal
                      and e.policy.bucket == policy.bucket}
        return sorted(shared | {policy.prefix})


def authenticate(
    keyring: KeyRing,
    sent: sigv4.SentRequest,
    style_path: str,
    *,
    verify_signatures: bool = True,
    now: float | None = None,
) -> KeyEntry:
    """Check the request's key, expiry, token and signature; return the key's entry.

    Args:
        keyring: accepted keys.
        sent: the request with the path as sent (SigV4 signs it);
        style_path: the path-style resource (SigV2 signs it).
        verify_signatures: recompute signatures (else only keys are checked).

    Raises:
        S3Error: S3's answer for the failure (see :mod:`.s3proxy`).
    """
    query_pairs, headers = sent.query_pairs, sent.headers
    try:
        v2 = sigv4.parse_v2(headers, query_pairs)
        req = None if v2 is not None else sigv4.parse_authorization(headers, query_pairs)
    except ValueError as exc:
        raise S3Error(400, "AuthorizationHeaderMalformed", str(exc)) from exc
    if req is None and v2 is None:
        raise S3Error(403, "AccessDenied", "Access Denied")
    akid = v2.access_key_id if v2 is not None else req.access_key_id  # type: ignore[union-attr]
    entry = keyring.get(akid)
    if entry is None:
        raise S3Error(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        )
    now = time.time() if now is None else now
    if v2 is not None:
        presigned = v2.presigned
        token = v2.session_token
        if presigned:
            if now > v2.expires:
                raise S3Error(403, "AccessDenied", "Request has expired")
        else:
            check_skew(headers.get("x-amz-date") or headers.get("date", ""), now)
    else:
        assert req is not None
        presigned = req.presigned
        token = req.session_token
        try:
            signed_at = sigv4.parse_amz_date(req.amz_date)
        except ValueError as exc:
            raise S3Error(403, "AccessDenied", "X-Amz-Date is missing or malformed") from exc
        if presigned:
            if req.expires <= 0 or req.expires > 7 * 24 * 3600:
                raise S3Error(
                    400,
                    "AuthorizationQueryParametersError",
                    "X-Amz-Expires must be between 1 and 604800 seconds",
                )
            if now > signed_at + req.expires:
                raise S3Error(403, "AccessDenied", "Request has expired")
        elif abs(now - signed_at) > MAX_SKEW_S:
            raise S3Error(403, "RequestTimeTooSkewed", _SKEWED)
    # As on AWS, anything signed with temporary keys stops working when they expire
    # (presigned URLs included); the storage's internal key never expires.
    if now > entry.expire_time:
        raise S3Error(400, "ExpiredToken", "The provided token has expired.")
    if entry.session_token and token != entry.session_token:
        raise S3Error(
            400, "InvalidToken", "The provided token is malformed or otherwise invalid."
        )
    if not verify_signatures:
        return entry
    if v2 is not None:
        expected = sigv4.signature_v2(entry.secret_access_key, sent._replace(path=style_path), v2)
        ok = sigv4.signature_matches(expected, v2.signature)
    else:
        assert req is not None
        canonical = sigv4.canonical_request(sent, req)
        expected = sigv4.signature(entry.secret_access_key, req, canonical)
        ok = sigv4.signature_matches(expected, req.signature)
    if not ok:
        raise S3Error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you "
            "provided. Check your key and signing method.",
        )
    return entry

def check_skew(date_text: str, now: float) -> None:
    """Refuse a header-signed request dated more than 15 minutes away from ``now``."""
    from email.utils import parsedate_to_datetime

    try:
        signed_at = parsedate_to_datetime(date_text).timestamp()
    except (TypeError, ValueError) as exc:
        raise S3Error(403, "AccessDenied", "Date header is missing or malformed") from exc
    if abs(now - signed_at) > MAX_SKEW_S:
        raise S3Error(403, "RequestTimeTooSkewed", _SKEWED)

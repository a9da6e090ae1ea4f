"""AWS request signature checks (SigV4, and S3's legacy SigV2) for the emulator's S3 proxy.

The proxy in front of moto (:mod:`terranb.emulator.s3proxy`) uses this module
to find the access key of a request (``Authorization`` header or presigned
``X-Amz-Credential`` query) and to recompute the signature from the secret it
issued. The payload itself is not hashed: the signature covers the
``x-amz-content-sha256`` header value as sent (as S3 does for streaming and
unsigned payloads), which keeps multi-GB uploads streaming.

Reference: AWS "Signature Version 4 signing process" (canonical request,
string to sign, derived signing key). S3 does not normalise the URI path, so
the path is used exactly as it appears on the request line.

SigV2 (``Authorization: AWS AKID:sig`` and ``?AWSAccessKeyId=&Signature=&Expires=``)
is still what boto3's ``generate_presigned_url`` produces for S3 unless
``signature_version="s3v4"`` is configured, so it is supported too
(:func:`parse_v2` / :func:`signature_v2`, the "RESTAuthentication" string to sign).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote, unquote

__all__ = [
    "SentRequest",
    "SigV2Request",
    "SigV4Request",
    "parse_amz_date",
    "parse_authorization",
    "parse_v2",
    "signature",
    "signature_v2",
]

ALGORITHM = "AWS4-HMAC-SHA256"
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+)\s*,\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+)\s*,\s*Signature=(?P<sig>[0-9a-fA-F]+)\s*$"
)


@dataclass(frozen=True)
class SigV4Request:
    """The signing parts of a request, however they were transported.

    Attributes:
        access_key_id: the key named in the credential scope.
        scope_date, region, service: the scope (``YYYYMMDD/region/s3/aws4_request``).
        amz_date: ``X-Amz-Date`` (``YYYYMMDDTHHMMSSZ``).
        signed_headers: lower-case header names, in signing order.
        signature: hex signature sent by the client.
        presigned: True for query-string authentication.
        expires: ``X-Amz-Expires`` seconds (presigned only).
        session_token: ``X-Amz-Security-Token`` (header or query), or ``""``.
    """

    access_key_id: str
    scope_date: str
    region: str
    service: str
    amz_date: str
    signed_headers: tuple[str, ...]
    signature: str
    presigned: bool = False
    expires: int = 0
    session_token: str = ""

    @property
    def scope(self) -> str:
        """Credential scope string."""
        return f"{self.scope_date}/{self.region}/{self.service}/aws4_request"


def parse_amz_date(value: str) -> float:
    """Unix seconds of an ``X-Amz-Date`` value such as ``20240101T120000Z``.

    Raises:
        ValueError: malformed value.
    """
    return float(calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ")))


def _split_scope(cred: str) -> tuple[str, str, str, str]:
    parts = cred.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise ValueError("malformed credential scope")
    return parts[0], parts[1], parts[2], parts[3]


def parse_query(query: str) -> list[tuple[str, str]]:
    """Decoded ``(name, value)`` pairs of a raw query string, in order."""
    pairs: list[tuple[str, str]] = []
    if not query:
        return pairs
    for item in query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs


def parse_authorization(
    headers: dict[str, str], query_pairs: list[tuple[str, str]]
) -> SigV4Request | None:
    """Find SigV4 credentials in a request; ``None`` when it carries none.

    Args:
        headers: request headers with lower-case names (repeated headers joined by ``,``).
        query_pairs: decoded query parameters.

    Raises:
        ValueError: credentials are present but malformed.
    """
    auth = headers.get("authorization", "")
    if auth:
        if not auth.startswith(ALGORITHM):
            raise ValueError("only AWS4-HMAC-SHA256 authorization is supported")
        m = _AUTH_RE.match(auth.strip())
        if not m:
            raise ValueError("malformed Authorization header")
        akid, date, region, service = _split_scope(m.group("cred"))
        amz_date = headers.get("x-amz-date", "")
        if not amz_date:
            raise ValueError("missing x-amz-date header")
        return SigV4Request(
            access_key_id=akid,
            scope_date=date,
            region=region,
            service=service,
            amz_date=amz_date,
            signed_headers=tuple(m.group("signed").lower().split(";")),
            signature=m.group("sig").lower(),
            session_token=headers.get("x-amz-security-token", ""),
        )
    q = dict(query_pairs)
    if "X-Amz-Credential" not in q:
        return None
    if q.get("X-Amz-Algorithm") != ALGORITHM:
        raise ValueError("X-Amz-Algorithm must be AWS4-HMAC-SHA256")
    akid, date, region, service = _split_scope(q["X-Amz-Credential"])
    try:
        expires = int(q.get("X-Amz-Expires", "0"))
    except ValueError as exc:
        raise ValueError("X-Amz-Expires must be an integer") from exc
    return SigV4Request(
        access_key_id=akid,
        scope_date=date,
        region=region,
        service=service,
        amz_date=q.get("X-Amz-Date", ""),
        signed_headers=tuple(q.get("X-Amz-SignedHeaders", "host").lower().split(";")),
        signature=q.get("X-Amz-Signature", "").lower(),
        presigned=True,
        expires=expires,
        session_token=q.get("X-Amz-Security-Token", ""),
    )


def _canonical_query(query_pairs: list[tuple[str, str]], presigned: bool) -> str:
    items = [
        (quote(k, safe="-_.~"), quote(v, safe="-_.~"))
        for k, v in query_pairs
        if not (presigned and k == "X-Amz-Signature")
    ]
    items.sort()
    return "&".join(f"{k}={v}" for k, v in items)


def _canonical_header_value(value: str) -> str:
    return " ".join(value.strip().split())


class SentRequest(NamedTuple):
    """An S3 request as it arrived: method, path, decoded query, lower-case headers.

    ``path`` is what the signature covers: the path as sent for SigV4, the
    path-style resource for SigV2.
    """

    method: str
    path: str
    query_pairs: list[tuple[str, str]]
    headers: dict[str, str]


def canonical_request(sent: SentRequest, req: SigV4Request) -> str:
    """The SigV4 canonical request of an S3 request (path used as sent)."""
    method, raw_path, query_pairs, headers = sent
    canon_headers = "".join(
        f"{name}:{_canonical_header_value(headers.get(name, ''))}\n" for name in req.signed_headers
    )
    if req.presigned:
        payload = "UNSIGNED-PAYLOAD"
    else:
        payload = headers.get("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
    return "\n".join(
        [
            method,
            raw_path or "/",
            _canonical_query(query_pairs, req.presigned),
            canon_headers,
            ";".join(req.signed_headers),
            payload,
        ]
    )


def signature(secret_access_key: str, req: SigV4Request, canonical: str) -> str:
    """Hex signature of a canonical request with the given secret."""
    string_to_sign = "\n".join(
        [ALGORITHM, req.amz_date, req.scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = ("AWS4" + secret_access_key).encode()
    for part in (req.scope_date, req.region, req.service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def signature_matches(expected: str, given: str) -> bool:
    """Constant-time comparison of two hex signatures."""
    return hmac.compare_digest(expected.encode(), given.encode())


# --- SigV2 -------------------------------------------------------------------------

# Sub-resources that belong to the SigV2 canonical resource (as botocore signs them).
_V2_SUBRESOURCES = frozenset(
    [
        "accelerate",
        "acl",
        "cors",
        "defaultObjectAcl",
        "location",
        "logging",
        "partNumber",
        "policy",
        "requestPayment",
        "torrent",
        "versioning",
        "versionId",
        "versions",
        "website",
        "uploads",
        "uploadId",
        "response-content-type",
        "response-content-language",
        "response-expires",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "delete",
        "lifecycle",
        "tagging",
        "restore",
        "storageClass",
        "notification",
        "replication",
        "analytics",
        "metrics",
        "inventory",
        "select",
        "select-type",
        "object-lock",
    ]
)


@dataclass(frozen=True)
class SigV2Request:
    """SigV2 credentials of a request.

    Attributes:
        access_key_id: the key.
        signature: base64 signature sent.
        presigned: query-string authentication.
        expires: absolute expiry (unix seconds, presigned only).
        session_token: ``x-amz-security-token`` (header or query), or ``""``.
    """

    access_key_id: str
    signature: str
    presigned: bool
    expires: int = 0
    session_token: str = ""


def parse_v2(headers: dict[str, str], query_pairs: list[tuple[str, str]]) -> SigV2Request | None:
    """SigV2 credentials of a request, or ``None`` when it uses another scheme.

    Raises:
        ValueError: malformed SigV2 credentials.
    """
    auth = headers.get("authorization", "")
    if auth.startswith("AWS "):
        akid, sep, sig = auth[4:].strip().rpartition(":")
        if not sep or not akid or not sig:
            raise ValueError("malformed AWS Authorization header")
        return SigV2Request(akid, sig, False, session_token=headers.get("x-amz-security-token", ""))
    q = dict(query_pairs)
    if "AWSAccessKeyId" in q and "Signature" in q:
        try:
            expires = int(q.get("Expires", ""))
        except ValueError as exc:
            raise ValueError("Expires must be an integer (unix seconds)") from exc
        return SigV2Request(
            q["AWSAccessKeyId"],
            q["Signature"],
            True,
            expires=expires,
            session_token=q.get("x-amz-security-token", ""),
        )
    return None


def signature_v2(secret_access_key: str, sent: SentRequest, req: SigV2Request) -> str:
    """Base64 HMAC-SHA1 signature of a request, SigV2 style (header or query auth)."""
    import base64

    method, raw_path, query_pairs, headers = sent

    if req.presigned:
        # What was signed as headers travels in the query.
        source = {k.lower(): v for k, v in query_pairs}
        date = str(req.expires)
    else:
        source = headers
        date = headers.get("date", "")
    amz = sorted(
        (k, ",".join(p.strip() for p in v.split(",")) if not req.presigned else v.strip())
        for k, v in source.items()
        if k.startswith("x-amz-")
    )
    subresources = sorted((k, v) for k, v in query_pairs if k in _V2_SUBRESOURCES)
    resource = raw_path or "/"
    if subresources:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in subresources)
    lines = [
        method.upper(),
        source.get("content-md5", "").strip(),
        source.get("content-type", "").strip(),
        date,
    ]
    text = "\n".join(lines) + "\n"
    text += "".join(f"{k}:{v}\n" for k, v in amz)
    text += resource
    digest = hmac.new(secret_access_key.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()

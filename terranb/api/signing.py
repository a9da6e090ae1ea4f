"""HMAC gateway signing and verification for DJI TerraAPI v2 (protocol.md §1.2).

Pure functions, no I/O: the client signs with :func:`sign`, the emulator checks
with :func:`verify`, and both share :func:`signing_string`, so the two sides
cannot drift apart.

The algorithm, as DJI's quick start computes it with ``openssl``::

    digest    = base64(sha256(body_bytes))              # also for an empty body
    date      = "%a, %d %b %Y %H:%M:%S GMT" in UTC
    signing   = "date: <date>\\n@request-target: <lower method> <path?query>\\n"
                "digest: SHA-256=<digest>"
    signature = base64(hmac_sha256(SK, signing))
    Authorization: hmac username="<AK>", algorithm="hmac-sha256",
                   headers="date @request-target digest", signature="<signature>"

Verification follows the gateway (Kong's hmac-auth plugin, an inference made in
protocol.md): ``Date`` or ``X-Date`` within a clock skew (300 s by default), a
``Digest`` that matches the raw body, the target signed with or without its
query string, hmac-sha1/256/384/512, constant-time comparison, and a signed
header list that binds the signature to the request (the checked date, the
target, the digest of a body: :func:`missing_signed_headers`). Failures raise
:class:`~terranb.errors.SignatureError` whose ``message`` is the gateway's
wording, ready to be sent back as ``{"message": ...}`` with HTTP 401.

Example:
    >>> h = sign("GET", "/terra-rescon-be/v2/jobs", b"", "ak", "sk",
    ...          date="Mon, 01 Jan 2024 00:00:00 GMT")
    >>> h["Digest"]
    'SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import formatdate, parsedate_to_datetime

from terranb.errors import SignatureError

__all__ = [
    "ALGORITHMS",
    "MSG_BAD_DATE",
    "MSG_CANNOT_VERIFY",
    "MSG_MISMATCH",
    "MSG_UNAUTHORIZED",
    "AuthorizationParams",
    "body_digest",
    "http_date",
    "missing_signed_headers",
    "parse_authorization",
    "sign",
    "signing_string",
    "verify",
]

# hashlib constructors by the gateway's algorithm names.
ALGORITHMS: dict[str, Callable[..., hashlib._Hash]] = {
    "hmac-sha1": hashlib.sha1,
    "hmac-sha256": hashlib.sha256,
    "hmac-sha384": hashlib.sha384,
    "hmac-sha512": hashlib.sha512,
}

# The gateway's texts (Kong hmac-auth), returned verbatim in {"message": ...}.
MSG_UNAUTHORIZED = "Unauthorized"
MSG_BAD_DATE = (
    "HMAC signature cannot be verified, a valid date or x-date header is required "
    "for HMAC Authentication"
)
MSG_CANNOT_VERIFY = "HMAC signature cannot be verified"
MSG_MISMATCH = "HMAC signature does not match"

_DATE_FORMAT = "%a, %d %b %Y %H:%M:%S GMT"
_EMPTY_DIGEST = base64.b64encode(hashlib.sha256(b"").digest()).decode("ascii")


def http_date(when: datetime | float | None = None) -> str:
    """Format a time as the gateway wants it: ``Thu, 22 Jun 2017 21:12:36 GMT`` (UTC).

    Args:
        when: a datetime (naive means UTC), a Unix timestamp, or ``None`` for now.

    Example:
        >>> http_date(0)
        'Thu, 01 Jan 1970 00:00:00 GMT'
    """
    if when is None:
        ts = time.time()
    elif isinstance(when, datetime):
        ts = (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()
    else:
        ts = float(when)
    # email.utils writes RFC 7231 dates with English names whatever the locale (unlike
    # strftime's %a/%b), which is what the gateway parses.
    return formatdate(ts, usegmt=True)


def _parse_http_date(value: str) -> datetime | None:
    try:
        dt = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if dt is None:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def body_digest(body: bytes | str | None) -> str:
    """Return ``base64(sha256(body))`` of the exact body bytes (empty body included).

    Example:
        >>> body_digest(b"A small body")
        'SBH7QEtqnYUpEcIhDbmStNd1MxtHg2+feBfWc1105MA='
    """
    if body is None:
        return _EMPTY_DIGEST
    if isinstance(body, str):
        body = body.encode("utf-8")
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def signing_string(
    header_names: list[str], headers: Mapping[str, str], method: str, target: str,
    http_version: str = "1.1",
) -> str:
    """Build the string to sign from the listed header names.

    ``@request-target`` gives ``"<lower method> <target>"``; ``request-line`` (Kong's
    other pseudo-header) gives ``"<METHOD> <target> HTTP/<version>"``; any other
    name gives ``"name: value"`` (``"name:"`` when the header is absent, as the
    gateway does). Lines are joined by ``\\n`` with no trailing newline.

    Args:
        header_names: names as listed in the Authorization ``headers`` parameter.
        headers: request headers; looked up case-insensitively.
        method: HTTP method in any case.
        target: path, with ``?query`` when the query is signed.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    lines = []
    for name in header_names:
        name = name.lower()
        if name == "@request-target":
            lines.append(f"@request-target: {method.lower()} {target}")
        elif name == "request-line":
            lines.append(f"{method.upper()} {target} HTTP/{http_version}")
        elif name in lower:
            lines.append(f"{name}: {lower[name]}")
        else:
            lines.append(f"{name}:")
    return "\n".join(lines)


def _hmac_b64(secret: str | bytes, message: str, algorithm: str) -> str:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    mac = hmac.new(key, message.encode("utf-8"), ALGORITHMS[algorithm])
    return base64.b64encode(mac.digest()).decode("ascii")


def sign(
    method: str,
    target: str,
    body: bytes | str | None,
    app_key: str,
    secret_key: str | bytes,
    *,
    date: str | datetime | float | None = None,
    use_x_date: bool = False,
    algorithm: str = "hmac-sha256",
) -> dict[str, str]:
    """Return the headers that sign one request.

    Args:
        method: HTTP method (any case).
        target: request path starting with ``/terra-rescon-be/``, plus ``?query``
            when there is one (the gateway signs path and query).
        body: the exact bytes that will be sent (``b""`` or ``None`` for none).
        app_key: the AK; it goes into the header in clear, as DJI specifies.
        secret_key: the SK; it never leaves this function.
        date: an already formatted date string, a datetime, a timestamp, or
            ``None`` for now. Every retry must sign again with a fresh date.
        use_x_date: sign ``x-date`` instead of ``date`` (what browsers must do).
        algorithm: one of :data:`ALGORITHMS`.

    Returns:
        ``Date`` (or ``X-Date``), ``Digest`` and ``Authorization`` headers.

    Example:
        >>> sign("post", "/terra-rescon-be/v2/jobs", b'{"name": "test_name"}', "ak",
        ...      "test-sk", date="Mon, 01 Jan 2024 00:00:00 GMT")["Authorization"][-56:]
        'signature="lgBQfdRILXm4fXA11B8iUTCgXi+lzTHSPabtK9XUIpM="'
    """
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unknown algorithm {algorithm!r}; use one of {sorted(ALGORITHMS)}")
    date_value = date if isinstance(date, str) else http_date(date)
    date_name = "x-date" if use_x_date else "date"
    digest = f"SHA-256={body_digest(body)}"
    names = [date_name, "@request-target", "digest"]
    text = signing_string(names, {date_name: date_value, "digest": digest}, method, target)
    signature = _hmac_b64(secret_key, text, algorithm)
    return {
        ("X-Date" if use_x_date else "Date"): date_value,
        "Digest": digest,
        "Authorization": (
            f'hmac username="{app_key}", algorithm="{algorithm}", '
            f'headers="{" ".join(names)}", signature="{signature}"'
        ),
    }


def missing_signed_headers(
    names: list[str], headers: Mapping[str, str], body: bytes | None
) -> list[str]:
    """What a signed header list lacks to bind the signature to this request.

    Args:
        names: the ``headers="..."`` list of the Authorization header.
        headers: request headers with lower-case names.
        body: the raw body (a non-empty body needs ``digest``).

    Example:
        >>> missing_signed_headers(["date"], {"date": "x"}, b"{}")
        ['@request-target (or request-line)', 'digest']
    """
    signed = {n.lower() for n in names}
    missing = []
    date_name = "x-date" if "x-date" in headers else "date"
    if date_name not in signed:
        missing.append(date_name)
    if not signed & {"@request-target", "request-line"}:
        missing.append("@request-target (or request-line)")
    if body and "digest" not in signed:
        missing.append("digest")
    return missing


@dataclass(frozen=True)
class AuthorizationParams:
    """The parsed parameters of an ``Authorization: hmac ...`` header."""

    username: str
    algorithm: str
    headers: list[str]
    signature: str


_PARAM = re.compile(r'(\w+)\s*=\s*"([^"]*)"')


def parse_authorization(value: str) -> AuthorizationParams | None:
    """Parse ``hmac username="..", algorithm="..", headers="..", signature=".."``.

    Returns ``None`` when the header is not an hmac credential or lacks a field.
    """
    value = value.strip()
    if not value.lower().startswith("hmac "):
        return None
    params = {k.lower(): v for k, v in _PARAM.findall(value[5:])}
    if not all(k in params for k in ("username", "algorithm", "signature")):
        return None
    names = params.get("headers", "date").split()
    return AuthorizationParams(
        username=params["username"],
        algorithm=params["algorithm"].lower(),
        headers=names,
        signature=params["signature"],
    )


def verify(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    lookup_secret: Callable[[str], str | None],
    *,
    now: datetime | float | None = None,
    clock_skew: float = 300.0,
    validate_body: bool = True,
    http_version: str = "1.1",
) -> str:
    """Check a signed request the way the gateway does and return its AK.

    The signed header list is enforced as Kong's ``enforce_headers`` would be for
    what DJI's quick start signs (``date @request-target digest``): the date
    header whose clock skew is checked (``x-date`` when sent, else ``date``) must
    be signed, the target must be signed (``@request-target`` or
    ``request-line``), and a request with a body must sign ``digest``. Without
    these a signature could be replayed on another method, path or body, and
    ``headers=""`` would sign the empty string: one fixed, forever-valid value
    per SK. Violations answer 401 "HMAC signature cannot be verified".

    Args:
        method: HTTP method as received.
        path: the raw request path (no query).
        query: the raw query string without ``?`` (``""`` when none).
        headers: request headers (looked up case-insensitively).
        body: the raw body bytes as received.
        lookup_secret: returns the SK for an AK, or ``None`` for an unknown AK.
        now: the verifier's clock (injectable for tests).
        clock_skew: the largest accepted |now - Date| in seconds.
        validate_body: check ``Digest`` against the body.

    Raises:
        SignatureError: with the gateway's message; the caller answers 401.
    """
    lower = {k.lower(): v for k, v in headers.items()}
    auth_value = lower.get("authorization") or lower.get("proxy-authorization")
    if not auth_value:
        raise SignatureError(MSG_UNAUTHORIZED, reason="no Authorization header")

    date_value = lower.get("x-date") or lower.get("date")
    sent = _parse_http_date(date_value) if date_value else None
    if sent is None:
        raise SignatureError(MSG_BAD_DATE, reason="missing or unparseable Date/X-Date")
    if now is None:
        now_dt = datetime.now(timezone.utc)
    elif isinstance(now, datetime):
        now_dt = now if now.tzinfo else now.replace(tzinfo=timezone.utc)
    else:
        now_dt = datetime.fromtimestamp(float(now), timezone.utc)
    if abs((now_dt - sent).total_seconds()) > clock_skew:
        raise SignatureError(MSG_BAD_DATE, reason=f"date outside the {clock_skew:g} s clock skew")

    params = parse_authorization(auth_value)
    if params is None:
        raise SignatureError(MSG_CANNOT_VERIFY, reason="malformed Authorization header")
    if params.algorithm not in ALGORITHMS:
        raise SignatureError(MSG_CANNOT_VERIFY, reason=f"algorithm {params.algorithm!r}")
    missing = missing_signed_headers(params.headers, lower, body)
    if missing:
        raise SignatureError(MSG_CANNOT_VERIFY,
                             reason=f"signed header list lacks {' and '.join(missing)}")
    secret = lookup_secret(params.username)
    if secret is None:
        raise SignatureError(MSG_CANNOT_VERIFY, reason="unknown app key")

    targets = [f"{path}?{query}", path] if query else [path]
    matched = False
    for target in targets:
        text = signing_string(params.headers, lower, method, target, http_version)
        expected = _hmac_b64(secret, text, params.algorithm)
        # Compare every candidate so timing does not reveal which one matched.
        matched |= hmac.compare_digest(expected.encode(), params.signature.encode())
    if not matched:
        raise SignatureError(MSG_MISMATCH, reason="signature mismatch")

    if validate_body:
        digest = lower.get("digest")
        if digest is None:
            if body:
                raise SignatureError(MSG_MISMATCH, reason="body sent without a Digest header")
        elif not hmac.compare_digest(digest.encode(), f"SHA-256={body_digest(body)}".encode()):
            raise SignatureError(MSG_MISMATCH, reason="Digest does not match the body")
    return params.username

"""Secrets out of logs, reprs and errors: a :class:`Secret` wrapper, a registry, a log filter.

Three pieces, used together:

* :class:`Secret` holds one credential (SK, X-User-Token, x-auth-token, a
  password). Its ``repr``/``str`` are ``***``; :meth:`Secret.reveal` returns the
  value for the one place that needs it (signing, a header). Creating one
  registers the value.
* the **registry** (:func:`register`) remembers every secret terranb has seen:
  the SK, STS access keys, secret keys and session tokens, FlightHub 2
  organisation keys, Cloud API JWTs. :func:`redact` replaces each of them by
  ``***`` in a text, and also masks by *shape* what no registry can know in
  advance: ``Authorization`` header values, ``X-Amz-Signature`` /
  ``X-Amz-Credential`` / ``X-Amz-Security-Token`` (and OSS) query values of
  presigned URLs, ``x-amz-security-token`` / ``X-User-Token`` / ``x-auth-token``
  headers as botocore and urllib3 print them at DEBUG, and JSON fields named
  like secrets (``secretAccessKey``, ``session_token`` ...).
* :class:`RedactingFilter`, a :class:`logging.Filter` for **handlers** (a
  handler filter sees the records that third-party loggers such as botocore,
  urllib3 and s3transfer propagate to it; a logger filter would not). The CLI
  installs it on the root handlers it creates; in a notebook call
  :func:`install_log_filter` after ``logging.basicConfig(...)``::

      import logging, terranb.redact
      logging.basicConfig(level=logging.DEBUG)
      terranb.redact.install_log_filter()   # every root handler now masks secrets

Values shorter than :data:`MIN_SECRET_LENGTH` are not registered: masking
``"sk"`` everywhere would garble every log line and protects nothing real.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

__all__ = [
    "MASK",
    "MIN_SECRET_LENGTH",
    "RedactingFilter",
    "Secret",
    "install_log_filter",
    "known_secret_count",
    "redact",
    "register",
    "reveal",
]

MASK = "***"
MIN_SECRET_LENGTH = 6

_lock = threading.Lock()
_known: set[str] = set()
# Longest first, so a secret that contains another one is masked whole.
_ordered: list[str] = []


def register(*values: Any) -> None:
    """Remember secret values so :func:`redact` (and the log filter) masks them.

    ``None``, empty and short values are ignored; :class:`Secret` arguments are
    unwrapped. Registering is idempotent and thread-safe.
    """
    global _ordered
    fresh = []
    for value in values:
        if isinstance(value, Secret):
            value = value.reveal()
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
            continue
        fresh.append(value)
    if not fresh:
        return
    with _lock:
        new = [v for v in fresh if v not in _known]
        if not new:
            return
        _known.update(new)
        _ordered = sorted(_known, key=len, reverse=True)


def known_secret_count() -> int:
    """How many secrets the registry holds (for tests and diagnostics)."""
    with _lock:
        return len(_known)


class Secret:
    """A credential whose ``repr`` and ``str`` are ``***``.

    Example:
        >>> s = Secret("my-secret-key")
        >>> s, str(s), f"{s}", s.reveal()
        (Secret('***'), '***', '***', 'my-secret-key')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        raw = value.reveal() if isinstance(value, Secret) else str(value)
        object.__setattr__(self, "_value", raw)
        register(raw)

    def reveal(self) -> str:
        """The clear value; call it only where the secret is put on the wire or signed."""
        value: str = object.__getattribute__(self, "_value")
        return value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __bool__(self) -> bool:
        return bool(self.reveal())

    def __len__(self) -> int:
        return len(self.reveal())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            other = other.reveal()
        if not isinstance(other, str):
            return NotImplemented
        return hmac.compare_digest(self.reveal().encode(), other.encode())

    def __hash__(self) -> int:
        return hash(("terranb.Secret", self.reveal()))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> Any:
        # Pickling would write the clear value somewhere (a cache, a notebook kernel
        # snapshot); refuse instead of leaking quietly.
        raise TypeError("a Secret cannot be pickled; store the setting, not the object")


def reveal(value: str | Secret | None) -> str | None:
    """``value.reveal()`` for a :class:`Secret`, the value itself otherwise."""
    return value.reveal() if isinstance(value, Secret) else value


# -- shape-based masking ------------------------------------------------------------------
# Query parameters of presigned URLs (S3 SigV4/SigV2, OSS) and token parameters.
_QUERY = re.compile(
    r"(?i)([?&](?:x-amz-signature|x-amz-credential|x-amz-security-token|signature|"
    r"x-oss-signature|x-oss-credential|x-oss-security-token|security-token|awsaccesskeyid|"
    r"ossaccesskeyid|access_token|token)=)[^&#\s'\"<>]+"
)
# Header lines and dict entries as botocore / urllib3 / http.client print them:
#   x-amz-security-token:VALUE          (canonical request)
#   'X-Amz-Security-Token': b'VALUE'    (headers dict repr)
#   Authorization: hmac username=...    (raw header)
_HEADER_NAMES = (r"authorization|proxy-authorization|x-amz-security-token|x-user-token|"
                 r"x-auth-token|x-oss-security-token|cookie|set-cookie")
_HEADER_DICT = re.compile(
    rf"(?i)(['\"](?:{_HEADER_NAMES})['\"]\s*:\s*b?)(['\"])(.*?)(?<!\\)\2"
)
_HEADER_LINE = re.compile(rf"(?im)(^|[\s{{,])((?:{_HEADER_NAMES})\s*[:=]\s*)(?!['\"])([^\r\n,}}]+)")
# JSON/dict fields named like secrets ("secretAccessKey": "...", 'session_token': '...').
_FIELD_NAMES = (r"secret_?access_?key|session_?token|security_?token|access_?token|"
                r"refresh_?token|secret_?key|password|user_?token|x-user-token|sk")
_FIELD = re.compile(rf"(?i)(['\"](?:{_FIELD_NAMES})['\"]\s*[:=]\s*)(['\"])(.*?)(?<!\\)\2")
# The signature inside an hmac or AWS4 Authorization value printed without its header name.
_SIGNATURE = re.compile(r"(?i)((?:signature|credential)\s*=\s*\"?)[A-Za-z0-9+/=_%.\-]{8,}")
# botocore's DEBUG "Signature:\n<hex>" line (the SigV4 signature of one request).
_BOTO_SIGNATURE = re.compile(r"(?m)^(Signature:\s*)[0-9a-f]{64}$")


def redact(text: str) -> str:
    """``text`` with every registered secret and every credential-shaped value masked.

    Example:
        >>> redact("GET /b/k?X-Amz-Signature=abcdef123&partNumber=1")
        'GET /b/k?X-Amz-Signature=***&partNumber=1'
        >>> redact("x-amz-security-token:FwoGZXIvYXdzEXAMPLE")
        'x-amz-security-token:***'
    """
    if not text:
        return text
    with _lock:
        known = _ordered
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    text = _QUERY.sub(rf"\1{MASK}", text)
    text = _HEADER_DICT.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}{m.group(2)}", text)
    text = _FIELD.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}{m.group(2)}", text)
    text = _HEADER_LINE.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
    text = _SIGNATURE.sub(rf"\1{MASK}", text)
    text = _BOTO_SIGNATURE.sub(rf"\1{MASK}", text)
    return text


class RedactingFilter(logging.Filter):
    """Masks secrets in every record a handler emits (message, arguments, traceback).

    It never drops a record. The formatted message replaces ``msg`` (and ``args``
    become empty), so a later formatter cannot reintroduce the clear values.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken %-format in someone else's logger: keep it visible
            message = f"{record.msg!r} {record.args!r}"
        record.msg = redact(message)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def _has_filter(handler: logging.Handler) -> bool:
    return any(isinstance(f, RedactingFilter) for f in handler.filters)


def install_log_filter(
    logger: logging.Logger | None = None, handlers: Iterable[logging.Handler] | None = None
) -> int:
    """Add a :class:`RedactingFilter` to handlers; returns how many got one.

    Args:
        logger: whose handlers to cover (default: the root logger, where records
            of every library end up).
        handlers: explicit handlers instead (e.g. a ``FileHandler`` you add later).

    Call it again after adding handlers; a handler never gets two filters.
    """
    chosen = list(handlers) if handlers is not None else list(
        (logger or logging.getLogger()).handlers)
    added = 0
    for handler in chosen:
        if not _has_filter(handler):
            handler.addFilter(RedactingFilter())
            added += 1
    return added

"""One HTTP session per client: base URL, timeouts, retries, signing hook, safe logs.

:class:`ApiSession` owns a ``requests.Session``. Endpoint code calls
:meth:`ApiSession.request` with a method, a path, query parameters and the
exact body bytes; the session prepares the request, lets the client's
``authorize`` hook add headers *for every attempt* (TerraAPI re-signs with a
fresh ``Date`` each time; FlightHub 2 adds its token headers), sends it and
retries where that is safe:

* connection errors, timeouts and HTTP 5xx / 429 are retried with exponential
  backoff plus jitter, honouring ``Retry-After``, for safe methods (GET, HEAD,
  OPTIONS, DELETE) and for calls marked ``idempotent=True``;
* calls that create something (``idempotent=False``, the default for POST)
  are retried only when the request provably never reached the server
  (connection refused, DNS failure, connect timeout) or was refused with 429
  before being processed; anything ambiguous (read timeout, reset, 5xx) is
  raised so the caller can check before repeating it.

``sleep``, ``clock`` and ``rand`` are injectable so tests of retries take no time.

Logging (logger ``terranb.api``) at DEBUG records method, path, status, attempt
and duration. Headers and bodies are never logged, and query values whose
names look like credentials (presigned ``X-Amz-Signature``, OSS ``Signature``,
``security-token`` ...) are replaced by ``***``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, TypedDict
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests

from terranb._version import __version__
from terranb.closing import Closable
from terranb.errors import TransportError
from terranb.retry import RetryPolicy

__all__ = [
    "USER_AGENT",
    "ApiSession",
    "RetryPolicy",
    "Transport",
    "build_query",
    "redact_url",
    "settings_without_secrets",
]

log = logging.getLogger("terranb.api")

USER_AGENT = f"terranb/{__version__} (+python-requests/{requests.__version__})"

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "DELETE"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

# Query parameter names whose values are credentials (presigned S3 / OSS URLs,
# tokens). Compared lower-case.
_SECRET_QUERY_NAMES = frozenset({
    "x-amz-signature", "x-amz-security-token", "x-amz-credential", "signature",
    "security-token", "x-oss-signature", "x-oss-security-token", "x-oss-credential",
    "ossaccesskeyid", "awsaccesskeyid", "accesskeyid", "token", "access_token",
    "x-auth-token", "sig", "se", "sp", "sv", "sr", "skoid", "sktid",
})

# Adds auth headers to a prepared request; called once per attempt.
AuthorizeHook = Callable[[requests.PreparedRequest], None]
# A response the client says must not be retried even with a retryable status.
RetryVeto = Callable[[requests.Response], bool]


class Transport(TypedDict, total=False):
    """The transport knobs an API client passes through to :class:`ApiSession` unchanged.

    ``TerraClient``, ``FlightHubClient`` and ``CloudApiClient`` take them as keyword
    arguments (``timeout=``, ``retry=``, ``http=``, ``sleep=``, ``clock=``, ``rand=``);
    see :class:`ApiSession` for what each means. Left out means ApiSession's default.
    """

    timeout: float | tuple[float, float]
    retry: RetryPolicy | None
    http: requests.Session | None
    sleep: Callable[[float], None] | None
    clock: Callable[[], float] | None
    rand: Callable[[], float] | None


def redact_url(url: str) -> str:
    """Return ``url`` with credential-like query values replaced by ``***``.

    Example:
        >>> redact_url("https://b.s3.amazonaws.com/k?X-Amz-Signature=abc&part=1")
        'https://b.s3.amazonaws.com/k?X-Amz-Signature=***&part=1'
    """
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    safe = [(k, "***" if k.lower() in _SECRET_QUERY_NAMES or "token" in k.lower()
             or "signature" in k.lower() or "credential" in k.lower() else v)
            for k, v in pairs]
    query = "&".join(f"{quote(k, safe='')}={v if v == '***' else quote(v, safe='')}"
                     for k, v in safe)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def settings_without_secrets(settings: Any) -> Any:
    """A copy of :class:`~terranb.config.Settings` with SK, organisation key and password removed.

    Clients keep their secrets in :class:`~terranb.redact.Secret` attributes; the
    settings they keep for reference must not hold a second copy in clear
    (``vars(client)`` would show it).
    """
    import dataclasses

    secret_fields = ("secret_key", "fh2_user_token", "cloudapi_password")
    names = {f.name for f in dataclasses.fields(settings)}
    return dataclasses.replace(settings, **{n: None for n in secret_fields if n in names})


def build_query(params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> str:
    """Encode query parameters deterministically (``None`` values dropped, bools as
    ``true``/``false``, lists comma-joined), in the given order.

    The string is placed in the URL as is, so what is signed is what is sent.

    Example:
        >>> build_query({"page": 1, "rows": 10, "needURL": True, "search": None,
        ...              "uuids": ["a", "b"]})
        'page=1&rows=10&needURL=true&uuids=a%2Cb'
    """
    if not params:
        return ""
    items = params.items() if isinstance(params, Mapping) else params
    pairs: list[tuple[str, str]] = []
    for key, value in items:
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (list, tuple, set, frozenset)):
            text = ",".join(str(v) for v in value)
        else:
            text = str(int(value)) if hasattr(value, "__index__") else str(value)
        pairs.append((key, text))
    return urlencode(pairs, quote_via=quote, safe="")


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached the server (safe to replay any call)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        # urllib3 wraps "connection refused" / DNS failures as NewConnectionError
        # (NameResolutionError is a subclass) inside MaxRetryError.reason.
        from urllib3.exceptions import NewConnectionError

        seen: set[int] = set()
        node: BaseException | None = exc
        while node is not None and id(node) not in seen:
            seen.add(id(node))
            if isinstance(node, NewConnectionError):
                return True
            reason = getattr(node, "reason", None)
            if isinstance(reason, BaseException):
                node = reason
                continue
            args = getattr(node, "args", ())
            node = args[0] if args and isinstance(args[0], BaseException) else None
        return False
    return False


class ApiSession(Closable):
    """Owns one ``requests.Session`` for one client.

    Args:
        base_url: scheme and host, optionally with a path prefix
            (``https://openapi-us.dji.com``).
        authorize: called with each prepared request right before it is sent, on
            every attempt; it adds the auth headers (and may re-sign).
        timeout: ``(connect, read)`` seconds.
        retry: the :class:`RetryPolicy`.
        user_agent: the ``User-Agent`` header.
        default_headers: headers added to every request.
        retry_veto: returns True for a response that must not be retried even if
            its status is retryable (e.g. TerraAPI 801 "jobs over limit" comes
            with 429 but will not clear in seconds).
        http: an existing ``requests.Session`` (e.g. with a test adapter mounted).
        sleep, clock, rand: injectable for tests.
        logger: where DEBUG lines go.
    """

    def __init__(
        self,
        base_url: str,
        *,
        authorize: AuthorizeHook | None = None,
        timeout: float | tuple[float, float] = (10.0, 60.0),
        retry: RetryPolicy | None = None,
        user_agent: str = USER_AGENT,
        default_headers: Mapping[str, str] | None = None,
        retry_veto: RetryVeto | None = None,
        http: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        rand: Callable[[], float] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.authorize = authorize
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.retry_veto = retry_veto
        self.http = http or requests.Session()
        self.http.headers["User-Agent"] = user_agent
        for k, v in (default_headers or {}).items():
            self.http.headers[k] = v
        # None means the real thing, so clients can pass their own optional knobs through.
        self.sleep = time.sleep if sleep is None else sleep
        self.clock = time.monotonic if clock is None else clock
        self.rand = random.random if rand is None else rand
        self.log = logger or log

    def close(self) -> None:
        """Close the pooled connections."""
        self.http.close()

    def __repr__(self) -> str:
        return f"ApiSession({self.base_url!r})"

    def url(self, path: str, query: str = "") -> str:
        """Absolute URL of ``path`` (starting with ``/``) plus an encoded query."""
        url = f"{self.base_url}{path}"
        return f"{url}?{query}" if query else url

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        allow_redirects: bool = True,
        authorize: AuthorizeHook | None = None,
    ) -> requests.Response:
        """Send one logical request, retrying where safe; return the final response.

        Non-2xx responses are returned (not raised) once retries are exhausted or
        not allowed: the API clients decode their own error envelopes.

        Args:
            method: HTTP method.
            path: path starting with ``/`` (appended to ``base_url``).
            params: query parameters (see :func:`build_query`).
            body: the exact bytes to send (``None`` = no body).
            headers: extra headers for this call.
            idempotent: ``True`` allows retrying a POST/PUT; default: only safe methods.
            allow_redirects: set ``False`` to read a 302 ``Location`` yourself.
            authorize: overrides the session's hook for this call.

        Raises:
            TransportError: no answer after the allowed attempts.
        """
        method = method.upper()
        can_replay = method in SAFE_METHODS if idempotent is None else idempotent
        query = build_query(params)
        url = self.url(path, query)
        log_target = redact_url(f"{path}?{query}" if query else path)
        hook = authorize or self.authorize
        attempt = 0
        while True:
            attempt += 1
            req = requests.Request(method, url, data=body if body is not None else None,
                                   headers=dict(headers or {}))
            prep = self.http.prepare_request(req)
            if hook is not None:
                hook(prep)
            settings = self.http.merge_environment_settings(prep.url, {}, None, None, None)
            start = self.clock()
            try:
                resp = self.http.send(prep, timeout=self.timeout,
                                      allow_redirects=allow_redirects, **settings)
            except requests.RequestException as exc:
                elapsed = (self.clock() - start) * 1000
                # A body cut off mid-stream (ChunkedEncodingError) is as transient as a
                # reset connection; replay it only where replaying is safe.
                retryable = isinstance(exc, (requests.ConnectionError, requests.Timeout,
                                             requests.exceptions.ChunkedEncodingError))
                replay = retryable and (can_replay or _never_sent(exc))
                self.log.debug("%s %s -> %s after %.1f ms (attempt %d)", method, log_target,
                               type(exc).__name__, elapsed, attempt)
                if replay and attempt < self.retry.max_attempts:
                    self._wait(attempt, None)
                    continue
                host = urlsplit(self.base_url).netloc
                what = "could not connect to" if _never_sent(exc) else "no answer from"
                hint = ("" if replay or not retryable else
                        "; the request may or may not have been processed, so it was not "
                        "repeated automatically: check the service state before retrying")
                raise TransportError(
                    f"{method} {redact_url(path)}: {what} {host} after {attempt} attempt(s) "
                    f"({type(exc).__name__}){hint}. Check the network and the base URL."
                ) from exc
            elapsed = (self.clock() - start) * 1000
            self.log.debug("%s %s -> %d in %.1f ms (attempt %d)", method, log_target,
                           resp.status_code, elapsed, attempt)
            if (resp.status_code in RETRY_STATUSES and attempt < self.retry.max_attempts
                    and (can_replay or resp.status_code == 429)
                    and not (self.retry_veto and self.retry_veto(resp))):
                wait = _retry_after(resp)
                resp.close()
                self._wait(attempt, wait)
                continue
            return resp

    def _wait(self, attempt: int, retry_after: float | None) -> None:
        delay = self.retry.delay(attempt, self.rand)
        if retry_after is not None:
            delay = min(self.retry.max_backoff, max(delay, retry_after))
        self.log.info("retrying in %.2f s (attempt %d of %d)", delay, attempt + 1,
                      self.retry.max_attempts)
        self.sleep(delay)

"""DJI TerraAPI v2 client (protocol.md §1): store, resources, files, jobs.

Every request is signed with the gateway's HMAC scheme (:mod:`terranb.api.signing`)
over the exact bytes sent, re-signed with a fresh ``Date`` on every retry. The
``{"result": {"code", "msg", "desc"}, "data": ...}`` envelope is decoded and
errors become typed exceptions from :mod:`terranb.errors` whose text names the
likely cause and the fix.

Example:
    >>> client = TerraClient(app_key="ak", secret_key="sk", region="us")  # doctest: +SKIP
    >>> creds = client.store.obtain_token()                             # doctest: +SKIP
    >>> res = client.resources.create("my photos")                      # doctest: +SKIP
    >>> for job in client.jobs.list(status=3): print(job)               # doctest: +SKIP
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # PEP 692 **kwargs typing; typing.Unpack is 3.11+
    from typing_extensions import Unpack

import requests

import terranb.api.signing as signing
from terranb.api.json_fields import answer_json, envelope_code
from terranb.api.models import Page
from terranb.api.session import ApiSession, Transport, settings_without_secrets
from terranb.api.terra_endpoints import (
    FilesAPI,
    JobsAPI,
    ResourcesAPI,
    StoreAPI,
)
from terranb.closing import Closable
from terranb.config import TERRA_HOSTS, Settings
from terranb.errors import (
    ApiError,
    AuthenticationError,
    BillingError,
    InvalidOperationError,
    InvalidParameterError,
    JobLimitError,
    NotFoundError,
    ServerError,
    UnsupportedRouteError,
    ValidationError,
    error_for_status,
)
from terranb.redact import Secret

__all__ = [
    "PATH_PREFIX",
    "TERRA_HOSTS",
    "FilesAPI",
    "JobsAPI",
    "ResourcesAPI",
    "StoreAPI",
    "TerraClient",
    "decode_terra_response",
    "encode_json",
]

log = logging.getLogger("terranb.api")

PATH_PREFIX = "/terra-rescon-be"
CONTENT_TYPE = "application/json;charset=UTF-8"

_HINT_SK = ("check DJI_APP_KEY / DJI_SECRET_KEY: the secret key (SK) is probably wrong or "
            "belongs to another app key")
_HINT_CLOCK = ("the request Date is outside the gateway's clock-skew window: check the system "
               "clock (it must be within a few minutes of UTC; compare `date -u` with a time "
               "server and enable NTP)")
_HINT_AK = "check DJI_APP_KEY: the gateway does not know this app key, or the header is malformed"

# TerraAPI result.code -> (exception class, hint).
_CODE_MAP: dict[int, tuple[type[ApiError], str]] = {
    701: (AuthenticationError, "authentication failed: " + _HINT_SK),
    801: (JobLimitError,
          "too many unfinished jobs for this account (the beta allows 2): wait for a job to "
          "finish, or stop one with `terranb jobs stop UUID`, then start again"),
    102000: (ServerError, "the service failed internally; retry later"),
    102001: (InvalidParameterError, "a request parameter was rejected: check the values sent"),
    102002: (NotFoundError, "the resource or file does not exist (check the uuid)"),
    102003: (InvalidOperationError,
             "not allowed in the object's current state (e.g. starting a job twice, changing "
             "a resource after its job started, stopping a job with status >= 4)"),
    102114: (NotFoundError, "the job does not exist (check the uuid)"),
    102116: (BillingError, "billing failed: check the account's quota and payment status"),
}

def encode_json(obj: Any) -> bytes:
    """The exact body bytes terranb sends and signs.

    ``json.dumps`` with its default separators, as the quick start's Python code
    does (``json.dumps(payload)``), so the body is ASCII (non-ASCII escaped).

    Example:
        >>> encode_json({"name": "test_name"})
        b'{"name": "test_name"}'
    """
    return json.dumps(obj).encode("utf-8")


def _gateway_error(status: int, message: str, body: Any) -> ApiError:
    if status >= 500:
        # A gateway-style {"message"} body on a 5xx is an outage, not a credentials problem.
        return ServerError(f"gateway error: {message}", status_code=status,
                           hint="the service is failing; retry later", body=body)
    if message == signing.MSG_BAD_DATE or "date" in message.lower():
        hint = _HINT_CLOCK
    elif message == signing.MSG_MISMATCH or "does not match" in message.lower():
        hint = _HINT_SK + "; also make sure the system clock is correct"
    elif message == signing.MSG_CANNOT_VERIFY:
        hint = _HINT_AK
    elif message == signing.MSG_UNAUTHORIZED:
        hint = "the request carried no valid Authorization header: " + _HINT_SK
    else:
        hint = _HINT_SK
    cls = AuthenticationError if status in (401, 403) else error_for_status(status)
    return cls(f"gateway rejected the request: {message}", status_code=status, hint=hint,
               body=body)


def _business_code(body: Any) -> int:
    """``result.code`` of a TerraAPI envelope, 0 when there is none."""
    if isinstance(body, Mapping) and isinstance(body.get("result"), Mapping):
        return envelope_code(body["result"].get("code"))
    return 0


def decode_terra_response(resp: requests.Response, route: str = "") -> Any:
    """Return ``data`` of a successful TerraAPI answer, else raise a typed error.

    Classification: ``result.code`` first, then the HTTP status; the gateway's
    ``{"message": ...}`` bodies (HTTP 401) become :class:`AuthenticationError`.
    A 404/405 that carries no business code (Kong's ``no Route matched``, a
    bare "404 page not found", an empty body) means the server has no such
    route: :class:`UnsupportedRouteError`, never "does not exist". ``route``
    (``"METHOD /path"``) names it in the message.
    """
    status = resp.status_code
    body = answer_json(resp)
    if status in (404, 405) and _business_code(body) == 0:
        snippet = (str(body.get("message") or "") if isinstance(body, Mapping)
                   else resp.text[:120] if resp.content else "")
        where = route or "this route"
        raise UnsupportedRouteError(
            f"the server does not offer {where} (HTTP {status} on that route"
            + (f": {snippet.strip()}" if snippet.strip() else "") + ")",
            status_code=status, route=route, body=body if body is not None else snippet,
            hint="this TerraAPI server implements only part of the API; terranb uses "
                 "DJI's documented endpoints where it can, this one has no alternative")
    if isinstance(body, Mapping) and isinstance(body.get("result"), Mapping):
        result = body["result"]
        code = envelope_code(result.get("code"))
        if code == 0 and 200 <= status < 300:
            return body.get("data")
        msg = str(result.get("msg") or "")
        desc = str(result.get("desc") or "")
        text = msg if not desc or desc == msg else f"{msg}: {desc}" if msg else desc
        if code in _CODE_MAP:
            cls, hint = _CODE_MAP[code]
        elif code == 0:
            # An error status with a success code: classify by status.
            cls, hint = error_for_status(status), ""
        elif 102000 <= code <= 102999:
            cls = error_for_status(status)
            hint = "TerraAPI rejected the request; see the TerraAPI error-code reference"
        else:
            cls = error_for_status(status)
            hint = ""
        raise cls(text or f"TerraAPI error {code}", status_code=status, code=code,
                  hint=hint or None, body=body)
    if isinstance(body, Mapping) and "message" in body and not (200 <= status < 300):
        raise _gateway_error(status, str(body.get("message")), body)
    if 200 <= status < 300:
        if body is None and not resp.content:
            return None
        if body is None:
            raise ServerError("TerraAPI answered with a body that is not JSON",
                              status_code=status, hint="check the base URL points at TerraAPI",
                              body=resp.text[:200])
        # A 2xx JSON body without the envelope: pass it through.
        return body
    cls = error_for_status(status)
    snippet = resp.text[:200] if resp.content else ""
    raise cls(f"TerraAPI answered HTTP {status}" + (f": {snippet}" if snippet else ""),
              status_code=status, hint="check the base URL and try again later"
              if status >= 500 else None, body=snippet or None)


def _is_job_limit(resp: requests.Response) -> bool:
    """801 comes with HTTP 429 but does not clear in seconds: do not retry it."""
    body = answer_json(resp)
    return (isinstance(body, Mapping) and isinstance(body.get("result"), Mapping)
            and body["result"].get("code") == 801)


class TerraClient(Closable):
    """TerraAPI v2 client.

    Args:
        app_key, secret_key: AK/SK (else from :class:`~terranb.config.Settings`).
        base_url: origin override, e.g. ``http://127.0.0.1:8000`` (a trailing
            ``/terra-rescon-be`` is accepted and ignored).
        region: ``"us"`` (openapi-us) or ``"cn"`` (openapi-cn).
        s3_endpoint_url: object-store endpoint put into tokens (TerraAPI tokens carry none).
        settings: resolved settings; kwargs given here win over it.
        timeout, retry, http, sleep, clock, rand, use_x_date: transport knobs
            (see :class:`~terranb.api.session.ApiSession`).

    Attributes:
        store, resources, files, jobs: endpoint groups.
    """

    def __init__(
        self,
        app_key: str | None = None,
        secret_key: str | None = None,
        *,
        base_url: str | None = None,
        region: str | None = None,
        s3_endpoint_url: str | None = None,
        settings: Settings | None = None,
        date: Callable[[], str] | None = None,
        use_x_date: bool = False,
        **transport: Unpack[Transport],
    ) -> None:
        settings = Settings.for_client(settings, app_key=app_key, secret_key=secret_key,
                                       base_url=base_url, region=region,
                                       s3_endpoint_url=s3_endpoint_url)
        self.settings = settings_without_secrets(settings)  # the secrets live in Secrets
        app, secret = settings.require_terra()
        # The SK lives in a Secret (masked repr, registered for the log filter); only
        # _sign reveals it, to compute the HMAC.
        self.app_key, self._secret_key = app, Secret(secret)
        origin = settings.terra_base_url
        if origin.endswith(PATH_PREFIX):
            origin = origin[: -len(PATH_PREFIX)]
        self.base_url = origin
        self.s3_endpoint_url = settings.s3_endpoint_url
        self._use_x_date = use_x_date
        self._date = date or signing.http_date
        self.session = ApiSession(origin, authorize=self._sign, retry_veto=_is_job_limit,
                                  **transport)
        # Routes this server answered as absent (see offers()); per client.
        self.unsupported_routes: set[str] = set()
        self.store = StoreAPI(self)
        self.resources = ResourcesAPI(self)
        self.files = FilesAPI(self)
        self.jobs = JobsAPI(self)

    def __repr__(self) -> str:
        return f"TerraClient(base_url={self.base_url!r}, app_key={self.app_key!r})"

    def close(self) -> None:
        """Close the HTTP session."""
        self.session.close()

    def _sign(self, prep: requests.PreparedRequest) -> None:
        """Sign the prepared request as it will go on the wire (fresh Date each attempt)."""
        parts = urlsplit(prep.url or "")
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        body = prep.body
        if isinstance(body, str):
            body = body.encode("utf-8")
        headers = signing.sign(prep.method or "GET", target, body or b"", self.app_key,
                               self._secret_key.reveal(), date=self._date(),
                               use_x_date=self._use_x_date)
        prep.headers.update(headers)

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send a signed request to ``/terra-rescon-be{path}`` and return decoded ``data``.

        This is the escape hatch for endpoints terranb does not wrap (their bodies
        are unknown: ``PUT /v2/resources/{uuid}``, ``.../copy``, ``.../file_operation``).
        """
        body = None if json_body is None else encode_json(json_body)
        hdrs = {"Content-Type": CONTENT_TYPE}
        hdrs.update(headers or {})
        resp = self.session.request(method, PATH_PREFIX + path, params=params, body=body,
                                    headers=hdrs, idempotent=idempotent)
        return decode_terra_response(resp, f"{method.upper()} {path}")

    def offers(self, route: str) -> bool:
        """False once ``route`` (e.g. ``"GET /v2/files"``) answered as unsupported.

        Remembered per client, so an optional, undocumented shortcut is tried at
        most once against a server that lacks it.
        """
        return route not in self.unsupported_routes

    def mark_unsupported(self, route: str) -> None:
        """Remember that this server does not offer ``route``."""
        if route not in self.unsupported_routes:
            log.info("the server does not offer %s; using the documented path from now on",
                     route)
        self.unsupported_routes.add(route)

    def _pages(self, path: str, params: dict[str, Any], page_size: int, limit: int | None,
               build: Callable[[Mapping[str, Any]], Any]) -> Iterator[Any]:
        if page_size < 1:
            raise ValidationError("page_size must be at least 1")
        page, seen = 1, 0
        while True:
            result = self._list_page(path, params, page, page_size, build)
            for item in result.items:
                yield item
                seen += 1
                if limit is not None and seen >= limit:
                    return
            if (not result.items or len(result.items) < page_size
                    or (result.total and page * page_size >= result.total)):
                return
            page += 1

    def _list_page(self, path: str, params: Mapping[str, Any], page: int, rows: int,
                  build: Callable[[Mapping[str, Any]], Any]) -> Page:
        """Fetch one page ``{list, page, rows, total}`` of a list endpoint."""
        query: dict[str, Any] = {"page": page, "rows": rows}
        query.update(params)
        data = self.call("GET", path, params=query) or {}
        items = (data.get("list") or []) if isinstance(data, Mapping) else []
        total = int(data.get("total") or 0) if isinstance(data, Mapping) else 0
        return Page(items=tuple(build(i) for i in items), page=page, rows=rows, total=total)

"""Authentication of the three APIs.

* TerraAPI: the gateway's HMAC check, delegated to :func:`terranb.api.signing.verify`
  (Date or X-Date, clock skew, Digest against the raw body, target with or
  without the query, unknown AK rejected, and the signed header list must hold
  the date, the request target and -- with a body -- the digest). Failures become
  :class:`GatewayAuthError`, answered 401 ``{"message": ...}``.
* FlightHub 2: ``X-User-Token`` must be the organisation key and
  ``X-Project-Uuid`` the project; failures are FlightHub 2 business errors.
* Cloud API: ``x-auth-token`` is an HS256 JWT issued by login; a missing or
  invalid token is HTTP 401 with an empty body.
"""

from __future__ import annotations

import hmac
import time
import warnings
from typing import Any

import jwt
from fastapi import Request

from terranb.api import signing
from terranb.emulator.config import (
    CLOUDAPI_JWT_SECRET,
    CLOUDAPI_TOKEN_LIFETIME,
    CLOUDAPI_USERS,
    CloudApiUser,
)
from terranb.emulator.context import EmulatorContext
from terranb.errors import SignatureError

__all__ = [
    "CloudApiUnauthorized",
    "FH2AuthError",
    "GatewayAuthError",
    "check_org_key",
    "cloudapi_user",
    "flighthub_auth",
    "issue_cloudapi_token",
    "raw_body",
    "read_body",
    "terra_auth",
]


class GatewayAuthError(Exception):
    """The HMAC gateway rejected the request; answered 401 ``{"message": message}``."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class FH2AuthError(Exception):
    """FlightHub 2 rejected the organisation key or the project (envelope, ``status``)."""

    def __init__(self, code: int, message: str, status: int = 200) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


class CloudApiUnauthorized(Exception):
    """Cloud API: missing or invalid x-auth-token (HTTP 401, empty body)."""


def ctx_of(request: Request) -> EmulatorContext:
    """The emulator context of the app serving this request."""
    ctx: EmulatorContext = request.app.state.ctx
    return ctx


async def read_body(request: Request) -> bytes:
    """FastAPI dependency: read the raw body once, on the event loop.

    Route handlers are plain functions that FastAPI runs in its thread pool (they
    do blocking SQLite and S3 calls); they get the bytes through :func:`raw_body`.
    """
    body = await request.body()
    request.state.raw_body = body
    return body


def raw_body(request: Request) -> bytes:
    """The body read by one of this module's dependencies."""
    body: bytes = getattr(request.state, "raw_body", b"")
    return body


async def terra_auth(request: Request) -> str:
    """FastAPI dependency: verify the TerraAPI HMAC signature, return the AK.

    The raw body is read here (Starlette caches it), so routes decode the very
    bytes whose digest was checked.
    """
    ctx = ctx_of(request)
    body = await read_body(request)
    raw_path = request.scope.get("raw_path")
    path = raw_path.decode("latin-1") if raw_path else request.url.path
    query = request.scope.get("query_string", b"").decode("latin-1")
    try:
        return signing.verify(
            request.method,
            path,
            query,
            dict(request.headers),
            body,
            ctx.state.secret_for,
            clock_skew=ctx.options.clock_skew,
            http_version=str(request.scope.get("http_version") or "1.1"),
        )
    except SignatureError as exc:
        raise GatewayAuthError(exc.message, exc.reason) from None


# FlightHub 2 auth codes. DJI's error-code page was not retrievable (protocol.md §6.15);
# these follow the AERO contract fixtures (synthetic values, unverified). HTTP status:
# a key that is sent but not this organisation's gets 401, as flighthub2-cli's README
# reports from the live gateways ("a key issued by the EU cloud is rejected by the US
# gateway with 401"); a missing key gets HTTP 200 with the code, as AERO notes for an
# unauthenticated system_status. Project errors stay HTTP 200 (no live evidence).
FH2_CODE_UNAUTHORIZED = 200401
FH2_CODE_FORBIDDEN = 200403
FH2_STATUS_WRONG_KEY = 401


def check_org_key(ctx: EmulatorContext, token: str) -> None:
    """Raise :class:`FH2AuthError` unless ``token`` is this organisation's key."""
    if not token:
        raise FH2AuthError(
            FH2_CODE_UNAUTHORIZED, "X-User-Token header is missing; send the organization key"
        )
    if not hmac.compare_digest(token.encode(), ctx.user_token.encode()):
        raise FH2AuthError(
            FH2_CODE_UNAUTHORIZED,
            "X-User-Token is invalid; use the organization key of this organization (a key "
            "works only on the gateway of the region that issued it)",
            status=FH2_STATUS_WRONG_KEY,
        )


async def flighthub_auth(request: Request) -> str:
    """FastAPI dependency: check X-User-Token and X-Project-Uuid, return the project."""
    ctx = ctx_of(request)
    await read_body(request)
    check_org_key(ctx, request.headers.get("x-user-token", ""))
    project = request.headers.get("x-project-uuid", "")
    if not project:
        raise FH2AuthError(FH2_CODE_FORBIDDEN, "X-Project-Uuid header is missing")
    if project != ctx.project_uuid:
        raise FH2AuthError(
            FH2_CODE_FORBIDDEN,
            f"project {project!r} does not exist or the organization key has no access to it",
        )
    return project


def issue_cloudapi_token(user: CloudApiUser, now: float | None = None) -> str:
    """A JWT like the Cloud API demo's (HS256, iss DJI, claims as strings)."""
    now = time.time() if now is None else now
    claims: dict[str, Any] = {
        "iss": "DJI",
        "sub": "CloudApiSample",
        "iat": int(now),
        "nbf": int(now),
        "exp": int(now) + CLOUDAPI_TOKEN_LIFETIME,
        "id": user.user_id,
        "username": user.username,
        "user_type": str(user.user_type),
        "workspace_id": user.workspace_id,
    }
    with warnings.catch_warnings():
        # The demo's secret is short on purpose (it is DJI's published sample value).
        warnings.simplefilter("ignore")
        return jwt.encode(claims, CLOUDAPI_JWT_SECRET, algorithm="HS256")


def decode_cloudapi_token(token: str, *, verify_exp: bool = True) -> CloudApiUser:
    """Decode an x-auth-token and return its user; raises CloudApiUnauthorized."""
    if not token:
        raise CloudApiUnauthorized()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            claims = jwt.decode(
                token,
                CLOUDAPI_JWT_SECRET,
                algorithms=["HS256"],
                issuer="DJI",
                options={"verify_exp": verify_exp},
            )
    except jwt.PyJWTError:
        raise CloudApiUnauthorized() from None
    user = CLOUDAPI_USERS.get(str(claims.get("username", "")))
    if user is None or user.user_id != claims.get("id"):
        raise CloudApiUnauthorized()
    return user


async def cloudapi_user(request: Request) -> CloudApiUser:
    """FastAPI dependency: the user of a valid x-auth-token (else 401, empty body)."""
    await read_body(request)
    return decode_cloudapi_token(request.headers.get("x-auth-token", ""))

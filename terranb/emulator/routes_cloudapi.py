"""DJI Cloud API demo routes: login, token refresh, media and storage STS (protocol.md §4).

Behaviour follows the official demo server (dji-sdk/DJI-Cloud-API-Demo):
snake_case JSON, business errors as HTTP 200 ``{"code": -1, "message"}``, every
path except login/refresh needs ``x-auth-token`` (401 with an empty body
otherwise), the media download is a 302 to a presigned URL. Users ``adminPC`` /
``adminPC`` (web) and ``pilot`` / ``pilot123`` (pilot) in workspace
``e3dea0f5-37f2-4d79-ae58-490af3228069``, as seeded by the demo.

Media entries are created only by upload-callback for objects that really are
in the bucket (uploaded with the ``/sts`` credentials); fast-upload and
tiny-fingerprints answer from what is stored.
"""

from __future__ import annotations

import re
import time
import uuid as uuid_mod
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from terranb.emulator.auth import (
    CloudApiUnauthorized,
    cloudapi_user,
    ctx_of,
    decode_cloudapi_token,
    issue_cloudapi_token,
    raw_body,
    read_body,
)
from terranb.emulator.config import (
    CLOUDAPI_BUCKET,
    CLOUDAPI_OBJECT_PREFIX,
    CLOUDAPI_REGION,
    CLOUDAPI_USERS,
    CloudApiUser,
)
from terranb.emulator.context import EmulatorContext
from terranb.emulator.errors_wire import CloudApiError, openapi_body
from terranb.emulator.routes_common import object_schema
from terranb.emulator.s3policy import StsPolicy
from terranb.emulator.wire import BodyError, CIDict, parse_object

__all__ = ["routers"]

_MODEL_KEY = re.compile(r"^\d+-\d+-\d+$")


def ok(data: Any = "") -> JSONResponse:
    """The demo's ``success(data)``; ``data`` null is omitted (Jackson NON_NULL)."""
    body: dict[str, Any] = {"code": 0, "message": "success"}
    if data is not None:
        body["data"] = data
    return JSONResponse(body)


def _body(request: Request) -> CIDict:
    try:
        return parse_object(raw_body(request), allow_empty=False)
    except BodyError as exc:
        raise CloudApiError(str(exc)) from None


def _text(body: CIDict, key: str, *, required: bool = True) -> str:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise CloudApiError(f"{key}must not be null")  # bean-validation style, no space
        return ""
    if not isinstance(value, str):
        raise CloudApiError(f"{key}must be a string")
    return value


def _workspace(user: CloudApiUser, workspace_id: str) -> None:
    if workspace_id != user.workspace_id:
        raise CloudApiError("invalid workspace id")


def _user_dto(ctx: EmulatorContext, user: CloudApiUser) -> dict[str, Any]:
    host = ctx.options.host
    return {
        "user_id": user.user_id,
        "username": user.username,
        "workspace_id": user.workspace_id,
        "user_type": user.user_type,
        "mqtt_username": user.mqtt_username,
        "mqtt_password": user.mqtt_password,
        "access_token": issue_cloudapi_token(user),
        "mqtt_addr": f"tcp://{host}:1883",
    }


def _fmt_time(ts: float) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _media_dto(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "file_id": row["file_id"],
        "file_name": row["name"],
        "file_path": row["path"],
        "object_key": row["object_key"],
        "is_original": bool(row["is_original"]),
        "drone": row["drone"],
        "payload": row["payload"],
        "tinny_fingerprint": row["tinny_fingerprint"],
        "fingerprint": row["fingerprint"],
        "create_time": _fmt_time(row["create_time"]),
        "job_id": row["job_id"],
    }


# --------------------------------------------------------------------- manage
manage = APIRouter(
    prefix="/manage/api/v1", tags=["Cloud API manage"], dependencies=[Depends(read_body)]
)


@manage.post(
    "/login",
    summary="Log in (flag 1 web, 2 pilot)",
    openapi_extra=openapi_body(object_schema(
        {"username": "string", "password": "string", "flag": {"type": "integer", "enum": [1, 2]}},
        "username", "password", "flag",
    )),
)
def login(request: Request) -> Response:
    """A UserDTO with a fresh ``access_token`` (the x-auth-token)."""
    body = _body(request)
    username = _text(body, "username")
    password = _text(body, "password")
    flag = body.get("flag")
    if isinstance(flag, bool) or not isinstance(flag, int):
        raise CloudApiError("flagmust not be null")
    user = CLOUDAPI_USERS.get(username)
    if user is None:
        raise CloudApiError("invalid username", code=401)
    if password != user.password:
        raise CloudApiError("invalid password", code=401)
    if flag != user.user_type:
        raise CloudApiError("The account type does not match.")
    return ok(_user_dto(ctx_of(request), user))


@manage.post("/token/refresh", summary="Refresh the x-auth-token (expired tokens accepted)")
def refresh(request: Request) -> Response:
    """A new UserDTO; 401 ``{"code": -1, "message": "token is null"}`` for a bad token."""
    try:
        user = decode_cloudapi_token(request.headers.get("x-auth-token", ""), verify_exp=False)
    except CloudApiUnauthorized:
        return JSONResponse({"code": -1, "message": "token is null"}, status_code=401)
    return ok(_user_dto(ctx_of(request), user))


# ---------------------------------------------------------------------- media
media = APIRouter(
    prefix="/media/api/v1", tags=["Cloud API media"], dependencies=[Depends(cloudapi_user)]
)

_EXT_SCHEMA = object_schema(
    {"drone_model_key": "string", "file_group_id": "string", "is_original": "boolean",
     "payload_model_key": "string", "tinny_fingerprint": "string", "sn": "string"}
)


@media.post(
    "/workspaces/{workspace_id}/fast-upload",
    summary="Media fast upload",
    openapi_extra=openapi_body(object_schema(
        {"fingerprint": "string", "name": "string", "path": "string", "ext": _EXT_SCHEMA},
        "fingerprint",
    )),
)
def fast_upload(
    workspace_id: str, request: Request, user: CloudApiUser = Depends(cloudapi_user)
) -> Response:
    """Success if a file with this fingerprint is already in the workspace."""
    _workspace(user, workspace_id)
    body = _body(request)
    fingerprint = _text(body, "fingerprint")
    row = ctx_of(request).state.one(
        "SELECT file_id FROM media WHERE workspace_id = ? AND fingerprint = ?",
        (workspace_id, fingerprint),
    )
    if row is None:
        raise CloudApiError(f"{fingerprint}don't exist.")
    return ok("")


_CALLBACK_SCHEMA = object_schema(
    {
        "object_key": "string",
        "sub_file_type": {"type": "integer", "enum": [0, 1]},
        "ext": _EXT_SCHEMA,
        "fingerprint": "string",
        "name": "string",
        "path": "string",
        "metadata": object_schema(
            {
                "absolute_altitude": "number",
                "created_time": "string",
                "gimbal_yaw_degree": "number",
                "relative_altitude": "number",
                "shoot_position": object_schema({"lat": "number", "lng": "number"}),
            }
        ),
    },
    "object_key", "fingerprint", "name",
)


@media.post(
    "/workspaces/{workspace_id}/upload-callback",
    summary="App reports file upload result",
    openapi_extra=openapi_body(_CALLBACK_SCHEMA),
)
def upload_callback(
    workspace_id: str, request: Request, user: CloudApiUser = Depends(cloudapi_user)
) -> Response:
    """Register an uploaded object as a media file; ``data`` is the object key."""
    _workspace(user, workspace_id)
    ctx = ctx_of(request)
    body = _body(request)
    object_key = _text(body, "object_key")
    fingerprint = _text(body, "fingerprint")
    name = _text(body, "name")
    path = _text(body, "path", required=False)
    sub = body.get("sub_file_type", 0)
    if isinstance(sub, str) and sub.upper() in ("NORMAL", "PANORAMA"):
        sub = 0 if sub.upper() == "NORMAL" else 1
    if sub not in (0, 1) or isinstance(sub, bool):
        raise CloudApiError("sub_file_type must be 0 (normal) or 1 (panorama)")
    ext_raw = body.get("ext") or {}
    metadata = body.get("metadata") or {}
    if not isinstance(ext_raw, dict) or not isinstance(metadata, dict):
        raise CloudApiError("ext and metadata must be objects")
    ext = CIDict(ext_raw)
    for key in ("drone_model_key", "payload_model_key"):
        value = ext.get(key)
        if value not in (None, "") and (not isinstance(value, str) or not _MODEL_KEY.match(value)):
            raise CloudApiError(f"{key} {value!r} is not a device key like '0-67-0'")
    if ctx.storage.head_object(CLOUDAPI_BUCKET, object_key) is None:
        raise CloudApiError(
            f"{object_key} doesn't exist in the bucket; upload it with the /sts credentials first"
        )
    info = ctx.storage.head_object(CLOUDAPI_BUCKET, object_key)
    now = time.time()
    values = {
        "workspace_id": workspace_id,
        "name": name,
        "path": path,
        "object_key": object_key,
        "fingerprint": fingerprint,
        "tinny_fingerprint": str(ext.get("tinny_fingerprint") or ""),
        "is_original": int(bool(ext.get("is_original", True))),
        "drone": str(ext.get("sn") or ""),
        "payload": str(ext.get("payload_model_key") or ""),
        "sub_file_type": int(sub),
        "job_id": str(ext.get("file_group_id") or ""),
        "metadata": metadata,
        "size": int(info.size) if info is not None else 0,
    }
    with ctx.state.transaction() as st:
        old = st.one(
            "SELECT file_id FROM media WHERE workspace_id = ? AND object_key = ?",
            (workspace_id, object_key),
        )
        if old is not None:
            st.update("media", "file_id", old["file_id"], values)
        else:
            seq = st.one("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM media")
            st.insert(
                "media",
                {
                    **values,
                    "file_id": str(uuid_mod.uuid4()),
                    "seq": int(seq["n"]) if seq else 1,
                    "create_time": now,
                },
            )
    return ok(object_key)


@media.post(
    "/workspaces/{workspace_id}/files/tiny-fingerprints",
    summary="Which tiny fingerprints already exist",
    openapi_extra=openapi_body(object_schema(
        {"tiny_fingerprints": {"type": "array", "items": {"type": "string"}}}, "tiny_fingerprints"
    )),
)
def tiny_fingerprints(
    workspace_id: str, request: Request, user: CloudApiUser = Depends(cloudapi_user)
) -> Response:
    """The subset of the given tiny fingerprints already in the workspace."""
    _workspace(user, workspace_id)
    body = _body(request)
    wanted = body.get("tiny_fingerprints")
    if not isinstance(wanted, list) or not all(isinstance(w, str) for w in wanted):
        raise CloudApiError("tiny_fingerprintsmust not be null")
    rows = ctx_of(request).state.query(
        "SELECT DISTINCT tinny_fingerprint FROM media WHERE workspace_id = ?", (workspace_id,)
    )
    have = {r["tinny_fingerprint"] for r in rows}
    return ok({"tiny_fingerprints": [w for w in wanted if w in have]})


@media.post(
    "/workspaces/{workspace_id}/group-upload-callback",
    summary="Callback after a file group upload completes (empty answer)",
    openapi_extra=openapi_body(object_schema(
        {"file_group_id": "string", "file_count": "integer", "file_uploaded_count": "integer"}
    )),
)
def group_upload_callback(
    workspace_id: str, request: Request, user: CloudApiUser = Depends(cloudapi_user)
) -> Response:
    """The demo returns ``null``: HTTP 200 with an empty body."""
    _workspace(user, workspace_id)
    _body(request)
    return Response(status_code=200)


@media.get("/files/{workspace_id}/files", summary="Media files of a workspace, newest first")
def list_files(
    workspace_id: str,
    request: Request,
    user: CloudApiUser = Depends(cloudapi_user),
    page: int = 1,
    page_size: int = 10,
) -> Response:
    """``{list, pagination: {page, page_size, total}}``."""
    _workspace(user, workspace_id)
    if page < 1 or page_size < 1:
        raise CloudApiError("page and page_size must be positive")
    page_size = min(page_size, 1000)
    st = ctx_of(request).state
    total_row = st.one("SELECT COUNT(*) AS n FROM media WHERE workspace_id = ?", (workspace_id,))
    rows = st.query(
        "SELECT * FROM media WHERE workspace_id = ? ORDER BY seq DESC LIMIT ? OFFSET ?",
        (workspace_id, page_size, (page - 1) * page_size),
    )
    return ok(
        {
            "list": [_media_dto(r) for r in rows],
            "pagination": {
                "page": page,
                "page_size": page_size,
                "total": int(total_row["n"]) if total_row else 0,
            },
        }
    )


@media.get(
    "/files/{workspace_id}/file/{file_id}/url",
    summary="302 redirect to a presigned download URL",
    responses={302: {"description": "Location: presigned GET URL"}},
)
def file_url(
    workspace_id: str, file_id: str, request: Request, user: CloudApiUser = Depends(cloudapi_user)
) -> Response:
    """Redirect to the object (valid 1 hour); unknown file -> ``{} doesn't exist.``."""
    _workspace(user, workspace_id)
    ctx = ctx_of(request)
    row = ctx.state.one(
        "SELECT * FROM media WHERE workspace_id = ? AND file_id = ?", (workspace_id, file_id)
    )
    if row is None:
        raise CloudApiError("{} doesn't exist.")  # the demo's literal text
    url = ctx.storage.presigned_get_url(CLOUDAPI_BUCKET, row["object_key"], expires=3600)
    return RedirectResponse(url, status_code=302)


# -------------------------------------------------------------------- storage
storage = APIRouter(
    prefix="/storage/api/v1", tags=["Cloud API storage"], dependencies=[Depends(cloudapi_user)]
)


@storage.post("/workspaces/{workspace_id}/sts", summary="Get STS token")
def sts(
    workspace_id: str, request: Request, user: CloudApiUser = Depends(cloudapi_user)
) -> Response:
    """Temporary credentials for the media bucket."""
    _workspace(user, workspace_id)
    ctx = ctx_of(request)
    creds = ctx.storage.issue_credentials(
        ttl=ctx.options.token_ttl,
        policy=StsPolicy.for_store_path(CLOUDAPI_BUCKET, f"{CLOUDAPI_OBJECT_PREFIX}/{{fileName}}",
                                        principal=f"cloudapi:{workspace_id}"))
    expire = max(0, int(creds.expire_time - time.time()))
    ctx.state.insert(
        "tokens",
        {
            "callback_param": f"sts:{uuid_mod.uuid4()}",
            "api": "cloudapi",
            "owner": workspace_id,
            "bucket": CLOUDAPI_BUCKET,
            "region": CLOUDAPI_REGION,
            "store_path": f"{CLOUDAPI_OBJECT_PREFIX}/{{fileName}}",
            "access_key_id": creds.access_key_id,
            "expire_time": int(creds.expire_time),
            "created_at": time.time(),
        },
    )
    return ok(
        {
            "bucket": CLOUDAPI_BUCKET,
            "credentials": {
                "access_key_id": creds.access_key_id,
                "access_key_secret": creds.secret_access_key,
                "expire": expire,
                "security_token": creds.session_token,
            },
            "endpoint": ctx.storage.endpoint_url,
            "object_key_prefix": CLOUDAPI_OBJECT_PREFIX,
            "provider": "aws",
            "region": CLOUDAPI_REGION,
        }
    )


def routers() -> list[APIRouter]:
    """The Cloud API routers."""
    return [manage, media, storage]

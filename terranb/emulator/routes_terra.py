"""TerraAPI v2 routes (``/terra-rescon-be/v2/...``, protocol.md §1).

Every route depends on :func:`~terranb.emulator.auth.terra_auth` (the gateway's
HMAC check) and answers ``{"result": {"code", "msg", "desc"}, "data"}``. Request
bodies are decoded from the exact bytes whose digest was verified, with keys
matched case-insensitively like DJI's Go backend. Business errors raise
:class:`~terranb.emulator.errors_wire.TerraError`; the app turns them into the
envelope with the team's HTTP statuses.

Behaviour the real service documents and the emulator enforces: at least 10
images for 2D/3D, at most 4,000 (2D) / 20,000 (3D), LiDAR data at most 48 GB,
at most 2 unfinished jobs per account (801), ``parameters`` must be a JSON
string, a job starts once, only ``0 < status < 4`` can be stopped, binding
accepts only objects present in the bucket with the stated ETag.

Emulator choices where DJI publishes nothing (protocol.md §6): the success
``result`` is ``{"code": 0, "msg": "success", "desc": ""}``; ``start`` returns
the Job; the output resource exists from the start of a job (empty until the
job finishes); ``PUT`` takes ``name``/``meta``; ``copy`` takes an optional
``name``. ``file_operation`` is not emulated (its body is unknown).
"""

from __future__ import annotations

import json
import re
import time
import uuid
import uuid as uuid_mod  # route parameters are named ``uuid`` (DJI's path name)
from typing import Any

from fastapi import APIRouter, Depends, Request

from terranb.emulator import errors_wire as E
from terranb.emulator.auth import ctx_of, raw_body, terra_auth
from terranb.emulator.config import TERRA_BUCKET, TERRA_CLOUD_NAME, TERRA_REGION
from terranb.emulator.context import EmulatorContext, account_prefix
from terranb.emulator.errors_wire import TerraError, openapi_body
from terranb.emulator.s3policy import StsPolicy
from terranb.emulator.state import UNFINISHED_JOB_STATES
from terranb.emulator.wire import BodyError, CIDict, GoJSONResponse, parse_object, rfc3339

__all__ = ["IMAGE_EXTENSIONS", "router"]

PREFIX = "/terra-rescon-be/v2"

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".tif", ".tiff", ".png", ".dng")
MIN_IMAGES = 10
MAX_IMAGES = {14: 4000, 15: 20000}
LIDAR_MAX_BYTES = 48 * 1024**3
MAX_UNFINISHED_JOBS = 2
JOB_TYPES = {13: "lidar", 14: "2d", 15: "3d"}
MAX_ROWS = 1000
_UUID_LIST_MAX = 1000

router = APIRouter(
    prefix=PREFIX,
    tags=["TerraAPI v2"],
    dependencies=[Depends(terra_auth)],
    default_response_class=GoJSONResponse,
)


# ------------------------------------------------------------------ helpers
def ok(data: Any = None) -> GoJSONResponse:
    """The success envelope."""
    return GoJSONResponse({"result": {"code": 0, "msg": "success", "desc": ""}, "data": data})


def body_of(request: Request, *, allow_empty: bool = False) -> CIDict:
    """The request's JSON object (keys case-insensitive), or 102001."""
    try:
        return parse_object(raw_body(request), allow_empty=allow_empty)
    except BodyError as exc:
        raise TerraError(E.PARAMETER, str(exc)) from None


def _str_field(body: CIDict, key: str, *, required: bool = False, default: str = "") -> str:
    value = body.get(key)
    if value is None:
        if required:
            raise TerraError(E.PARAMETER, f"{key} is required")
        return default
    if not isinstance(value, str):
        raise TerraError(E.PARAMETER, f"{key} must be a string, got {type(value).__name__}")
    if required and not value:
        raise TerraError(E.PARAMETER, f"{key} must not be empty")
    return value


def _int_query(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise TerraError(
            E.PARAMETER, f"query parameter {name} must be an integer, got {raw!r}"
        ) from None
    if value < low:
        raise TerraError(E.PARAMETER, f"query parameter {name} must be >= {low}, got {value}")
    return min(value, high)


def _bool_query(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return False
    # Go's strconv.ParseBool spellings.
    if raw in {"1", "t", "T", "TRUE", "true", "True"}:
        return True
    if raw in {"0", "f", "F", "FALSE", "false", "False"}:
        return False
    raise TerraError(E.PARAMETER, f"query parameter {name} must be true or false, got {raw!r}")


def _uuid_list(request: Request, name: str) -> list[str] | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    items = [u.strip() for u in raw.split(",") if u.strip()]
    if len(items) > _UUID_LIST_MAX:
        raise TerraError(
            E.PARAMETER, f"{name} lists {len(items)} uuids; at most {_UUID_LIST_MAX} are accepted"
        )
    return items


def _page(
    rows_all: list[dict[str, Any]], request: Request
) -> tuple[list[dict[str, Any]], int, int]:
    page = _int_query(request, "page", 1, 1, 10**9)
    rows = _int_query(request, "rows", 10, 1, MAX_ROWS)
    start = (page - 1) * rows
    return rows_all[start : start + rows], page, rows


def resource_json(ctx: EmulatorContext, row: dict[str, Any]) -> dict[str, Any]:
    """A Resource object (protocol.md §1.6)."""
    count, size = ctx.state.resource_stats(row["uuid"])
    scope = row["scope"] or {}
    return {
        "uuid": row["uuid"],
        "name": row["name"],
        "type": row["type"],
        "meta": row["meta"],
        "fileCount": count,
        "totalSize": size,
        "scope": {
            k: float(scope.get(k, 0.0))
            for k in ("minLatitude", "maxLatitude", "minLongitude", "maxLongitude")
        },
        "revisable": bool(row["revisable"]),
        "downloadUsedTime": float(row["download_used_time"]),
        "uploadUsedTime": float(row["upload_used_time"]),
        "createdAt": rfc3339(row["created_at"]),
        "updatedAt": rfc3339(row["updated_at"]),
    }


def file_json(ctx: EmulatorContext, row: dict[str, Any], *, with_url: bool) -> dict[str, Any]:
    """A File object (protocol.md §1.6); ``url`` is a presigned GET of the object."""
    pos = row["position"] or {}
    out: dict[str, Any] = {
        "uuid": row["uuid"],
        "name": row.get("bound_name") or row["name"],
        "checksum": row["checksum"],
        "size": int(row["size"]),
        "meta": row["meta"],
        "position": {
            "attitude": float(pos.get("attitude", 0.0)),
            "latitude": float(pos.get("latitude", 0.0)),
            "longitude": float(pos.get("longitude", 0.0)),
        },
        "createdAt": rfc3339(row["created_at"]),
        "updatedAt": rfc3339(row["updated_at"]),
    }
    if with_url:
        out["url"] = ctx.storage.presigned_get_url(row["bucket"], row["object_key"], expires=3600)
    return out


def job_json(row: dict[str, Any]) -> dict[str, Any]:
    """A Job object (protocol.md §1.6): run fields only once the job was started."""
    out: dict[str, Any] = {
        "uuid": row["uuid"],
        "name": row["name"],
        "meta": row["meta"],
        "status": int(row["status"]),
        "type": int(row["type"]),
        "createdAt": rfc3339(row["created_at"]),
        "updatedAt": rfc3339(row["updated_at"]),
    }
    if row["started_at"] is not None:
        out.update(
            {
                "startedAt": rfc3339(row["started_at"]),
                "originResourceUuid": row["origin_resource_uuid"] or "",
                "outputResourceUuid": row["output_resource_uuid"] or "",
                "parameters": row["parameters"] or "",
                "percentage": float(row["percentage"]),
                "pixels": float(row["pixels"]),
                "remainSeconds": int(row["remain_seconds"]),
                "message": row["message"],
            }
        )
    if row["completed_at"] is not None:
        out["completedAt"] = rfc3339(row["completed_at"])
    return out


def _own_resource(ctx: EmulatorContext, owner: str, uuid_: str) -> dict[str, Any]:
    row = ctx.state.resource(uuid_, api="terra")
    if row is None or row["owner"] != owner:
        raise TerraError(
            E.RESOURCE_NOT_FOUND, f"resource {uuid_!r} does not exist for this app key"
        )
    return row


def _own_job(ctx: EmulatorContext, owner: str, uuid_: str) -> dict[str, Any]:
    row = ctx.state.one("SELECT * FROM jobs WHERE uuid = ?", (uuid_,))
    if row is None or row["owner"] != owner:
        raise TerraError(E.JOB_NOT_FOUND, f"job {uuid_!r} does not exist for this app key")
    return row


def _own_file(ctx: EmulatorContext, owner: str, uuid_: str) -> dict[str, Any]:
    row = ctx.state.one("SELECT * FROM files WHERE uuid = ?", (uuid_,))
    if row is None or row["owner"] != owner:
        raise TerraError(E.RESOURCE_NOT_FOUND, f"file {uuid_!r} does not exist for this app key")
    return row


def _busy_resources(ctx: EmulatorContext, owner: str) -> set[str]:
    marks = ", ".join("?" * len(UNFINISHED_JOB_STATES))
    rows = ctx.state.query(
        f"SELECT origin_resource_uuid, output_resource_uuid FROM jobs "
        f"WHERE owner = ? AND status IN ({marks})",
        (owner, *UNFINISHED_JOB_STATES),
    )
    return {u for r in rows for u in (r["origin_resource_uuid"], r["output_resource_uuid"]) if u}


# -------------------------------------------------------------------- store
@router.post("/store/obtain_token", summary="Get STS upload credentials (empty body)")
def obtain_token(request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """STS credentials for the bucket, a storePath with ``{fileName}`` and a callbackParam."""
    ctx = ctx_of(request)
    store_path = f"{account_prefix(app_key)}/tmp/{uuid.uuid4()}/{{fileName}}"
    # The keys may touch only this storePath (and the account's other recent ones):
    # emulator/s3policy.py. Results are downloaded through presigned URLs instead.
    creds = ctx.storage.issue_credentials(
        ttl=ctx.options.token_ttl,
        policy=StsPolicy.for_store_path(TERRA_BUCKET, store_path, principal=f"terra:{app_key}"))
    callback = ctx.new_callback_param()
    expire = int(creds.expire_time)
    ctx.state.insert(
        "tokens",
        {
            "callback_param": callback,
            "api": "terra",
            "owner": app_key,
            "bucket": TERRA_BUCKET,
            "region": TERRA_REGION,
            "store_path": store_path,
            "access_key_id": creds.access_key_id,
            "expire_time": expire,
            "created_at": time.time(),
        },
    )
    return ok(
        {
            "cloudName": TERRA_CLOUD_NAME,
            "accessKeyID": creds.access_key_id,
            "secretAccessKey": creds.secret_access_key,
            "sessionToken": creds.session_token,
            "region": TERRA_REGION,
            "cloudBucketName": TERRA_BUCKET,
            "storePath": store_path,
            "callbackParam": callback,
            "expireTime": expire,
        }
    )


_SAFE_NAME = re.compile(r"^[^\x00-\x1f\\]+$")


def check_file_name(name: str) -> None:
    """Reject names that are not clean relative paths (they become object keys and local paths)."""
    parts = name.split("/")
    if (
        not _SAFE_NAME.match(name)
        or name.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise TerraError(
            E.PARAMETER,
            f"file name {name!r} is not a relative path with '/' "
            "separators (no leading '/', no '.' or '..' parts, no backslashes)",
        )


def strip_etag(etag: str) -> str:
    """ETag without quotes, lower case (S3 gives ``"abc"``, the quick start strips them)."""
    return etag.strip().strip('"').lower()


_UPLOAD_CALLBACK_SCHEMA = {
    "type": "object",
    "required": ["resourceUUID", "callbackParam", "files"],
    "properties": {
        "resourceUUID": {"type": "string"},
        "callbackParam": {"type": "string"},
        "files": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "etag", "checksum"],
                "properties": {
                    "name": {"type": "string"},
                    "etag": {"type": "string"},
                    "checksum": {"type": "string"},
                    "meta": {"type": "string"},
                    "position": {
                        "type": "object",
                        "properties": {
                            "attitude": {"type": "number"},
                            "latitude": {"type": "number"},
                            "longitude": {"type": "number"},
                        },
                    },
                },
            },
        },
    },
}


@router.post(
    "/store/upload_callback",
    summary="Bind uploaded objects to a resource",
    openapi_extra=openapi_body(_UPLOAD_CALLBACK_SCHEMA),
)
def upload_callback(request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """Bind objects under the token's storePath into a resource; returns the File objects."""
    ctx = ctx_of(request)
    body = body_of(request)
    resource_uuid = _str_field(body, "resourceUUID", required=True)
    callback = _str_field(body, "callbackParam", required=True)
    files = body.get("files")
    if not isinstance(files, list) or not files:
        raise TerraError(E.PARAMETER, "files must be a non-empty array of {name, etag, checksum}")
    resource = _own_resource(ctx, app_key, resource_uuid)
    token = ctx.state.one("SELECT * FROM tokens WHERE callback_param = ?", (callback,))
    if token is None or token["api"] != "terra" or token["owner"] != app_key:
        raise TerraError(
            E.PARAMETER,
            "callbackParam is not valid; pass the callbackParam of the "
            "obtain_token answer whose storePath the files were uploaded to",
        )
    if not resource["revisable"]:
        raise TerraError(
            E.INVALID_OPERATION,
            f"resource {resource_uuid} can no longer be modified "
            "(a job has used it); create a new resource",
        )

    wanted: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(files):
        if not isinstance(item, dict):
            raise TerraError(E.PARAMETER, f"files[{i}] must be an object")
        f = CIDict(item)
        name = _str_field(f, "name", required=True)
        check_file_name(name)
        etag = _str_field(f, "etag")
        checksum = _str_field(f, "checksum")
        if not etag and not checksum:
            raise TerraError(E.PARAMETER, f"files[{i}] ({name}) needs etag and checksum")
        if name in seen:
            raise TerraError(E.PARAMETER, f"file name {name!r} appears twice in this call")
        seen.add(name)
        position = f.get("position") or {}
        if not isinstance(position, dict):
            raise TerraError(E.PARAMETER, f"files[{i}].position must be an object")
        pos = CIDict(position)
        try:
            position_v = {
                k: float(pos.get(k) or 0.0) for k in ("attitude", "latitude", "longitude")
            }
        except (TypeError, ValueError):
            raise TerraError(E.PARAMETER, f"files[{i}].position values must be numbers") from None
        meta = f.get("meta") or ""
        wanted.append(
            {
                "name": name,
                "etag": etag or checksum,
                "checksum": checksum or etag,
                "meta": meta if isinstance(meta, str) else json.dumps(meta),
                "position": position_v,
            }
        )

    existing = {r["bound_name"]: r for r in ctx.state.resource_files(resource_uuid)}
    to_bind: list[dict[str, Any]] = []
    result_rows: list[dict[str, Any]] = []
    for w in wanted:
        key = token["store_path"].replace("{fileName}", w["name"])
        info = ctx.storage.head_object(token["bucket"], key)
        if info is None:
            raise TerraError(
                E.PARAMETER,
                f"file {w['name']!r} was not found in the bucket at "
                f"{key!r}; upload it with the token's credentials before binding",
            )
        if strip_etag(str(info.etag)) != strip_etag(w["etag"]):
            raise TerraError(
                E.PARAMETER,
                f"etag of {w['name']!r} does not match the stored object "
                f"({strip_etag(w['etag'])} != {strip_etag(str(info.etag))}); "
                "send the ETag the upload returned",
            )
        old = existing.get(w["name"])
        if old is not None:
            if strip_etag(old["etag"]) == strip_etag(w["etag"]):
                result_rows.append(old)  # re-binding the same object is a no-op
                continue
            raise TerraError(
                E.INVALID_OPERATION,
                f"resource already has a different file named "
                f"{w['name']!r}; delete that file first or use another name",
            )
        to_bind.append({**w, "key": key, "size": int(info.size)})

    now = time.time()
    with ctx.state.transaction() as st:
        for w in to_bind:
            file_uuid = str(uuid.uuid4())
            row = {
                "uuid": file_uuid,
                "owner": app_key,
                "name": w["name"],
                "checksum": w["checksum"].strip().strip('"'),
                "etag": strip_etag(w["etag"]),
                "size": w["size"],
                "meta": w["meta"],
                "position": w["position"],
                "bucket": token["bucket"],
                "object_key": w["key"],
                "created_at": now,
                "updated_at": now,
            }
            st.insert("files", row)
            st.bind_file(resource_uuid, file_uuid, w["name"])
            result_rows.append({**row, "bound_name": w["name"]})
        _update_scope(ctx, resource, [w["position"] for w in to_bind], now)
    return ok([file_json(ctx, r, with_url=False) for r in result_rows])


def _update_scope(
    ctx: EmulatorContext, resource: dict[str, Any], positions: list[dict[str, float]], now: float
) -> None:
    scope = dict(resource["scope"] or {})
    for p in positions:
        lat, lon = p["latitude"], p["longitude"]
        if lat == 0.0 and lon == 0.0:
            continue
        if "minLatitude" not in scope:
            scope = {
                "minLatitude": lat,
                "maxLatitude": lat,
                "minLongitude": lon,
                "maxLongitude": lon,
            }
        scope["minLatitude"] = min(scope["minLatitude"], lat)
        scope["maxLatitude"] = max(scope["maxLatitude"], lat)
        scope["minLongitude"] = min(scope["minLongitude"], lon)
        scope["maxLongitude"] = max(scope["maxLongitude"], lon)
    ctx.state.update("resources", "uuid", resource["uuid"], {"scope": scope, "updated_at": now})


# ---------------------------------------------------------------- resources
_NAME_META_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "meta": {"type": "string"}},
}
_CREATE_RESOURCE_SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "type": {"type": "string", "enum": ["map"]},
        "meta": {"type": "string"},
        "files": {"type": "array", "items": {"type": "string"}},
    },
}


@router.post(
    "/resources", summary="Create a resource", openapi_extra=openapi_body(_CREATE_RESOURCE_SCHEMA)
)
def create_resource(request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """Create a resource of type ``map``, optionally with existing file uuids."""
    ctx = ctx_of(request)
    body = body_of(request)
    name = _str_field(body, "name", required=True)
    rtype = _str_field(body, "type", default="map") or "map"
    if rtype != "map":
        raise TerraError(E.PARAMETER, f"type must be 'map', got {rtype!r}")
    meta = _str_field(body, "meta")
    file_uuids = body.get("files") or []
    if not isinstance(file_uuids, list) or not all(isinstance(u, str) for u in file_uuids):
        raise TerraError(E.PARAMETER, "files must be an array of file uuids")
    file_rows = [_own_file(ctx, app_key, u) for u in dict.fromkeys(file_uuids)]
    names = [r["name"] for r in file_rows]
    if len(set(names)) != len(names):
        raise TerraError(E.PARAMETER, "files contains two files with the same name")
    now = time.time()
    ruuid = str(uuid.uuid4())
    with ctx.state.transaction() as st:
        st.insert(
            "resources",
            {
                "uuid": ruuid,
                "api": "terra",
                "owner": app_key,
                "name": name,
                "type": "map",
                "meta": meta,
                "scope": {},
                "created_at": now,
                "updated_at": now,
            },
        )
        for r in file_rows:
            st.bind_file(ruuid, r["uuid"], r["name"])
    return ok(resource_json(ctx, ctx.state.resource(ruuid) or {}))


@router.get("/resources", summary="List resources (page, rows, search, uuids, type)")
def list_resources(
    request: Request,
    app_key: str = Depends(terra_auth),
    page: str | None = None,
    rows: str | None = None,
    search: str | None = None,
    uuids: str | None = None,
    type: str | None = None,
) -> GoJSONResponse:
    """Paged list of this account's resources, newest first."""
    ctx = ctx_of(request)
    all_rows = ctx.state.query(
        "SELECT * FROM resources WHERE api = 'terra' AND owner = ? "
        "ORDER BY created_at DESC, rowid DESC",
        (app_key,),
    )
    wanted = _uuid_list(request, "uuids")
    if wanted is not None:
        all_rows = [r for r in all_rows if r["uuid"] in set(wanted)]
    if search:
        all_rows = [r for r in all_rows if search.lower() in r["name"].lower()]
    if type:
        all_rows = [r for r in all_rows if r["type"] == type]
    items, page_n, rows_n = _page(all_rows, request)
    return ok(
        {
            "list": [resource_json(ctx, r) for r in items],
            "page": page_n,
            "rows": rows_n,
            "total": len(all_rows),
        }
    )


@router.get("/resources/{uuid}", summary="Resource detail with file and job uuids")
def get_resource(uuid: str, request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """``{summary, fileUuids, inputJobUuids, outputJobUuids}``."""
    ctx = ctx_of(request)
    row = _own_resource(ctx, app_key, uuid)
    files = [r["uuid"] for r in ctx.state.resource_files(uuid)]
    inputs = [
        r["uuid"]
        for r in ctx.state.query(
            "SELECT uuid FROM jobs WHERE origin_resource_uuid = ? ORDER BY created_at", (uuid,)
        )
    ]
    outputs = [
        r["uuid"]
        for r in ctx.state.query(
            "SELECT uuid FROM jobs WHERE output_resource_uuid = ? ORDER BY created_at", (uuid,)
        )
    ]
    return ok(
        {
            "summary": resource_json(ctx, row),
            "fileUuids": files,
            "inputJobUuids": inputs,
            "outputJobUuids": outputs,
        }
    )


@router.put(
    "/resources/{uuid}",
    summary="Update a resource's name/meta (emulator reading)",
    openapi_extra=openapi_body(_NAME_META_SCHEMA),
)
def update_resource(
    uuid: str, request: Request, app_key: str = Depends(terra_auth)
) -> GoJSONResponse:
    """Change ``name`` and/or ``meta``."""
    ctx = ctx_of(request)
    row = _own_resource(ctx, app_key, uuid)
    body = body_of(request)
    changes: dict[str, Any] = {}
    for key in ("name", "meta"):
        if body.has(key):
            changes[key] = _str_field(body, key, required=(key == "name"))
    changes["updated_at"] = time.time()
    ctx.state.update("resources", "uuid", uuid, changes)
    return ok(resource_json(ctx, {**row, **changes}))


@router.post(
    "/resources/{uuid}/copy",
    summary="Copy a resource (emulator reading: optional name)",
    openapi_extra=openapi_body(_NAME_META_SCHEMA, required=False),
)
def copy_resource(
    uuid: str, request: Request, app_key: str = Depends(terra_auth)
) -> GoJSONResponse:
    """A new ``map`` resource holding the same files."""
    ctx = ctx_of(request)
    row = _own_resource(ctx, app_key, uuid)
    body = body_of(request, allow_empty=True)
    name = _str_field(body, "name") or f"copy of {row['name']}"
    now = time.time()
    new_uuid = str(uuid_mod.uuid4())
    with ctx.state.transaction() as st:
        st.insert(
            "resources",
            {
                "uuid": new_uuid,
                "api": "terra",
                "owner": app_key,
                "name": name,
                "type": "map",
                "meta": _str_field(body, "meta", default=row["meta"]),
                "scope": row["scope"] or {},
                "created_at": now,
                "updated_at": now,
            },
        )
        for f in st.resource_files(uuid):
            st.bind_file(new_uuid, f["uuid"], f["bound_name"])
    return ok(resource_json(ctx, ctx.state.resource(new_uuid) or {}))


@router.delete(
    "/resources/{uuid}",
    summary="Delete a resource (deleteMode 0 keeps files, 1 deletes files no other resource uses)",
)
def delete_resource(
    uuid: str, request: Request, app_key: str = Depends(terra_auth), deleteMode: str | None = None
) -> GoJSONResponse:
    """Delete a resource that no unfinished job uses."""
    ctx = ctx_of(request)
    _own_resource(ctx, app_key, uuid)
    mode = _int_query(request, "deleteMode", 0, 0, 10**6)
    if mode not in (0, 1):
        raise TerraError(
            E.PARAMETER,
            f"deleteMode must be 0 (keep files) or 1 (delete unshared files), got {mode}",
        )
    if uuid in _busy_resources(ctx, app_key):
        raise TerraError(
            E.INVALID_OPERATION,
            f"resource {uuid} is used by an unfinished job; stop the job or wait for it to finish",
        )
    with ctx.state.transaction() as st:
        files = [r["uuid"] for r in st.resource_files(uuid)]
        st.execute("DELETE FROM resource_files WHERE resource_uuid = ?", (uuid,))
        st.execute("DELETE FROM resources WHERE uuid = ?", (uuid,))
        if mode == 1:
            for f in files:
                if not st.file_resources(f):
                    st.execute("DELETE FROM files WHERE uuid = ?", (f,))
    return ok(None)


# -------------------------------------------------------------------- files
@router.get(
    "/files",
    summary="List files (page, rows, search, needURL, name, uuids, resourceUuid, orderAsc)",
)
def list_files(
    request: Request,
    app_key: str = Depends(terra_auth),
    page: str | None = None,
    rows: str | None = None,
    search: str | None = None,
    needURL: str | None = None,
    name: str | None = None,
    uuids: str | None = None,
    resourceUuid: str | None = None,
    orderAsc: str | None = None,
) -> GoJSONResponse:
    """Paged list of this account's files (of one resource with ``resourceUuid``)."""
    ctx = ctx_of(request)
    need_url = _bool_query(request, "needURL")
    asc = _bool_query(request, "orderAsc")
    if resourceUuid:
        _own_resource(ctx, app_key, resourceUuid)
        all_rows = ctx.state.resource_files(resourceUuid)
    else:
        all_rows = ctx.state.query("SELECT * FROM files WHERE owner = ?", (app_key,))
    all_rows.sort(
        key=lambda r: (r["created_at"], r.get("bound_name") or r["name"]), reverse=not asc
    )
    wanted = _uuid_list(request, "uuids")
    if wanted is not None:
        all_rows = [r for r in all_rows if r["uuid"] in set(wanted)]
    if name:
        all_rows = [r for r in all_rows if (r.get("bound_name") or r["name"]) == name]
    if search:
        all_rows = [
            r for r in all_rows if search.lower() in (r.get("bound_name") or r["name"]).lower()
        ]
    items, page_n, rows_n = _page(all_rows, request)
    return ok(
        {
            "list": [file_json(ctx, r, with_url=need_url) for r in items],
            "page": page_n,
            "rows": rows_n,
            "total": len(all_rows),
        }
    )


@router.get("/files/{uuid}", summary="File detail with a presigned download url")
def get_file(uuid: str, request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """The File with ``url`` (a presigned GET, valid 1 hour)."""
    ctx = ctx_of(request)
    return ok(file_json(ctx, _own_file(ctx, app_key, uuid), with_url=True))


@router.delete("/files/{uuid}", summary="Delete a file")
def delete_file(uuid: str, request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """Delete a file and unbind it from every resource (not while a job uses one of them)."""
    ctx = ctx_of(request)
    _own_file(ctx, app_key, uuid)
    busy = _busy_resources(ctx, app_key)
    if any(r in busy for r in ctx.state.file_resources(uuid)):
        raise TerraError(
            E.INVALID_OPERATION,
            f"file {uuid} belongs to a resource used by an "
            "unfinished job; wait for the job to finish",
        )
    with ctx.state.transaction() as st:
        st.execute("DELETE FROM resource_files WHERE file_uuid = ?", (uuid,))
        st.execute("DELETE FROM files WHERE uuid = ?", (uuid,))
    return ok(None)


# --------------------------------------------------------------------- jobs
@router.post(
    "/jobs",
    summary="Create a job",
    openapi_extra=openapi_body(
        {
            "type": "object",
            "required": ["name"],
            "properties": {"name": {"type": "string"}, "meta": {"type": "string"}},
        }
    ),
)
def create_job(request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """A new job in status 0 (waiting for start)."""
    ctx = ctx_of(request)
    body = body_of(request)
    name = _str_field(body, "name", required=True)
    meta = _str_field(body, "meta")
    now = time.time()
    juuid = str(uuid.uuid4())
    ctx.state.insert(
        "jobs",
        {
            "uuid": juuid,
            "owner": app_key,
            "name": name,
            "meta": meta,
            "created_at": now,
            "updated_at": now,
        },
    )
    return ok(job_json(_own_job(ctx, app_key, juuid)))


@router.get(
    "/jobs",
    summary="List jobs (page, rows, search, uuids, type, status, "
    "originResourceUuid, outputResourceUuid)",
)
def list_jobs(
    request: Request,
    app_key: str = Depends(terra_auth),
    page: str | None = None,
    rows: str | None = None,
    search: str | None = None,
    uuids: str | None = None,
    type: str | None = None,
    status: str | None = None,
    originResourceUuid: str | None = None,
    outputResourceUuid: str | None = None,
) -> GoJSONResponse:
    """Paged list of this account's jobs, newest first."""
    ctx = ctx_of(request)
    all_rows = ctx.state.query(
        "SELECT * FROM jobs WHERE owner = ? ORDER BY created_at DESC, rowid DESC", (app_key,)
    )
    wanted = _uuid_list(request, "uuids")
    if wanted is not None:
        all_rows = [r for r in all_rows if r["uuid"] in set(wanted)]
    if search:
        all_rows = [r for r in all_rows if search.lower() in r["name"].lower()]
    for key, col in (("type", "type"), ("status", "status")):
        if request.query_params.get(key):
            value = _int_query(request, key, 0, 0, 10**6)
            all_rows = [r for r in all_rows if int(r[col]) == value]
    if originResourceUuid:
        all_rows = [r for r in all_rows if r["origin_resource_uuid"] == originResourceUuid]
    if outputResourceUuid:
        all_rows = [r for r in all_rows if r["output_resource_uuid"] == outputResourceUuid]
    items, page_n, rows_n = _page(all_rows, request)
    return ok(
        {
            "list": [job_json(r) for r in items],
            "page": page_n,
            "rows": rows_n,
            "total": len(all_rows),
        }
    )


@router.get("/jobs/{uuid}", summary="Job detail and status")
def get_job(uuid: str, request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """The Job."""
    return ok(job_json(_own_job(ctx_of(request), app_key, uuid)))


@router.put(
    "/jobs/{uuid}",
    summary="Update a job's name/meta (emulator reading)",
    openapi_extra=openapi_body(_NAME_META_SCHEMA),
)
def update_job(uuid: str, request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """Change ``name`` and/or ``meta``."""
    ctx = ctx_of(request)
    _own_job(ctx, app_key, uuid)
    body = body_of(request)
    changes: dict[str, Any] = {}
    for key in ("name", "meta"):
        if body.has(key):
            changes[key] = _str_field(body, key, required=(key == "name"))
    changes["updated_at"] = time.time()
    ctx.state.update("jobs", "uuid", uuid, changes)
    return ok(job_json(_own_job(ctx, app_key, uuid)))


@router.delete("/jobs/{uuid}", summary="Delete a job that is not running")
def delete_job(uuid: str, request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """Delete a job in status 0, 5, 6 or 7 (its output resource stays)."""
    ctx = ctx_of(request)
    row = _own_job(ctx, app_key, uuid)
    if int(row["status"]) in UNFINISHED_JOB_STATES:
        raise TerraError(
            E.INVALID_OPERATION, f"job {uuid} is running (status {row['status']}); stop it first"
        )
    ctx.state.execute("DELETE FROM jobs WHERE uuid = ?", (uuid,))
    return ok(None)


@router.post(
    "/jobs/{uuid}/copy",
    summary="Copy a job (emulator reading: optional name)",
    openapi_extra=openapi_body(_NAME_META_SCHEMA, required=False),
)
def copy_job(uuid: str, request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """A new job in status 0 with the same name and meta."""
    ctx = ctx_of(request)
    row = _own_job(ctx, app_key, uuid)
    body = body_of(request, allow_empty=True)
    now = time.time()
    new_uuid = str(uuid_mod.uuid4())
    ctx.state.insert(
        "jobs",
        {
            "uuid": new_uuid,
            "owner": app_key,
            "name": _str_field(body, "name") or row["name"],
            "meta": _str_field(body, "meta", default=row["meta"]),
            "created_at": now,
            "updated_at": now,
        },
    )
    return ok(job_json(_own_job(ctx, app_key, new_uuid)))


_START_SCHEMA = {
    "type": "object",
    "required": ["type", "resourceUuid", "parameters"],
    "properties": {
        "type": {"type": "integer", "enum": [13, 14, 15]},
        "resourceUuid": {"type": "string"},
        "parameters": {
            "type": "string",
            "description": "JSON string "
            '{"parameter":{...},"predefine_AOI":{...},'
            '"export_parameter":{...}}',
        },
        "outputResourceUuid": {"type": "string"},
    },
}


def parse_parameters(raw: Any, *, field: str = "parameters") -> dict[str, Any]:
    """Decode the ``parameters`` JSON string (it must be a string, DJI insists)."""
    if not isinstance(raw, str):
        raise TerraError(
            E.PARAMETER,
            f"{field} must be a JSON string (serialise the object first), got {type(raw).__name__}",
        )
    try:
        value = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise TerraError(E.PARAMETER, f"{field} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise TerraError(E.PARAMETER, f"{field} must encode a JSON object")
    param = value.get("parameter", {})
    if not isinstance(param, dict):
        raise TerraError(E.PARAMETER, f"{field}.parameter must be an object")
    return value


def count_images(files: list[dict[str, Any]]) -> int:
    """Files whose name has an image extension."""
    return sum(
        1 for f in files if str(f.get("bound_name") or f["name"]).lower().endswith(IMAGE_EXTENSIONS)
    )


@router.post(
    "/jobs/{uuid}/start",
    summary="Start a job (type 13 LiDAR, 14 2D, 15 3D)",
    openapi_extra=openapi_body(_START_SCHEMA),
)
def start_job(uuid: str, request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """Validate and queue a job; returns the Job (status 1)."""
    ctx = ctx_of(request)
    job = _own_job(ctx, app_key, uuid)
    body = body_of(request)
    jtype = body.get("type")
    if isinstance(jtype, bool) or not isinstance(jtype, int):
        raise TerraError(E.PARAMETER, "type must be an integer: 13 LiDAR, 14 2D, 15 3D")
    if jtype not in JOB_TYPES:
        raise TerraError(
            E.PARAMETER, f"unknown job type {jtype}; use 13 (LiDAR), 14 (2D) or 15 (3D)"
        )
    resource_uuid = _str_field(body, "resourceUuid", required=True)
    params = parse_parameters(body.get("parameters"))
    if int(job["status"]) != 0:
        raise TerraError(
            E.INVALID_OPERATION,
            f"job {uuid} was already started (status {job['status']}); create a new job",
        )
    resource = _own_resource(ctx, app_key, resource_uuid)
    files = ctx.state.resource_files(resource_uuid)
    if jtype in (14, 15):
        n = count_images(files)
        if n < MIN_IMAGES:
            raise TerraError(
                E.PARAMETER,
                f"resource {resource_uuid} has {n} images; 2D and 3D "
                f"jobs need at least {MIN_IMAGES}",
            )
        if n > MAX_IMAGES[jtype]:
            raise TerraError(
                E.PARAMETER,
                f"resource {resource_uuid} has {n} images; a "
                f"{JOB_TYPES[jtype].upper()} job takes at most {MAX_IMAGES[jtype]}",
            )
    else:
        if not files:
            raise TerraError(
                E.PARAMETER,
                f"resource {resource_uuid} has no files; upload the LiDAR data set first",
            )
        total = sum(int(f["size"]) for f in files)
        if total > LIDAR_MAX_BYTES:
            raise TerraError(
                E.PARAMETER,
                f"LiDAR data of resource {resource_uuid} is "
                f"{total / 1024**3:.1f} GB; at most 48 GB is accepted",
            )
    now = time.time()
    out_uuid = str(uuid_mod.uuid4())
    with ctx.state.transaction() as st:
        if st.count_unfinished_jobs(app_key) >= MAX_UNFINISHED_JOBS:
            raise TerraError(
                E.JOB_LIMIT,
                f"this account already has {MAX_UNFINISHED_JOBS} "
                "unfinished jobs; wait for one to finish or stop one",
            )
        changed = st.execute(
            "UPDATE jobs SET status = 1, type = ?, parameters = ?, origin_resource_uuid = ?, "
            "output_resource_uuid = ?, percentage = 0, remain_seconds = ?, message = '', "
            "started_at = ?, updated_at = ? WHERE uuid = ? AND status = 0",
            (
                jtype,
                body.get("parameters"),
                resource_uuid,
                out_uuid,
                int(ctx.options.job_seconds),
                now,
                now,
                uuid,
            ),
        )
        if not changed:
            raise TerraError(E.INVALID_OPERATION, f"job {uuid} was already started")
        st.insert(
            "resources",
            {
                "uuid": out_uuid,
                "api": "terra",
                "owner": app_key,
                "name": f"output of job: {uuid}",
                "type": "job_output",
                "meta": "",
                "revisable": 0,
                "scope": resource["scope"] or {},
                "created_at": now,
                "updated_at": now,
            },
        )
        st.update("resources", "uuid", resource_uuid, {"revisable": 0, "updated_at": now})
    del params  # validated here; the worker decodes the stored string again
    if ctx.scheduler is not None:
        ctx.scheduler.submit_job(uuid)
    return ok(job_json(_own_job(ctx, app_key, uuid)))


@router.post("/jobs/{uuid}/stop", summary="Stop a running job (0 < status < 4)")
def stop_job(uuid: str, request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """Stop a job that is waiting, preparing or executing; it ends in status 5."""
    ctx = ctx_of(request)
    job = _own_job(ctx, app_key, uuid)
    status = int(job["status"])
    if status == 0:
        raise TerraError(E.INVALID_OPERATION, f"job {uuid} has not been started")
    if status >= 4:
        raise TerraError(
            E.INVALID_OPERATION,
            f"job {uuid} is {_STATUS_NAMES.get(status, status)} and can no longer be stopped",
        )
    now = time.time()
    changed = ctx.state.execute(
        "UPDATE jobs SET status = 5, stop_requested = 1, message = 'stopped by user', "
        "remain_seconds = 0, completed_at = ?, updated_at = ? "
        "WHERE uuid = ? AND status IN (1, 2, 3)",
        (now, now, uuid),
    )
    if not changed:
        raise TerraError(E.INVALID_OPERATION, f"job {uuid} can no longer be stopped")
    return ok(job_json(_own_job(ctx, app_key, uuid)))


_STATUS_NAMES = {
    4: "processing its results",
    5: "already stopped",
    6: "already finished",
    7: "already failed",
}

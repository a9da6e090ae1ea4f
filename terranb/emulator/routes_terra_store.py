"""TerraAPI ``/v2/store``: STS upload credentials and binding uploaded objects to a resource.

Binding accepts only objects present in the bucket with the stated ETag, each
name once per resource, and updates the resource's geographic scope.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from fastapi import Depends, Request

import terranb.emulator.errors_wire as E
from terranb.emulator.auth import ctx_of, terra_auth
from terranb.emulator.config import TERRA_BUCKET, TERRA_CLOUD_NAME, TERRA_REGION
from terranb.emulator.context import EmulatorContext, account_prefix
from terranb.emulator.errors_wire import TerraError, openapi_body
from terranb.emulator.routes_common import (
    body_of,
    check_file_name,
    ok,
    own_resource,
    str_field,
    strip_etag,
    terra_router,
)
from terranb.emulator.s3policy import StsPolicy
from terranb.emulator.terra_json import file_json
from terranb.emulator.wire import CIDict, GoJSONResponse

__all__ = ["router"]

router = terra_router()


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
    resource_uuid = str_field(body, "resourceUUID", required=True)
    callback = str_field(body, "callbackParam", required=True)
    files = body.get("files")
    if not isinstance(files, list) or not files:
        raise TerraError(E.PARAMETER, "files must be a non-empty array of {name, etag, checksum}")
    resource = own_resource(ctx, app_key, resource_uuid)
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
        name = str_field(f, "name", required=True)
        check_file_name(name)
        etag = str_field(f, "etag")
        checksum = str_field(f, "checksum")
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

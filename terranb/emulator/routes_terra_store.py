"""TerraAPI ``/v2/store``: STS upload credentials and binding uploaded objects to a resource.

Binding accepts only objects present in the bucket with the stated ETag, each
name once per resource, and updates the resource's geographic scope.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import terranb.emulator.errors_wire as E
from terranb.emulator.config import TERRA_BUCKET, TERRA_CLOUD_NAME, TERRA_REGION
from terranb.emulator.context import EmulatorContext, account_prefix
from terranb.emulator.errors_wire import TerraError, openapi_body
from terranb.emulator.routes_common import (
    Terra,
    check_file_name,
    check_upload,
    insert_file,
    issue_store_token,
    object_schema,
    ok,
    str_field,
    strip_etag,
    terra_router,
    token_of,
)
from terranb.emulator.terra_json import file_json
from terranb.emulator.wire import CIDict, GoJSONResponse

__all__ = ["router"]

router = terra_router()


@router.post("/store/obtain_token", summary="Get STS upload credentials (empty body)")
def obtain_token(call: Terra) -> GoJSONResponse:
    """STS credentials for the bucket, a storePath with ``{fileName}`` and a callbackParam."""
    store_path = f"{account_prefix(call.app_key)}/tmp/{uuid.uuid4()}/{{fileName}}"
    # The keys may touch only this storePath (and the account's other recent ones):
    # emulator/s3policy.py. Results are downloaded through presigned URLs instead.
    creds, callback = issue_store_token(
        call.ctx, api="terra", owner=call.app_key, bucket=TERRA_BUCKET, region=TERRA_REGION,
        store_path=store_path,
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
            "expireTime": int(creds.expire_time),
        }
    )


_POSITION_SCHEMA = object_schema(dict.fromkeys(("attitude", "latitude", "longitude"), "number"))
_FILE_SCHEMA = object_schema(
    {"name": "string", "etag": "string", "checksum": "string", "meta": "string",
     "position": _POSITION_SCHEMA},
    "name", "etag", "checksum",
)
_UPLOAD_CALLBACK_SCHEMA = object_schema(
    {"resourceUUID": "string", "callbackParam": "string",
     "files": {"type": "array", "items": _FILE_SCHEMA}},
    "resourceUUID", "callbackParam", "files",
)


@router.post(
    "/store/upload_callback",
    summary="Bind uploaded objects to a resource",
    openapi_extra=openapi_body(_UPLOAD_CALLBACK_SCHEMA),
)
def upload_callback(call: Terra) -> GoJSONResponse:
    """Bind objects under the token's storePath into a resource; returns the File objects."""
    ctx, app_key = call.ctx, call.app_key
    body = call.body()
    resource_uuid = str_field(body, "resourceUUID", required=True)
    callback = str_field(body, "callbackParam", required=True)
    files = body.get("files")
    if not isinstance(files, list) or not files:
        raise TerraError(E.PARAMETER, "files must be a non-empty array of {name, etag, checksum}")
    resource = call.resource(resource_uuid)
    token = token_of(ctx, "terra", app_key, callback, fail=TerraError(
        E.PARAMETER,
        "callbackParam is not valid; pass the callbackParam of the "
        "obtain_token answer whose storePath the files were uploaded to",
    ))
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
        key, size = check_upload(ctx, token, w["name"], w["etag"])
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
        to_bind.append({**w, "key": key, "size": size})

    now = time.time()
    with ctx.state.transaction() as st:
        for w in to_bind:
            row = insert_file(
                st, resource_uuid, w["name"], owner=app_key, etag=strip_etag(w["etag"]),
                checksum=w["checksum"].strip().strip('"'), size=w["size"], bucket=token["bucket"],
                key=w["key"], now=now, meta=w["meta"], position=w["position"],
            )
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

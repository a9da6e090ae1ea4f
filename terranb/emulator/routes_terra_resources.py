"""TerraAPI ``/v2/resources`` and ``/v2/files``: create, list, detail, update, copy, delete.

``PUT`` takes ``name``/``meta`` and ``copy`` an optional ``name`` (emulator
readings: DJI does not publish those bodies); ``file_operation`` is not
emulated. A resource or file used by an unfinished job cannot be changed.
"""

from __future__ import annotations

import time
import uuid
import uuid as uuid_mod  # route parameters are named ``uuid`` (DJI's path name)
from typing import Any

from fastapi import Depends, Request

import terranb.emulator.errors_wire as E
from terranb.emulator.auth import ctx_of, terra_auth
from terranb.emulator.errors_wire import TerraError, openapi_body
from terranb.emulator.routes_common import (
    NAME_META_SCHEMA,
    body_of,
    bool_query,
    busy_resources,
    int_query,
    ok,
    own_file,
    own_resource,
    page_of,
    str_field,
    terra_router,
    uuid_list,
)
from terranb.emulator.terra_json import file_json, resource_json
from terranb.emulator.wire import GoJSONResponse

__all__ = ["router"]

router = terra_router()


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
    name = str_field(body, "name", required=True)
    rtype = str_field(body, "type", default="map") or "map"
    if rtype != "map":
        raise TerraError(E.PARAMETER, f"type must be 'map', got {rtype!r}")
    meta = str_field(body, "meta")
    file_uuids = body.get("files") or []
    if not isinstance(file_uuids, list) or not all(isinstance(u, str) for u in file_uuids):
        raise TerraError(E.PARAMETER, "files must be an array of file uuids")
    file_rows = [own_file(ctx, app_key, u) for u in dict.fromkeys(file_uuids)]
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
    wanted = uuid_list(request, "uuids")
    if wanted is not None:
        all_rows = [r for r in all_rows if r["uuid"] in set(wanted)]
    if search:
        all_rows = [r for r in all_rows if search.lower() in r["name"].lower()]
    if type:
        all_rows = [r for r in all_rows if r["type"] == type]
    items, page_n, rows_n = page_of(all_rows, request)
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
    row = own_resource(ctx, app_key, uuid)
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
    openapi_extra=openapi_body(NAME_META_SCHEMA),
)
def update_resource(
    uuid: str, request: Request, app_key: str = Depends(terra_auth)
) -> GoJSONResponse:
    """Change ``name`` and/or ``meta``."""
    ctx = ctx_of(request)
    row = own_resource(ctx, app_key, uuid)
    body = body_of(request)
    changes: dict[str, Any] = {}
    for key in ("name", "meta"):
        if body.has(key):
            changes[key] = str_field(body, key, required=(key == "name"))
    changes["updated_at"] = time.time()
    ctx.state.update("resources", "uuid", uuid, changes)
    return ok(resource_json(ctx, {**row, **changes}))


@router.post(
    "/resources/{uuid}/copy",
    summary="Copy a resource (emulator reading: optional name)",
    openapi_extra=openapi_body(NAME_META_SCHEMA, required=False),
)
def copy_resource(
    uuid: str, request: Request, app_key: str = Depends(terra_auth)
) -> GoJSONResponse:
    """A new ``map`` resource holding the same files."""
    ctx = ctx_of(request)
    row = own_resource(ctx, app_key, uuid)
    body = body_of(request, allow_empty=True)
    name = str_field(body, "name") or f"copy of {row['name']}"
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
                "meta": str_field(body, "meta", default=row["meta"]),
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
    own_resource(ctx, app_key, uuid)
    mode = int_query(request, "deleteMode", 0, 0, 10**6)
    if mode not in (0, 1):
        raise TerraError(
            E.PARAMETER,
            f"deleteMode must be 0 (keep files) or 1 (delete unshared files), got {mode}",
        )
    if uuid in busy_resources(ctx, app_key):
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
    need_url = bool_query(request, "needURL")
    asc = bool_query(request, "orderAsc")
    if resourceUuid:
        own_resource(ctx, app_key, resourceUuid)
        all_rows = ctx.state.resource_files(resourceUuid)
    else:
        all_rows = ctx.state.query("SELECT * FROM files WHERE owner = ?", (app_key,))
    all_rows.sort(
        key=lambda r: (r["created_at"], r.get("bound_name") or r["name"]), reverse=not asc
    )
    wanted = uuid_list(request, "uuids")
    if wanted is not None:
        all_rows = [r for r in all_rows if r["uuid"] in set(wanted)]
    if name:
        all_rows = [r for r in all_rows if (r.get("bound_name") or r["name"]) == name]
    if search:
        all_rows = [
            r for r in all_rows if search.lower() in (r.get("bound_name") or r["name"]).lower()
        ]
    items, page_n, rows_n = page_of(all_rows, request)
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
    return ok(file_json(ctx, own_file(ctx, app_key, uuid), with_url=True))


@router.delete("/files/{uuid}", summary="Delete a file")
def delete_file(uuid: str, request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """Delete a file and unbind it from every resource (not while a job uses one of them)."""
    ctx = ctx_of(request)
    own_file(ctx, app_key, uuid)
    busy = busy_resources(ctx, app_key)
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

"""TerraAPI ``/v2/resources`` and ``/v2/files``: create, list, detail, update, copy, delete.

``PUT`` takes ``name``/``meta`` and ``copy`` an optional ``name`` (emulator
readings: DJI does not publish those bodies); ``file_operation`` is not
emulated. A resource or file used by an unfinished job cannot be changed.
"""

from __future__ import annotations

import time
import uuid as uuid_mod  # route parameters are named ``uuid`` (DJI's path name)
from dataclasses import dataclass
from typing import Any

from fastapi import Depends

import terranb.emulator.errors_wire as E
from terranb.emulator.errors_wire import TerraError, openapi_body
from terranb.emulator.routes_common import (
    NAME_META_SCHEMA,
    ListQuery,
    Terra,
    bool_value,
    insert_resource,
    int_value,
    name_meta_changes,
    object_schema,
    ok,
    str_field,
    terra_router,
)
from terranb.emulator.terra_json import file_json, resource_json
from terranb.emulator.wire import GoJSONResponse

__all__ = ["router"]

router = terra_router()


_CREATE_RESOURCE_SCHEMA = object_schema(
    {
        "name": "string",
        "type": {"type": "string", "enum": ["map"]},
        "meta": "string",
        "files": {"type": "array", "items": {"type": "string"}},
    },
    "name",
)


@router.post(
    "/resources", summary="Create a resource", openapi_extra=openapi_body(_CREATE_RESOURCE_SCHEMA)
)
def create_resource(call: Terra) -> GoJSONResponse:
    """Create a resource of type ``map``, optionally with existing file uuids."""
    ctx = call.ctx
    body = call.body()
    name = str_field(body, "name", required=True)
    rtype = str_field(body, "type", default="map") or "map"
    if rtype != "map":
        raise TerraError(E.PARAMETER, f"type must be 'map', got {rtype!r}")
    meta = str_field(body, "meta")
    file_uuids = body.get("files") or []
    if not isinstance(file_uuids, list) or not all(isinstance(u, str) for u in file_uuids):
        raise TerraError(E.PARAMETER, "files must be an array of file uuids")
    file_rows = [call.file(u) for u in dict.fromkeys(file_uuids)]
    names = [r["name"] for r in file_rows]
    if len(set(names)) != len(names):
        raise TerraError(E.PARAMETER, "files contains two files with the same name")
    now = time.time()
    ruuid = str(uuid_mod.uuid4())
    with ctx.state.transaction() as st:
        insert_resource(
            st, ruuid, api="terra", owner=call.app_key, name=name, type="map", meta=meta, now=now
        )
        for r in file_rows:
            st.bind_file(ruuid, r["uuid"], r["name"])
    return ok(resource_json(ctx, ctx.state.resource(ruuid) or {}))


@dataclass
class ResourceQuery(ListQuery):
    """``GET /resources``: the list parameters and ``type``."""

    type: str | None = None


@router.get("/resources", summary="List resources (page, rows, search, uuids, type)")
def list_resources(call: Terra, q: ResourceQuery = Depends()) -> GoJSONResponse:
    """Paged list of this account's resources, newest first."""
    ctx = call.ctx
    rows = q.select(
        ctx.state.query(
            "SELECT * FROM resources WHERE api = 'terra' AND owner = ? "
            "ORDER BY created_at DESC, rowid DESC",
            (call.app_key,),
        )
    )
    if q.type:
        rows = [r for r in rows if r["type"] == q.type]
    return q.answer(rows, lambda r: resource_json(ctx, r))


@router.get("/resources/{uuid}", summary="Resource detail with file and job uuids")
def get_resource(uuid: str, call: Terra) -> GoJSONResponse:
    """``{summary, fileUuids, inputJobUuids, outputJobUuids}``."""
    ctx = call.ctx
    row = call.resource(uuid)

    def jobs_with(column: str) -> list[str]:
        sql = f"SELECT uuid FROM jobs WHERE {column} = ? ORDER BY created_at"
        return [r["uuid"] for r in ctx.state.query(sql, (uuid,))]

    return ok(
        {
            "summary": resource_json(ctx, row),
            "fileUuids": [r["uuid"] for r in ctx.state.resource_files(uuid)],
            "inputJobUuids": jobs_with("origin_resource_uuid"),
            "outputJobUuids": jobs_with("output_resource_uuid"),
        }
    )


@router.put(
    "/resources/{uuid}",
    summary="Update a resource's name/meta (emulator reading)",
    openapi_extra=openapi_body(NAME_META_SCHEMA),
)
def update_resource(uuid: str, call: Terra) -> GoJSONResponse:
    """Change ``name`` and/or ``meta``."""
    row = call.resource(uuid)
    changes = name_meta_changes(call.body())
    call.ctx.state.update("resources", "uuid", uuid, changes)
    return ok(resource_json(call.ctx, {**row, **changes}))


@router.post(
    "/resources/{uuid}/copy",
    summary="Copy a resource (emulator reading: optional name)",
    openapi_extra=openapi_body(NAME_META_SCHEMA, required=False),
)
def copy_resource(uuid: str, call: Terra) -> GoJSONResponse:
    """A new ``map`` resource holding the same files."""
    ctx = call.ctx
    row = call.resource(uuid)
    body = call.body(allow_empty=True)
    name = str_field(body, "name") or f"copy of {row['name']}"
    meta = str_field(body, "meta", default=row["meta"])
    new_uuid = str(uuid_mod.uuid4())
    with ctx.state.transaction() as st:
        insert_resource(
            st, new_uuid, api="terra", owner=call.app_key, name=name, type="map", meta=meta,
            scope=row["scope"], now=time.time(),
        )
        for f in st.resource_files(uuid):
            st.bind_file(new_uuid, f["uuid"], f["bound_name"])
    return ok(resource_json(ctx, ctx.state.resource(new_uuid) or {}))


@router.delete(
    "/resources/{uuid}",
    summary="Delete a resource (deleteMode 0 keeps files, 1 deletes files no other resource uses)",
)
def delete_resource(uuid: str, call: Terra, deleteMode: str | None = None) -> GoJSONResponse:
    """Delete a resource that no unfinished job uses."""
    ctx = call.ctx
    call.resource(uuid)
    mode = int_value("deleteMode", deleteMode, 0, 0, 10**6)
    if mode not in (0, 1):
        raise TerraError(
            E.PARAMETER,
            f"deleteMode must be 0 (keep files) or 1 (delete unshared files), got {mode}",
        )
    if uuid in call.busy_resources():
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
@dataclass
class FileQuery(ListQuery):
    """``GET /files``: the list parameters and the file filters.

    ``needURL`` adds a presigned ``url`` to every file, ``name`` matches a file name
    exactly, ``resourceUuid`` lists one resource's files (by their names there) and
    ``orderAsc`` sorts oldest first (newest first by default).
    """

    needURL: str | None = None
    name: str | None = None
    resourceUuid: str | None = None
    orderAsc: str | None = None


@router.get(
    "/files",
    summary="List files (page, rows, search, needURL, name, uuids, resourceUuid, orderAsc)",
)
def list_files(call: Terra, q: FileQuery = Depends()) -> GoJSONResponse:
    """Paged list of this account's files (of one resource with ``resourceUuid``)."""
    ctx = call.ctx
    need_url = bool_value("needURL", q.needURL)
    asc = bool_value("orderAsc", q.orderAsc)
    if q.resourceUuid:
        call.resource(q.resourceUuid)
        rows = ctx.state.resource_files(q.resourceUuid)
    else:
        rows = ctx.state.query("SELECT * FROM files WHERE owner = ?", (call.app_key,))
    rows.sort(key=lambda r: (r["created_at"], _file_name(r)), reverse=not asc)
    rows = q.select(rows, _file_name)
    if q.name:
        rows = [r for r in rows if _file_name(r) == q.name]
    return q.answer(rows, lambda r: file_json(ctx, r, with_url=need_url))


def _file_name(row: dict[str, Any]) -> str:
    """A file's name in the resource it was listed from (its upload name otherwise)."""
    return str(row.get("bound_name") or row["name"])


@router.get("/files/{uuid}", summary="File detail with a presigned download url")
def get_file(uuid: str, call: Terra) -> GoJSONResponse:
    """The File with ``url`` (a presigned GET, valid 1 hour)."""
    return ok(file_json(call.ctx, call.file(uuid), with_url=True))


@router.delete("/files/{uuid}", summary="Delete a file")
def delete_file(uuid: str, call: Terra) -> GoJSONResponse:
    """Delete a file and unbind it from every resource (not while a job uses one of them)."""
    ctx = call.ctx
    call.file(uuid)
    busy = call.busy_resources()
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

"""TerraAPI ``/v2/jobs``: create, list, detail, update, copy, delete, start, stop.

Enforced as documented: at least 10 images for 2D/3D, at most 4,000 (2D) /
20,000 (3D), LiDAR data at most 48 GB, at most 2 unfinished jobs per account
(801), ``parameters`` a JSON string, a job starts once, only ``0 < status < 4``
can be stopped. ``start`` answers with the Job; the output resource exists from
the start (empty until the job finishes).
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
    count_images,
    int_query,
    ok,
    own_job,
    own_resource,
    page_of,
    parse_parameters,
    str_field,
    terra_router,
    uuid_list,
)
from terranb.emulator.state import UNFINISHED_JOB_STATES
from terranb.emulator.terra_json import job_json
from terranb.emulator.wire import GoJSONResponse

__all__ = ["router"]

MIN_IMAGES = 10
MAX_IMAGES = {14: 4000, 15: 20000}
LIDAR_MAX_BYTES = 48 * 1024**3
MAX_UNFINISHED_JOBS = 2
JOB_TYPES = {13: "lidar", 14: "2d", 15: "3d"}

router = terra_router()


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
    name = str_field(body, "name", required=True)
    meta = str_field(body, "meta")
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
    return ok(job_json(own_job(ctx, app_key, juuid)))


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
    wanted = uuid_list(request, "uuids")
    if wanted is not None:
        all_rows = [r for r in all_rows if r["uuid"] in set(wanted)]
    if search:
        all_rows = [r for r in all_rows if search.lower() in r["name"].lower()]
    for key, col in (("type", "type"), ("status", "status")):
        if request.query_params.get(key):
            value = int_query(request, key, 0, 0, 10**6)
            all_rows = [r for r in all_rows if int(r[col]) == value]
    if originResourceUuid:
        all_rows = [r for r in all_rows if r["origin_resource_uuid"] == originResourceUuid]
    if outputResourceUuid:
        all_rows = [r for r in all_rows if r["output_resource_uuid"] == outputResourceUuid]
    items, page_n, rows_n = page_of(all_rows, request)
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
    return ok(job_json(own_job(ctx_of(request), app_key, uuid)))


@router.put(
    "/jobs/{uuid}",
    summary="Update a job's name/meta (emulator reading)",
    openapi_extra=openapi_body(NAME_META_SCHEMA),
)
def update_job(uuid: str, request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """Change ``name`` and/or ``meta``."""
    ctx = ctx_of(request)
    own_job(ctx, app_key, uuid)
    body = body_of(request)
    changes: dict[str, Any] = {}
    for key in ("name", "meta"):
        if body.has(key):
            changes[key] = str_field(body, key, required=(key == "name"))
    changes["updated_at"] = time.time()
    ctx.state.update("jobs", "uuid", uuid, changes)
    return ok(job_json(own_job(ctx, app_key, uuid)))


@router.delete("/jobs/{uuid}", summary="Delete a job that is not running")
def delete_job(uuid: str, request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """Delete a job in status 0, 5, 6 or 7 (its output resource stays)."""
    ctx = ctx_of(request)
    row = own_job(ctx, app_key, uuid)
    if int(row["status"]) in UNFINISHED_JOB_STATES:
        raise TerraError(
            E.INVALID_OPERATION, f"job {uuid} is running (status {row['status']}); stop it first"
        )
    ctx.state.execute("DELETE FROM jobs WHERE uuid = ?", (uuid,))
    return ok(None)


@router.post(
    "/jobs/{uuid}/copy",
    summary="Copy a job (emulator reading: optional name)",
    openapi_extra=openapi_body(NAME_META_SCHEMA, required=False),
)
def copy_job(uuid: str, request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """A new job in status 0 with the same name and meta."""
    ctx = ctx_of(request)
    row = own_job(ctx, app_key, uuid)
    body = body_of(request, allow_empty=True)
    now = time.time()
    new_uuid = str(uuid_mod.uuid4())
    ctx.state.insert(
        "jobs",
        {
            "uuid": new_uuid,
            "owner": app_key,
            "name": str_field(body, "name") or row["name"],
            "meta": str_field(body, "meta", default=row["meta"]),
            "created_at": now,
            "updated_at": now,
        },
    )
    return ok(job_json(own_job(ctx, app_key, new_uuid)))


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



@router.post(
    "/jobs/{uuid}/start",
    summary="Start a job (type 13 LiDAR, 14 2D, 15 3D)",
    openapi_extra=openapi_body(_START_SCHEMA),
)
def start_job(uuid: str, request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """Validate and queue a job; returns the Job (status 1)."""
    ctx = ctx_of(request)
    job = own_job(ctx, app_key, uuid)
    body = body_of(request)
    jtype = body.get("type")
    if isinstance(jtype, bool) or not isinstance(jtype, int):
        raise TerraError(E.PARAMETER, "type must be an integer: 13 LiDAR, 14 2D, 15 3D")
    if jtype not in JOB_TYPES:
        raise TerraError(
            E.PARAMETER, f"unknown job type {jtype}; use 13 (LiDAR), 14 (2D) or 15 (3D)"
        )
    resource_uuid = str_field(body, "resourceUuid", required=True)
    params = parse_parameters(body.get("parameters"))
    if int(job["status"]) != 0:
        raise TerraError(
            E.INVALID_OPERATION,
            f"job {uuid} was already started (status {job['status']}); create a new job",
        )
    resource = own_resource(ctx, app_key, resource_uuid)
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
    return ok(job_json(own_job(ctx, app_key, uuid)))


@router.post("/jobs/{uuid}/stop", summary="Stop a running job (0 < status < 4)")
def stop_job(uuid: str, request: Request, app_key: str = Depends(terra_auth)) -> GoJSONResponse:
    """Stop a job that is waiting, preparing or executing; it ends in status 5."""
    ctx = ctx_of(request)
    job = own_job(ctx, app_key, uuid)
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
    return ok(job_json(own_job(ctx, app_key, uuid)))


_STATUS_NAMES = {
    4: "processing its results",
    5: "already stopped",
    6: "already finished",
    7: "already failed",
}

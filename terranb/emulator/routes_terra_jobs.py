"""TerraAPI ``/v2/jobs``: create, list, detail, update, copy, delete, start, stop.

Enforced as documented: at least 10 images for 2D/3D, at most 4,000 (2D) /
20,000 (3D), LiDAR data at most 48 GB, at most 2 unfinished jobs per account
(801), ``parameters`` a JSON string, a job starts once, only ``0 < status < 4``
can be stopped. ``start`` answers with the Job; the output resource exists from
the start (empty until the job finishes).
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
    TerraCall,
    count_images,
    insert_resource,
    int_value,
    name_meta_changes,
    object_schema,
    ok,
    parse_parameters,
    str_field,
    terra_router,
)
from terranb.emulator.state import UNFINISHED_JOB_STATES
from terranb.emulator.terra_json import job_json
from terranb.emulator.wire import CIDict, GoJSONResponse

__all__ = ["router"]

MIN_IMAGES = 10
MAX_IMAGES = {14: 4000, 15: 20000}
LIDAR_MAX_BYTES = 48 * 1024**3
MAX_UNFINISHED_JOBS = 2
JOB_TYPES = {13: "lidar", 14: "2d", 15: "3d"}

router = terra_router()


def _new_job(call: TerraCall, body: CIDict, like: dict[str, Any] | None = None) -> GoJSONResponse:
    """Insert a job in status 0 named by ``body`` (or after ``like``, the job it copies)."""
    now = time.time()
    juuid = str(uuid_mod.uuid4())
    if like is None:
        name = str_field(body, "name", required=True)
        meta = str_field(body, "meta")
    else:
        name = str_field(body, "name") or like["name"]
        meta = str_field(body, "meta", default=like["meta"])
    call.ctx.state.insert(
        "jobs",
        {"uuid": juuid, "owner": call.app_key, "name": name, "meta": meta,
         "created_at": now, "updated_at": now},
    )
    return ok(job_json(call.job(juuid)))


@router.post(
    "/jobs",
    summary="Create a job",
    openapi_extra=openapi_body(object_schema({"name": "string", "meta": "string"}, "name")),
)
def create_job(call: Terra) -> GoJSONResponse:
    """A new job in status 0 (waiting for start)."""
    return _new_job(call, call.body())


@dataclass
class JobQuery(ListQuery):
    """``GET /jobs``: the list parameters and the job filters.

    ``type`` and ``status`` match the integer codes exactly; ``originResourceUuid`` and
    ``outputResourceUuid`` keep the jobs that read or wrote that resource.
    """

    type: str | None = None
    status: str | None = None
    originResourceUuid: str | None = None
    outputResourceUuid: str | None = None

    def select_jobs(self, rows_all: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows_all = self.select(rows_all)
        for key, raw in (("type", self.type), ("status", self.status)):
            if raw:
                value = int_value(key, raw, 0, 0, 10**6)
                rows_all = [r for r in rows_all if int(r[key]) == value]
        for column, wanted in (
            ("origin_resource_uuid", self.originResourceUuid),
            ("output_resource_uuid", self.outputResourceUuid),
        ):
            if wanted:
                rows_all = [r for r in rows_all if r[column] == wanted]
        return rows_all


@router.get(
    "/jobs",
    summary="List jobs (page, rows, search, uuids, type, status, "
    "originResourceUuid, outputResourceUuid)",
)
def list_jobs(call: Terra, q: JobQuery = Depends()) -> GoJSONResponse:
    """Paged list of this account's jobs, newest first."""
    rows = call.ctx.state.query(
        "SELECT * FROM jobs WHERE owner = ? ORDER BY created_at DESC, rowid DESC", (call.app_key,)
    )
    return q.answer(q.select_jobs(rows), job_json)


@router.get("/jobs/{uuid}", summary="Job detail and status")
def get_job(uuid: str, call: Terra) -> GoJSONResponse:
    """The Job."""
    return ok(job_json(call.job(uuid)))


@router.put(
    "/jobs/{uuid}",
    summary="Update a job's name/meta (emulator reading)",
    openapi_extra=openapi_body(NAME_META_SCHEMA),
)
def update_job(uuid: str, call: Terra) -> GoJSONResponse:
    """Change ``name`` and/or ``meta``."""
    call.job(uuid)
    call.ctx.state.update("jobs", "uuid", uuid, name_meta_changes(call.body()))
    return ok(job_json(call.job(uuid)))


@router.delete("/jobs/{uuid}", summary="Delete a job that is not running")
def delete_job(uuid: str, call: Terra) -> GoJSONResponse:
    """Delete a job in status 0, 5, 6 or 7 (its output resource stays)."""
    row = call.job(uuid)
    if int(row["status"]) in UNFINISHED_JOB_STATES:
        raise TerraError(
            E.INVALID_OPERATION, f"job {uuid} is running (status {row['status']}); stop it first"
        )
    call.ctx.state.execute("DELETE FROM jobs WHERE uuid = ?", (uuid,))
    return ok(None)


@router.post(
    "/jobs/{uuid}/copy",
    summary="Copy a job (emulator reading: optional name)",
    openapi_extra=openapi_body(NAME_META_SCHEMA, required=False),
)
def copy_job(uuid: str, call: Terra) -> GoJSONResponse:
    """A new job in status 0 with the same name and meta."""
    row = call.job(uuid)
    return _new_job(call, call.body(allow_empty=True), like=row)


_START_SCHEMA = object_schema(
    {
        "type": {"type": "integer", "enum": [13, 14, 15]},
        "resourceUuid": "string",
        "parameters": {
            "type": "string",
            "description": "JSON string "
            '{"parameter":{...},"predefine_AOI":{...},'
            '"export_parameter":{...}}',
        },
        "outputResourceUuid": "string",
    },
    "type", "resourceUuid", "parameters",
)


@router.post(
    "/jobs/{uuid}/start",
    summary="Start a job (type 13 LiDAR, 14 2D, 15 3D)",
    openapi_extra=openapi_body(_START_SCHEMA),
)
def start_job(uuid: str, call: Terra) -> GoJSONResponse:
    """Validate and queue a job; returns the Job (status 1)."""
    ctx, app_key = call.ctx, call.app_key
    job = call.job(uuid)
    body = call.body()
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
    resource = call.resource(resource_uuid)
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
        insert_resource(
            st, out_uuid, api="terra", owner=app_key, name=f"output of job: {uuid}",
            type="job_output", now=now, revisable=0, scope=resource["scope"],
        )
        st.update("resources", "uuid", resource_uuid, {"revisable": 0, "updated_at": now})
    del params  # validated here; the worker decodes the stored string again
    if ctx.scheduler is not None:
        ctx.scheduler.submit_job(uuid)
    return ok(job_json(call.job(uuid)))


@router.post("/jobs/{uuid}/stop", summary="Stop a running job (0 < status < 4)")
def stop_job(uuid: str, call: Terra) -> GoJSONResponse:
    """Stop a job that is waiting, preparing or executing; it ends in status 5."""
    job = call.job(uuid)
    status = int(job["status"])
    if status == 0:
        raise TerraError(E.INVALID_OPERATION, f"job {uuid} has not been started")
    if status >= 4:
        raise TerraError(
            E.INVALID_OPERATION,
            f"job {uuid} is {_STATUS_NAMES.get(status, status)} and can no longer be stopped",
        )
    now = time.time()
    changed = call.ctx.state.execute(
        "UPDATE jobs SET status = 5, stop_requested = 1, message = 'stopped by user', "
        "remain_seconds = 0, completed_at = ?, updated_at = ? "
        "WHERE uuid = ? AND status IN (1, 2, 3)",
        (now, now, uuid),
    )
    if not changed:
        raise TerraError(E.INVALID_OPERATION, f"job {uuid} can no longer be stopped")
    return ok(job_json(call.job(uuid)))


_STATUS_NAMES = {
    4: "processing its results",
    5: "already stopped",
    6: "already finished",
    7: "already failed",
}

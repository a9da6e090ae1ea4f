"""FlightHub 2 open-modeling routes under ``/openapi/v0.1`` and ``/openapi/v2.0`` (protocol.md §3).

Headers ``X-User-Token`` (organisation key) and ``X-Project-Uuid`` are checked on
every call; answers are ``{"code", "message", "data"}`` with HTTP 200, also for
business errors. Keys are snake_case and matched case-insensitively.

Rules from the live-verified flighthub2-cli (:mod:`terranb.emulator.fh2_rules`):
``resource_uuid`` is the batch id inside the ``store_path`` obtain_token issued,
and the first upload_callback naming it creates the resource; at most 100 files
per upload_callback; at most 2 models run at once (standard edition), counting
the ones a start asks for. Where DJI publishes nothing (protocol.md §6):
``zip_file_key`` is a key in the obtain_token bucket, written when
``zip_status`` becomes 2; error codes are listed in the app description.
"""

from __future__ import annotations

import time
import uuid as uuid_mod
from typing import Any

from fastapi import APIRouter, Depends, Request

import terranb.emulator.errors_wire as E
from terranb.emulator.auth import ctx_of, flighthub_auth
from terranb.emulator.config import FH2_BUCKET, FH2_REGION
from terranb.emulator.context import EmulatorContext
from terranb.emulator.errors_wire import FH2Error, TerraError, openapi_body
from terranb.emulator.fh2_rules import (
    check_concurrency,
    check_file_count,
    new_store_path,
    resolve_resource_uuid,
)
from terranb.emulator.routes_common import (
    check_file_name,
    count_images,
    parse_parameters,
    strip_etag,
)
from terranb.emulator.routes_common import fh2_body as _body
from terranb.emulator.routes_common import fh2_ok as ok
from terranb.emulator.routes_common import fh2_str as _str
from terranb.emulator.s3policy import StsPolicy
from terranb.emulator.wire import CIDict, GoJSONResponse

__all__ = ["routers"]

MODEL_KINDS = (  # request field, response key, model_type, engine job type
    ("parameter_2d", "model_2d", 1, "2d"),
    ("parameter_3d", "model_3d", 2, "3d"),
    ("parameter_3dgs", "model_3dgs", 3, "3dgs"),
    ("parameter_lidar", "model_lidar", 4, "lidar"),
)
# Files per task (FH2-SEED): min, max.
LIMITS = {"2d": (5, 20000), "3d": (5, 20000), "3dgs": (10, 4000), "lidar": (5, 20000)}
RUNNING_SQL = "(status IN (12, 14) OR (status = 15 AND zip_status IN (0, 1)))"


def _resource(ctx: EmulatorContext, project: str, resource_uuid: str) -> dict[str, Any]:
    row = ctx.state.resource(resource_uuid, api="fh2")
    if row is None or row["owner"] != project or int(row["status"]) == 3:
        raise FH2Error(E.FH2_NOT_FOUND, f"resource {resource_uuid} does not exist in this project")
    return row


def _model(ctx: EmulatorContext, project: str, model_uuid: str) -> dict[str, Any]:
    row = ctx.state.one("SELECT * FROM models WHERE uuid = ?", (model_uuid,))
    if row is None or row["project"] != project:
        raise FH2Error(E.FH2_NOT_FOUND, f"model {model_uuid} does not exist in this project")
    return row


def model_json(row: dict[str, Any]) -> dict[str, Any]:
    """Model details (protocol.md §3.4)."""
    out = {
        "resource_uuid": row["resource_uuid"],
        "model_uuid": row["uuid"],
        "model_type": int(row["model_type"]),
        "model_status": int(row["status"]),
        "model_size": int(row["model_size"]),
        "reconstruction_progress": int(row["progress"]),
        "error_code": int(row["error_code"]),
        "zip_status": int(row["zip_status"]),
        "zip_progress": int(row["zip_progress"]),
        "zip_file_key": row["zip_file_key"],
    }
    if row["message"]:
        out["error_message"] = row["message"]
    return out


def _make_router(version: str) -> APIRouter:
    router = APIRouter(
        prefix=f"/openapi/{version}/open_model",
        tags=[f"FlightHub 2 open modeling {version}"],
        dependencies=[Depends(flighthub_auth)],
        default_response_class=GoJSONResponse,
    )
    op = version.replace(".", "_")

    @router.post(
        "/stores/obtain_token",
        operation_id=f"fh2_{op}_obtain_token",
        summary="Get upload credential",
    )
    def obtain_token(request: Request, project: str = Depends(flighthub_auth)) -> Any:
        ctx = ctx_of(request)
        store_path = new_store_path(project)
        # Write: this storePath (and the project's other recent ones); read: also the
        # project's model results, where DJI's zip_file_key points (emulator/s3policy.py).
        creds = ctx.storage.issue_credentials(
            ttl=ctx.options.token_ttl,
            policy=StsPolicy.for_store_path(FH2_BUCKET, store_path, principal=f"fh2:{project}",
                                            read_prefixes=[f"{project}/open_model/"]))
        callback = ctx.new_callback_param()
        expire = int(creds.expire_time)
        ctx.state.insert(
            "tokens",
            {
                "callback_param": callback,
                "api": "fh2",
                "owner": project,
                "bucket": FH2_BUCKET,
                "region": FH2_REGION,
                "store_path": store_path,
                "access_key_id": creds.access_key_id,
                "expire_time": expire,
                "created_at": time.time(),
            },
        )
        return ok(
            {
                "cloud_name": "aws",
                "access_key_id": creds.access_key_id,
                "secret_access_key": creds.secret_access_key,
                "session_token": creds.session_token,
                "region": FH2_REGION,
                "cloud_bucket_name": FH2_BUCKET,
                "callback_param": callback,
                "store_path": store_path,
                "expire_time": expire,
                "end_point": ctx.storage.endpoint_url,
            }
        )

    @router.post(
        "/stores/upload_callback",
        operation_id=f"fh2_{op}_upload_callback",
        summary="Upload callback: resource_uuid = the batch id in store_path, at most 100 files",
        openapi_extra=openapi_body(
            {
                "type": "object",
                "required": ["resource_uuid", "callback_param", "files"],
                "properties": {
                    "resource_uuid": {"type": "string"},
                    "resource_name": {"type": "string"},
                    "callback_param": {"type": "string"},
                    "files": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["name", "etag"],
                            "properties": {"name": {"type": "string"}, "etag": {"type": "string"}},
                        },
                    },
                },
            }
        ),
    )
    def upload_callback(request: Request, project: str = Depends(flighthub_auth)) -> Any:
        ctx = ctx_of(request)
        body = _body(request)
        resource_uuid = _str(body, "resource_uuid", required=True)
        callback = _str(body, "callback_param", required=True)
        name = _str(body, "resource_name")
        files = body.get("files")
        if not isinstance(files, list) or not files:
            raise FH2Error(
                E.FH2_MISSING_PARAMETER, "files must be a non-empty array of {name, etag}"
            )
        check_file_count(files)
        token = ctx.state.one("SELECT * FROM tokens WHERE callback_param = ?", (callback,))
        if token is None or token["api"] != "fh2" or token["owner"] != project:
            raise FH2Error(
                E.FH2_PARAMETER,
                "callback_param is not valid; pass the callback_param "
                "of the obtain_token answer the files were uploaded with",
            )
        resource_uuid = resolve_resource_uuid(ctx.state, project, resource_uuid, token)
        existing_res = ctx.state.resource(resource_uuid)
        if existing_res is not None and (
            existing_res["api"] != "fh2"
            or existing_res["owner"] != project
            or int(existing_res["status"]) == 3
        ):
            raise FH2Error(
                E.FH2_INVALID_STATE,
                f"resource {resource_uuid} cannot take files "
                "(deleted or not in this project); use a new resource_uuid",
            )
        seen: set[str] = set()
        checked: list[tuple[str, str, str, int]] = []
        bound = (
            {r["bound_name"]: r for r in ctx.state.resource_files(resource_uuid)}
            if existing_res
            else {}
        )
        for i, item in enumerate(files):
            if not isinstance(item, dict):
                raise FH2Error(E.FH2_PARAMETER, f"files[{i}] must be an object")
            f = CIDict(item)
            fname = _str(f, "name", required=True)
            etag = _str(f, "etag", required=True)
            try:
                check_file_name(fname)
            except TerraError as exc:
                raise FH2Error(E.FH2_PARAMETER, exc.desc) from None
            if fname in seen:
                raise FH2Error(E.FH2_PARAMETER, f"file name {fname!r} appears twice in this call")
            seen.add(fname)
            key = token["store_path"].replace("{fileName}", fname)
            info = ctx.storage.head_object(token["bucket"], key)
            if info is None:
                raise FH2Error(
                    E.FH2_NOT_FOUND,
                    f"file {fname!r} was not found in the bucket at "
                    f"{key!r}; upload it with the token's credentials first",
                )
            if strip_etag(str(info.etag)) != strip_etag(etag):
                raise FH2Error(
                    E.FH2_PARAMETER,
                    f"etag of {fname!r} does not match the stored "
                    "object; send the ETag the upload returned",
                )
            old = bound.get(fname)
            if old is not None and strip_etag(old["etag"]) != strip_etag(etag):
                raise FH2Error(
                    E.FH2_INVALID_STATE, f"resource already has a different file named {fname!r}"
                )
            if old is None:
                checked.append((fname, strip_etag(etag), key, int(info.size)))
        now = time.time()
        with ctx.state.transaction() as st:
            if st.resource(resource_uuid) is None:
                st.insert(
                    "resources",
                    {
                        "uuid": resource_uuid,
                        "api": "fh2",
                        "owner": project,
                        "name": name or resource_uuid,
                        "type": "open_model",
                        "meta": "",
                        "status": 1,
                        "scope": {},
                        "created_at": now,
                        "updated_at": now,
                    },
                )
            elif name:
                st.update("resources", "uuid", resource_uuid, {"name": name})
            for fname, etag, key, size in checked:
                fu = str(uuid_mod.uuid4())
                st.insert(
                    "files",
                    {
                        "uuid": fu,
                        "owner": project,
                        "name": fname,
                        "checksum": etag,
                        "etag": etag,
                        "size": size,
                        "meta": "",
                        "position": {},
                        "bucket": token["bucket"],
                        "object_key": key,
                        "created_at": now,
                        "updated_at": now,
                    },
                )
                st.bind_file(resource_uuid, fu, fname)
        return ok(
            {
                "resource_uuid": resource_uuid,
                "upload_count": len(seen),
                "file_name_list": [_str(CIDict(f), "name") for f in files],
            }
        )

    @router.get(
        "/resource/{resource_uuid}",
        operation_id=f"fh2_{op}_get_resource",
        summary="Get resource details",
    )
    def get_resource(
        resource_uuid: str, request: Request, project: str = Depends(flighthub_auth)
    ) -> Any:
        ctx = ctx_of(request)
        row = _resource(ctx, project, resource_uuid)
        files = ctx.state.resource_files(resource_uuid)
        return ok(
            {
                "resource_uuid": resource_uuid,
                "status": int(row["status"]),
                "resource_size": sum(int(f["size"]) for f in files),
                "file_names": [f["bound_name"] for f in files],
            }
        )

    @router.delete(
        "/resource/{resource_uuid}",
        operation_id=f"fh2_{op}_delete_resource",
        summary="Delete resource",
    )
    def delete_resource(
        resource_uuid: str, request: Request, project: str = Depends(flighthub_auth)
    ) -> Any:
        ctx = ctx_of(request)
        _resource(ctx, project, resource_uuid)
        busy = ctx.state.one(
            f"SELECT COUNT(*) AS n FROM models WHERE resource_uuid = ? AND {RUNNING_SQL}",
            (resource_uuid,),
        )
        if busy and int(busy["n"]):
            raise FH2Error(
                E.FH2_INVALID_STATE,
                f"resource {resource_uuid} is used by a running model; stop it first",
            )
        with ctx.state.transaction() as st:
            st.execute("DELETE FROM resource_files WHERE resource_uuid = ?", (resource_uuid,))
            st.execute(
                "UPDATE resources SET status = 3, updated_at = ? WHERE uuid = ?",
                (time.time(), resource_uuid),
            )
        return ok({})

    @router.post(
        "/models/reconstruction/start",
        operation_id=f"fh2_{op}_start",
        summary="Start reconstruction task (at least one non-empty parameter_*)",
        openapi_extra=openapi_body(
            {
                "type": "object",
                "required": ["resource_uuid"],
                "properties": {
                    "resource_uuid": {"type": "string"},
                    "parameter_2d": {"type": "string"},
                    "parameter_3d": {"type": "string"},
                    "parameter_3dgs": {"type": "string"},
                    "parameter_lidar": {"type": "string"},
                    "delete_resource_if_finish": {"type": "boolean"},
                },
            }
        ),
    )
    def start(request: Request, project: str = Depends(flighthub_auth)) -> Any:
        ctx = ctx_of(request)
        body = _body(request)
        resource_uuid = _str(body, "resource_uuid", required=True)
        wanted: list[tuple[str, int, str, str]] = []
        for field, key, mtype, jtype in MODEL_KINDS:
            raw = body.get(field)
            if raw is None or raw == "":
                continue
            try:
                parse_parameters(raw, field=field)
            except TerraError as exc:
                raise FH2Error(E.FH2_PARAMETER, exc.desc) from None
            wanted.append((key, mtype, jtype, raw))
        if not wanted:
            raise FH2Error(
                E.FH2_MISSING_PARAMETER,
                "at least one of parameter_2d, parameter_3d, "
                "parameter_3dgs, parameter_lidar must be a non-empty JSON string",
            )
        delete_after = body.get("delete_resource_if_finish", False)
        if not isinstance(delete_after, bool):
            raise FH2Error(E.FH2_PARAMETER, "delete_resource_if_finish must be true or false")
        _resource(ctx, project, resource_uuid)
        files = ctx.state.resource_files(resource_uuid)
        for _key, _mtype, jtype, _raw in wanted:
            n = len(files) if jtype == "lidar" else count_images(files)
            low, high = LIMITS[jtype]
            what = "files" if jtype == "lidar" else "images"
            if n < low:
                raise FH2Error(
                    E.FH2_PARAMETER,
                    f"resource has {n} {what}; a {jtype} model needs at least {low}",
                )
            if n > high:
                raise FH2Error(
                    E.FH2_PARAMETER,
                    f"resource has {n} {what}; a {jtype} model takes at most {high}",
                )
        now = time.time()
        out: dict[str, Any] = {}
        created: list[str] = []
        with ctx.state.transaction() as st:
            running = st.one(
                f"SELECT COUNT(*) AS n FROM models WHERE project = ? AND {RUNNING_SQL}", (project,)
            )
            # The models this request asks for count as running too (FH2-SEED's limit is
            # on concurrent tasks, and 2D + 3D in one start are two tasks).
            check_concurrency(int(running["n"]) if running else 0, len(wanted))
            for key, mtype, jtype, raw in wanted:
                mu = str(uuid_mod.uuid4())
                st.insert(
                    "models",
                    {
                        "uuid": mu,
                        "project": project,
                        "resource_uuid": resource_uuid,
                        "model_type": mtype,
                        "job_type": jtype,
                        "parameters": raw,
                        "status": 12,
                        "delete_resource": int(delete_after),
                        "created_at": now,
                        "updated_at": now,
                    },
                )
                out[key] = {"uuid": mu, "status": 12, "sub_error_code": 0}
                created.append(mu)
        if ctx.scheduler is not None:
            for mu in created:
                ctx.scheduler.submit_model(mu)
        return ok(out)

    @router.post(
        "/models/{model_uuid}/reconstruction/stop",
        operation_id=f"fh2_{op}_stop",
        summary="Stop reconstruction task",
    )
    def stop(model_uuid: str, request: Request, project: str = Depends(flighthub_auth)) -> Any:
        ctx = ctx_of(request)
        row = _model(ctx, project, model_uuid)
        if int(row["status"]) not in (12, 14):
            raise FH2Error(
                E.FH2_INVALID_STATE,
                f"model {model_uuid} is not running (status "
                f"{row['status']}); only models in status 12 or 14 can be stopped",
            )
        now = time.time()
        changed = ctx.state.execute(
            "UPDATE models SET status = 16, stop_requested = 1, completed_at = ?, updated_at = ? "
            "WHERE uuid = ? AND status IN (12, 14)",
            (now, now, model_uuid),
        )
        if not changed:
            raise FH2Error(E.FH2_INVALID_STATE, f"model {model_uuid} is no longer running")
        return ok({})

    @router.get(
        "/models/running",
        operation_id=f"fh2_{op}_running",
        summary="Running reconstructions with progress",
    )
    def running(request: Request, project: str = Depends(flighthub_auth)) -> Any:
        ctx = ctx_of(request)
        rows = ctx.state.query(
            f"SELECT * FROM models WHERE project = ? AND {RUNNING_SQL} ORDER BY created_at",
            (project,),
        )
        return ok({"list": [model_json(r) for r in rows]})

    @router.get(
        "/models/{model_uuid}", operation_id=f"fh2_{op}_get_model", summary="Get the model details"
    )
    def get_model(model_uuid: str, request: Request, project: str = Depends(flighthub_auth)) -> Any:
        return ok(model_json(_model(ctx_of(request), project, model_uuid)))

    @router.delete(
        "/models/{model_uuid}", operation_id=f"fh2_{op}_delete_model", summary="Delete model"
    )
    def delete_model(
        model_uuid: str, request: Request, project: str = Depends(flighthub_auth)
    ) -> Any:
        ctx = ctx_of(request)
        row = _model(ctx, project, model_uuid)
        if int(row["status"]) in (12, 14):
            raise FH2Error(E.FH2_INVALID_STATE, f"model {model_uuid} is running; stop it first")
        ctx.state.execute("DELETE FROM models WHERE uuid = ?", (model_uuid,))
        return ok({})

    return router


def routers() -> list[APIRouter]:
    """One router per served version prefix."""
    return [_make_router("v0.1"), _make_router("v2.0")]

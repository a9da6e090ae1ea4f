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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

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
    MissingUpload,
    check_file_name,
    check_upload,
    count_images,
    insert_file,
    insert_resource,
    issue_store_token,
    object_schema,
    owned,
    parse_parameters,
    strip_etag,
    token_of,
)
from terranb.emulator.routes_common import fh2_body as _body
from terranb.emulator.routes_common import fh2_ok as ok
from terranb.emulator.routes_common import fh2_str as _str
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


@dataclass(frozen=True)
class FH2Call:
    """An authenticated open-modeling call: the emulator, the project, and its rows."""

    request: Request
    ctx: EmulatorContext
    project: str

    def body(self) -> CIDict:
        """The request's JSON object, or 200400."""
        return _body(self.request)

    def resource(self, resource_uuid: str) -> dict[str, Any]:
        """This project's resource, unless deleted (200404 otherwise)."""
        row = owned(self.ctx, "resources", resource_uuid, api="fh2", owner=self.project)
        if row is None or int(row["status"]) == 3:
            raise FH2Error(
                E.FH2_NOT_FOUND, f"resource {resource_uuid} does not exist in this project"
            )
        return row

    def model(self, model_uuid: str) -> dict[str, Any]:
        """This project's model (200404 otherwise)."""
        row = owned(self.ctx, "models", model_uuid, project=self.project)
        if row is None:
            raise FH2Error(E.FH2_NOT_FOUND, f"model {model_uuid} does not exist in this project")
        return row

    def running_models(self, where: str = "project = ?", key: str = "") -> list[dict[str, Any]]:
        """Models (of the project, or ``where``) that count against the concurrency limit."""
        return self.ctx.state.query(
            f"SELECT * FROM models WHERE {where} AND {RUNNING_SQL} ORDER BY created_at",
            (key or self.project,),
        )


async def _fh2_call(request: Request, project: str = Depends(flighthub_auth)) -> FH2Call:
    # The router already depends on flighthub_auth; FastAPI runs it once per request.
    return FH2Call(request, ctx_of(request), project)


FH2 = Annotated[FH2Call, Depends(_fh2_call)]


def model_json(row: dict[str, Any]) -> dict[str, Any]:
    """Model details (protocol.md §3.4)."""
    out = {"resource_uuid": row["resource_uuid"], "model_uuid": row["uuid"]}
    for key, column in (
        ("model_type", "model_type"),
        ("model_status", "status"),
        ("model_size", "model_size"),
        ("reconstruction_progress", "progress"),
        ("error_code", "error_code"),
        ("zip_status", "zip_status"),
        ("zip_progress", "zip_progress"),
    ):
        out[key] = int(row[column])
    out["zip_file_key"] = row["zip_file_key"]
    if row["message"]:
        out["error_message"] = row["message"]
    return out


_UPLOAD_CALLBACK_SCHEMA = object_schema(
    {
        "resource_uuid": "string",
        "resource_name": "string",
        "callback_param": "string",
        "files": {
            "type": "array",
            "items": object_schema({"name": "string", "etag": "string"}, "name", "etag"),
        },
    },
    "resource_uuid", "callback_param", "files",
)
_START_SCHEMA = object_schema(
    {
        **dict.fromkeys(("resource_uuid", *(kind[0] for kind in MODEL_KINDS)), "string"),
        "delete_resource_if_finish": "boolean",
    },
    "resource_uuid",
)


def _make_router(version: str) -> APIRouter:
    router = APIRouter(
        prefix=f"/openapi/{version}/open_model",
        tags=[f"FlightHub 2 open modeling {version}"],
        dependencies=[Depends(flighthub_auth)],
        default_response_class=GoJSONResponse,
    )
    op = version.replace(".", "_")

    def route(
        method: str, path: str, name: str, summary: str, body: dict[str, Any] | None = None
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register a route as ``fh2_<version>_<name>`` (one operation id per version)."""
        return router.api_route(
            path,
            methods=[method],
            operation_id=f"fh2_{op}_{name}",
            summary=summary,
            openapi_extra=openapi_body(body) if body else None,
        )

    @route("POST", "/stores/obtain_token", "obtain_token", "Get upload credential")
    def obtain_token(call: FH2) -> Any:
        store_path = new_store_path(call.project)
        # Write: this storePath (and the project's other recent ones); read: also the
        # project's model results, where DJI's zip_file_key points (emulator/s3policy.py).
        creds, callback = issue_store_token(
            call.ctx, api="fh2", owner=call.project, bucket=FH2_BUCKET, region=FH2_REGION,
            store_path=store_path, read_prefixes=[f"{call.project}/open_model/"],
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
                "expire_time": int(creds.expire_time),
                "end_point": call.ctx.storage.endpoint_url,
            }
        )

    @route(
        "POST", "/stores/upload_callback", "upload_callback",
        "Upload callback: resource_uuid = the batch id in store_path, at most 100 files",
        _UPLOAD_CALLBACK_SCHEMA,
    )
    def upload_callback(call: FH2) -> Any:
        return _upload_callback(call)

    @route("GET", "/resource/{resource_uuid}", "get_resource", "Get resource details")
    def get_resource(resource_uuid: str, call: FH2) -> Any:
        row = call.resource(resource_uuid)
        files = call.ctx.state.resource_files(resource_uuid)
        return ok(
            {
                "resource_uuid": resource_uuid,
                "status": int(row["status"]),
                "resource_size": sum(int(f["size"]) for f in files),
                "file_names": [f["bound_name"] for f in files],
            }
        )

    @route("DELETE", "/resource/{resource_uuid}", "delete_resource", "Delete resource")
    def delete_resource(resource_uuid: str, call: FH2) -> Any:
        call.resource(resource_uuid)
        if call.running_models("resource_uuid = ?", resource_uuid):
            raise FH2Error(
                E.FH2_INVALID_STATE,
                f"resource {resource_uuid} is used by a running model; stop it first",
            )
        with call.ctx.state.transaction() as st:
            st.execute("DELETE FROM resource_files WHERE resource_uuid = ?", (resource_uuid,))
            st.execute(
                "UPDATE resources SET status = 3, updated_at = ? WHERE uuid = ?",
                (time.time(), resource_uuid),
            )
        return ok({})

    @route(
        "POST", "/models/reconstruction/start", "start",
        "Start reconstruction task (at least one non-empty parameter_*)", _START_SCHEMA,
    )
    def start(call: FH2) -> Any:
        return _start(call)

    @route(
        "POST", "/models/{model_uuid}/reconstruction/stop", "stop", "Stop reconstruction task"
    )
    def stop(model_uuid: str, call: FH2) -> Any:
        row = call.model(model_uuid)
        if int(row["status"]) not in (12, 14):
            raise FH2Error(
                E.FH2_INVALID_STATE,
                f"model {model_uuid} is not running (status "
                f"{row['status']}); only models in status 12 or 14 can be stopped",
            )
        now = time.time()
        changed = call.ctx.state.execute(
            "UPDATE models SET status = 16, stop_requested = 1, completed_at = ?, updated_at = ? "
            "WHERE uuid = ? AND status IN (12, 14)",
            (now, now, model_uuid),
        )
        if not changed:
            raise FH2Error(E.FH2_INVALID_STATE, f"model {model_uuid} is no longer running")
        return ok({})

    @route("GET", "/models/running", "running", "Running reconstructions with progress")
    def running(call: FH2) -> Any:
        return ok({"list": [model_json(r) for r in call.running_models()]})

    @route("GET", "/models/{model_uuid}", "get_model", "Get the model details")
    def get_model(model_uuid: str, call: FH2) -> Any:
        return ok(model_json(call.model(model_uuid)))

    @route("DELETE", "/models/{model_uuid}", "delete_model", "Delete model")
    def delete_model(model_uuid: str, call: FH2) -> Any:
        row = call.model(model_uuid)
        if int(row["status"]) in (12, 14):
            raise FH2Error(E.FH2_INVALID_STATE, f"model {model_uuid} is running; stop it first")
        call.ctx.state.execute("DELETE FROM models WHERE uuid = ?", (model_uuid,))
        return ok({})

    return router


def _upload_callback(call: FH2Call) -> Any:
    ctx, project = call.ctx, call.project
    body = call.body()
    resource_uuid = _str(body, "resource_uuid", required=True)
    callback = _str(body, "callback_param", required=True)
    name = _str(body, "resource_name")
    files = body.get("files")
    if not isinstance(files, list) or not files:
        raise FH2Error(E.FH2_MISSING_PARAMETER, "files must be a non-empty array of {name, etag}")
    check_file_count(files)
    token = token_of(ctx, "fh2", project, callback, fail=FH2Error(
        E.FH2_PARAMETER,
        "callback_param is not valid; pass the callback_param "
        "of the obtain_token answer the files were uploaded with",
    ))
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
        try:  # the shared checks speak TerraAPI: re-coded for FlightHub 2
            check_file_name(fname)
            if fname in seen:
                raise FH2Error(E.FH2_PARAMETER, f"file name {fname!r} appears twice in this call")
            key, size = check_upload(ctx, token, fname, etag)
        except TerraError as exc:
            code = E.FH2_NOT_FOUND if isinstance(exc, MissingUpload) else E.FH2_PARAMETER
            raise FH2Error(code, exc.desc) from None
        seen.add(fname)
        old = bound.get(fname)
        if old is None:
            checked.append((fname, strip_etag(etag), key, size))
        elif strip_etag(old["etag"]) != strip_etag(etag):
            raise FH2Error(
                E.FH2_INVALID_STATE, f"resource already has a different file named {fname!r}"
            )
    now = time.time()
    with ctx.state.transaction() as st:
        if st.resource(resource_uuid) is None:
            insert_resource(
                st, resource_uuid, api="fh2", owner=project, name=name or resource_uuid,
                type="open_model", now=now, status=1,
            )
        elif name:
            st.update("resources", "uuid", resource_uuid, {"name": name})
        for fname, etag, key, size in checked:
            insert_file(
                st, resource_uuid, fname, owner=project, etag=etag, checksum=etag, size=size,
                bucket=token["bucket"], key=key, now=now,
            )
    return ok(
        {
            "resource_uuid": resource_uuid,
            "upload_count": len(seen),
            "file_name_list": [_str(CIDict(f), "name") for f in files],
        }
    )


def _wanted_models(body: CIDict) -> list[tuple[str, int, str, str]]:
    """(response key, model_type, engine job type, parameters) of each model asked for."""
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
    return wanted


def _start(call: FH2Call) -> Any:
    ctx, project = call.ctx, call.project
    body = call.body()
    resource_uuid = _str(body, "resource_uuid", required=True)
    wanted = _wanted_models(body)
    delete_after = body.get("delete_resource_if_finish", False)
    if not isinstance(delete_after, bool):
        raise FH2Error(E.FH2_PARAMETER, "delete_resource_if_finish must be true or false")
    call.resource(resource_uuid)
    files = ctx.state.resource_files(resource_uuid)
    for _key, _mtype, jtype, _raw in wanted:
        n = len(files) if jtype == "lidar" else count_images(files)
        low, high = LIMITS[jtype]
        what = "files" if jtype == "lidar" else "images"
        if n < low:
            raise FH2Error(
                E.FH2_PARAMETER, f"resource has {n} {what}; a {jtype} model needs at least {low}"
            )
        if n > high:
            raise FH2Error(
                E.FH2_PARAMETER, f"resource has {n} {what}; a {jtype} model takes at most {high}"
            )
    now = time.time()
    out: dict[str, Any] = {}
    with ctx.state.transaction() as st:
        # The models this request asks for count as running too (FH2-SEED's limit is
        # on concurrent tasks, and 2D + 3D in one start are two tasks).
        check_concurrency(len(call.running_models()), len(wanted))
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
    if ctx.scheduler is not None:
        for value in out.values():
            ctx.scheduler.submit_model(value["uuid"])
    return ok(out)


def routers() -> list[APIRouter]:
    """One router per served version prefix."""
    return [_make_router("v0.1"), _make_router("v2.0")]

"""FlightHub 2 beyond open modeling under ``/openapi/v0.1`` (protocol.md §3.7).

System status, projects (+ storage credentials), devices, flight tasks, their
media and flown track, map models and ``POST /model/create``. Shapes follow flighthub2-cli 0.1.2's
models (verified live per its docstrings); DJI's seed 004 names the endpoints only.

Choices where DJI is silent (docs/flighthub2-dock.md):

* ``/system_status`` and ``/project`` need only ``X-User-Token``; the rest also
  ``X-Project-Uuid``.
* A map model row carries ``status`` (``processing``/``success``/``failed``) and
  ``progress``; ``url`` (presigned zip of the result tree) appears once it succeeded.
* ``model/create`` runs one engine model per ``reconstruction_type`` on the folder's
  photos; ``url`` is the zip of the first, ``urls`` lists all; ``preview_url`` the 2D
  model's screennail (``""`` when there is none).
  ``quality_level`` high/medium/low -> 1/2/3, ``simplified_factor`` -> ``model_simplify``,
  ``generate_model_formats`` mesh/pointcloud -> ``output_mesh``/``output_pointcloud``,
  ``wkt`` (WKT or ``EPSG:n``) -> ``output_geo_desc.geo_cs_wkt``; ``reconstruction_mode``
  is recorded (the engine has no oblique mode). ``task_folder_id`` may be a numeric string.
"""

from __future__ import annotations

import itertools
import json
import math
import time
import uuid as uuid_mod
from typing import Any

from fastapi import APIRouter, Depends, Request

import terranb.emulator.errors_wire as E
from terranb.emulator.auth import check_org_key, ctx_of, flighthub_auth, read_body
from terranb.emulator.config import FH2_BUCKET, FH2_REGION, model_preview_key
from terranb.emulator.context import EmulatorContext
from terranb.emulator.dock_mission import DOCK_SN, DRONE_SN, ensure_dock_mission, folder_resource
from terranb.emulator.errors_wire import FH2Error
from terranb.emulator.fh2_rules import check_concurrency
from terranb.emulator.routes_common import fh2_body as _body
from terranb.emulator.routes_common import fh2_ok as ok
from terranb.emulator.routes_flighthub import LIMITS, RUNNING_SQL
from terranb.emulator.wire import GoJSONResponse

__all__ = ["router"]

PREFIX = "/openapi/v0.1"
_QUALITY = {"high": 1, "medium": 2, "low": 3}
_TYPES = {"2d": (1, "2d"), "3d": (2, "3d")}
_FORMATS = ("mesh", "pointcloud")

router = APIRouter(prefix=PREFIX, tags=["FlightHub 2 projects, flight tasks, map models"],
                   default_response_class=GoJSONResponse)


async def token_auth(request: Request) -> str:
    """X-User-Token only (system status and the project list need no project)."""
    ctx = ctx_of(request)
    await read_body(request)
    token = request.headers.get("x-user-token", "")
    check_org_key(ctx, token)
    return token


def _ctx(request: Request) -> EmulatorContext:
    ctx = ctx_of(request)
    ensure_dock_mission(ctx)
    return ctx


def _task(ctx: EmulatorContext, project: str, task_uuid: str) -> dict[str, Any]:
    row = ctx.state.one("SELECT * FROM fh2_flight_tasks WHERE uuid = ? AND project = ?",
                        (task_uuid, project))
    if row is None:
        raise FH2Error(E.FH2_NOT_FOUND, f"flight task {task_uuid} does not exist in this project")
    return row


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


@router.get("/system_status", operation_id="fh2_system_status", summary="System status")
def system_status(_: str = Depends(token_auth)) -> Any:
    return ok({})


@router.get("/project", operation_id="fh2_project_list", summary="Projects of the organization")
def projects(request: Request, _: str = Depends(token_auth)) -> Any:
    ctx = _ctx(request)
    q = (request.query_params.get("q") or "").casefold()
    name = "Dock mission (emulator)"
    items = [] if q and q not in name.casefold() else [{
        "uuid": ctx.project_uuid, "name": name, "introduction": "terranb emulator project",
        "org_uuid": "00000000-0000-4000-8000-000000000000", "created_at": 1715680000,
        "updated_at": 1715680000,
        "project_work_center_point": {"latitude": 46.8429, "longitude": -91.9937}}]
    return ok({"list": items, "pagination": {"page": 1, "page_size": len(items),
                                             "total": len(items)}})


@router.get("/project/device", operation_id="fh2_project_devices", summary="Project devices")
def devices(request: Request, project: str = Depends(flighthub_auth)) -> Any:
    _ctx(request)
    return ok({"list": [{"gateway": {"sn": DOCK_SN, "callsign": "Dock", "device_online_status":
                                     True, "device_model": {"key": "3-2-0", "name": "DJI Dock 2"}},
                         "drone": {"sn": DRONE_SN, "callsign": "M3E", "device_online_status":
                                   False, "device_model": {"key": "0-77-0", "name": "M3E"}}}]})


@router.get("/project/sts-token", operation_id="fh2_project_sts", summary="Project storage "
            "credentials")
def sts_token(request: Request, project: str = Depends(flighthub_auth)) -> Any:
    ctx = _ctx(request)
    creds = ctx.storage.issue_credentials(ttl=ctx.options.token_ttl)
    return ok({"credentials": {"access_key_id": creds.access_key_id,
                               "access_key_secret": creds.secret_access_key,
                               "security_token": creds.session_token,
                               "expire": int(ctx.options.token_ttl)},
               "object_key_prefix": f"{project}/project", "bucket": FH2_BUCKET,
               "endpoint": ctx.storage.endpoint_url, "provider": "aws", "region": FH2_REGION})


def _task_summary(row: dict[str, Any]) -> dict[str, Any]:
    return {"uuid": row["uuid"], "name": row["name"], "task_type": row["task_type"],
            "status": row["status"], "sn": row["sn"], "begin_at": _iso(row["begin_at"]),
            "end_at": _iso(row["end_at"]), "run_at": _iso(row["begin_at"]),
            "completed_at": _iso(row["end_at"]), "folder_id": int(row["folder_id"]),
            "media_upload_status": "success"}


@router.get("/flight-task/list", operation_id="fh2_task_list", summary="Flight tasks of a dock")
def task_list(request: Request, project: str = Depends(flighthub_auth)) -> Any:
    ctx = _ctx(request)
    qp = request.query_params
    sn = qp.get("sn") or ""
    if not sn:
        raise FH2Error(E.FH2_MISSING_PARAMETER, "sn (the dock serial number) is required")
    try:
        begin, end = int(qp.get("begin_at") or 0), int(qp.get("end_at") or time.time())
    except ValueError:
        raise FH2Error(E.FH2_PARAMETER, "begin_at and end_at must be unix seconds") from None
    rows = ctx.state.query("SELECT * FROM fh2_flight_tasks WHERE project = ? AND sn = ? AND "
                           "begin_at >= ? AND begin_at <= ? ORDER BY begin_at DESC",
                           (project, sn, begin, end))
    return ok({"list": [_task_summary(r) for r in rows]})


@router.get("/flight-task/{task_uuid}/track", operation_id="fh2_task_track",
            summary="Flown trajectory of a finished flight task")
def task_track(task_uuid: str, request: Request, project: str = Depends(flighthub_auth)) -> Any:
    """The camera positions of the task's photos, in flight order, as the track.

    Shape: flighthub2-cli's ``TaskTrack`` / ``Track`` / ``TrackPoint``. DJI does not say
    the unit of ``timestamp``; the emulator sends unix seconds, like ``begin_at`` of
    ``/flight-task/list``, spread evenly over the flight. ``flight_distance`` in metres
    (photo to photo), ``flight_duration`` in seconds.
    """
    ctx = _ctx(request)
    row = _task(ctx, project, task_uuid)
    files = ctx.state.resource_files(folder_resource(project, int(row["folder_id"])))
    places = [f["position"] for f in files if (f["position"] or {}).get("latitude") is not None]
    begin, end = float(row["begin_at"]), float(row["end_at"])
    step = (end - begin) / max(1, len(places) - 1)
    points = [{"timestamp": int(begin + i * step), "latitude": p["latitude"],
               "longitude": p["longitude"], "height": p.get("attitude")}
              for i, p in enumerate(places)]
    distance = 0.0
    for a, b in itertools.pairwise(places):  # equirectangular: metres over a survey extent
        mean_lat = math.radians((a["latitude"] + b["latitude"]) / 2)
        dx = math.radians(b["longitude"] - a["longitude"]) * math.cos(mean_lat)
        dy = math.radians(b["latitude"] - a["latitude"])
        distance += 6_371_008.8 * math.hypot(dx, dy)
    return ok({"name": row["name"], "status": row["status"], "wayline_uuid": None,
               "track": {"track_id": str(uuid_mod.uuid5(uuid_mod.NAMESPACE_URL,
                                                        f"terranb-track:{task_uuid}")),
                         "drone_sn": DRONE_SN, "flight_distance": round(distance, 1),
                         "flight_duration": int(end - begin), "points": points}})


@router.get("/flight-task/{task_uuid}", operation_id="fh2_task_get", summary="Flight task")
def task_get(task_uuid: str, request: Request, project: str = Depends(flighthub_auth)) -> Any:
    row = _task(_ctx(request), project, task_uuid)
    out = _task_summary(row)
    out.pop("folder_id")
    out["folder_info"] = {"folder_id": int(row["folder_id"]),
                          "expected_file_count": int(row["file_count"]),
                          "uploaded_file_count": int(row["file_count"])}
    return ok(out)


@router.get("/flight-task/{task_uuid}/media", operation_id="fh2_task_media",
            summary="Media of a flight task (presigned original_url, Range supported)")
def task_media(task_uuid: str, request: Request, project: str = Depends(flighthub_auth)) -> Any:
    ctx = _ctx(request)
    row = _task(ctx, project, task_uuid)
    files = ctx.state.resource_files(folder_resource(project, int(row["folder_id"])))
    items = []
    for f in files:
        url = ctx.storage.presigned_get_url(f["bucket"], f["object_key"])
        items.append({"uuid": f["uuid"], "name": f["bound_name"], "file_type": "image",
                      "suffix": f["bound_name"].rsplit(".", 1)[-1].lower(),
                      "size": int(f["size"]), "preview_url": url, "original_url": url,
                      "create_at": _iso(row["begin_at"]), "update_at": _iso(row["end_at"])})
    return ok({"list": items})


def _map_model_json(ctx: EmulatorContext, row: dict[str, Any], detail: bool) -> dict[str, Any]:
    uuids = json.loads(row["model_uuids"])
    found = [ctx.state.one("SELECT * FROM models WHERE uuid = ?", (u,)) for u in uuids]
    models: list[dict[str, Any]] = [m for m in found if m is not None]
    done = [m for m in models if int(m["status"]) in (9, 15) and int(m["zip_status"]) == 2]
    failed = [m for m in models if int(m["status"]) in (8, 13, 16) or int(m["zip_status"]) == 3]
    status = ("failed" if failed else "success" if models and len(done) == len(models)
              else "processing")
    progress = sum(int(m["progress"]) for m in models) / max(1, len(models))
    kinds = json.loads(row["request"]).get("reconstruction_type", [])
    out: dict[str, Any] = {
        "id": int(row["id"]), "name": row["name"], "file_type": "+".join(kinds),
        "show_on_map": status == "success", "size": sum(int(m["model_size"]) for m in done),
        "create_at": int(row["created_at"] * 1000), "update_at": int(row["updated_at"] * 1000),
        "status": status, "progress": progress}
    if failed:
        out["message"] = "; ".join(m["message"] for m in failed if m["message"])
    if detail:
        out["user_name"] = "emulator"
        urls = ([ctx.storage.presigned_get_url(FH2_BUCKET, m["zip_file_key"]) for m in done]
                if status == "success" else [])
        out["url"] = urls[0] if urls else ""
        out["urls"] = urls
        # A picture (a 2D model's screennail), not the archive; "" when none was made.
        previews = [model_preview_key(m["zip_file_key"]) for m in done] if urls else []
        out["preview_url"] = next(
            (ctx.storage.presigned_get_url(FH2_BUCKET, k) for k in previews
             if ctx.storage.head_object(FH2_BUCKET, k) is not None), "")
    return out


@router.get("/model", operation_id="fh2_map_model_list", summary="Models on the project map")
def map_models(request: Request, project: str = Depends(flighthub_auth)) -> Any:
    ctx = _ctx(request)
    rows = ctx.state.query("SELECT * FROM fh2_map_models WHERE project = ? ORDER BY id DESC",
                           (project,))
    return ok({"list": [_map_model_json(ctx, r, False) for r in rows]})


@router.get("/model/{model_id}", operation_id="fh2_map_model_get", summary="Map model detail")
def map_model(model_id: str, request: Request, project: str = Depends(flighthub_auth)) -> Any:
    ctx = _ctx(request)
    row = ctx.state.one("SELECT * FROM fh2_map_models WHERE id = ? AND project = ?",
                        (model_id, project)) if model_id.isdigit() else None
    if row is None:
        raise FH2Error(E.FH2_NOT_FOUND, f"model {model_id} does not exist in this project")
    return ok(_map_model_json(ctx, row, True))


def _list_of(body: Any, key: str, allowed: tuple[str, ...]) -> list[str]:
    value = body.get(key)
    if isinstance(value, str):
        value = [value]  # a plausible variant: one string instead of a list
    if not isinstance(value, list) or not value:
        raise FH2Error(E.FH2_MISSING_PARAMETER, f"{key} must be a non-empty list of {allowed}")
    out = [str(v).lower() for v in value]
    bad = [v for v in out if v not in allowed]
    if bad:
        raise FH2Error(E.FH2_PARAMETER, f"{key} has unknown values {bad}; use {allowed}")
    return out


def _engine_params(kind: str, body: Any, formats: list[str], wkt: str) -> dict[str, Any]:
    quality = str(body.get("quality_level") or "medium").lower()
    if quality not in _QUALITY:
        raise FH2Error(E.FH2_PARAMETER, "quality_level must be high, medium or low")
    mode = str(body.get("reconstruction_mode") or "normal").lower()
    if mode not in ("normal", "surround"):
        raise FH2Error(E.FH2_PARAMETER, "reconstruction_mode must be normal or surround")
    try:
        simplify = float(body.get("simplified_factor", 0.2))
    except (TypeError, ValueError):
        raise FH2Error(E.FH2_PARAMETER, "simplified_factor must be a number") from None
    if not 0 < simplify <= 1:
        raise FH2Error(E.FH2_PARAMETER, "simplified_factor must be in (0, 1]; 0.2 recommended")
    p: dict[str, Any] = {"quality_level": _QUALITY[quality],
                         "output_geo_desc": {"cs_type": "PROJ_CS", "geo_cs_wkt": wkt}}
    if kind == "3d":
        p.update({"output_mesh": "mesh" in formats, "generate_obj": "mesh" in formats,
                  "output_pointcloud": "pointcloud" in formats,
                  "generate_las": "pointcloud" in formats,
                  "model_simplify": max(0.05, simplify)})
    return {"parameter": p}


@router.post("/model/create", operation_id="fh2_map_model_create",
             summary="Cloud reconstruction of a flight task's media folder")
def create(request: Request, project: str = Depends(flighthub_auth)) -> Any:
    from pyproj import CRS

    ctx = _ctx(request)
    body = _body(request)
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise FH2Error(E.FH2_MISSING_PARAMETER, "name is required")
    folder = body.get("task_folder_id")
    if isinstance(folder, str) and folder.isdigit():
        folder = int(folder)
    if not isinstance(folder, int) or isinstance(folder, bool):
        raise FH2Error(E.FH2_MISSING_PARAMETER, "task_folder_id must be the flight task's "
                       "folder_id (an integer)")
    task = ctx.state.one("SELECT * FROM fh2_flight_tasks WHERE folder_id = ? AND project = ?",
                         (folder, project))
    if task is None:
        raise FH2Error(E.FH2_NOT_FOUND, f"media folder {folder} does not exist in this project")
    kinds = _list_of(body, "reconstruction_type", tuple(_TYPES))
    formats = _list_of(body, "generate_model_formats", _FORMATS) if "3d" in kinds else \
        [str(f).lower() for f in body.get("generate_model_formats") or []]
    wkt = body.get("wkt")
    if not isinstance(wkt, str) or not wkt.strip():
        raise FH2Error(E.FH2_MISSING_PARAMETER, "wkt (the output coordinate system) is required")
    try:
        CRS.from_user_input(wkt)
    except Exception:
        raise FH2Error(E.FH2_PARAMETER, "wkt is not a coordinate system pyproj knows; send "
                       "WKT (or EPSG:<code>)") from None
    resource = folder_resource(project, folder)
    n = len(ctx.state.resource_files(resource))
    for kind in kinds:
        low, high = LIMITS[kind]
        if not low <= n <= high:
            raise FH2Error(E.FH2_PARAMETER, f"the folder has {n} photos; {kind} needs "
                           f"{low}..{high}")
    params = {k: _engine_params(k, body, formats, wkt) for k in kinds}
    now = time.time()
    created: list[str] = []
    with ctx.state.transaction() as st:
        running = st.one(f"SELECT COUNT(*) AS n FROM models WHERE project = ? AND {RUNNING_SQL}",
                         (project,))
        check_concurrency(int(running["n"]) if running else 0, len(kinds))
        for kind in kinds:
            mu = str(uuid_mod.uuid4())
            st.insert("models", {"uuid": mu, "project": project, "resource_uuid": resource,
                                 "model_type": _TYPES[kind][0], "job_type": _TYPES[kind][1],
                                 "parameters": json.dumps(params[kind]), "status": 12,
                                 "delete_resource": 0, "created_at": now, "updated_at": now})
            created.append(mu)
        st.insert("fh2_map_models", {"project": project, "name": name.strip(),
                                     "folder_id": folder, "model_uuids": json.dumps(created),
                                     "request": json.dumps({
                                         "reconstruction_type": kinds,
                                         "generate_model_formats": formats, "wkt": wkt,
                                         "reconstruction_mode": str(
                                             body.get("reconstruction_mode") or "normal")}),
                                     "created_at": now, "updated_at": now})
        new = st.one("SELECT MAX(id) AS id FROM fh2_map_models WHERE project = ?", (project,))
    if ctx.scheduler is not None:
        for mu in created:
            ctx.scheduler.submit_model(mu)
    return ok({"id": int(new["id"]) if new else 0})

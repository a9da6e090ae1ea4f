"""The emulator's ASGI application: TerraAPI, FlightHub 2 and Cloud API on one port.

:func:`create_app` builds a FastAPI app around an
:class:`~terranb.emulator.context.EmulatorContext` and maps each API's errors to
its own wire form:

* TerraAPI business errors -> ``{"result": {...}, "data": null}`` with 4xx/5xx;
  gateway failures -> 401 ``{"message": ...}``;
* FlightHub 2 -> HTTP 200 ``{"code", "message", "data": {}}``;
* Cloud API -> HTTP 200 ``{"code": -1, "message"}``; missing/invalid token ->
  401 with an empty body.

An unexpected exception still gets its API's envelope (TerraAPI 102000 / HTTP
500), never a bare traceback. ``/openapi.json`` documents every route.
:func:`wrap_faults` puts the ``--latency-ms`` / ``--fail-rate`` middleware around it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

import terranb.emulator.errors_wire as E
from terranb._version import __version__
from terranb.emulator.auth import CloudApiUnauthorized, FH2AuthError, GatewayAuthError
from terranb.emulator.context import EmulatorContext
from terranb.emulator.errors_wire import CloudApiError, FH2Error, TerraError
from terranb.emulator.wire import GoJSONResponse

__all__ = ["create_app", "wrap_faults"]

log = logging.getLogger(__name__)

_DESCRIPTION = """\
Local emulator of DJI's cloud reconstruction APIs for terranb (not a DJI product).

* **TerraAPI v2** under `/terra-rescon-be/v2`: HMAC-signed (gateway 401 `{"message"}` on failure),
  envelope `{"result":{"code","msg","desc"},"data"}`; HTTP 400 for 102001, 404 for 102002/102114,
  409 for 102003, 429 for 801, 402 for 102116, 500 for 102000, 401 for 701.
* **FlightHub 2 open modeling** under `/openapi/v0.1/open_model` and `/openapi/v2.0/open_model`:
  headers `X-User-Token`, `X-Project-Uuid`; envelope `{"code","message","data"}` with HTTP 200.
  Error codes are the emulator's own (DJI's list is not public): 200401 bad token
  (HTTP 401 when a key is sent that is not this organisation's, as on the live gateways;
  HTTP 200 when none is sent), 200403 bad project, 200400 bad parameter, 200404 not found,
  200409 invalid state, 200610 missing parameter, 210429 too many running models
  (running + requested > 2), 210500 server error, 211400 `resource_uuid` is not the batch id
  of the callback's `store_path`
  (`fh/organizations/<org>/open_reconstruction/tmp/<batch>/{fileName}`), 212400 more
  than 100 files in one `upload_callback`; an unknown route under `/openapi/`
  is HTTP 404 with code 200501 in the same envelope.
* **Cloud API demo** under `/manage/api/v1`, `/media/api/v1`, `/storage/api/v1`: header
  `x-auth-token` (JWT from login), snake_case, HTTP 401 with an empty body without a valid token.

Outputs of jobs are stand-ins computed from the uploaded inputs, not photogrammetric
reconstructions, laid out as DJI Terra's desktop tree (the `pc_dir_structure` layout, used
whether or not the flag is set). TerraAPI puts them in the bucket as an output resource named
`output of job: <uuid>`; FlightHub 2 zips the same tree to the model's `zip_file_key`.

* **2D**: `map/result.tif` is an RGBA GeoTIFF mosaic made by direct georeferencing of the
  photos (EXIF/XMP position, height and gimbal attitude through a pinhole camera) in the
  `output_geo_desc` CRS (default: the photos' WGS 84 UTM zone), with `map/result.tfw`
  (pixel-centre convention), `map/result.prj`, `map/report/map_report.json` (DJI's key names,
  values measured on the mosaic), `AT/sfm_report.json` and `mission.json`.
* **3D**: `models/pc/0/terra_obj/BlockR/BlockR.obj` (+ `.mtl`, texture = the 2D mosaic): a grid
  mesh over the photographed area on a smooth surface fitted to the ground heights under the
  photos; `terra_obj/metadata.xml` (SRS and origin); `terra_las/cloud.las` (points sampled on
  that surface) when point clouds are requested; `report/model_report.json`.
* **LiDAR**: `lidars/terra_las/cloud_merged.copc.laz` (COPC): the LAS/LAZ files of the
  resource merged, reprojected to the requested CRS and thinned by `sample_distance` (one
  point per voxel) or by `quality_level` decimation.
* **3D Tiles**: `models/pc/0/terra_b3dms/tileset.json` (b3dm, 3 levels of detail) when
  `generate_b3dm` (FlightHub 2's default), `terra_pnts/` when `generate_pnts`.

Jobs run for at least `--job-seconds`: TerraAPI status 0, 1, 2, 3, 4 then 6 (7 failed,
5 stopped); FlightHub 2 12 -> 14 -> 15 (8 failed, 16 canceled).
"""


def _is_terra(path: str) -> bool:
    return path.startswith("/terra-rescon-be/")


def _is_fh2(path: str) -> bool:
    return path.startswith("/openapi/")


def _is_cloudapi(path: str) -> bool:
    return path.startswith(("/manage/api/", "/media/api/", "/storage/api/"))


def create_app(ctx: EmulatorContext) -> FastAPI:
    """The FastAPI app serving all three APIs for ``ctx``."""
    import terranb.emulator.routes_cloudapi as routes_cloudapi
    import terranb.emulator.routes_fh2_dock as routes_fh2_dock
    import terranb.emulator.routes_flighthub as routes_flighthub
    import terranb.emulator.routes_terra as routes_terra

    app = FastAPI(
        title="terranb DJI cloud emulator",
        version=__version__,
        description=_DESCRIPTION,
        default_response_class=GoJSONResponse,
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.include_router(routes_terra.router)
    for router in routes_flighthub.routers():
        app.include_router(router)
    app.include_router(routes_fh2_dock.router)
    for router in routes_cloudapi.routers():
        app.include_router(router)

    @app.exception_handler(GatewayAuthError)
    async def _gateway(_: Request, exc: GatewayAuthError) -> Response:
        return GoJSONResponse({"message": exc.message}, status_code=401)

    @app.exception_handler(TerraError)
    async def _terra(_: Request, exc: TerraError) -> Response:
        return GoJSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(FH2AuthError)
    async def _fh2_auth(_: Request, exc: FH2AuthError) -> Response:
        return GoJSONResponse({"code": exc.code, "message": exc.message, "data": {}},
                              status_code=exc.status)

    @app.exception_handler(FH2Error)
    async def _fh2(_: Request, exc: FH2Error) -> Response:
        return GoJSONResponse(exc.body())

    @app.exception_handler(CloudApiUnauthorized)
    async def _cloud_401(_: Request, __: CloudApiUnauthorized) -> Response:
        return Response(status_code=401)

    @app.exception_handler(CloudApiError)
    async def _cloud(_: Request, exc: CloudApiError) -> Response:
        return GoJSONResponse(exc.body())

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        text = "; ".join(_describe(e) for e in exc.errors()) or "invalid request"
        return _error_for(request.url.path, E.PARAMETER, text)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        path = request.url.path
        if exc.status_code in (404, 405) and _is_terra(path):
            # Kong answers unknown routes itself.
            return GoJSONResponse(
                {"message": "no Route matched with those values"}, status_code=404
            )
        if exc.status_code in (404, 405) and _is_fh2(path):
            # FlightHub 2's envelope, not FastAPI's {"detail"}: flighthub2-cli (live-verified)
            # documents HTTP 404 for an unknown route; the code says "not served here".
            return GoJSONResponse(
                {
                    "code": E.FH2_NO_ROUTE,
                    # "404 page not found" is what the live gateways answer for a route
                    # they do not serve (flighthub2-cli's cli/common.py looks for it).
                    "message": ("404 page not found" if exc.status_code == 404 else
                                "405 method not allowed") + ": this server does not serve "
                    f"{request.method} {path} (no such FlightHub 2 route in the terranb "
                    "emulator)",
                    "data": {},
                },
                status_code=exc.status_code,
            )
        return GoJSONResponse(
            {"detail": exc.detail},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error_for(
            request.url.path, E.SERVICE_FAILURE, f"emulator error: {type(exc).__name__}: {exc}"
        )

    return app


def _describe(err: dict[str, Any]) -> str:
    loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path"))
    return f"{loc}: {err.get('msg', 'invalid')}" if loc else str(err.get("msg", "invalid"))


def _error_for(path: str, terra_code: int, text: str) -> Response:
    if _is_fh2(path):
        code = E.FH2_SERVER if terra_code == E.SERVICE_FAILURE else E.FH2_PARAMETER
        return GoJSONResponse({"code": code, "message": text, "data": {}})
    if _is_cloudapi(path):
        return GoJSONResponse({"code": -1, "message": text})
    return GoJSONResponse(
        TerraError(terra_code, text).body(), status_code=E.TERRA_STATUS.get(terra_code, 400)
    )


def wrap_faults(app: Any, ctx: EmulatorContext) -> Any:
    """Wrap ``app`` in the API-side latency / fail-rate middleware when a knob is set."""
    opts = ctx.options
    if not opts.latency_ms and not opts.fail_rate:
        return app
    from terranb.emulator.netem import ApiFaultMiddleware, NetemConfig

    netem = NetemConfig(
        latency_ms=opts.latency_ms, fail_rate=opts.fail_rate, seed=int(opts.seed or 0)
    )
    return ApiFaultMiddleware(app, netem)

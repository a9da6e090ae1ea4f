"""Helpers the emulator's route modules share: envelopes, bodies, paging, ownership, names.

TerraAPI's success envelope and body/query parsing (102001 on bad input), paging
of list endpoints, the per-account ownership checks (102002 / 102114), and the
checks FlightHub 2's routes reuse: clean relative file names, ETag comparison,
the ``parameters`` JSON string and image counting.
"""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi import APIRouter, Depends, Request

import terranb.emulator.errors_wire as E
from terranb.emulator.auth import raw_body, terra_auth
from terranb.emulator.context import EmulatorContext
from terranb.emulator.errors_wire import FH2Error, TerraError
from terranb.emulator.state import UNFINISHED_JOB_STATES
from terranb.emulator.wire import BodyError, CIDict, GoJSONResponse, parse_object

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_ROWS",
    "NAME_META_SCHEMA",
    "PREFIX",
    "body_of",
    "bool_query",
    "busy_resources",
    "check_file_name",
    "count_images",
    "fh2_body",
    "fh2_ok",
    "fh2_str",
    "int_query",
    "ok",
    "own_file",
    "own_job",
    "own_resource",
    "page_of",
    "parse_parameters",
    "str_field",
    "strip_etag",
    "terra_router",
    "uuid_list",
]

PREFIX = "/terra-rescon-be/v2"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".tif", ".tiff", ".png", ".dng")
MAX_ROWS = 1000
UUID_LIST_MAX = 1000
NAME_META_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "meta": {"type": "string"}},
}


def terra_router(tag: str = "TerraAPI v2") -> APIRouter:
    """A router under ``/terra-rescon-be/v2`` behind the gateway's HMAC check."""
    return APIRouter(
        prefix=PREFIX,
        tags=[tag],
        dependencies=[Depends(terra_auth)],
        default_response_class=GoJSONResponse,
    )


def ok(data: Any = None) -> GoJSONResponse:
    """The success envelope."""
    return GoJSONResponse({"result": {"code": 0, "msg": "success", "desc": ""}, "data": data})


def body_of(request: Request, *, allow_empty: bool = False) -> CIDict:
    """The request's JSON object (keys case-insensitive), or 102001."""
    try:
        return parse_object(raw_body(request), allow_empty=allow_empty)
    except BodyError as exc:
        raise TerraError(E.PARAMETER, str(exc)) from None


def str_field(body: CIDict, key: str, *, required: bool = False, default: str = "") -> str:
    value = body.get(key)
    if value is None:
        if required:
            raise TerraError(E.PARAMETER, f"{key} is required")
        return default
    if not isinstance(value, str):
        raise TerraError(E.PARAMETER, f"{key} must be a string, got {type(value).__name__}")
    if required and not value:
        raise TerraError(E.PARAMETER, f"{key} must not be empty")
    return value


def int_query(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise TerraError(
            E.PARAMETER, f"query parameter {name} must be an integer, got {raw!r}"
        ) from None
    if value < low:
        raise TerraError(E.PARAMETER, f"query parameter {name} must be >= {low}, got {value}")
    return min(value, high)


def bool_query(request: Request, name: str) -> bool:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return False
    # Go's strconv.ParseBool spellings.
    if raw in {"1", "t", "T", "TRUE", "true", "True"}:
        return True
    if raw in {"0", "f", "F", "FALSE", "false", "False"}:
        return False
    raise TerraError(E.PARAMETER, f"query parameter {name} must be true or false, got {raw!r}")


def uuid_list(request: Request, name: str) -> list[str] | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    items = [u.strip() for u in raw.split(",") if u.strip()]
    if len(items) > UUID_LIST_MAX:
        raise TerraError(
            E.PARAMETER, f"{name} lists {len(items)} uuids; at most {UUID_LIST_MAX} are accepted"
        )
    return items


def page_of(
    rows_all: list[dict[str, Any]], request: Request
) -> tuple[list[dict[str, Any]], int, int]:
    page = int_query(request, "page", 1, 1, 10**9)
    rows = int_query(request, "rows", 10, 1, MAX_ROWS)
    start = (page - 1) * rows
    return rows_all[start : start + rows], page, rows


def own_resource(ctx: EmulatorContext, owner: str, uuid_: str) -> dict[str, Any]:
    row = ctx.state.resource(uuid_, api="terra")
    if row is None or row["owner"] != owner:
        raise TerraError(
            E.RESOURCE_NOT_FOUND, f"resource {uuid_!r} does not exist for this app key"
        )
    return row


def own_job(ctx: EmulatorContext, owner: str, uuid_: str) -> dict[str, Any]:
    row = ctx.state.one("SELECT * FROM jobs WHERE uuid = ?", (uuid_,))
    if row is None or row["owner"] != owner:
        raise TerraError(E.JOB_NOT_FOUND, f"job {uuid_!r} does not exist for this app key")
    return row


def own_file(ctx: EmulatorContext, owner: str, uuid_: str) -> dict[str, Any]:
    row = ctx.state.one("SELECT * FROM files WHERE uuid = ?", (uuid_,))
    if row is None or row["owner"] != owner:
        raise TerraError(E.RESOURCE_NOT_FOUND, f"file {uuid_!r} does not exist for this app key")
    return row


def busy_resources(ctx: EmulatorContext, owner: str) -> set[str]:
    marks = ", ".join("?" * len(UNFINISHED_JOB_STATES))
    rows = ctx.state.query(
        f"SELECT origin_resource_uuid, output_resource_uuid FROM jobs "
        f"WHERE owner = ? AND status IN ({marks})",
        (owner, *UNFINISHED_JOB_STATES),
    )
    return {u for r in rows for u in (r["origin_resource_uuid"], r["output_resource_uuid"]) if u}




_SAFE_NAME = re.compile(r"^[^\x00-\x1f\\]+$")


def check_file_name(name: str) -> None:
    """Reject names that are not clean relative paths (they become object keys and local paths)."""
    parts = name.split("/")
    if (
        not _SAFE_NAME.match(name)
        or name.startswith("/")
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise TerraError(
            E.PARAMETER,
            f"file name {name!r} is not a relative path with '/' "
            "separators (no leading '/', no '.' or '..' parts, no backslashes)",
        )


def strip_etag(etag: str) -> str:
    """ETag without quotes, lower case (S3 gives ``"abc"``, the quick start strips them)."""
    return etag.strip().strip('"').lower()



def parse_parameters(raw: Any, *, field: str = "parameters") -> dict[str, Any]:
    """Decode the ``parameters`` JSON string (it must be a string, DJI insists)."""
    if not isinstance(raw, str):
        raise TerraError(
            E.PARAMETER,
            f"{field} must be a JSON string (serialise the object first), got {type(raw).__name__}",
        )
    try:
        value = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise TerraError(E.PARAMETER, f"{field} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise TerraError(E.PARAMETER, f"{field} must encode a JSON object")
    param = value.get("parameter", {})
    if not isinstance(param, dict):
        raise TerraError(E.PARAMETER, f"{field}.parameter must be an object")
    return value


def count_images(files: list[dict[str, Any]]) -> int:
    """Files whose name has an image extension."""
    return sum(
        1 for f in files if str(f.get("bound_name") or f["name"]).lower().endswith(IMAGE_EXTENSIONS)
    )



# ---------------------------------------------------------------- FlightHub 2
def fh2_ok(data: Any = None) -> GoJSONResponse:
    """FlightHub 2's success envelope ``{"code": 0, "message": "", "data"}`` (HTTP 200)."""
    return GoJSONResponse({"code": 0, "message": "", "data": {} if data is None else data})


def fh2_body(request: Request) -> CIDict:
    """The JSON object of a FlightHub 2 request (keys case-insensitive), or 200400."""
    try:
        return parse_object(raw_body(request), allow_empty=False)
    except BodyError as exc:
        raise FH2Error(E.FH2_PARAMETER, str(exc)) from None


def fh2_str(body: CIDict, key: str, *, required: bool = False) -> str:
    """A string field of a FlightHub 2 body (200610 when required and missing)."""
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise FH2Error(E.FH2_MISSING_PARAMETER, f"{key} is required")
        return ""
    if not isinstance(value, str):
        raise FH2Error(E.FH2_PARAMETER, f"{key} must be a string, got {type(value).__name__}")
    return value

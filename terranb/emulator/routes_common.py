"""Helpers the emulator's route modules share: envelopes, bodies, paging, ownership, tokens.

TerraAPI's success envelope and body/query parsing (102001 on bad input), the
signed call a route receives (:data:`Terra`: the caller's AK and its own rows,
102002 / 102114 for anyone else's), paging of list endpoints (:class:`ListQuery`),
upload tokens of all three APIs, JSON Schema for ``/openapi.json``, and the
checks FlightHub 2's routes reuse: clean relative file names, ETag comparison,
the ``parameters`` JSON string and image counting.
"""

from __future__ import annotations

import json
import re
import time
import uuid as uuid_mod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request

import terranb.emulator.errors_wire as E
from terranb.emulator.auth import ctx_of, raw_body, terra_auth
from terranb.emulator.context import EmulatorContext
from terranb.emulator.errors_wire import FH2Error, TerraError
from terranb.emulator.s3policy import StsPolicy
from terranb.emulator.state import UNFINISHED_JOB_STATES, State
from terranb.emulator.wire import BodyError, CIDict, GoJSONResponse, parse_object

if TYPE_CHECKING:
    from terranb.emulator.storage import IssuedCredentials

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_ROWS",
    "NAME_META_SCHEMA",
    "PREFIX",
    "ListQuery",
    "MissingUpload",
    "Terra",
    "TerraCall",
    "body_of",
    "bool_value",
    "busy_resources",
    "check_file_name",
    "check_upload",
    "count_images",
    "fh2_body",
    "fh2_ok",
    "fh2_str",
    "insert_file",
    "insert_resource",
    "int_value",
    "issue_store_token",
    "name_meta_changes",
    "object_schema",
    "ok",
    "owned",
    "parse_parameters",
    "str_field",
    "strip_etag",
    "terra_router",
    "token_of",
]

PREFIX = "/terra-rescon-be/v2"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".tif", ".tiff", ".png", ".dng")
MAX_ROWS = 1000
UUID_LIST_MAX = 1000


def object_schema(properties: dict[str, Any], *required: str) -> dict[str, Any]:
    """A JSON Schema object for ``/openapi.json``; a property given as ``"string"``
    (any JSON type name) stands for ``{"type": "string"}``."""
    schema: dict[str, Any] = {"type": "object"}
    if required:
        schema["required"] = list(required)
    schema["properties"] = {
        k: {"type": v} if isinstance(v, str) else v for k, v in properties.items()
    }
    return schema


NAME_META_SCHEMA = object_schema({"name": "string", "meta": "string"})


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


# Query parameters are declared ``str | None`` and parsed here, so that a bad value is
# TerraAPI's 102001 with a message naming it, not FastAPI's 422.
def int_value(name: str, raw: str | None, default: int, low: int, high: int) -> int:
    """An integer query parameter from its raw text (``default`` when absent or empty)."""
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


def bool_value(name: str, raw: str | None) -> bool:
    """A boolean query parameter from its raw text, in Go's strconv.ParseBool spellings."""
    if raw is None or raw == "":
        return False
    if raw in {"1", "t", "T", "TRUE", "true", "True"}:
        return True
    if raw in {"0", "f", "F", "FALSE", "false", "False"}:
        return False
    raise TerraError(E.PARAMETER, f"query parameter {name} must be true or false, got {raw!r}")


def _name(row: dict[str, Any]) -> str:
    return str(row["name"])


@dataclass
class ListQuery:
    """The query parameters every TerraAPI list route takes, declared once.

    A route takes it (or a subclass adding its own filters) as ``q: ListQuery =
    Depends()``, so FastAPI documents ``page``, ``rows``, ``search`` and ``uuids``.
    The values stay raw text and are checked where the route filters and pages, in
    that order, as they always were.
    """

    page: str | None = None
    rows: str | None = None
    search: str | None = None
    uuids: str | None = None

    def select(
        self,
        rows_all: list[dict[str, Any]],
        name_of: Callable[[dict[str, Any]], str] = _name,
    ) -> list[dict[str, Any]]:
        """The rows listed in ``uuids`` (all without it) whose name contains ``search``."""
        if self.uuids:
            wanted = [u.strip() for u in self.uuids.split(",") if u.strip()]
            if len(wanted) > UUID_LIST_MAX:
                raise TerraError(
                    E.PARAMETER,
                    f"uuids lists {len(wanted)} uuids; at most {UUID_LIST_MAX} are accepted",
                )
            keep = set(wanted)
            rows_all = [r for r in rows_all if r["uuid"] in keep]
        if self.search:
            needle = self.search.lower()
            rows_all = [r for r in rows_all if needle in name_of(r).lower()]
        return rows_all

    def answer(
        self, rows_all: list[dict[str, Any]], to_json: Callable[[dict[str, Any]], Any]
    ) -> GoJSONResponse:
        """The success envelope of one page: ``{list, page, rows, total}``."""
        page = int_value("page", self.page, 1, 1, 10**9)
        rows = int_value("rows", self.rows, 10, 1, MAX_ROWS)
        items = rows_all[(page - 1) * rows : page * rows]
        data = {"list": [to_json(r) for r in items], "page": page, "rows": rows}
        return ok({**data, "total": len(rows_all)})


def owned(
    ctx: EmulatorContext, table: str, uuid_: str, *, by: str = "uuid", **match: Any
) -> dict[str, Any] | None:
    """The row of ``table`` whose ``by`` column is ``uuid_`` if its columns hold ``match``."""
    row = ctx.state.one(f"SELECT * FROM {table} WHERE {by} = ?", (uuid_,))
    if row is None or any(row[k] != v for k, v in match.items()):
        return None
    return row


@dataclass(frozen=True)
class TerraCall:
    """A signed TerraAPI call: the emulator, the caller's AK, and what the AK owns."""

    request: Request
    ctx: EmulatorContext
    app_key: str

    def body(self, *, allow_empty: bool = False) -> CIDict:
        """The request's JSON object, or 102001."""
        return body_of(self.request, allow_empty=allow_empty)

    def _own(self, table: str, what: str, code: int, uuid_: str, **match: Any) -> dict[str, Any]:
        row = owned(self.ctx, table, uuid_, owner=self.app_key, **match)
        if row is None:
            raise TerraError(code, f"{what} {uuid_!r} does not exist for this app key")
        return row

    def resource(self, uuid_: str) -> dict[str, Any]:
        """This AK's resource (102002 for an unknown one or another account's)."""
        return self._own("resources", "resource", E.RESOURCE_NOT_FOUND, uuid_, api="terra")

    def job(self, uuid_: str) -> dict[str, Any]:
        """This AK's job (102114 otherwise)."""
        return self._own("jobs", "job", E.JOB_NOT_FOUND, uuid_)

    def file(self, uuid_: str) -> dict[str, Any]:
        """This AK's file (102002 otherwise)."""
        return self._own("files", "file", E.RESOURCE_NOT_FOUND, uuid_)

    def busy_resources(self) -> set[str]:
        """Uuids of the resources this AK's unfinished jobs read or write."""
        return busy_resources(self.ctx, self.app_key)


async def _terra_call(request: Request, app_key: str = Depends(terra_auth)) -> TerraCall:
    # The router already depends on terra_auth; FastAPI runs it once per request.
    return TerraCall(request, ctx_of(request), app_key)


Terra = Annotated[TerraCall, Depends(_terra_call)]
"""A route parameter ``call: Terra`` receives the verified :class:`TerraCall`."""


def name_meta_changes(body: CIDict) -> dict[str, Any]:
    """The ``name`` / ``meta`` a PUT body changes (``name`` must not be empty), stamped now."""
    changes: dict[str, Any] = {}
    for key in ("name", "meta"):
        if body.has(key):
            changes[key] = str_field(body, key, required=(key == "name"))
    changes["updated_at"] = time.time()
    return changes


def insert_resource(
    st: State, uuid_: str, *, api: str, owner: str, name: str, type: str, now: float,
    meta: str = "", scope: dict[str, Any] | None = None, **columns: Any,
) -> None:
    """Insert a resource row (TerraAPI's or FlightHub 2's) created ``now``."""
    st.insert(
        "resources",
        {"uuid": uuid_, "api": api, "owner": owner, "name": name, "type": type, "meta": meta,
         **columns, "scope": scope or {}, "created_at": now, "updated_at": now},
    )


def busy_resources(ctx: EmulatorContext, owner: str) -> set[str]:
    marks = ", ".join("?" * len(UNFINISHED_JOB_STATES))
    rows = ctx.state.query(
        f"SELECT origin_resource_uuid, output_resource_uuid FROM jobs "
        f"WHERE owner = ? AND status IN ({marks})",
        (owner, *UNFINISHED_JOB_STATES),
    )
    return {u for r in rows for u in (r["origin_resource_uuid"], r["output_resource_uuid"]) if u}


# ------------------------------------------------------------ upload tokens
def issue_store_token(
    ctx: EmulatorContext,
    *,
    api: str,
    owner: str,
    bucket: str,
    region: str,
    store_path: str,
    read_prefixes: Iterable[str] = (),
    callback: str | None = None,
) -> tuple[IssuedCredentials, str]:
    """STS keys that may write only under ``store_path``, recorded with their callbackParam.

    The keys are scoped by :mod:`~terranb.emulator.s3policy` (principal ``api:owner``);
    the ``tokens`` row is what an upload callback checks the files against later.
    """
    creds = ctx.storage.issue_credentials(
        ttl=ctx.options.token_ttl,
        policy=StsPolicy.for_store_path(
            bucket, store_path, principal=f"{api}:{owner}", read_prefixes=read_prefixes
        ),
    )
    callback = callback or ctx.new_callback_param()
    ctx.state.insert(
        "tokens",
        {
            "callback_param": callback,
            "api": api,
            "owner": owner,
            "bucket": bucket,
            "region": region,
            "store_path": store_path,
            "access_key_id": creds.access_key_id,
            "expire_time": int(creds.expire_time),
            "created_at": time.time(),
        },
    )
    return creds, callback


def token_of(
    ctx: EmulatorContext, api: str, owner: str, callback: str, *, fail: Exception
) -> dict[str, Any]:
    """The upload token ``owner`` of ``api`` was given with this callbackParam.

    ``fail`` (the API's own error, naming the fix) is raised when there is none.
    """
    token = owned(ctx, "tokens", callback, api=api, owner=owner, by="callback_param")
    if token is None:
        raise fail
    return token


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



class MissingUpload(TerraError):
    """An upload callback names a file that is not in the bucket (FH2 answers 200404)."""


def check_upload(
    ctx: EmulatorContext, token: dict[str, Any], name: str, etag: str
) -> tuple[str, int]:
    """(object key, size) of the file ``name`` uploaded under the token's storePath.

    102001 (:class:`MissingUpload`) if it is not in the bucket, 102001 if its ETag
    is not ``etag``: a callback binds only what really was uploaded.
    """
    key = token["store_path"].replace("{fileName}", name)
    info = ctx.storage.head_object(token["bucket"], key)
    if info is None:
        raise MissingUpload(
            E.PARAMETER,
            f"file {name!r} was not found in the bucket at "
            f"{key!r}; upload it with the token's credentials before binding",
        )
    stored = strip_etag(str(info.etag))
    if stored != strip_etag(etag):
        raise TerraError(
            E.PARAMETER,
            f"etag of {name!r} does not match the stored object "
            f"({strip_etag(etag)} != {stored}); send the ETag the upload returned",
        )
    return key, int(info.size)


def insert_file(
    st: State, resource_uuid: str, name: str, *, owner: str, etag: str, checksum: str,
    size: int, bucket: str, key: str, now: float, meta: str = "",
    position: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Insert an uploaded file and bind it into the resource as ``name``; returns its row."""
    row: dict[str, Any] = {
        "uuid": str(uuid_mod.uuid4()), "owner": owner, "name": name, "checksum": checksum,
        "etag": etag, "size": size, "meta": meta, "position": position or {},
        "bucket": bucket, "object_key": key, "created_at": now, "updated_at": now,
    }
    st.insert("files", row)
    st.bind_file(resource_uuid, row["uuid"], name)
    return row


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

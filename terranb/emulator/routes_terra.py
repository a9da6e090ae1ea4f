"""TerraAPI v2 routes (``/terra-rescon-be/v2/...``, protocol.md §1).

Every route depends on :func:`~terranb.emulator.auth.terra_auth` (the gateway's
HMAC check) and answers ``{"result": {"code", "msg", "desc"}, "data"}``. Request
bodies are decoded from the exact bytes whose digest was verified, with keys
matched case-insensitively like DJI's Go backend. Business errors raise
:class:`~terranb.emulator.errors_wire.TerraError`; the app turns them into the
envelope with the team's HTTP statuses.

Behaviour the real service documents and the emulator enforces: at least 10
images for 2D/3D, at most 4,000 (2D) / 20,000 (3D), LiDAR data at most 48 GB,
at most 2 unfinished jobs per account (801), ``parameters`` must be a JSON
string, a job starts once, only ``0 < status < 4`` can be stopped, binding
accepts only objects present in the bucket with the stated ETag.

Emulator choices where DJI publishes nothing (protocol.md §6): the success
``result`` is ``{"code": 0, "msg": "success", "desc": ""}``; ``start`` returns
the Job; the output resource exists from the start of a job (empty until the
job finishes); ``PUT`` takes ``name``/``meta``; ``copy`` takes an optional
``name``. ``file_operation`` is not emulated (its body is unknown).
"""

from __future__ import annotations

from fastapi import APIRouter

import terranb.emulator.routes_terra_jobs as routes_terra_jobs
import terranb.emulator.routes_terra_resources as routes_terra_resources
import terranb.emulator.routes_terra_store as routes_terra_store
from terranb.emulator.routes_common import (
    check_file_name,
    count_images,
    parse_parameters,
    strip_etag,
)

__all__ = ["check_file_name", "count_images", "parse_parameters", "router", "strip_etag"]

# One router for the app and the OpenAPI test; the routes live in one module per part of
# the API (store, resources + files, jobs). Each route already carries its full path and
# the HMAC dependency of its module's router, so they are taken over as they are (newer
# FastAPI keeps include_router() lazy, which would hide them from router.routes).
router = APIRouter()
for _part in (routes_terra_store, routes_terra_resources, routes_terra_jobs):
    router.routes.extend(_part.router.routes)

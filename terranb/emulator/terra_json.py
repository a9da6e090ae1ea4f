"""TerraAPI objects as the emulator puts them on the wire (protocol.md §1.6, camelCase)."""

from __future__ import annotations

from typing import Any

from terranb.emulator.context import EmulatorContext
from terranb.emulator.wire import rfc3339

__all__ = ["file_json", "job_json", "resource_json"]


def resource_json(ctx: EmulatorContext, row: dict[str, Any]) -> dict[str, Any]:
    """A Resource object (protocol.md §1.6)."""
    count, size = ctx.state.resource_stats(row["uuid"])
    scope = row["scope"] or {}
    return {
        "uuid": row["uuid"],
        "name": row["name"],
        "type": row["type"],
        "meta": row["meta"],
        "fileCount": count,
        "totalSize": size,
        "scope": {
            k: float(scope.get(k, 0.0))
            for k in ("minLatitude", "maxLatitude", "minLongitude", "maxLongitude")
        },
        "revisable": bool(row["revisable"]),
        "downloadUsedTime": float(row["download_used_time"]),
        "uploadUsedTime": float(row["upload_used_time"]),
        "createdAt": rfc3339(row["created_at"]),
        "updatedAt": rfc3339(row["updated_at"]),
    }


def file_json(ctx: EmulatorContext, row: dict[str, Any], *, with_url: bool) -> dict[str, Any]:
    """A File object (protocol.md §1.6); ``url`` is a presigned GET of the object."""
    pos = row["position"] or {}
    out: dict[str, Any] = {
        "uuid": row["uuid"],
        "name": row.get("bound_name") or row["name"],
        "checksum": row["checksum"],
        "size": int(row["size"]),
        "meta": row["meta"],
        "position": {
            "attitude": float(pos.get("attitude", 0.0)),
            "latitude": float(pos.get("latitude", 0.0)),
            "longitude": float(pos.get("longitude", 0.0)),
        },
        "createdAt": rfc3339(row["created_at"]),
        "updatedAt": rfc3339(row["updated_at"]),
    }
    if with_url:
        out["url"] = ctx.storage.presigned_get_url(row["bucket"], row["object_key"], expires=3600)
    return out


def job_json(row: dict[str, Any]) -> dict[str, Any]:
    """A Job object (protocol.md §1.6): run fields only once the job was started."""
    out: dict[str, Any] = {
        "uuid": row["uuid"],
        "name": row["name"],
        "meta": row["meta"],
        "status": int(row["status"]),
        "type": int(row["type"]),
        "createdAt": rfc3339(row["created_at"]),
        "updatedAt": rfc3339(row["updated_at"]),
    }
    if row["started_at"] is not None:
        out.update(
            {
                "startedAt": rfc3339(row["started_at"]),
                "originResourceUuid": row["origin_resource_uuid"] or "",
                "outputResourceUuid": row["output_resource_uuid"] or "",
                "parameters": row["parameters"] or "",
                "percentage": float(row["percentage"]),
                "pixels": float(row["pixels"]),
                "remainSeconds": int(row["remain_seconds"]),
                "message": row["message"],
            }
        )
    if row["completed_at"] is not None:
        out["completedAt"] = rfc3339(row["completed_at"])
    return out


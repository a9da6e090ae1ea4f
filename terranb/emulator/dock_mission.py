"""The emulator's simulated dock mission: one dock, one finished flight task, its photos.

Seeded lazily (the first call to a project / flight-task / map-model route), so an
emulator that never serves those routes pays nothing. The photos are the sample
flight of :mod:`terranb.dataset.synthetic` (seeded by ``--seed``), stored in the
FlightHub 2 bucket under ``<project>/media/<task uuid>/`` and bound to an internal
resource (``api = 'fh2_media'``) whose uuid is derived from the folder id, so the
scheduler reads a map model's inputs exactly as it reads an open-modeling resource.
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid as uuid_mod
from pathlib import Path
from typing import Any

from terranb.emulator.config import FH2_BUCKET
from terranb.emulator.context import EmulatorContext

__all__ = ["DOCK_SN", "DRONE_SN", "MISSION_PHOTOS", "ensure_dock_mission", "folder_resource"]

DOCK_SN = "7CTDM3D00BVY4R"  # shaped like a Dock 2 serial
DRONE_SN = "1581F6Q8D243600"
MISSION_PHOTOS = 16
MISSION_IMAGE_SIZE = (600, 400)
FOLDER_ID = 1001

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fh2_flight_tasks (
    uuid TEXT PRIMARY KEY, project TEXT NOT NULL, name TEXT NOT NULL, sn TEXT NOT NULL,
    status TEXT NOT NULL, task_type TEXT NOT NULL, folder_id INTEGER NOT NULL,
    begin_at REAL NOT NULL, end_at REAL NOT NULL, file_count INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS fh2_map_models (
    id INTEGER PRIMARY KEY AUTOINCREMENT, project TEXT NOT NULL, name TEXT NOT NULL,
    folder_id INTEGER NOT NULL, model_uuids TEXT NOT NULL, request TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
"""

_lock = threading.Lock()


def folder_resource(project: str, folder_id: int) -> str:
    """The internal resource uuid holding a media folder's files."""
    return str(uuid_mod.uuid5(uuid_mod.NAMESPACE_URL, f"terranb-dock:{project}:{folder_id}"))


def ensure_dock_mission(ctx: EmulatorContext) -> None:
    """Create the tables and the mission once per data dir (thread-safe, idempotent)."""
    with _lock:
        for stmt in _SCHEMA.split(";"):
            if stmt.strip():
                ctx.state.execute(stmt)
        project = ctx.project_uuid
        if ctx.state.one("SELECT uuid FROM fh2_flight_tasks WHERE project = ?", (project,)):
            return
        _seed(ctx, project)


def _camera_positions(flight: Any) -> list[dict[str, float]]:
    """WGS 84 position and height above ground of each photo's camera (the flown track)."""
    from pyproj import Transformer

    to_wgs84 = Transformer.from_crs(f"EPSG:{flight.epsg}", "EPSG:4326", always_xy=True)
    out = []
    for cam in flight.cameras:
        lon, lat = to_wgs84.transform(cam.east, cam.north)
        # TerraAPI's File.position spells altitude "attitude" (protocol.md §1.5.3).
        out.append({"latitude": float(lat), "longitude": float(lon),
                    "attitude": float(cam.height)})
    return out


def _seed(ctx: EmulatorContext, project: str) -> None:
    from terranb.dataset.synthetic import make_sample_flight

    seed = int(ctx.options.seed or 0)
    task_uuid = str(uuid_mod.uuid5(uuid_mod.NAMESPACE_URL, f"terranb-dock-task:{project}"))
    resource = folder_resource(project, FOLDER_ID)
    now = time.time()
    with tempfile.TemporaryDirectory(prefix="terranb-dock-") as tmp:
        flight = make_sample_flight(Path(tmp), seed=seed, photos=MISSION_PHOTOS,
                                    image_size=MISSION_IMAGE_SIZE, lidar=False)
        places = _camera_positions(flight)
        rows: list[dict[str, Any]] = []
        for photo, place in zip(flight.photos, places, strict=True):
            key = f"{project}/media/{task_uuid}/{photo.name}"
            etag = ctx.storage.upload_file(FH2_BUCKET, key, photo)
            rows.append({"uuid": str(uuid_mod.uuid4()), "owner": project, "name": photo.name,
                         "checksum": etag, "etag": etag, "size": photo.stat().st_size,
                         "meta": "", "position": place, "bucket": FH2_BUCKET, "object_key": key,
                         "created_at": now, "updated_at": now})
    with ctx.state.transaction() as st:
        st.insert("resources", {"uuid": resource, "api": "fh2_media", "owner": project,
                                "name": f"media folder {FOLDER_ID}", "type": "media",
                                "meta": "", "status": 1, "scope": {}, "created_at": now,
                                "updated_at": now})
        for row in rows:
            st.insert("files", row)
            st.bind_file(resource, row["uuid"], row["name"])
        st.insert("fh2_flight_tasks", {
            "uuid": task_uuid, "project": project, "name": "Mapping mission (emulated dock)",
            "sn": DOCK_SN, "status": "success", "task_type": "immediate",
            "folder_id": FOLDER_ID, "begin_at": now - 3600, "end_at": now - 2400,
            "file_count": len(rows)})

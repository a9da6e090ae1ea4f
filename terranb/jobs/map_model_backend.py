"""FlightHub 2 map models (``/model``, ``POST /model/create``) as a Job backend.

A map model is built in the cloud from a dock flight's media folder: nothing is
uploaded, so :meth:`MapModelBackend.start` takes the folder id where other backends
take a resource uuid. The job id is the map model id (an integer, kept as a string).
Results: the detail's presigned ``url`` (a zip of the result tree) is downloaded and
unpacked like an open-modeling zip, so ``open_results`` reads it the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from terranb.errors import InvalidOperationError, JobFailed, ValidationError
from terranb.jobs.flighthub_backend import FlightHubBackend
from terranb.jobs.states import JobState, JobStatus
from terranb.transfer.progress import ProgressCallback
from terranb.transfer.zipper import safe_extract

__all__ = ["MapModelBackend", "map_model_request"]

_QUALITY = {1: "high", 2: "medium", 3: "low"}


def map_model_request(kind: str, parameters: str) -> dict[str, Any]:
    """``model/create`` fields from a terranb parameter string (Params2D/Params3D JSON).

    ``quality_level`` 1/2/3 -> high/medium/low; ``output_geo_desc`` -> ``wkt`` (its
    ``geo_cs_wkt``, else ``geo_cs`` such as ``EPSG:32615``, which the service must
    accept as WKT's stand-in: DJI documents WKT only); ``model_simplify`` ->
    ``simplified_factor``; 3D formats from ``output_mesh``/``output_pointcloud``.
    """
    if kind not in ("2d", "3d"):
        raise ValidationError(f"a map model is 2d or 3d, not {kind!r}; use Params2D or "
                              "Params3D")
    p = json.loads(parameters or "{}").get("parameter", {})
    geo = p.get("output_geo_desc") or {}
    wkt = str(geo.get("geo_cs_wkt") or geo.get("geo_cs") or "")
    if not wkt:
        raise ValidationError("a map model needs an output coordinate system: pass "
                              "output_geo_desc=GeoDesc('EPSG:<code>') in the params")
    formats = [f for f, key in (("mesh", "output_mesh"), ("pointcloud", "output_pointcloud"))
               if p.get(key, f == "mesh")] if kind == "3d" else []
    return {"reconstruction_type": [kind], "generate_model_formats": formats, "wkt": wkt,
            "quality_level": _QUALITY.get(int(p.get("quality_level", 2)), "medium"),
            "simplified_factor": float(p.get("model_simplify", 0.2))}


class MapModelBackend(FlightHubBackend):
    """Map models of a FlightHub 2 project (client: :class:`FlightHubClient`)."""

    kind = "flighthub-map"

    def start(self, resource_uuid: str, job_type: int, parameters: str, name: str,
              kind: str = "") -> str:
        """``resource_uuid`` is the media folder id of the flight task."""
        request = map_model_request(kind, parameters)
        return str(self.client.map_models.create(name=name, task_folder_id=int(resource_uuid),
                                                 **request))

    def status(self, job_id: str) -> JobStatus:
        model = self.client.map_models.get(job_id)
        return JobStatus(job_id=str(job_id), state=JobState.parse(model.state), raw_status=0,
                         progress=min(1.0, float(model.progress or 0) / 100.0),
                         message=model.message or model.status, output_ref=model.url, raw=model)

    def cancel(self, job_id: str) -> None:
        raise InvalidOperationError("FlightHub 2 documents no route to stop a map model; "
                                    "delete it in FlightHub 2's web app")

    def list_remote(self, limit: int | None = None) -> Iterator[JobStatus]:
        for i, model in enumerate(self.client.map_models.list()):
            if limit is not None and i >= limit:
                return
            yield self.status(str(model.id))

    def download_results(self, status: JobStatus, dest: Path,
                         on_progress: ProgressCallback | None = None, *,
                         overwrite: bool = False, duplicates: str = "error") -> list[str]:
        """Download the presigned zip (fresh URL from the detail) and unpack it."""
        if status.state is not JobState.SUCCEEDED:
            raise JobFailed(f"map model {status.job_id} has no result ({status.describe()})",
                            job=status)
        url = self.client.map_models.get(status.job_id).url
        if not url:
            raise JobFailed(f"map model {status.job_id} succeeded without a download url",
                            job=status)
        dest.mkdir(parents=True, exist_ok=True)
        archive = dest / f".terranb-map-{status.job_id}.zip.part"
        try:
            with urllib.request.urlopen(url, timeout=120) as r, open(archive, "wb") as out:
                shutil.copyfileobj(r, out)
            names = sorted(n for n in safe_extract(archive, dest, overwrite=overwrite,
                                                   duplicates=duplicates)
                           if not n.endswith("/"))
        finally:
            if os.path.exists(archive):
                archive.unlink()
        return names

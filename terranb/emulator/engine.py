"""The emulator's job engine: stand-in outputs computed from the uploaded inputs.

These are **stand-ins computed from the inputs, not photogrammetric
reconstructions**. No aerial triangulation, dense matching or meshing happens:
each output is derived directly from the photos' recorded positions and
attitudes or from the uploaded point clouds, with real geospatial formats and
CRSs so that every downstream tool (rasterio, laspy, trimesh, GIS software,
terranb's own result readers) can open them.

Layout: always the DJI Terra desktop layout that ``export_parameter.pc_dir_structure``
asks for (protocol.md §2.9); DJI's layout without that flag is undocumented, so
the emulator writes the same tree either way::

    2D:    AT/sfm_report.json  AT/sfm_geo_desc.json  map/result.tif  map/result.tfw
           map/result.prj  map/report/map_report.json  map/report/dom_screennail.png
           mission.json
    3D:    AT/...  models/pc/0/terra_obj/BlockR/BlockR.obj|.mtl|_0.jpg
           models/pc/0/terra_obj/metadata.xml  [models/pc/0/terra_las/cloud.las]
           [models/pc/0/terra_ply/BlockR/BlockR.ply  models/pc/0/terra_ply/metadata.xml]
           report/model_report.json  mission.json
    LiDAR: lidars/terra_las/cloud_merged.copc.laz  lidars/report/report.json
           [lidars/terra_dem/dem.tif]  mission.json
    3DGS:  3dgs/point_cloud.ply  3dgs/metadata.xml  mission.json   (FlightHub 2 only;
           DJI's 3DGS layout is undocumented, so this path is the emulator's choice)

How each output is computed:

* **2D** (:mod:`.outputs_2d`): ``map/result.tif`` is the quick mosaic of
  :func:`terranb.dataset.mosaic.quick_mosaic`: each photo is projected onto
  the ground by direct georeferencing (EXIF/XMP position, height and gimbal
  attitude through a pinhole camera) into the requested ``output_geo_desc``
  CRS (default: the WGS 84 UTM zone of the photos), written as an RGBA uint8
  GeoTIFF. ``quality_level`` 1/2/3 sets the GSD to 1x/2x/4x the photos' native
  GSD. The world file uses the pixel-centre convention; the ``.prj`` is ESRI
  WKT; the reports carry DJI's key names with values measured on the mosaic.
* **3D** (:mod:`.outputs_3d`): a regular grid mesh over the mosaic's footprint
  whose heights are a smooth surface fitted to the ground heights under the
  photos (absolute minus relative altitude); vertices local to ``SRSOrigin``;
  textured with the quick mosaic. The face count follows ``quality_level`` and
  ``model_simplify``. ``cloud.las`` (when ``output_pointcloud`` and
  ``generate_las``) is sampled on that surface and coloured from the mosaic.
* **LiDAR** (:mod:`.outputs_lidar`): the LAS/LAZ inputs merged, reprojected
  with pyproj and thinned by ``sample_distance`` (voxel grid) or
  ``quality_level`` (1/4/16 decimation), in bounded-memory chunks; with
  ``generate_dem`` a DEM of the lowest ground point per ``dem_resolution`` cell.
* **3DGS** (:mod:`.outputs_3d`): a Gaussian-splat PLY in the common 3D
  Gaussian Splatting layout (``x y z nx ny nz f_dc_0..2 opacity scale_0..2
  rot_0..3``) whose centres are samples of the 3D surface, coloured from the
  mosaic, with isotropic scales of half the sample spacing.

Every file is written atomically (a ``.part`` sibling then ``os.replace``), and
progress is reported through ``on_progress(fraction, stage_message)``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from terranb.emulator.outputs_common import OutputJob, Progress
from terranb.errors import ValidationError

__all__ = ["JOB_TYPES", "Engine"]

JOB_TYPES = ("2d", "3d", "lidar", "3dgs")
_ALIASES = {"14": "2d", "15": "3d", "13": "lidar", "map": "2d", "model": "3d", "gs": "3dgs"}


class Engine:
    """Produces the output files of emulator jobs.

    Args:
        seed: seed for every random choice (surface sampling jitter), so the
            same inputs and parameters give the same files.
        chunk_points: LAS points read per chunk by the LiDAR job (memory bound).
        max_pixels: largest mosaic (pixels) a 2D/3D job builds.

    Example:
        >>> engine = Engine(seed=0)
        >>> engine.produce("lidar", {"parameter": {"sample_distance": 0.2}},
        ...                [("cloud.las", Path("cloud.las"))], Path("out"),
        ...                lambda f, m: None)  # doctest: +SKIP
        ['lidars/terra_las/cloud_merged.copc.laz', 'lidars/report/report.json', 'mission.json']
    """

    def __init__(self, seed: int = 0, chunk_points: int = 500_000, max_pixels: int = 40_000_000):
        self.seed = seed
        self.chunk_points = chunk_points
        self.max_pixels = max_pixels

    def produce(
        self,
        job_type: str,
        parameters: dict[str, Any] | str,
        inputs: list[tuple[str, Path]],
        out_dir: Path,
        on_progress: Callable[[float, str], None] | None = None,
    ) -> list[str]:
        """Compute the outputs of one job into ``out_dir``.

        Args:
            job_type: ``"2d"``, ``"3d"``, ``"lidar"`` or ``"3dgs"`` (TerraAPI codes
                14/15/13 are accepted too).
            parameters: the decoded ``parameters`` object
                (``{"parameter": {...}, "export_parameter": {...}}``) or its JSON string.
            inputs: ``(relative name, local file)`` of every file of the input resource.
            out_dir: folder to write the result tree into (created).
            on_progress: called with (fraction 0..1, stage message).

        Returns:
            The relative paths written, ``/``-separated.

        Raises:
            ValidationError: unusable inputs or parameters; the message says why
                (the job fails with it).
        """
        kind = _ALIASES.get(str(job_type).lower(), str(job_type).lower())
        if kind not in JOB_TYPES:
            raise ValidationError(f"unknown job type {job_type!r}; expected one of {JOB_TYPES}")
        params = _decode(parameters)
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        inputs = [(str(n).replace("\\", "/"), Path(p)) for n, p in inputs]
        job = OutputJob(
            params, inputs, out_dir, Progress(on_progress, _STAGES[kind]), seed=self.seed,
            max_pixels=self.max_pixels, chunk_points=self.chunk_points,
        )
        return _producer(kind)(job)


# Progress weights of each producer's stages (roughly their share of the run time).
_STAGES: dict[str, list[tuple[str, float]]] = {
    "lidar": [("read", 1), ("merge", 17), ("report", 2)],
    "2d": [("read", 1), ("mosaic", 16), ("report", 3)],
    "3d": [("read", 1), ("mosaic", 10), ("mesh", 5), ("cloud", 3), ("report", 1)],
    "3dgs": [("read", 1), ("mosaic", 10), ("splats", 5), ("report", 1)],
}


def _producer(kind: str) -> Callable[[OutputJob], list[str]]:
    # Imported on demand: each producer pulls in its own heavy libraries.
    if kind == "lidar":
        from terranb.emulator.outputs_lidar import produce_lidar

        return produce_lidar
    if kind == "2d":
        from terranb.emulator.outputs_2d import produce_2d

        return produce_2d
    if kind == "3d":
        from terranb.emulator.outputs_3d import produce_3d

        return produce_3d
    from terranb.emulator.outputs_3dgs import produce_3dgs

    return produce_3dgs


def _decode(parameters: dict[str, Any] | str | None) -> dict[str, Any]:
    if parameters is None or parameters == "":
        return {"parameter": {}}
    try:
        parameters = json.loads(parameters) if isinstance(parameters, str) else parameters
    except ValueError as exc:
        raise ValidationError(f"parameters is not valid JSON: {exc}") from exc
    if not isinstance(parameters, dict):
        raise ValidationError("parameters must be a JSON object")
    if not isinstance(parameters.get("parameter", {}), dict):
        raise ValidationError('parameters["parameter"] must be a JSON object')
    return parameters

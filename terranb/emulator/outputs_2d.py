"""2D job output: an orthomosaic by direct georeferencing, with DJI Terra's 2D reports.

:func:`produce_2d` writes (see :mod:`terranb.emulator.engine` for the layout):

* ``map/result.tif``: RGBA uint8 Cloud Optimized GeoTIFF (512 px tiles, DEFLATE,
  internal overviews; written by GDAL's COG driver) built by
  :func:`terranb.dataset.mosaic.quick_mosaic` from the photos' EXIF/XMP
  (position, height above take-off, gimbal attitude, camera intrinsics), in
  the CRS of ``output_geo_desc`` (``geo_cs`` ``"EPSG:xxxx"`` or ``geo_cs_wkt``),
  default the WGS 84 UTM zone of the photos. GSD = the photos' median native
  GSD (height / focal length in pixels) times 1, 2 or 4 for ``quality_level``
  1, 2 or 3, enlarged if needed to stay under ``max_pixels``. A 3-band mosaic
  gets an alpha band (opaque where any colour band is non-zero). A
  ``predefine_AOI`` polygon (in its ``geo_desc`` CRS, else WGS 84 lon/lat,
  else the output CRS) crops the map to its bounding box and makes it
  transparent outside the polygon.
* ``map/result.tfw`` (pixel-centre world file: A, D, B, E, C + A/2, F + E/2),
  ``map/result.prj`` (ESRI WKT).
* ``map/report/map_report.json`` with DJI's key names: ``gps corner`` (WGS 84
  corners of the raster), ``TDOM GSD`` (m), ``covered area`` (km², opaque
  pixels times pixel area), ``fly altitude`` (mean height above take-off),
  ``map mode``, ``quality level``, ``output coordinate`` (CRS name), ``map
  tile`` (the zoom range desktop Terra would tile at this GSD; the emulator
  does not write the XYZ tiles themselves), ``dom_screennail size``, timings in
  seconds; plus ``map/report/dom_screennail.png``, a preview of at most 1024 px.
* ``AT/sfm_report.json`` (``images number``, ``images reconstructed`` = photos
  with a usable position, ``average ground sampling distance(GSD)``, ``flying
  altitude``, ``coverage area`` (km²), ``cameras``) and ``AT/sfm_geo_desc.json``
  (``ref_GPS`` = the mean photo position). There is no bundle adjustment, so
  no ``georeferencing rmse`` is reported.
* ``mission.json``.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terranb.emulator.outputs_common import (
    OutputJob,
    Progress,
    atomic_path,
    output_crs,
    photos_of,
    utm_crs_for,
    write_json,
    write_text,
)
from terranb.errors import ValidationError, require

if TYPE_CHECKING:
    from pyproj import CRS

    from terranb.dataset.exif import PhotoMeta

__all__ = ["MosaicBuild", "build_mosaic", "produce_2d", "read_photos"]

_QUALITY_FACTOR = {1: 1.0, 2: 2.0, 3: 4.0}
_SCREENNAIL_MAX = 1024


@dataclass
class MosaicBuild:
    """A mosaic written by :func:`build_mosaic` and what is known about it."""

    path: Path
    crs: CRS
    gsd_m: float
    native_gsd_m: float | None
    seconds: float
    bounds: tuple[float, float, float, float]  # minx, miny, maxx, maxy in crs
    width: int
    height: int
    photos_used: int


def read_photos(inputs: list[tuple[str, Path]]) -> tuple[list[PhotoMeta], list[PhotoMeta]]:
    """All photo metadata and the subset usable for direct georeferencing.

    Raises:
        ValidationError: no photos, or none with a GPS position.
    """
    from terranb.dataset.exif import read_photo_meta

    photos = photos_of(inputs)
    if not photos:
        raise ValidationError(
            "the job's resource holds no JPEG photos; 2D and 3D jobs need drone photos"
        )
    metas = [read_photo_meta(p) for _, p in photos]
    usable = [m for m in metas if m.has_gps and m.readable and not m.truncated]
    if not usable:
        raise ValidationError(
            f"none of the {len(metas)} photos has a readable GPS position in EXIF; the "
            "emulator places photos by their recorded position (direct georeferencing)"
        )
    return metas, usable


def _native_gsd(metas: list[PhotoMeta]) -> float | None:
    from terranb.dataset.camera import NoGeometryError, intrinsics_for

    values = []
    for m in metas:
        if m.relative_altitude is None or m.relative_altitude <= 0.5:
            continue
        try:
            k = intrinsics_for(m)
        except NoGeometryError:
            continue
        values.append(m.relative_altitude / ((k.fx + k.fy) / 2))
    return statistics.median(values) if values else None


def _call_quick_mosaic(
    usable: list[PhotoMeta],
    out_tif: Path,
    crs: CRS,
    gsd: float | None,
    max_pixels: int,
    on_progress: Any,
) -> Any:
    from terranb.dataset.mosaic import quick_mosaic

    try:
        return quick_mosaic(
            usable, out_tif, crs=crs, gsd=gsd, max_pixels=max_pixels, on_progress=on_progress
        )
    except ValidationError as exc:
        if gsd is None or "max_pixels" not in str(exc):
            raise
        # The requested GSD is too fine for the pixel budget: let the mosaic choose.
        return quick_mosaic(
            usable, out_tif, crs=crs, gsd=None, max_pixels=max_pixels, on_progress=on_progress
        )


def _ensure_rgba(rasterio: Any, np: Any, path: Path) -> None:
    with rasterio.open(path) as src:
        if src.count == 4 and src.dtypes[0] == "uint8":
            return
        data = src.read()
        profile = src.profile
    if data.dtype != np.uint8:
        lo, hi = float(np.nanmin(data)), float(np.nanmax(data))
        data = ((data - lo) / ((hi - lo) or 1.0) * 255).clip(0, 255).astype(np.uint8)
    rgb = data[:3] if data.shape[0] >= 3 else np.repeat(data[:1], 3, axis=0)
    alpha = np.where(rgb.any(axis=0), 255, 0).astype(np.uint8)
    out = np.concatenate([rgb, alpha[None]], axis=0)
    profile.update(count=4, dtype="uint8", photometric="RGB", nodata=None)
    with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
        dst.write(out)
        dst.colorinterp = [
            rasterio.enums.ColorInterp.red,
            rasterio.enums.ColorInterp.green,
            rasterio.enums.ColorInterp.blue,
            rasterio.enums.ColorInterp.alpha,
        ]


def build_mosaic(
    usable: list[PhotoMeta],
    out_tif: Path,
    crs: CRS,
    quality_level: int,
    max_pixels: int,
    progress: Progress,
    aoi: list[tuple[float, float]] | None = None,
) -> MosaicBuild:
    """Quick-mosaic the photos into an RGBA GeoTIFF at ``out_tif`` (atomically).

    ``aoi`` is a polygon ring in ``crs``: the mosaic is cropped to its bounding
    box and made transparent outside it.
    """
    rasterio = require("rasterio", "geo")
    np = require("numpy", "geo")
    native = _native_gsd(usable)
    gsd: float | None = None
    if native is not None:
        gsd = native * _QUALITY_FACTOR.get(quality_level, 1.0)
        if crs.is_geographic:
            gsd = gsd / 111_320.0
    started = time.time()

    def cb(fraction: float, message: str = "") -> None:
        progress.update(fraction, message or "building the mosaic")

    # quick_mosaic writes the GeoTIFF, .tfw and .prj atomically itself.
    result = _call_quick_mosaic(usable, out_tif, crs, gsd, max_pixels, cb)
    _ensure_rgba(rasterio, np, out_tif)
    if aoi:
        _apply_aoi(rasterio, np, out_tif, aoi)
    with rasterio.open(out_tif) as ds:
        res = abs(ds.transform.a)
        # Geographic pixels are square in degrees: report their north-south size.
        gsd_m = res * 111_320.0 if crs.is_geographic else res * _unit_m(crs)
        b = ds.bounds
        return MosaicBuild(
            out_tif,
            crs,
            gsd_m,
            native,
            time.time() - started,
            (b.left, b.bottom, b.right, b.top),
            ds.width,
            ds.height,
            int(getattr(result, "photos_used", len(usable))),
        )


def aoi_ring(parameters: dict[str, Any], crs: CRS) -> list[tuple[float, float]] | None:
    """``predefine_AOI.polygon_points`` as a ring in ``crs``, or ``None`` when absent.

    The points are in ``predefine_AOI.geo_desc`` when it names a CRS, else in
    WGS 84 when they look like longitude/latitude, else in the output CRS.
    (``min_altitude`` / ``max_altitude`` are not applied: the map is 2D.)

    Raises:
        ValidationError: fewer than three points, or points that are not numbers.
    """
    pyproj = require("pyproj", "geo")
    aoi = None
    for key, value in parameters.items():
        if key.lower() == "predefine_aoi" and isinstance(value, dict):
            aoi = value
    if not aoi or not aoi.get("polygon_points"):
        return None
    try:
        pts = [(float(p[0]), float(p[1])) for p in aoi["polygon_points"]]
    except (TypeError, ValueError, IndexError) as exc:
        raise ValidationError(
            "predefine_AOI.polygon_points must be a list of [x, y, z] numbers"
        ) from exc
    if len(pts) < 3:
        raise ValidationError("predefine_AOI.polygon_points needs at least 3 points")
    src = output_crs({"parameter": {"output_geo_desc": aoi.get("geo_desc") or {}}})
    if src is None:
        lonlat = all(-180 <= x <= 180 and -90 <= y <= 90 for x, y in pts)
        src = pyproj.CRS.from_epsg(4326) if lonlat else crs
    t = pyproj.Transformer.from_crs(src, crs, always_xy=True)
    xs, ys = t.transform([p[0] for p in pts], [p[1] for p in pts])
    return list(zip((float(v) for v in xs), (float(v) for v in ys), strict=True))


def _apply_aoi(rasterio: Any, np: Any, path: Path, ring: list[tuple[float, float]]) -> None:
    from rasterio.features import geometry_mask
    from rasterio.transform import Affine
    from rasterio.windows import Window

    geom = {"type": "Polygon", "coordinates": [[*ring, ring[0]]]}
    xs, ys = [p[0] for p in ring], [p[1] for p in ring]
    with rasterio.open(path) as src:
        t = src.transform  # north-up, as quick_mosaic writes it

        def shifted(col: int, row: int) -> Any:
            return Affine(
                t.a, t.b, t.c + col * t.a + row * t.b, t.d, t.e, t.f + col * t.d + row * t.e
            )

        col0 = max(0, math.floor((min(xs) - t.c) / t.a))
        row0 = max(0, math.floor((max(ys) - t.f) / t.e))
        col1 = min(src.width, math.ceil((max(xs) - t.c) / t.a))
        row1 = min(src.height, math.ceil((min(ys) - t.f) / t.e))
        width, height = col1 - col0, row1 - row0
        if width <= 0 or height <= 0:
            raise ValidationError(
                "predefine_AOI does not overlap the photographed area; check its coordinates "
                "and geo_desc"
            )
        profile = src.profile
        profile.update(width=width, height=height, transform=shifted(col0, row0))
        with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            dst.colorinterp = src.colorinterp
            for r0 in range(0, height, 512):
                rows = min(512, height - r0)
                sub = Window(col0, row0 + r0, width, rows)
                data = src.read(window=sub)
                inside = geometry_mask(
                    [geom],
                    out_shape=(rows, width),
                    transform=shifted(col0, row0 + r0),
                    invert=True,
                )
                data[:, ~inside] = 0
                dst.write(data, window=Window(0, r0, width, rows))


def _to_cog(rasterio: Any, path: Path) -> None:
    """Rewrite ``path`` as a Cloud Optimized GeoTIFF (GDAL's COG driver), atomically.

    512 px tiles, DEFLATE with the horizontal predictor, and internal overviews
    (averaged; GDAL adds levels until the smallest fits one tile), so a reader can
    fetch the overview that fits its pixel budget by HTTP range requests. The alpha
    band stays a band (RGBA), as DJI's result.tif has it.
    """
    from rasterio.shutil import copy as rio_copy

    with atomic_path(path) as tmp:
        rio_copy(
            str(path),
            str(tmp),
            driver="COG",
            BLOCKSIZE=512,
            COMPRESS="DEFLATE",
            PREDICTOR="YES",
            OVERVIEW_RESAMPLING="AVERAGE",
            BIGTIFF="IF_SAFER",
        )


def _unit_m(crs: CRS) -> float:
    try:
        return float(crs.axis_info[0].unit_conversion_factor) or 1.0
    except Exception:
        return 1.0


def _mean_lat(metas: list[PhotoMeta]) -> float:
    return sum(m.latitude or 0.0 for m in metas) / max(1, len(metas))


def default_crs(usable: list[PhotoMeta]) -> CRS:
    """The WGS 84 UTM zone of the photos' mean position."""
    lon = sum(m.longitude or 0.0 for m in usable) / len(usable)
    return utm_crs_for(lon, _mean_lat(usable))


def gps_corner(crs: CRS, bounds: tuple[float, float, float, float]) -> dict[str, float]:
    """DJI's ``gps corner`` object (WGS 84) of bounds in ``crs``."""
    pyproj = require("pyproj", "geo")
    t = pyproj.Transformer.from_crs(crs, 4326, always_xy=True)
    w, s, e, n = t.transform_bounds(*bounds, densify_pts=21)
    return {"top left lat": n, "top left lon": w, "bottom right lat": s, "bottom right lon": e}


def covered_area_km2(rasterio: Any, np: Any, build: MosaicBuild) -> tuple[float, Any]:
    """Opaque area of the mosaic in km², and an RGBA screennail array (bands, rows, cols)."""
    scale = max(1.0, max(build.width, build.height) / _SCREENNAIL_MAX)
    w, h = max(1, round(build.width / scale)), max(1, round(build.height / scale))
    with rasterio.open(build.path) as ds:
        thumb = ds.read(out_shape=(ds.count, h, w), resampling=rasterio.enums.Resampling.average)
    opaque = float((thumb[3] > 0).sum()) if thumb.shape[0] >= 4 else float(w * h)
    pixel_area_m2 = (build.width * build.gsd_m / w) * (build.height * build.gsd_m / h)
    return opaque * pixel_area_m2 / 1e6, thumb


def write_png(path: Path, bands: Any) -> None:
    """Write a (bands, rows, cols) uint8 array as PNG, atomically."""
    image_mod = require("PIL.Image", "geo")
    np = require("numpy", "geo")
    arr = np.moveaxis(bands[:4], 0, -1).astype(np.uint8)
    mode = "RGBA" if arr.shape[-1] == 4 else "RGB"
    with atomic_path(path) as tmp:
        image_mod.fromarray(arr, mode).save(tmp, format="PNG")


def tile_levels(gsd_m: float, lat: float) -> dict[str, int]:
    """Web-mercator zoom range desktop Terra tiles a map of this GSD at (min 12)."""
    ground_res_z0 = 156_543.033_92 * math.cos(math.radians(lat))
    top = max(0, min(24, math.ceil(math.log2(ground_res_z0 / max(gsd_m, 1e-6)))))
    return {"maximum level": top, "minimum level": min(12, top)}


def sfm_reports(
    out_dir: Path,
    metas: list[PhotoMeta],
    usable: list[PhotoMeta],
    native_gsd: float | None,
    area_km2: float,
    reconstructed: int | None = None,
) -> list[str]:
    """Write ``AT/sfm_report.json`` and ``AT/sfm_geo_desc.json``; returns their paths."""
    heights = [m.relative_altitude for m in usable if m.relative_altitude is not None]
    cameras: dict[tuple[str, str], dict[str, Any]] = {}
    for m in usable:
        key = (m.make or "", m.model or "")
        cam = cameras.setdefault(
            key,
            {
                "camera model": " ".join(p for p in key if p) or "unknown",
                "images number": 0,
                "image width": m.width,
                "image height": m.height,
                "focal length": m.focal_length_mm,
            },
        )
        cam["images number"] += 1
    sfm = {
        "images number": len(metas),
        "images reconstructed": len(usable) if reconstructed is None else reconstructed,
        "average ground sampling distance(GSD)": native_gsd,
        "flying altitude": statistics.fmean(heights) if heights else None,
        "coverage area": area_km2,
        "cameras": list(cameras.values()),
        "SfM method": "direct georeferencing (terranb emulator; no aerial triangulation)",
    }
    write_json(out_dir / "AT" / "sfm_report.json", sfm)
    alts = [m.absolute_altitude for m in usable if m.absolute_altitude is not None]
    ref = {
        "latitude": _mean_lat(usable),
        "longitude": sum(m.longitude or 0.0 for m in usable) / len(usable),
        "altitude": statistics.fmean(alts) if alts else 0.0,
    }
    write_json(out_dir / "AT" / "sfm_geo_desc.json", {"ref_GPS": ref})
    return ["AT/sfm_report.json", "AT/sfm_geo_desc.json"]


def produce_2d(job: OutputJob) -> list[str]:
    """Write the 2D result tree into ``job.out_dir``; returns the relative paths written."""
    parameters, inputs, out_dir, progress = job.parameters, job.inputs, job.out_dir, job.progress
    rasterio = require("rasterio", "geo")
    np = require("numpy", "geo")
    from terranb.results.worldfile import write_world_file

    progress.stage("read", "reading photo positions")
    metas, usable = read_photos(inputs)
    crs = job.crs() or default_crs(usable)
    quality = int(job.number("quality_level", 1.0))
    if quality not in _QUALITY_FACTOR:
        raise ValidationError(f"quality_level must be 1, 2 or 3, got {quality}")
    aoi = aoi_ring(parameters, crs)
    progress.stage("mosaic", f"mosaicking {len(usable)} photos")
    build = build_mosaic(
        usable, out_dir / "map" / "result.tif", crs, quality, job.max_pixels, progress, aoi=aoi
    )

    _to_cog(rasterio, build.path)
    progress.stage("report", "writing the world file and reports")
    with rasterio.open(build.path) as ds:
        write_world_file(out_dir / "map" / "result.tfw", ds.transform)
    write_text(out_dir / "map" / "result.prj", crs.to_wkt("WKT1_ESRI"))
    area, thumb = covered_area_km2(rasterio, np, build)
    write_png(out_dir / "map" / "report" / "dom_screennail.png", thumb)
    heights = [m.relative_altitude for m in usable if m.relative_altitude is not None]
    lat = _mean_lat(usable)
    report = {
        "GCJ tiles": job.flag("use_gcj02", False),
        "TDOM GSD": round(build.gsd_m, 4),
        "TDOM generate time": round(build.seconds),
        "covered area": area,
        "dom_screennail size": [int(thumb.shape[2]), int(thumb.shape[1])],
        "enable CUDA": False,
        "fly altitude": statistics.fmean(heights) if heights else None,
        "gps corner": gps_corner(crs, build.bounds),
        "map mode": int(job.number("map_mode", 1.0)),
        "map tile": tile_levels(build.gsd_m, lat),
        "quality level": quality,
        "reflectance calibration": False,
        "output coordinate": crs.name,
        "use Wallis": job.flag("use_Wallis", False),
        "use Dehaze": job.flag("use_Dehaze", False),
        "dom tile size": int(job.number("dom_tile_size", 0.0)),
    }
    write_json(out_dir / "map" / "report" / "map_report.json", report)
    produced = [
        "map/result.tif",
        "map/result.tfw",
        "map/result.prj",
        "map/report/map_report.json",
        "map/report/dom_screennail.png",
    ]
    produced += sfm_reports(
        out_dir, metas, usable, build.native_gsd_m, area, reconstructed=build.photos_used
    )
    produced.append(
        job.mission("2d", produced, {"photos used": len(usable), "output coordinate": crs.name})
    )
    progress.done(f"orthomosaic {build.width} x {build.height} px at {build.gsd_m:.3f} m")
    return produced

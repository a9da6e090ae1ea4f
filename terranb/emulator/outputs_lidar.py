"""LiDAR job output: the uploaded LAS/LAZ clouds merged, reprojected and thinned.

What :func:`produce_lidar` computes (a stand-in for DJI Terra's LiDAR
processing, which starts from the raw Zenmuse L1/L2 files; the emulator cannot
read those proprietary files and works on LAS/LAZ point clouds in the resource):

* ``lidars/terra_las/cloud_merged.copc.laz``: every LAS/LAZ input, read in chunks
  (``chunk_points`` at a time, so memory stays bounded by the chunk plus the
  thinning index), horizontally reprojected with pyproj from the CRS in each
  file's VLRs to the requested ``output_geo_desc`` CRS (default: the WGS 84
  UTM zone of the data's centre). Heights are kept (converted to metres when
  the source CRS uses feet) plus ``output_height_offset``. Thinning follows
  protocol.md §2.5: ``sample_distance`` > 0 keeps the first point of every
  voxel of that size (in metres; a sorted key index of the kept voxels is the
  only state that grows with the output); otherwise ``quality_level`` 1/2/3
  keeps every 1st/4th/16th point in file order (100 / 25 / 6.25 %, the
  "temporal" decimation). Output is LAS 1.4 point format 7 (RGB) when any input
  has colour, else 6, with a WKT CRS VLR; intensity, returns, classification,
  GPS time, scan angle, user data and point source id are carried over. The
  merged cloud is then rewritten as COPC (LAZ 1.4 in octree order, readable by any
  LAS 1.4 reader and by range requests; :mod:`.outputs_copc`). DJI's own file is
  a plain ``cloud_merged.las``; the emulator's choice of COPC is what makes
  remote previews possible, and :func:`~terranb.results.open_results` accepts both.
* ``lidars/report/report.json``: a report with the key names of DJI Terra's
  LiDAR report (a real one is in the shared data): ``gps corner``, ``output
  coordinate``, ``sample distance``, ``quality level``, ``point cloud density``
  (average density and, for the 1:500 / 1:1000 / 1:2000 scales, the share of
  occupied grid cells below the density standard, computed from the output
  points), ``generate *`` flags saying what was written (only LAS), timings in
  milliseconds. Keys DJI fills from flight data (``flight param``, ``imu traj
  error``, ``pos status`` ...) are left out because there is no flight data.
* ``lidars/terra_dem/dem.tif`` when ``generate_dem``: float32 GeoTIFF at
  ``dem_resolution`` metres (default 0.5, coarsened to stay under 40 M cells)
  holding the lowest ground point (classification 2) per cell, or the lowest
  point of any class when the cloud has no ground class; -9999 = no data.
  No interpolation and no ground extraction are done.
* ``mission.json`` (see :func:`~terranb.emulator.outputs_common.write_mission`).

Files without a CRS are read as WGS 84 when their coordinates look like
longitude/latitude and rejected otherwise (the message says how to fix it).
"""

from __future__ import annotations

import math
import os
import platform
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terranb.emulator.outputs_common import (
    OutputJob,
    atomic_path,
    param,
    pointclouds_of,
    utm_crs_for,
    write_json,
)
from terranb.emulator.outputs_copc import write_copc
from terranb.errors import ValidationError, require

if TYPE_CHECKING:
    import numpy as np
    from pyproj import CRS

__all__ = ["CLOUD_PATH", "DEM_PATH", "REPORT_PATH", "produce_lidar"]

CLOUD_PATH = "lidars/terra_las/cloud_merged.copc.laz"
REPORT_PATH = "lidars/report/report.json"
DEM_PATH = "lidars/terra_dem/dem.tif"
_DEM_MAX_CELLS = 40_000_000

# Dimensions copied from input to output when both have them.
_COPY_DIMS = (
    "intensity",
    "return_number",
    "number_of_returns",
    "classification",
    "gps_time",
    "user_data",
    "point_source_id",
    "red",
    "green",
    "blue",
)
# DJI report density standards: scale -> (grid size m, points per m²).
_DENSITY_SCALES = {
    "scale 1 to 500": (0.25, 16.0),
    "scale 1 to 1000": (0.5, 4.0),
    "scale 1 to 2000": (1.0, 1.0),
}
_BITS = 21  # voxel index bits per axis in the thinning key


@dataclass
class _Source:
    """One input cloud: its name in the resource, the local file, its CRS and LAS header
    (``point_count``, ``mins`` / ``maxs`` and ``point_format`` are read from it)."""

    name: str
    path: Path
    crs: CRS
    header: Any  # laspy.LasHeader, kept after the reader is closed


def _source_crs(name: str, header: Any) -> CRS:
    pyproj = require("pyproj", "geo")
    crs = None
    try:
        crs = header.parse_crs()
    except Exception:
        crs = None
    if crs is not None:
        return crs
    mins, maxs = header.mins, header.maxs
    if -180 <= mins[0] <= maxs[0] <= 180 and -90 <= mins[1] <= maxs[1] <= 90:
        return pyproj.CRS.from_epsg(4326)
    raise ValidationError(
        f"LiDAR input {name!r} has no coordinate system (no GeoTIFF or WKT VLR) and its "
        "coordinates are not longitude/latitude, so it cannot be reprojected; write the CRS "
        "into the file (e.g. pdal translate with a_srs, or laspy header.add_crs) and upload again"
    )


def _horizontal(crs: CRS) -> CRS:
    return crs.sub_crs_list[0] if crs.is_compound and crs.sub_crs_list else crs


def _unit_m(crs: CRS) -> float:
    """Metres per unit of the horizontal axes (1 for geographic, used for z)."""
    h = _horizontal(crs)
    if h.is_geographic:
        return 1.0
    try:
        factor = float(h.axis_info[0].unit_conversion_factor)
    except Exception:
        return 1.0
    return factor if factor > 0 else 1.0


def _wgs84_center(sources: list[_Source]) -> tuple[float, float]:
    pyproj = require("pyproj", "geo")
    lons, lats = [], []
    for s in sources:
        t = pyproj.Transformer.from_crs(_horizontal(s.crs), 4326, always_xy=True)
        lo, hi = s.header.mins, s.header.maxs
        lon, lat = t.transform(float(lo[0] + hi[0]) / 2, float(lo[1] + hi[1]) / 2)
        lons.append(lon)
        lats.append(lat)
    return sum(lons) / len(lons), sum(lats) / len(lats)


def produce_lidar(job: OutputJob) -> list[str]:
    """Write the LiDAR result tree into ``job.out_dir``; returns the relative paths written.

    Raises:
        ValidationError: no LAS/LAZ input, or an input without a usable CRS.
    """
    laspy = require("laspy", "geo")
    np = require("numpy", "geo")
    pyproj = require("pyproj", "geo")
    parameters, inputs, out_dir, progress = job.parameters, job.inputs, job.out_dir, job.progress
    started = time.time()
    clouds = pointclouds_of(inputs)
    if not clouds:
        raise ValidationError(
            "the LiDAR job's resource holds no .las or .laz point cloud; the emulator cannot "
            "read DJI's raw L1/L2 files (.LDR, .IMU, .RTK ...): upload a LAS/LAZ cloud"
        )
    progress.stage("read", "reading point cloud headers")
    sources: list[_Source] = []
    for name, path in clouds:
        with laspy.open(str(path)) as reader:
            header = reader.header
            sources.append(
                _Source(name=name, path=path, crs=_source_crs(name, header), header=header)
            )
    total_in = sum(int(s.header.point_count) for s in sources)
    if total_in == 0:
        raise ValidationError("the LiDAR job's point clouds hold no points")
    target = job.crs()
    if target is None:
        target = utm_crs_for(*_wgs84_center(sources))
    target_h = _horizontal(target)
    geographic = target_h.is_geographic

    # Output bounds (for offsets and the thinning grid) from the transformed input boxes.
    transformers = {}
    txmin = tymin = tzmin = math.inf
    txmax = tymax = tzmax = -math.inf
    for s in sources:
        t = pyproj.Transformer.from_crs(_horizontal(s.crs), target_h, always_xy=True)
        transformers[s.name] = t
        lo, hi = [float(v) for v in s.header.mins], [float(v) for v in s.header.maxs]
        b = t.transform_bounds(lo[0], lo[1], hi[0], hi[1], densify_pts=21)
        zf = _unit_m(s.crs)
        txmin, tymin = min(txmin, b[0]), min(tymin, b[1])
        txmax, tymax = max(txmax, b[2]), max(tymax, b[3])
        tzmin, tzmax = min(tzmin, lo[2] * zf), max(tzmax, hi[2] * zf)
    height_offset = job.number("output_height_offset", 0.0)
    tzmin += height_offset
    tzmax += height_offset

    sample_distance = job.number("sample_distance", 0.0)
    quality_level = int(job.number("quality_level", 1.0))
    if quality_level not in (1, 2, 3):
        raise ValidationError(f"quality_level must be 1, 2 or 3, got {quality_level}")
    decimate = {1: 1, 2: 4, 3: 16}[quality_level] if sample_distance <= 0 else 1
    mid_lat = (tymin + tymax) / 2 if geographic else 0.0
    # Voxel size per axis in output units (metres, or degrees for a geographic CRS).
    if sample_distance > 0:
        if geographic:
            vx = sample_distance / (111_320.0 * max(0.01, math.cos(math.radians(mid_lat))))
            vy = sample_distance / 110_540.0
        else:
            vx = vy = sample_distance / _unit_m(target_h)
        vz = sample_distance
        margin = 2
        nx = (txmax - txmin) / vx + 2 * margin
        ny = (tymax - tymin) / vy + 2 * margin
        nz = (tzmax - tzmin) / vz + 2 * margin
        if max(nx, ny, nz) >= 2**_BITS:
            raise ValidationError(
                f"sample_distance {sample_distance} m is too small for a cloud this large "
                f"(more than {2**_BITS} voxels along one axis); use a larger sample_distance"
            )
        origin = (txmin - margin * vx, tymin - margin * vy, tzmin - margin * vz)

    has_rgb = any("red" in s.header.point_format.dimension_names for s in sources)
    point_format = 7 if has_rgb else 6
    header = laspy.LasHeader(point_format=point_format, version="1.4")
    scale = 1e-7 if geographic else 0.001
    header.scales = np.array([scale, scale, 0.001])
    header.offsets = np.array([math.floor(txmin), math.floor(tymin), math.floor(min(tzmin, 0.0))])
    header.add_crs(target)
    header.system_identifier = "terranb emulator"
    header.generating_software = "terranb emulator stand-in"

    seen = np.empty(0, dtype=np.int64)
    density_cells: dict[str, tuple[Any, Any]] = {
        k: (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)) for k in _DENSITY_SCALES
    }
    processed = 0
    written = 0
    dropped = 0
    dem: _DemGrid | None = None
    want_dem = job.flag("generate_dem", False)
    dem_resolution = job.number("dem_resolution", 0.5)
    if want_dem:
        if dem_resolution <= 0:
            raise ValidationError(f"dem_resolution must be > 0 m, got {dem_resolution}")
        res_units = dem_resolution / (110_540.0 if geographic else _unit_m(target_h))
        dem = _DemGrid(np, (txmin, tymin, txmax, tymax), res_units)
    ox_min = oy_min = oz_min = math.inf
    ox_max = oy_max = oz_max = -math.inf
    # The merge streams into a plain LAS first; COPC needs every point to build its octree.
    work = out_dir / ".terranb-work"
    work.mkdir(parents=True, exist_ok=True)
    out_path = work / "cloud_merged.las"
    progress.stage("merge", "merging, reprojecting and thinning point clouds")
    with atomic_path(out_path) as tmp, laspy.open(str(tmp), mode="w", header=header) as writer:
        for s in sources:
            t = transformers[s.name]
            zf = _unit_m(s.crs)
            with laspy.open(str(s.path)) as reader:
                in_dims = set(reader.header.point_format.dimension_names)
                for chunk in reader.chunk_iterator(job.chunk_points):
                    n = len(chunk)
                    if n == 0:
                        continue
                    x, y = t.transform(np.asarray(chunk.x), np.asarray(chunk.y))
                    x = np.asarray(x, dtype=np.float64)
                    y = np.asarray(y, dtype=np.float64)
                    z = np.asarray(chunk.z, dtype=np.float64) * zf + height_offset
                    # Points outside the target CRS's domain come back as inf: drop them.
                    finite = np.isfinite(x) & np.isfinite(y)
                    dropped += int(n - finite.sum())
                    if sample_distance > 0:
                        fin = np.nonzero(finite)[0]
                        keys = _voxel_keys(np, x[fin], y[fin], z[fin], origin, (vx, vy, vz))
                        first, seen = _first_new(np, keys, seen)
                        keep = fin[first]
                    else:
                        idx = processed + np.arange(n)
                        keep = np.nonzero((idx % decimate == 0) & finite)[0]
                    processed += n
                    if keep.size:
                        rec = laspy.ScaleAwarePointRecord.zeros(keep.size, header=header)
                        rec.x, rec.y, rec.z = x[keep], y[keep], z[keep]
                        for dim in _COPY_DIMS:
                            if dim in in_dims:
                                rec[dim] = np.asarray(chunk[dim])[keep]
                        if "scan_angle_rank" in in_dims:
                            rank = np.asarray(chunk["scan_angle_rank"], dtype=np.float64)
                            rec["scan_angle"] = np.round(rank[keep] / 0.006).astype(np.int16)
                        elif "scan_angle" in in_dims:
                            rec["scan_angle"] = np.asarray(chunk["scan_angle"])[keep]
                        writer.write_points(rec)
                        written += keep.size
                        kx, ky, kz = x[keep], y[keep], z[keep]
                        ox_min, ox_max = min(ox_min, kx.min()), max(ox_max, kx.max())
                        oy_min, oy_max = min(oy_min, ky.min()), max(oy_max, ky.max())
                        oz_min, oz_max = min(oz_min, kz.min()), max(oz_max, kz.max())
                        _count_cells(
                            np, density_cells, kx, ky, geographic, mid_lat, _unit_m(target_h)
                        )
                        if dem is not None:
                            cls = np.asarray(rec["classification"])
                            dem.add(np, kx, ky, kz, cls == 2)
                    progress.update(
                        processed / total_in, f"merged {processed:,} of {total_in:,} points"
                    )
    if written == 0:
        shutil.rmtree(work, ignore_errors=True)
        raise ValidationError("thinning left no points; use a smaller sample_distance")
    progress.update(1.0, "writing the COPC octree")
    try:
        copc_nodes = write_copc(out_path, out_dir / CLOUD_PATH)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    progress.stage("report", "writing the LiDAR report")
    to_wgs = pyproj.Transformer.from_crs(target_h, 4326, always_xy=True)
    w, s_, e, n = to_wgs.transform_bounds(ox_min, oy_min, ox_max, oy_max, densify_pts=21)
    density, area_m2 = _density_report(np, density_cells, written)
    elapsed_ms = int((time.time() - started) * 1000)
    report: dict[str, Any] = {
        "gps corner": {
            "top left lat": n,
            "top left lon": w,
            "bottom right lat": s_,
            "bottom right lon": e,
        },
        "output coordinate": target.name,
        "output vertical coordinate": _vertical_name(parameters),
        "isGeographic": bool(geographic),
        "sample distance": sample_distance,
        "quality level": quality_level,
        "point cloud density": density,
        "generate las": True,
        "generate pnts": False,
        "generate point ply": False,
        "generate pcd": False,
        "generate point s3mb": False,
        "generate b3dm": False,
        "generate obj": False,
        "generate osgb": False,
        "generate ply": False,
        "generate s3mb": False,
        "generate i3s": False,
        "generate dem tif": dem is not None,
        "generate contour dxf": False,
        "generate contour shp": False,
        "merge point": job.flag("merge_point", False),
        "smooth point": job.flag("smooth_point", False),
        "lidar point max distance": job.number("lidar_point_max_distance", 0.0),
        "ground extraction": {
            "do ground extraction": job.flag("ground_extract", False)
        },
        "dem generation": {
            "generate dem": dem is not None,
            "dem resolution": dem.resolution_m(geographic, _unit_m(target_h))
            if dem is not None
            else dem_resolution,
        },
        "block num": 1,
        "hardware information": {
            "cpu model": platform.processor() or platform.machine(),
            "gpu names": [],
            "gpu num": 0,
            "total ram": _total_ram_mb(),
        },
        "total process time": elapsed_ms,
        "save result time": elapsed_ms,
        # terranb additions (not in DJI's report): what the stand-in did.
        "input point number": total_in,
        "output point number": written,
        "points outside the output CRS": dropped,
        "covered area m2": area_m2,
        "output bounds": [ox_min, oy_min, oz_min, ox_max, oy_max, oz_max],
        "input files": [s.name for s in sources],
        "copc nodes": copc_nodes,
        "thinning": (
            {"method": "voxel", "voxel size": [vx, vy, vz], "voxel origin": list(origin)}
            if sample_distance > 0
            else {"method": "decimation", "keep every": decimate}
        ),
    }
    write_json(out_dir / REPORT_PATH, report)
    produced = [CLOUD_PATH, REPORT_PATH]
    if dem is not None:
        produced.append(dem.write(np, out_dir / DEM_PATH, target))
    produced.append(
        job.mission("lidar", produced, {"output points": written, "input points": total_in})
    )
    progress.done(f"LiDAR cloud with {written:,} of {total_in:,} points")
    return produced


def _vertical_name(parameters: dict[str, Any]) -> str:
    desc = param(parameters, "output_geo_desc")
    override = str(desc.get("override_vertical_cs") or "") if isinstance(desc, dict) else ""
    return override or "as input (not converted)"


def _total_ram_mb() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20)
    except (ValueError, OSError, AttributeError):
        return 0


def _voxel_keys(
    np: Any,
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray,
    origin: tuple[float, float, float],
    size: tuple[float, float, float],
) -> np.ndarray:
    lim = 2**_BITS - 1
    ix = np.clip(np.floor((x - origin[0]) / size[0]), 0, lim).astype(np.int64)
    iy = np.clip(np.floor((y - origin[1]) / size[1]), 0, lim).astype(np.int64)
    iz = np.clip(np.floor((z - origin[2]) / size[2]), 0, lim).astype(np.int64)
    return (ix << (2 * _BITS)) | (iy << _BITS) | iz


def _first_new(np: Any, keys: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the first point of each voxel not seen before, and the updated index."""
    uniq, first = np.unique(keys, return_index=True)
    if seen.size:
        pos = np.searchsorted(seen, uniq)
        pos = np.minimum(pos, seen.size - 1)
        new = seen[pos] != uniq
        uniq, first = uniq[new], first[new]
    keep = np.sort(first)
    merged = np.concatenate([seen, uniq])
    merged.sort(kind="mergesort")
    return keep, merged


def _count_cells(
    np: Any,
    acc: dict[str, tuple[np.ndarray, np.ndarray]],
    x: np.ndarray,
    y: np.ndarray,
    geographic: bool,
    mid_lat: float,
    unit_m: float,
) -> None:
    if geographic:
        xm = x * 111_320.0 * math.cos(math.radians(mid_lat))
        ym = y * 110_540.0
    else:
        xm, ym = x * unit_m, y * unit_m
    for name, (grid, _std) in _DENSITY_SCALES.items():
        cx = np.floor(xm / grid).astype(np.int64)
        cy = np.floor(ym / grid).astype(np.int64)
        keys = (cx << 32) ^ (cy & 0xFFFFFFFF)
        k, c = np.unique(keys, return_counts=True)
        old_k, old_c = acc[name]
        all_k = np.concatenate([old_k, k])
        all_c = np.concatenate([old_c, c])
        uk, inv = np.unique(all_k, return_inverse=True)
        acc[name] = (uk, np.bincount(inv, weights=all_c).astype(np.int64))


def _density_report(
    np: Any, acc: dict[str, tuple[np.ndarray, np.ndarray]], written: int
) -> tuple[dict[str, Any], float]:
    out: dict[str, Any] = {}
    area_m2 = 0.0
    for name, (grid, std) in _DENSITY_SCALES.items():
        _keys, counts = acc[name]
        need = std * grid * grid
        total = int(counts.size)
        out[name] = {
            "density standard": std,
            "grid size": grid,
            "proportion not satisfied": float((counts < need).sum() / total) if total else 0.0,
            "total grid num": float(total),
        }
        if grid == 1.0:
            area_m2 = float(total)
    out["average density"] = float(written / area_m2) if area_m2 else 0.0
    return out, area_m2


class _DemGrid:
    """Lowest point per cell, kept for ground points (class 2) and for all points.

    Memory is two float32 grids over the output bounds; the resolution is
    coarsened when the grid would exceed ``_DEM_MAX_CELLS`` cells.
    """

    def __init__(self, np: Any, bounds: tuple[float, float, float, float], res: float) -> None:
        minx, miny, maxx, maxy = bounds
        cells = (maxx - minx) / res * (maxy - miny) / res
        if cells > _DEM_MAX_CELLS:
            res *= math.sqrt(cells / _DEM_MAX_CELLS)
        self.res = res
        self.x0 = math.floor(minx / res) * res
        self.y1 = math.ceil(maxy / res) * res
        self.cols = max(1, math.ceil((maxx - self.x0) / res) + 1)
        self.rows = max(1, math.ceil((self.y1 - miny) / res) + 1)
        self.ground = np.full((self.rows, self.cols), np.inf, dtype=np.float32)
        self.lowest = np.full((self.rows, self.cols), np.inf, dtype=np.float32)

    def resolution_m(self, geographic: bool, unit_m: float) -> float:
        """Cell size in metres."""
        return float(self.res * (110_540.0 if geographic else unit_m))

    def add(self, np: Any, x: Any, y: Any, z: Any, is_ground: Any) -> None:
        """Fold points into the grids."""
        c = np.clip(((x - self.x0) / self.res).astype(np.int64), 0, self.cols - 1)
        r = np.clip(((self.y1 - y) / self.res).astype(np.int64), 0, self.rows - 1)
        z32 = z.astype(np.float32)
        np.minimum.at(self.lowest, (r, c), z32)
        if is_ground.any():
            np.minimum.at(self.ground, (r[is_ground], c[is_ground]), z32[is_ground])

    def write(self, np: Any, path: Path, crs: CRS) -> str:
        """Write the DEM GeoTIFF (ground points when the cloud is classified); returns DEM_PATH."""
        rasterio = require("rasterio", "geo")
        from rasterio.transform import Affine

        # A classified cloud gives a terrain model; otherwise the lowest return per cell.
        grid = self.ground if np.isfinite(self.ground).any() else self.lowest
        nodata = -9999.0
        data = np.where(np.isfinite(grid), grid, nodata).astype(np.float32)
        profile = {
            "driver": "GTiff",
            "width": self.cols,
            "height": self.rows,
            "count": 1,
            "dtype": "float32",
            "crs": crs.to_wkt(),
            "transform": Affine(self.res, 0.0, self.x0, 0.0, -self.res, self.y1),
            "nodata": nodata,
            "tiled": True,
            "blockxsize": 256,
            "blockysize": 256,
            "compress": "deflate",
        }
        with atomic_path(path) as tmp, rasterio.open(tmp, "w", **profile) as dst:
            dst.write(data, 1)
        return DEM_PATH

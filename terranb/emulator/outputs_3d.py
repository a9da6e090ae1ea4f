"""3D and 3DGS job outputs: a textured surface over the photographed area.

What :func:`produce_3d` computes (a stand-in, not a reconstruction):

1. The quick mosaic of the photos (as for 2D, :func:`.outputs_2d.build_mosaic`)
   in the output CRS; it gives the footprint and the texture.
2. A smooth ground surface: the ground height under each photo is its
   absolute altitude minus its height above take-off (DJI XMP), and a
   least-squares plane (quadratic when there are 10 photos or more, which
   lets a gently curved terrain show) through those points gives z(x, y).
   Photos without altitudes give a flat surface at z = 0.
3. A regular grid mesh over the mosaic's bounds at that height, with the
   faces whose corners are all outside the photographed (opaque) area
   removed; a ``predefine_AOI`` polygon crops the mosaic, hence the mesh.
   The target face count is 200 000 / 80 000 / 20 000 for ``quality_level``
   1 / 2 / 3 times ``model_simplify`` (default 1).

Files (``models/pc/0/...`` as in DJI Terra's desktop layout):

* ``terra_obj/BlockR/BlockR.obj`` + ``BlockR.mtl`` + ``BlockR_0.jpg`` (the
  mosaic as texture, at most 4096/2048/1024 px by quality) and
  ``terra_obj/metadata.xml`` (``<SRS>EPSG:xxxx</SRS>``,
  ``<SRSOrigin>x,y,z</SRSOrigin>``; OBJ vertices are relative to that origin),
  written when ``output_mesh`` is true (the default) and ``generate_obj`` is not
  false. Requested formats the emulator cannot write (osgb, s3mb, i3s) are
  reported as not generated.
* ``terra_b3dms/tileset.json`` + ``Data/...b3dm`` + ``metadata.xml`` when
  ``generate_b3dm`` (FlightHub 2's default): a 3D Tiles 1.0 tileset with 3
  levels of detail of the same surface (the finest with the OBJ's face count,
  each coarser a quarter of it; 1, 4 and 16 tiles), the level-1 subtrees as
  external child tilesets, root transform from the output CRS and origin to
  ECEF (see :mod:`terranb.results.tiles.build`).
* ``terra_pnts/tileset.json`` + ``Data/*.pnts`` when ``output_pointcloud`` and
  ``generate_pnts``: the LAS samples as a 3-level pnts tileset.
* ``terra_ply/BlockR/BlockR.ply`` + ``terra_ply/metadata.xml`` when
  ``generate_ply``: the same mesh as binary PLY with vertex colours.
* ``terra_las/cloud.las`` when ``output_pointcloud`` and ``generate_las``:
  points on a jittered grid (spacing 4 x the mosaic GSD, which grows with
  ``quality_level``; at most 2 million points) on the surface, coloured from the mosaic, absolute
  coordinates, LAS 1.4 format 7 with a WKT CRS VLR.
* ``report/model_report.json`` (``output coordinate``, ``generate obj``,
  ``generate las`` ... what was written; ``model simplify``, ``quality
  level``, ``gps corner``, face and vertex counts), ``AT/sfm_report.json``,
  ``AT/sfm_geo_desc.json`` and ``mission.json``.

A geographic ``output_geo_desc`` (e.g. EPSG:4326) cannot hold a metric mesh,
so the model is written in the photos' UTM zone then, and the report says so.

:func:`~terranb.emulator.outputs_3dgs.produce_3dgs` (FlightHub 2 ``parameter_3dgs``) writes
``3dgs/point_cloud.ply`` in the common 3D Gaussian Splatting layout (``x y z
nx ny nz f_dc_0 f_dc_1 f_dc_2 opacity scale_0..2 rot_0..3``, float32): one
splat per surface sample, colour as the degree-0 spherical-harmonic
coefficient of the mosaic colour, spacing 2 x the mosaic GSD (at most
1 000 000 / 400 000 / 100 000 splats by quality), opacity logit(0.95), isotropic scale
log(spacing / 2), identity rotation; positions relative to the origin in
``3dgs/metadata.xml``.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terranb.emulator.outputs_2d import (
    aoi_ring,
    build_mosaic,
    default_crs,
    gps_corner,
    read_photos,
    sfm_reports,
)
from terranb.emulator.outputs_common import (
    OutputJob,
    atomic_path,
    output_crs,
    srs_text,
    write_json,
    write_text,
)
from terranb.errors import ValidationError, require

if TYPE_CHECKING:
    import numpy as np
    from pyproj import CRS

    from terranb.dataset.exif import PhotoMeta

__all__ = ["produce_3d"]

_BASE_FACES = {1: 200_000, 2: 80_000, 3: 20_000}
_TEXTURE_MAX = {1: 4096, 2: 2048, 3: 1024}
# Sample spacing in mosaic pixels (the mosaic GSD already grows with quality_level).
_LAS_SPACING_GSD = 4.0
_SPLAT_SPACING_GSD = 2.0
_MAX_CLOUD_POINTS = 2_000_000
_OBJ_DIR = "models/pc/0/terra_obj"
_PLY_DIR = "models/pc/0/terra_ply"
_LAS_PATH = "models/pc/0/terra_las/cloud.las"
_B3DM_DIR = "models/pc/0/terra_b3dms"
_PNTS_DIR = "models/pc/0/terra_pnts"
# Levels of detail of the b3dm tileset: the finest has the OBJ's face count, each
# coarser one a quarter of it (so every tile holds about the same number of faces).
_TILE_LEVELS = 3


@dataclass
class _Surface:
    """The textured surface every 3D output is derived from."""

    crs: CRS
    origin: tuple[float, float, float]
    bounds: tuple[float, float, float, float]
    coeffs: Any  # polynomial coefficients of z(x, y) in local coordinates
    texture: Any  # (rows, cols, 4) uint8 RGBA, north up
    gsd_m: float
    seconds: float
    native_gsd_m: float | None
    quality: int
    note: str

    def height(self, np: Any, lx: np.ndarray, ly: np.ndarray) -> np.ndarray:
        """Local z at local (x, y)."""
        return _design(np, lx, ly, len(self.coeffs)) @ self.coeffs

    def sample_rgba(self, np: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Texture colour (N, 4) at absolute coordinates (nearest pixel)."""
        minx, miny, maxx, maxy = self.bounds
        rows, cols = self.texture.shape[:2]
        c = np.clip(((x - minx) / (maxx - minx) * cols).astype(np.int64), 0, cols - 1)
        r = np.clip(((maxy - y) / (maxy - miny) * rows).astype(np.int64), 0, rows - 1)
        return self.texture[r, c]


def _design(np: Any, lx: np.ndarray, ly: np.ndarray, terms: int) -> np.ndarray:
    cols = [np.ones_like(lx), lx, ly, lx * lx, lx * ly, ly * ly][:terms]
    return np.stack(cols, axis=-1)


def _ground_points(usable: list[PhotoMeta], crs: CRS) -> list[tuple[float, float, float]]:
    pyproj = require("pyproj", "geo")
    t = pyproj.Transformer.from_crs(4326, crs, always_xy=True)
    pts = []
    for m in usable:
        if m.absolute_altitude is None or m.relative_altitude is None:
            continue
        x, y = t.transform(m.longitude, m.latitude)
        pts.append((float(x), float(y), float(m.absolute_altitude - m.relative_altitude)))
    return pts


def _model_crs(parameters: dict[str, Any], usable: list[PhotoMeta]) -> tuple[CRS, str]:
    crs = output_crs(parameters)
    if crs is None:
        return default_crs(usable), ""
    if crs.is_geographic:
        utm = default_crs(usable)
        return utm, (
            f"requested {crs.name} is geographic; the model is written in {utm.name} "
            "(a mesh needs metric coordinates)"
        )
    return crs, ""


def _build_surface(job: OutputJob) -> tuple[_Surface, list[PhotoMeta], list[PhotoMeta]]:
    parameters, inputs, out_dir, progress = job.parameters, job.inputs, job.out_dir, job.progress
    max_pixels = job.max_pixels
    rasterio = require("rasterio", "geo")
    np = require("numpy", "geo")
    progress.stage("read", "reading photo positions")
    metas, usable = read_photos(inputs)
    crs, note = _model_crs(parameters, usable)
    quality = int(job.number("quality_level", 1.0))
    if quality not in _BASE_FACES:
        raise ValidationError(f"quality_level must be 1, 2 or 3, got {quality}")
    progress.stage("mosaic", f"mosaicking {len(usable)} photos for the texture")
    work = out_dir / ".terranb-work"
    work.mkdir(parents=True, exist_ok=True)
    try:
        build = build_mosaic(
            usable,
            work / "mosaic.tif",
            crs,
            quality,
            max_pixels,
            progress,
            aoi=aoi_ring(parameters, crs),
        )
        limit = _TEXTURE_MAX[quality]
        scale = max(1.0, max(build.width, build.height) / limit)
        w, h = max(2, round(build.width / scale)), max(2, round(build.height / scale))
        with rasterio.open(build.path) as ds:
            tex = ds.read(out_shape=(4, h, w), resampling=rasterio.enums.Resampling.average)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    texture = np.moveaxis(tex, 0, -1).astype(np.uint8)
    minx, miny, maxx, maxy = build.bounds
    ground = _ground_points(usable, crs)
    oz = float(np.median([p[2] for p in ground])) if ground else 0.0
    origin = (float(round((minx + maxx) / 2)), float(round((miny + maxy) / 2)), float(round(oz)))
    terms = 1
    if len(ground) >= 10:
        terms = 6
    elif len(ground) >= 3:
        terms = 3
    coeffs = np.zeros(terms)
    if ground:
        g = np.asarray(ground, dtype=np.float64)
        lx, ly, lz = g[:, 0] - origin[0], g[:, 1] - origin[1], g[:, 2] - origin[2]
        # Scale the design to ~1 so the quadratic fit stays well conditioned.
        span = max(1.0, float(np.abs(np.concatenate([lx, ly])).max()))
        a = _design(np, lx / span, ly / span, terms)
        sol, *_ = np.linalg.lstsq(a, lz, rcond=None)
        scale_vec = np.array([1, span, span, span * span, span * span, span * span][:terms])
        coeffs = sol / scale_vec
    surface = _Surface(
        crs,
        origin,
        build.bounds,
        coeffs,
        texture,
        build.gsd_m,
        build.seconds,
        build.native_gsd_m,
        quality,
        note,
    )
    return surface, metas, usable


def _grid(np: Any, surface: _Surface, faces_target: int) -> tuple[Any, Any, Any]:
    """Vertices (local xyz), UVs and triangle indices of the surface mesh."""
    minx, miny, maxx, maxy = surface.bounds
    wx, wy = maxx - minx, maxy - miny
    cells = max(1, faces_target // 2)
    nx = max(2, round(math.sqrt(cells * wx / max(wy, 1e-9))) + 1)
    ny = max(2, round(cells / max(1, nx - 1)) + 1)
    xs = np.linspace(minx, maxx, nx)
    ys = np.linspace(maxy, miny, ny)  # row 0 = north
    gx, gy = np.meshgrid(xs, ys)
    lx, ly = gx - surface.origin[0], gy - surface.origin[1]
    lz = surface.height(np, lx.ravel(), ly.ravel()).reshape(lx.shape)
    verts = np.stack([lx.ravel(), ly.ravel(), lz.ravel()], axis=1)
    uv = np.stack([((gx - minx) / wx).ravel(), ((gy - miny) / wy).ravel()], axis=1)
    opaque = surface.sample_rgba(np, gx.ravel(), gy.ravel())[:, 3] > 0
    idx = np.arange(nx * ny).reshape(ny, nx)
    a, b = idx[:-1, :-1].ravel(), idx[:-1, 1:].ravel()
    c, d = idx[1:, :-1].ravel(), idx[1:, 1:].ravel()
    # Counter-clockwise seen from above (+z): a(nw) c(sw) b(ne), b(ne) c(sw) d(se).
    tris = np.concatenate([np.stack([a, c, b], 1), np.stack([b, c, d], 1)])
    keep = opaque[tris].any(axis=1)
    if keep.any():
        tris = tris[keep]
    used = np.unique(tris)
    remap = np.full(nx * ny, -1, dtype=np.int64)
    remap[used] = np.arange(used.size)
    return verts[used], uv[used], remap[tris]


def _write_obj(
    np: Any, out_dir: Path, surface: _Surface, verts: Any, uv: Any, tris: Any
) -> list[str]:
    image_mod = require("PIL.Image", "geo")
    block = out_dir / _OBJ_DIR / "BlockR"
    block.mkdir(parents=True, exist_ok=True)
    with atomic_path(block / "BlockR_0.jpg") as tmp:
        image_mod.fromarray(surface.texture[:, :, :3], "RGB").save(tmp, format="JPEG", quality=90)
    write_text(
        block / "BlockR.mtl",
        "# terranb emulator stand-in texture\nnewmtl material0\nKa 1.000 1.000 1.000\n"
        "Kd 1.000 1.000 1.000\nKs 0.000 0.000 0.000\nd 1.0\nillum 1\nmap_Kd BlockR_0.jpg\n",
    )
    lines = [
        "# terranb emulator: textured surface stand-in (not a reconstruction)",
        f"# vertices are relative to SRSOrigin {surface.origin} in {srs_text(surface.crs)}",
        "mtllib BlockR.mtl",
    ]
    lines += [f"v {x:.4f} {y:.4f} {z:.4f}" for x, y, z in verts.tolist()]
    lines += [f"vt {u:.6f} {v:.6f}" for u, v in uv.tolist()]
    lines.append("usemtl material0")
    t1 = tris + 1
    lines += [f"f {a}/{a} {b}/{b} {c}/{c}" for a, b, c in t1.tolist()]
    write_text(block / "BlockR.obj", "\n".join(lines) + "\n")
    write_text(out_dir / _OBJ_DIR / "metadata.xml", _metadata_xml(surface))
    return [
        f"{_OBJ_DIR}/BlockR/BlockR.obj",
        f"{_OBJ_DIR}/BlockR/BlockR.mtl",
        f"{_OBJ_DIR}/BlockR/BlockR_0.jpg",
        f"{_OBJ_DIR}/metadata.xml",
    ]


def _metadata_xml(surface: _Surface) -> str:
    ox, oy, oz = surface.origin
    srs = srs_text(surface.crs).replace("&", "&amp;").replace("<", "&lt;")
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<ModelMetadata version="1">\n'
        f"\t<SRS>{srs}</SRS>\n"
        f"\t<SRSOrigin>{ox:.3f},{oy:.3f},{oz:.3f}</SRSOrigin>\n"
        "\t<Texture>\n\t\t<ColorSource>Visible</ColorSource>\n\t</Texture>\n"
        "</ModelMetadata>\n"
    )


def _write_ply_mesh(np: Any, out_dir: Path, surface: _Surface, verts: Any, tris: Any) -> list[str]:
    origin = np.asarray(surface.origin[:2])
    rgba = surface.sample_rgba(np, verts[:, 0] + origin[0], verts[:, 1] + origin[1])
    vdt = np.dtype(
        [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")]
    )
    v = np.empty(len(verts), dtype=vdt)
    v["x"], v["y"], v["z"] = verts[:, 0], verts[:, 1], verts[:, 2]
    v["red"], v["green"], v["blue"] = rgba[:, 0], rgba[:, 1], rgba[:, 2]
    fdt = np.dtype([("n", "u1"), ("i", "<i4", (3,))])
    f = np.empty(len(tris), dtype=fdt)
    f["n"] = 3
    f["i"] = tris
    head = (
        "ply\nformat binary_little_endian 1.0\ncomment terranb emulator stand-in surface\n"
        f"element vertex {len(v)}\nproperty float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\n"
        f"element face {len(f)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    path = out_dir / _PLY_DIR / "BlockR" / "BlockR.ply"
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        fh.write(head.encode("ascii"))
        fh.write(v.tobytes())
        fh.write(f.tobytes())
    write_text(out_dir / _PLY_DIR / "metadata.xml", _metadata_xml(surface))
    return [f"{_PLY_DIR}/BlockR/BlockR.ply", f"{_PLY_DIR}/metadata.xml"]


def _write_b3dm(np: Any, out_dir: Path, surface: _Surface, faces: int) -> list[str]:
    """The 3D Tiles tileset: level d is the surface gridded at faces / 4^(levels-1-d)."""
    from terranb.results.tiles import LodMesh, write_mesh_tileset

    lods = []
    for d in range(_TILE_LEVELS):
        verts, uv, tris = _grid(np, surface, max(8, faces // 4 ** (_TILE_LEVELS - 1 - d)))
        lods.append(LodMesh(verts, tris, uv))
    folder = out_dir / _B3DM_DIR
    written = write_mesh_tileset(folder, lods, surface.texture[:, :, :3], surface.crs,
                                 surface.origin, texture_px=_TEXTURE_MAX[surface.quality] // 2)
    write_text(folder / "metadata.xml", _metadata_xml(surface))
    return [p.relative_to(out_dir).as_posix() for p in written.files] + [
        f"{_B3DM_DIR}/metadata.xml"]


def _write_pnts(np: Any, out_dir: Path, surface: _Surface, seed: int) -> list[str]:
    """The point-cloud tileset (pnts): the LAS samples, level d in 4^d tiles."""
    from terranb.results.tiles import point_tileset

    xyz, rgba, _spacing = _surface_samples(
        np, surface, surface.gsd_m * _LAS_SPACING_GSD, seed, _MAX_CLOUD_POINTS
    )
    if len(xyz) == 0:
        raise ValidationError("the photographed area is empty; no point cloud can be sampled")
    written = point_tileset(out_dir / _PNTS_DIR, xyz, rgba[:, :3], crs=surface.crs,
                            origin=surface.origin, levels=_TILE_LEVELS)
    write_text(out_dir / _PNTS_DIR / "metadata.xml", _metadata_xml(surface))
    return [p.relative_to(out_dir).as_posix() for p in written.files] + [
        f"{_PNTS_DIR}/metadata.xml"]


def _surface_samples(
    np: Any, surface: _Surface, spacing: float, seed: int, max_points: int
) -> tuple[Any, Any, float]:
    """Jittered grid samples on the opaque part of the surface: absolute xyz, RGBA, spacing."""
    minx, miny, maxx, maxy = surface.bounds
    area = (maxx - minx) * (maxy - miny)
    spacing = max(spacing, math.sqrt(area / max_points))
    xs = np.arange(minx + spacing / 2, maxx, spacing)
    ys = np.arange(miny + spacing / 2, maxy, spacing)
    gx, gy = np.meshgrid(xs, ys)
    rng = np.random.default_rng(seed)
    x = gx.ravel() + rng.uniform(-spacing / 2, spacing / 2, gx.size)
    y = gy.ravel() + rng.uniform(-spacing / 2, spacing / 2, gy.size)
    x = np.clip(x, minx, maxx)
    y = np.clip(y, miny, maxy)
    rgba = surface.sample_rgba(np, x, y)
    keep = rgba[:, 3] > 0
    x, y, rgba = x[keep], y[keep], rgba[keep]
    z = surface.height(np, x - surface.origin[0], y - surface.origin[1]) + surface.origin[2]
    return np.stack([x, y, z], axis=1), rgba, spacing


def _write_las(np: Any, out_dir: Path, surface: _Surface, seed: int) -> tuple[list[str], int]:
    laspy = require("laspy", "geo")
    xyz, rgba, _spacing = _surface_samples(
        np, surface, surface.gsd_m * _LAS_SPACING_GSD, seed, _MAX_CLOUD_POINTS
    )
    if len(xyz) == 0:
        raise ValidationError("the photographed area is empty; no point cloud can be sampled")
    header = laspy.LasHeader(point_format=7, version="1.4")
    header.scales = np.array([0.001, 0.001, 0.001])
    header.offsets = np.floor(xyz.min(axis=0))
    header.add_crs(surface.crs)
    header.generating_software = "terranb emulator stand-in"
    las = laspy.LasData(header)
    las.x, las.y, las.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
    rgb16 = rgba[:, :3].astype(np.uint16) * 257
    las.red, las.green, las.blue = rgb16[:, 0], rgb16[:, 1], rgb16[:, 2]
    las.intensity = (rgba[:, :3].astype(np.float64).mean(axis=1) * 257).astype(np.uint16)
    las.classification = np.full(len(xyz), 1, dtype=np.uint8)
    las.return_number = np.ones(len(xyz), dtype=np.uint8)
    las.number_of_returns = np.ones(len(xyz), dtype=np.uint8)
    path = out_dir / _LAS_PATH
    with atomic_path(path) as tmp:
        las.write(str(tmp))
    return [_LAS_PATH], len(xyz)


def produce_3d(job: OutputJob) -> list[str]:
    """Write the 3D result tree into ``job.out_dir``; returns the relative paths written."""
    np = require("numpy", "geo")
    out_dir, progress, seed = job.out_dir, job.progress, job.seed
    started = time.time()
    surface, metas, usable = _build_surface(job)
    simplify = min(1.0, max(0.05, job.number("model_simplify", 1.0)))
    output_mesh = job.flag("output_mesh", True)
    want_ply = output_mesh and job.flag("generate_ply", False)
    # generate_obj has no documented default; FlightHub 2's default parameter_3d sets it
    # false with generate_b3dm true, so OBJ is written unless it is explicitly switched off.
    want_obj = output_mesh and job.flag("generate_obj", True)
    want_b3dm = output_mesh and job.flag("generate_b3dm", False)
    want_pnts = job.flag("output_pointcloud", False) and job.flag("generate_pnts", False
    )
    want_las = job.flag("output_pointcloud", False) and job.flag("generate_las", False
    )
    produced: list[str] = []
    faces = vertices = points = 0
    progress.stage("mesh", "building the textured surface")
    target_faces = int(_BASE_FACES[surface.quality] * simplify)
    if want_obj or want_ply:
        verts, uv, tris = _grid(np, surface, target_faces)
        faces, vertices = len(tris), len(verts)
        if want_obj:
            produced += _write_obj(np, out_dir, surface, verts, uv, tris)
        if want_ply:
            produced += _write_ply_mesh(np, out_dir, surface, verts, tris)
    if want_b3dm:
        progress.stage("mesh", "writing the 3D Tiles levels of detail")
        b3dm_files = _write_b3dm(np, out_dir, surface, target_faces)
        if not faces:
            verts, _uv, tris = _grid(np, surface, target_faces)
            faces, vertices = len(tris), len(verts)
        produced += b3dm_files
    progress.stage("cloud", "sampling the point cloud")
    if want_las:
        las_files, points = _write_las(np, out_dir, surface, seed)
        produced += las_files
    if want_pnts:
        produced += _write_pnts(np, out_dir, surface, seed)
    if not produced:
        raise ValidationError(
            "nothing to produce: set output_mesh (with generate_obj or generate_b3dm) or "
            "output_pointcloud with generate_las or generate_pnts"
        )
    progress.stage("report", "writing reports")
    unsupported = [
        k
        for k in (
            "generate_osgb",
            "generate_s3mb",
            "generate_i3s",
            "generate_point_ply",
            "generate_pcd",
            "generate_point_s3mb",
        )
        if job.flag(k, False)
    ]
    report: dict[str, Any] = {
        "output coordinate": surface.crs.name,
        "output vertical coordinate": "as photos' absolute altitude (not converted)",
        "generate obj": want_obj,
        "generate ply": want_ply,
        "generate las": want_las,
        "generate b3dm": want_b3dm,
        "generate osgb": False,
        "generate s3mb": False,
        "generate i3s": False,
        "generate pnts": want_pnts,
        "generate point ply": False,
        "generate pcd": False,
        "model simplify": simplify,
        "quality level": surface.quality,
        "quality level mesh": surface.quality,
        "gps corner": gps_corner(surface.crs, surface.bounds),
        "total process time": int((time.time() - started) * 1000),
        # terranb additions (not in DJI's report).
        "face number": faces,
        "vertex number": vertices,
        "point number": points,
        "SRS origin": list(surface.origin),
        "not generated by the emulator": unsupported,
    }
    if surface.note:
        report["coordinate note"] = surface.note
    write_json(out_dir / "report" / "model_report.json", report)
    produced.append("report/model_report.json")
    produced += sfm_reports(out_dir, metas, usable, surface.native_gsd_m, _area_km2(np, surface))
    produced.append(
        job.mission("3d", produced, {"photos used": len(usable), "faces": faces})
    )
    progress.done(f"textured surface with {faces:,} faces")
    return produced


def _area_km2(np: Any, surface: _Surface) -> float:
    minx, miny, maxx, maxy = surface.bounds
    opaque = float((surface.texture[:, :, 3] > 0).mean())
    return opaque * (maxx - minx) * (maxy - miny) / 1e6

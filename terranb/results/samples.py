"""Small synthetic results, written in code: GeoTIFF + world file + .prj, LAS, textured OBJ, trees.

Used by the tests (so they run without the third-party sample data), by demos,
and as a reference of the layout :func:`terranb.results.layout.open_results`
expects. Every file is tiny (kilobytes) and deterministic for a given ``seed``.
The DJI Terra layout follows protocol.md §2.9; the LiDAR report is a trimmed copy
of the real report.json's structure.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from terranb.errors import require
from terranb.results.worldfile import write_world_file

__all__ = ["write_sample_las", "write_sample_obj", "write_sample_ortho", "write_sample_tree"]

#: Where the samples sit: Shenzhen, WGS 84 / UTM zone 50N.
SAMPLE_EPSG = 32650
SAMPLE_ORIGIN = (202_000.0, 2_500_000.0)


def write_sample_ortho(path: str | os.PathLike[str], *, width: int = 64, height: int = 48,
                       pixel: float = 0.05, epsg: int | None = SAMPLE_EPSG,
                       embed_georef: bool = True, world_file: bool = True, prj: bool = True,
                       alpha: bool = True, dtype: str = "uint8", seed: int = 0) -> Path:
    """A small orthomosaic like DJI Terra's ``map/result.tif`` (RGBA uint8 by default).

    Args:
        path: the ``.tif`` to write.
        width, height, pixel: size and ground pixel size in metres.
        epsg: CRS (``None`` for none).
        embed_georef: write the CRS and transform into the GeoTIFF tags.
        world_file: write ``<stem>.tfw`` beside it.
        prj: write ``<stem>.prj`` (ESRI WKT) beside it.
        alpha: add an alpha band with a transparent border (else RGB, nodata 0 for floats).
        dtype: ``"uint8"`` for RGB(A), ``"float32"`` for a one-band DSM.
        seed: random seed of the pixel values.
    """
    rasterio = require("rasterio", "geo")
    np = require("numpy", "geo")
    from rasterio.transform import from_origin

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    transform = from_origin(SAMPLE_ORIGIN[0], SAMPLE_ORIGIN[1], pixel, pixel)
    rng = np.random.default_rng(seed)
    if dtype == "float32":
        yy, xx = np.mgrid[0:height, 0:width]
        data = (20.0 + 0.1 * xx + 0.05 * yy + rng.random((height, width))).astype("float32")[None]
        data[0, 0, 0] = -9999.0
        count, nodata, extra = 1, -9999.0, {}
    else:
        count = 4 if alpha else 3
        data = rng.integers(30, 230, (count, height, width), dtype=np.uint8)
        if alpha:
            data[3] = 255
            data[3, :2, :] = 0
        nodata = None
        extra = {"photometric": "RGB", "alpha": "YES"} if alpha else {"photometric": "RGB"}
    profile: dict[str, Any] = {"driver": "GTiff", "width": width, "height": height,
                               "count": count, "dtype": dtype, "nodata": nodata, **extra}
    if embed_georef:
        profile["transform"] = transform
        if epsg is not None:
            profile["crs"] = f"EPSG:{epsg}"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NotGeoreferencedWarning when embed_georef=False
        with rasterio.open(p, "w", **profile) as ds:
            ds.write(data)
    if world_file:
        write_world_file(p.with_suffix(".tfw"), transform)
    if prj and epsg is not None:
        pyproj = require("pyproj", "geo")
        p.with_suffix(".prj").write_text(pyproj.CRS.from_epsg(epsg).to_wkt("WKT1_ESRI"),
                                         encoding="ascii")
    return p


def write_sample_las(path: str | os.PathLike[str], *, n: int = 5000, epsg: int | None = SAMPLE_EPSG,
                     version: str = "1.4", point_format: int = 7, seed: int = 0) -> Path:
    """A LAS file of ``n`` points over 50 m x 40 m with colours and classes 1-6.

    Args:
        path: ``.las`` (or ``.laz``, compressed with lazrs).
        epsg: written as an OGC WKT VLR (``None`` for no CRS).
        version, point_format: LAS version and point format (7 = RGB + GPS time, LAS 1.4).
    """
    laspy = require("laspy", "geo")
    np = require("numpy", "geo")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    header = laspy.LasHeader(point_format=point_format, version=version)
    header.scales = np.array([0.001, 0.001, 0.001])
    header.offsets = np.array([SAMPLE_ORIGIN[0], SAMPLE_ORIGIN[1] - 40.0, 0.0])
    if epsg is not None:
        pyproj = require("pyproj", "geo")
        header.add_crs(pyproj.CRS.from_epsg(epsg))
    rng = np.random.default_rng(seed)
    las = laspy.LasData(header)
    las.x = SAMPLE_ORIGIN[0] + rng.random(n) * 50.0
    las.y = SAMPLE_ORIGIN[1] - rng.random(n) * 40.0
    las.z = 10.0 + rng.random(n) * 5.0
    las.classification = rng.integers(1, 7, n).astype(np.uint8)
    if "red" in las.point_format.dimension_names:
        las.red = rng.integers(0, 65535, n, dtype=np.uint16)
        las.green = rng.integers(0, 65535, n, dtype=np.uint16)
        las.blue = rng.integers(0, 65535, n, dtype=np.uint16)
    las.write(str(p))
    return p


def write_sample_obj(folder: str | os.PathLike[str], *, name: str = "BlockR",
                     texture_name: str = "Block R texture.jpg", grid: int = 20,
                     size: float = 40.0) -> Path:
    """A textured OBJ terrain patch: ``<name>.obj`` + ``<name>.mtl`` + a JPEG texture.

    The texture file name has spaces (as DJI Terra and Meshlab write them); the grid
    has ``2 * grid**2`` triangles, local coordinates in metres from 0 to ``size``.
    """
    np = require("numpy", "geo")
    from PIL import Image

    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    img = np.zeros((64, 64, 3), dtype=np.uint8)
    img[..., 0] = np.linspace(0, 255, 64, dtype=np.uint8)[None, :]
    img[..., 1] = np.linspace(0, 255, 64, dtype=np.uint8)[:, None]
    img[..., 2] = 128
    Image.fromarray(img).save(d / texture_name, quality=90)
    (d / f"{name}.mtl").write_text(
        f"newmtl terra_mat0\nKa 1 1 1\nKd 1 1 1\nmap_Kd {texture_name}\n", encoding="utf-8")
    lines = [f"mtllib {name}.mtl", "usemtl terra_mat0"]
    n = grid + 1
    for j in range(n):
        for i in range(n):
            x, y = size * i / grid, size * j / grid
            lines.append(f"v {x:.4f} {y:.4f} {0.5 * np.sin(x / 5.0) + 0.3 * np.cos(y / 7.0):.4f}")
    for j in range(n):
        for i in range(n):
            lines.append(f"vt {i / grid:.5f} {j / grid:.5f}")
    for j in range(grid):
        for i in range(grid):
            a = j * n + i + 1
            b, c, e = a + 1, a + n, a + n + 1
            lines.append(f"f {a}/{a} {b}/{b} {e}/{e}")
            lines.append(f"f {a}/{a} {e}/{e} {c}/{c}")
    obj = d / f"{name}.obj"
    obj.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return obj


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")


def write_sample_tree(root: str | os.PathLike[str], kind: str = "2d") -> Path:
    """A miniature DJI Terra result tree (``pc_dir_structure`` layout, protocol.md §2.9).

    Args:
        root: folder to create.
        kind: ``"2d"`` (AT/, map/ with result.tif/.tfw/.prj, dsm.tif, report/map_report.json),
            ``"3d"`` (models/pc/0/terra_obj + metadata.xml, terra_las/cloud.las,
            report/model_report.json) or ``"lidar"`` (lidars/terra_las/cloud_merged.las,
            lidars/report/report.json).

    Returns:
        ``root``.
    """
    pyproj = require("pyproj", "geo")
    r = Path(root)
    r.mkdir(parents=True, exist_ok=True)
    _write_json(r / "mission.json", {"name": f"sample {kind}", "type": kind})
    (r / "AT").mkdir(exist_ok=True)
    _write_json(r / "AT" / "sfm_report.json", {
        "images number": 12, "images reconstructed": 12, "georeferencing rmse": 0.021,
        "average ground sampling distance(GSD)": 0.05, "flying altitude": 100.0,
        "coverage area": 0.0021, "rtk flag": {"NARROW_INT": 12},
        "cameras": [{"camera model": "M3E"}]})
    tr = pyproj.Transformer.from_crs(SAMPLE_EPSG, 4326, always_xy=True)
    lon0, lat0 = tr.transform(SAMPLE_ORIGIN[0], SAMPLE_ORIGIN[1])
    lon1, lat1 = tr.transform(SAMPLE_ORIGIN[0] + 3.2, SAMPLE_ORIGIN[1] - 2.4)
    corner = {"top left lat": lat0, "top left lon": lon0,
              "bottom right lat": lat1, "bottom right lon": lon1}
    if kind == "2d":
        write_sample_ortho(r / "map" / "result.tif")
        write_sample_ortho(r / "map" / "dsm.tif", dtype="float32", alpha=False, world_file=False,
                           prj=False)
        _write_json(r / "map" / "report" / "map_report.json", {
            "TDOM GSD": 0.05, "covered area": 7.68e-06, "gps corner": corner,
            "map tile": {"maximum level": 22, "minimum level": 12}, "quality level": 1,
            "output coordinate": "WGS 84 / UTM zone 50N", "fly altitude": 100.0,
            "TDOM generate time": 12, "GCJ tiles": False})
    elif kind == "3d":
        pc0 = r / "models" / "pc" / "0"
        write_sample_obj(pc0 / "terra_obj" / "BlockR")
        (pc0 / "terra_obj" / "metadata.xml").write_text(
            '<?xml version="1.0" encoding="utf-8"?>\n<ModelMetadata version="1">\n'
            f"\t<SRS>EPSG:{SAMPLE_EPSG}</SRS>\n"
            f"\t<SRSOrigin>{SAMPLE_ORIGIN[0]:.0f},{SAMPLE_ORIGIN[1] - 40:.0f},0</SRSOrigin>\n"
            "\t<Texture>\n\t\t<ColorSource>Visible</ColorSource>\n\t</Texture>\n"
            "</ModelMetadata>\n", encoding="utf-8")
        write_sample_las(pc0 / "terra_las" / "cloud.las", n=3000)
        _write_json(r / "report" / "model_report.json", {
            "output coordinate": "WGS 84 / UTM zone 50N",
            "output vertical coordinate": "default", "generate ply": False,
            "generate b3dm": False, "generate obj": True, "generate las": True})
    elif kind == "lidar":
        write_sample_las(r / "lidars" / "terra_las" / "cloud_merged.las", n=4000)
        _write_json(r / "lidars" / "report" / "report.json", {
            "output coordinate": "WGS 84 / UTM zone 50N",
            "output vertical coordinate": "EGM2008_Geoid", "isGeographic": False,
            "gps corner": corner, "point cloud density": {"average density": 2.5},
            "generate las": True, "generate obj": False, "lpp time": 840806,
            "total process time": 19479014, "sample distance": 0.1,
            "flight param": [{"lidar name": "L2", "uav name": "DJI M350 RTK"}]})
    else:
        raise ValueError(f"kind must be '2d', '3d' or 'lidar', not {kind!r}")
    return r

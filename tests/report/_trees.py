"""Small DJI Terra result trees (2D, 3D, LiDAR) generated in code (report and widget tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

EPSG = 32650
X0, Y0 = 500_000.0, 2_500_000.0


def make_2d(root: Path, size: int = 64, gsd: float = 0.05) -> Path:
    np = pytest.importorskip("numpy")
    rasterio = pytest.importorskip("rasterio")
    from rasterio.transform import from_origin

    mdir = root / "map"
    (mdir / "report").mkdir(parents=True)
    yy, xx = np.mgrid[0:size, 0:size]
    rgba = np.stack([(xx * 4) % 256, (yy * 4) % 256, ((xx + yy) * 2) % 256,
                     np.full_like(xx, 255)]).astype("uint8")
    with rasterio.open(mdir / "result.tif", "w", driver="GTiff", width=size, height=size,
                       count=4, dtype="uint8", crs=f"EPSG:{EPSG}",
                       transform=from_origin(X0, Y0 + size * gsd, gsd, gsd)) as dst:
        dst.write(rgba)
    (mdir / "report" / "map_report.json").write_text(json.dumps(
        {"TDOM GSD": gsd, "covered area": 0.00001, "output coordinate": f"EPSG:{EPSG}"}))
    (root / "mission.json").write_text("{}")
    return root


def make_lidar(root: Path, n: int = 2000) -> Path:
    np = pytest.importorskip("numpy")
    laspy = pytest.importorskip("laspy")
    from pyproj import CRS

    ldir = root / "lidars" / "terra_las"
    ldir.mkdir(parents=True)
    rng = np.random.default_rng(0)
    header = laspy.LasHeader(point_format=3, version="1.2")
    header.offsets = [X0, Y0, 0.0]
    header.scales = [0.001, 0.001, 0.001]
    header.add_crs(CRS.from_epsg(EPSG))
    las = laspy.LasData(header)
    las.x = X0 + rng.uniform(0, 3, n)
    las.y = Y0 + rng.uniform(0, 3, n)
    las.z = rng.uniform(0, 5, n)
    las.classification = rng.choice([2, 5, 6], n).astype("uint8")
    las.red = las.green = las.blue = rng.integers(0, 65535, n).astype("uint16")
    las.write(ldir / "cloud_merged.las")
    (root / "mission.json").write_text("{}")
    return root


def make_3d(root: Path) -> Path:
    odir = root / "models" / "pc" / "0" / "terra_obj"
    (odir / "BlockR").mkdir(parents=True)
    verts = [(0, 0, 0), (3, 0, 0), (3, 3, 1), (0, 3, 1)]
    text = "".join(f"v {x} {y} {z}\n" for x, y, z in verts) + "f 1 2 3\nf 1 3 4\n"
    (odir / "BlockR" / "BlockR.obj").write_text(text)
    (odir / "metadata.xml").write_text(
        f'<?xml version="1.0" encoding="utf-8"?>\n<ModelMetadata version="1">'
        f"<SRS>EPSG:{EPSG}</SRS><SRSOrigin>{X0},{Y0},0</SRSOrigin></ModelMetadata>\n")
    (root / "mission.json").write_text("{}")
    return root


def make_all(base: Path) -> Path:
    """``base/{2d,3d,lidar}`` result trees."""
    make_2d(base / "2d")
    make_3d(base / "3d")
    make_lidar(base / "lidar")
    return base

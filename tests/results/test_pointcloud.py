"""Point clouds: header facts vs laspy, CRS sources, streaming decimation, COPC, reprojection."""

from __future__ import annotations

import json
from pathlib import Path

import laspy
import numpy as np
import pytest
from pyproj import CRS, Transformer

from terranb.errors import ResultFormatError
from terranb.results.pointcloud import PointCloud
from terranb.results.samples import write_sample_las


def _rows(a: np.ndarray) -> set[tuple[float, ...]]:
    return {tuple(np.round(r, 3)) for r in a}


@pytest.mark.parametrize(("name", "version", "fmt"), [("a.las", "1.4", 7), ("b.las", "1.2", 3),
                                                      ("c.laz", "1.4", 6), ("d.las", "1.3", 1)])
def test_generated_matches_laspy(tmp_path: Path, name: str, version: str, fmt: int) -> None:
    p = write_sample_las(tmp_path / name, n=3000, version=version, point_format=fmt)
    pc = PointCloud.open(p)
    las = laspy.read(p)
    assert pc.point_count == len(las.points) == 3000
    assert pc.version == version and pc.point_format == fmt
    assert pc.compressed == name.endswith(".laz") and not pc.copc
    assert pc.bounds[:3] == pytest.approx(tuple(las.header.mins))
    assert pc.bounds[3:] == pytest.approx(tuple(las.header.maxs))
    assert pc.crs is not None and pc.crs.to_epsg() == 32650
    assert pc.crs_source in ("wkt_vlr", "geotiff_keys")
    hist = pc.classification_histogram(chunk_size=700)
    vals, cnt = np.unique(np.asarray(las.classification), return_counts=True)
    assert hist == {int(v): int(c) for v, c in zip(vals, cnt)}
    assert pc.density_per_m2 == pytest.approx(3000 / pc.area, rel=1e-9)
    json.dumps(pc.to_dict())


def test_decimate_is_uniform_subset_and_streams(tmp_path: Path) -> None:
    p = write_sample_las(tmp_path / "a.las", n=5000)
    pc = PointCloud.open(p)
    las = laspy.read(p)
    full = np.column_stack([las.x, las.y, las.z])
    s = pc.decimate(800, chunk_size=333, seed=3)
    assert len(s) == 800 and s.source_count == 5000
    assert _rows(s.xyz) <= _rows(full) and len(_rows(s.xyz)) == 800
    assert s.rgb is not None and s.rgb.dtype == np.uint8 and s.rgb.shape == (800, 3)
    assert s.classification is not None and set(np.unique(s.classification)) <= set(range(1, 7))
    # Same seed, same sample; the compressed path agrees with the plain one.
    again = pc.decimate(800, chunk_size=5000, seed=3)
    np.testing.assert_allclose(again.xyz, s.xyz)
    laz = write_sample_las(tmp_path / "a.laz", n=5000)
    from_laz = PointCloud.open(laz).decimate(800, chunk_size=333, seed=3)
    np.testing.assert_allclose(from_laz.xyz, s.xyz)
    # The pass collected the class histogram too.
    assert sum(pc.classification_histogram().values()) == 5000
    everything = pc.decimate(10**6)
    assert len(everything) == 5000
    with pytest.raises(ValueError):
        pc.decimate(0)
    assert pc.sample is not None  # alias used by the viewer


def test_colours_16_bit_scaled(tmp_path: Path) -> None:
    p = write_sample_las(tmp_path / "a.las", n=100)
    las = laspy.read(p)
    s = PointCloud.open(p).decimate(1000)
    np.testing.assert_array_equal(s.rgb[:, 0], (np.asarray(las.red) >> 8).astype(np.uint8))


def test_no_crs_and_given_crs(tmp_path: Path) -> None:
    p = write_sample_las(tmp_path / "a.las", n=50, epsg=None)
    pc = PointCloud.open(p)
    assert pc.crs is None and any(f.code == "pointcloud.no_crs" for f in pc.findings)
    assert pc.bounds_wgs84 is None and pc.density_per_m2 is None
    with pytest.raises(ResultFormatError, match="no CRS"):
        pc.decimate(10).to_crs(4326)
    given = PointCloud.open(p, crs="WGS 84 / UTM zone 50N")
    assert given.crs_source == "given" and given.crs is not None and given.crs.to_epsg() == 32650


def test_reprojection(tmp_path: Path) -> None:
    p = write_sample_las(tmp_path / "a.las", n=200)
    pc = PointCloud.open(p)
    s = pc.decimate(50, crs="EPSG:4326")
    assert s.crs is not None and s.crs.equals(CRS.from_epsg(4326))
    raw = pc.decimate(50)
    lon, lat = Transformer.from_crs(32650, 4326, always_xy=True).transform(raw.xyz[:, 0],
                                                                          raw.xyz[:, 1])
    np.testing.assert_allclose(s.xyz[:, 0], lon)
    np.testing.assert_allclose(s.xyz[:, 1], lat)
    w, so, e, n = pc.bounds_wgs84 or (0, 0, 0, 0)
    assert (w <= lon.min() and lon.max() <= e and so <= lat.min() and lat.max() <= n)


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ResultFormatError, match="does not exist"):
        PointCloud.open(tmp_path / "x.las")
    bad = tmp_path / "bad.las"
    bad.write_bytes(b"LASF" + b"\0" * 10)
    with pytest.raises(ResultFormatError, match="cannot read point cloud"):
        PointCloud.open(bad)


def test_copc_by_level(real_data: Path) -> None:
    p = real_data / "las" / "laspy" / "simple.copc.laz"
    pc = PointCloud.open(p)
    assert pc.copc and pc.compressed and pc.crs is not None and pc.crs_source == "wkt_vlr"
    las = laspy.read(p)
    full = _rows(np.column_stack([las.x, las.y, las.z]))
    s = pc.decimate(100, seed=1)
    assert len(s) == 100 and _rows(s.xyz) <= full
    assert len(pc.decimate(5000)) == 1065


def test_every_real_cloud_matches_laspy(real_data: Path) -> None:
    files = sorted((real_data / "las").rglob("*.la[sz]"))
    assert len(files) >= 10
    versions = set()
    for p in files:
        pc = PointCloud.open(p)
        las = laspy.read(p)
        versions.add(pc.version)
        assert pc.point_count == len(las.points), p
        assert pc.bounds[:3] == pytest.approx(tuple(las.header.mins)), p
        assert pc.bounds[3:] == pytest.approx(tuple(las.header.maxs)), p
        ref = las.header.parse_crs()
        if ref is None:
            assert pc.crs is None, p
        else:
            assert pc.crs is not None and pc.crs.equals(ref), p
        s = pc.decimate(300, chunk_size=10_000)
        assert len(s) == min(300, pc.point_count), p
    assert {"1.0", "1.2", "1.3", "1.4"} <= versions
    brighton = PointCloud.open(real_data / "las" / "brighton_beach" / "model.laz")
    assert brighton.crs is not None and brighton.crs.to_epsg() == 32615
    assert brighton.crs_source == "geotiff_keys" and brighton.point_count == 940_393

"""Footprints: real Brighton Beach photos against the ODM orthophoto; synthetic overlap."""

from __future__ import annotations

import json

import pytest

from terranb.dataset.camera import NoGeometryError, rotation_matrix
from terranb.dataset.exif import read_photo_meta
from terranb.dataset.footprint import footprint, footprints


def test_brighton_footprints_overlap_odm_orthophoto(real_data):
    rasterio = pytest.importorskip("rasterio")
    photos = sorted((real_data / "dji_jpeg" / "brighton_beach").glob("*.JPG"))
    ortho = real_data / "geotiff" / "webodm" / "orthophoto.tif"
    if len(photos) != 3 or not ortho.exists():
        pytest.skip("Brighton Beach data absent")
    with rasterio.open(ortho) as ds:
        epsg = ds.crs.to_epsg()
        ow, os_, oe, on = ds.bounds
    fs = footprints(photos)
    assert fs.epsg == epsg == 32615 and len(fs) == 3 and not fs.skipped
    for f in fs:
        w, s, e, n = f.bounds
        inter = max(0.0, min(e, oe) - max(w, ow)) * max(0.0, min(n, on) - max(s, os_))
        # each photo's ground footprint shares most of its box with the ODM extent
        assert inter > 0.5 * (e - w) * (n - s), f.path.name
        # 40 m up with a 20 mm-equivalent lens: ~70 x 39 m on the ground, ~1.7 cm/pixel
        assert 2300 < f.area_m2 < 3100
        assert f.gsd == pytest.approx(0.0175, abs=0.001)
        assert not f.clipped
    ov = fs.overlap()
    assert ov.lines == 1 and len(ov.forward) == 2 and ov.side == []


def test_nadir_rectangle_and_rotation(small_flight):
    meta = read_photo_meta(small_flight.photos[0])
    fp = footprint(meta)
    # 600 x 400 px at 5 cm: 30 x 20 m
    assert fp.area_m2 == pytest.approx(600 * 400 * 0.05 ** 2, rel=0.02)
    gj = fp.to_geojson()
    ring = gj["geometry"]["coordinates"][0]
    assert ring[0] == ring[-1] and len(ring) == 17
    assert gj["properties"]["name"] == meta.name
    # GeoJSON is WGS84 lon/lat (RFC 7946): a nadir footprint is centred under the drone
    lon = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)
    lat = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
    assert lon == pytest.approx(meta.longitude, abs=2e-5)
    assert lat == pytest.approx(meta.latitude, abs=2e-5)
    # heading 0: image top points north, so the first (top-left) corner is north-west
    xs = [p[0] for p in fp.utm]
    ys = [p[1] for p in fp.utm]
    assert fp.utm[0][0] < sum(xs) / len(xs) and fp.utm[0][1] > sum(ys) / len(ys)


def test_rotation_conventions():
    import numpy as np

    r = rotation_matrix(0, -90, 0)  # nadir, heading north
    # image x = east, image y (rows, downwards) = south
    assert np.allclose(r[:, 0], [1, 0, 0]) and np.allclose(r[:, 1], [0, -1, 0], atol=1e-12)
    assert np.allclose(r[:, 2], [0, 0, -1], atol=1e-12)
    r = rotation_matrix(90, 0, 0)  # level, looking east
    assert np.allclose(r[:, 2], [1, 0, 0], atol=1e-12)
    # at nadir a roll turns the image like a yaw (old DJI maker notes rely on this)
    assert np.allclose(rotation_matrix(103, -90, 168.8), rotation_matrix(271.8, -90, 0), atol=1e-9)


def test_oblique_clipped_and_missing(real_data):
    d = real_data / "dji_jpeg" / "thermal_parser"
    if not d.is_dir():
        pytest.skip("thermal samples absent")
    h20t = footprint(d / "DJI_H20T.jpg")  # pitch -10.5: the top edge sees the horizon
    assert h20t.clipped
    h20n = footprint(d / "H20N_DJI_0006_R.JPG")  # pitch -32.9
    assert not h20n.clipped and h20n.area_m2 > 1000
    with pytest.raises(NoGeometryError, match="GPS"):
        footprint(d / "M3T_DJI_0001_R.JPG")
    with pytest.raises(NoGeometryError, match="35 mm"):
        footprint(d / "DJI_XT2.jpg")
    toledo = real_data / "dji_jpeg" / "odm_toledo_2015" / "DJI_0061.JPG"
    with pytest.raises(NoGeometryError, match="ground_elevation"):
        footprint(toledo)
    fp = footprint(toledo, ground_elevation=119.7 - 50)
    assert fp.height == pytest.approx(50)


def test_flight_overlap_coverage_geojson(small_flight):
    fs = footprints(small_flight.photos)
    ov = fs.overlap()
    assert ov.lines == small_flight.cols
    assert ov.forward_median == pytest.approx(small_flight.overlap, abs=0.02)
    assert ov.side_median == pytest.approx(small_flight.sidelap, abs=0.02)
    cov = fs.coverage()
    assert cov["mean_photos"] > 3 and cov["share_ge2"] > 0.9
    # heading 0, no jitter: the union of the footprints is (nearly) their bounding box
    w, s, e, n = fs.bounds
    assert cov["area_m2"] == pytest.approx((e - w) * (n - s), rel=0.03)
    assert cov["area_m2"] < 0.5 * sum(f.area_m2 for f in fs)  # overlap is not double-counted
    gj = json.loads(json.dumps(fs.to_geojson()))
    assert gj["type"] == "FeatureCollection" and len(gj["features"]) == len(small_flight.photos)

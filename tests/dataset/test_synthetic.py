"""The sample flight: deterministic, DJI-like metadata, truth raster and LAS that agree."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import rasterio

from terranb.dataset.camera import camera_for
from terranb.dataset.exif import read_photo_meta
from terranb.dataset.synthetic import make_sample_flight
from terranb.errors import ValidationError


def _digest(paths):
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


def test_metadata_reads_back_as_dji(small_flight):
    assert len(small_flight.photos) == 20
    metas = [read_photo_meta(p) for p in small_flight.photos]
    for m, cam in zip(metas, small_flight.cameras):
        assert m.findings == ()
        assert (m.make, m.model, m.width, m.height) == ("DJI", "FC6310", 600, 400)
        assert m.focal_length_mm == 8.8 and m.focal_length_35mm == 24
        assert m.xmp_namespace == "drone-dji" and m.attitude_source == "xmp"
        assert m.relative_altitude == pytest.approx(small_flight.height)
        assert m.absolute_altitude == pytest.approx(180 + small_flight.height, abs=0.01)
        assert -91 < m.gimbal_pitch <= -89
        assert m.flight_yaw is not None and m.flight_roll is not None
        # the camera a reader rebuilds is the one the photo was rendered with
        again = camera_for(m, epsg=small_flight.epsg)
        assert again.east == pytest.approx(cam.east, abs=1e-3)
        assert again.north == pytest.approx(cam.north, abs=1e-3)
        assert again.yaw == pytest.approx(cam.yaw, abs=1e-6)
    times = [m.capture_time for m in metas]
    assert times == sorted(times) and len(set(times)) == len(times)
    # lawnmower: the camera turns round on every other line
    yaws = [round(m.gimbal_yaw / 90) * 90 % 360 for m in metas]
    assert yaws[0] == 0 and yaws[small_flight.rows] == 180
    # height from GSD and camera: 0.05 m * (8.8 / 13.2 * 600 px)
    assert small_flight.height == pytest.approx(20.0)


def test_truth_and_las_agree(small_flight):
    laspy = pytest.importorskip("laspy")
    with rasterio.open(small_flight.truth_tif) as ds:
        assert ds.crs.to_epsg() == small_flight.epsg
        assert ds.res == pytest.approx((0.05, 0.05))
        assert tuple(ds.bounds) == pytest.approx(small_flight.bounds)
        rgb = ds.read()
        assert rgb.std() > 20  # textured, not flat
    las = laspy.read(small_flight.lidar_las)
    assert las.header.parse_crs().to_epsg() == small_flight.epsg
    w, s, e, n = small_flight.bounds
    assert w <= las.x.min() and las.x.max() <= e and s <= las.y.min() and las.y.max() <= n
    classes = set(np.unique(las.classification))
    assert {2, 6}.issubset(classes) and len(las.points) > 10_000
    roofs = las.classification == 6
    assert (las.z[roofs] - 180).min() > 4  # buildings stand up, the photos see them flat
    assert np.median(las.z[las.classification == 2]) == pytest.approx(180, abs=0.1)


def test_deterministic_by_seed(tmp_path):
    kw = dict(rows=2, cols=2, image_size=(200, 150), lidar=False)
    a = make_sample_flight(tmp_path / "a", seed=7, **kw)
    b = make_sample_flight(tmp_path / "b", seed=7, **kw)
    c = make_sample_flight(tmp_path / "c", seed=8, **kw)
    assert _digest(a.photos) == _digest(b.photos)
    assert _digest([a.truth_tif]) == _digest([b.truth_tif])
    assert _digest(a.photos) != _digest(c.photos)
    assert not list(tmp_path.rglob("*.part"))


def test_photo_count_and_validation(tmp_path):
    f = make_sample_flight(tmp_path / "n", photos=7, image_size=(160, 120), lidar=False)
    assert len(f.photos) == 7 and f.lidar_las is None
    with pytest.raises(ValidationError, match="overlap"):
        make_sample_flight(tmp_path / "x", overlap=1.5)
    with pytest.raises(ValidationError, match="gsd"):
        make_sample_flight(tmp_path / "x", gsd=0)


@pytest.mark.slow
def test_default_demo_flight_size(tmp_path):
    f = make_sample_flight(tmp_path / "demo")
    assert 24 <= len(f.photos) <= 48
    total = sum(p.stat().st_size for p in f.out_dir.rglob("*") if p.is_file())
    assert total < 100e6

"""Closed loop: the quick mosaic of a synthetic flight lands on its ground truth."""

from __future__ import annotations

import math

import numpy as np
import pytest
import rasterio
from rasterio.enums import Resampling
from rasterio.warp import reproject

from terranb.dataset.mosaic import quick_mosaic, world_file_lines
from terranb.errors import ValidationError


def _phase_shift(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Sub-pixel (dy, dx) such that ``a`` shifted by it matches ``b`` (phase correlation)."""
    win = np.outer(np.hanning(a.shape[0]), np.hanning(a.shape[1]))
    fa = np.fft.fft2((a - a.mean()) * win)
    fb = np.fft.fft2((b - b.mean()) * win)
    r = fb * np.conj(fa)
    r /= np.abs(r) + 1e-9
    c = np.real(np.fft.ifft2(r))
    py, px = np.unravel_index(np.argmax(c), c.shape)

    def sub(c1: float, c0: float, c2: float) -> float:
        d = c1 - 2 * c0 + c2
        return 0.0 if d == 0 else 0.5 * (c1 - c2) / d

    n, m = c.shape
    dy = py + sub(c[(py - 1) % n, px], c[py, px], c[(py + 1) % n, px])
    dx = px + sub(c[py, (px - 1) % m], c[py, px], c[py, (px + 1) % m])
    if dy > n / 2:
        dy -= n
    if dx > m / 2:
        dx -= m
    return dy, dx


def _georef_errors(mosaic_path, truth_path, patch: int = 64, min_points: int = 20):
    """Check-point errors (metres) between a mosaic and the truth resampled onto its grid."""
    with rasterio.open(mosaic_path) as m:
        mos = m.read().astype(np.float32)
        truth = np.zeros((3, m.height, m.width), np.float32)
        with rasterio.open(truth_path) as t:
            reproject(t.read().astype(np.float32), truth, src_transform=t.transform, src_crs=t.crs,
                      dst_transform=m.transform, dst_crs=m.crs, resampling=Resampling.average)
        pix = m.transform.a
    gm, gt, alpha = mos[:3].mean(0), truth.mean(0), mos[3]
    errs = []
    h, w = gm.shape
    for y in range(patch, h - 2 * patch, patch):
        for x in range(patch, w - 2 * patch, patch):
            if alpha[y:y + patch, x:x + patch].min() < 255:
                continue
            b = gt[y:y + patch, x:x + patch]
            if b.std() < 8:  # flat patches cannot be matched
                continue
            dy, dx = _phase_shift(gm[y:y + patch, x:x + patch], b)
            errs.append(math.hypot(dy, dx) * pix)
    assert len(errs) >= min_points, f"only {len(errs)} check points"
    return np.array(errs)


@pytest.mark.parametrize("which", ["small_flight", "rotated_flight"])
def test_closed_loop_georeferencing(which, request, tmp_path):
    flight = request.getfixturevalue(which)
    res = quick_mosaic(flight.photos, tmp_path / "m.tif", gsd=flight.gsd * 2)
    assert res.photos_used == len(flight.photos) and not res.skipped
    assert res.crs_epsg == flight.epsg
    errs = _georef_errors(res.path, flight.truth_tif, patch=48)
    mean_gsd = errs.mean() / flight.gsd
    assert mean_gsd <= 2.0, f"mean georeferencing error {mean_gsd:.2f} GSD over {len(errs)} points"
    # and it is really close: the camera model inverts the renderer
    assert np.median(errs) / flight.gsd < 1.0


def test_mosaic_outputs_and_world_file(small_flight, tmp_path):
    calls = []
    res = quick_mosaic(small_flight.photos, tmp_path / "out" / "m.tif", on_progress=calls.append)
    assert calls and calls[-1] == pytest.approx(1.0) and calls == sorted(calls)
    with rasterio.open(res.path) as ds:
        assert ds.count == 4 and ds.dtypes[0] == "uint8"
        assert ds.crs.to_epsg() == small_flight.epsg
        assert (ds.width, ds.height) == (res.width, res.height)
        a = ds.read(4)
        assert set(np.unique(a)) <= {0, 255}
        assert 0.8 < res.coverage <= 1.0
        assert res.coverage == pytest.approx((a > 0).mean(), abs=1e-9)
        t = ds.transform
    # auto gsd: twice the native GSD, rounded to a tidy value
    assert res.gsd == pytest.approx(0.1)
    lines = res.tfw_path.read_text().split()
    assert [float(v) for v in lines] == pytest.approx(
        [t.a, t.d, t.b, t.e, t.c + t.a / 2, t.f + t.e / 2])
    assert world_file_lines((2, 0, 100, 0, -2, 50)).split() == [
        "2.0000000000", "0.0000000000", "0.0000000000", "-2.0000000000", "101.0000000000",
        "49.0000000000"]
    prj = res.prj_path.read_text()
    assert prj.startswith('PROJCS["WGS_1984_UTM_Zone_') and "Transverse_Mercator" in prj
    assert not list(tmp_path.rglob("*.part"))


def test_mosaic_is_deterministic_and_order_free(small_flight, tmp_path):
    a = quick_mosaic(small_flight.photos, tmp_path / "a.tif", gsd=0.2)
    b = quick_mosaic(list(reversed(small_flight.photos)), tmp_path / "b.tif", gsd=0.2)
    with rasterio.open(a.path) as da, rasterio.open(b.path) as db:
        assert np.array_equal(da.read(), db.read())
        assert da.transform == db.transform


def test_mosaic_other_crs(small_flight, tmp_path):
    res = quick_mosaic(small_flight.photos[:6], tmp_path / "m3857.tif", crs="EPSG:3857")
    assert res.crs_epsg == 3857
    with rasterio.open(res.path) as ds:
        assert ds.crs.to_epsg() == 3857
        alpha = ds.read(4)
        assert (alpha == 255).mean() > 0.3
        assert res.coverage == pytest.approx((alpha > 0).mean(), abs=1e-9)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m3857.prj", "m3857.tfw", "m3857.tif"]
    res2 = quick_mosaic(small_flight.photos[:6], tmp_path / "m.tif", crs=small_flight.epsg)
    assert res2.crs_epsg == small_flight.epsg


def test_mosaic_rejects_what_it_cannot_do(small_flight, tmp_path):
    with pytest.raises(ValidationError, match="max_pixels"):
        quick_mosaic(small_flight.photos, tmp_path / "x.tif", gsd=0.001, max_pixels=10_000)
    junk = tmp_path / "junk.jpg"
    junk.write_bytes(b"not a jpeg")
    with pytest.raises(ValidationError, match="GPS"):
        quick_mosaic([junk], tmp_path / "y.tif")
    with pytest.raises(ValidationError, match="CRS"):
        quick_mosaic(small_flight.photos[:2], tmp_path / "z.tif", crs="EPSG:999999")


def test_mosaic_other_crs_respects_max_pixels(small_flight, tmp_path):
    with pytest.raises(ValidationError, match="max_pixels"):
        quick_mosaic(small_flight.photos[:4], tmp_path / "g.tif", crs="EPSG:4326", gsd=1e-7,
                     max_pixels=1_000_000)
    assert not list(tmp_path.iterdir())


def test_mosaic_leaves_out_truncated_and_corrupt_photos(small_flight, tmp_path):
    photos = list(small_flight.photos[:6])
    raw = photos[0].read_bytes()
    cut = tmp_path / "cut.JPG"  # an interrupted copy: GPS headers intact, pixels missing
    cut.write_bytes(raw[: int(len(raw) * 0.6)])
    # Same headers, garbled entropy-coded data: only decoding the pixels can tell.
    sos = raw.rindex(b"\xff\xda")
    bad = tmp_path / "garbled.JPG"
    bad.write_bytes(raw[:sos + 40] + b"\xff\xd0\xff\xc4" * 200 + raw[-2000:])
    res = quick_mosaic([*photos, cut, bad], tmp_path / "m.tif", gsd=0.2)
    reasons = {p.name: why for p, why in res.skipped}
    assert "truncated" in reasons["cut.JPG"]
    assert "cannot be decoded" in reasons["garbled.JPG"]
    assert res.photos_used == 6 and len(res.skipped) == 2

"""Orthomosaic: georeferencing provenance, findings, bounded previews, COG export."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from pyproj import Transformer
from rasterio.enums import Resampling

from terranb.errors import ResultFormatError
from terranb.results import ortho as ortho_mod
from terranb.results.ortho import Orthomosaic, _apply
from terranb.results.samples import write_sample_ortho
from terranb.results.worldfile import write_world_file


def codes(o: Orthomosaic) -> set[str]:
    return {f.code for f in o.findings}


def test_geotiff_with_sidecars(tmp_path: Path) -> None:
    tif = write_sample_ortho(tmp_path / "result.tif")
    o = Orthomosaic.open(tif)
    assert (o.crs_source, o.transform_source) == ("geotiff", "geotiff")
    assert o.crs is not None and o.crs.to_epsg() == 32650
    assert o.world_file == tmp_path / "result.tfw" and o.prj_file == tmp_path / "result.prj"
    assert (o.width, o.height, o.count, o.dtype) == (64, 48, 4, "uint8")
    assert o.has_alpha and o.gsd_m == pytest.approx(0.05)
    assert not o.findings
    with rasterio.open(tif) as ds:
        assert o.bounds == pytest.approx(tuple(ds.bounds))
        assert o.transform.almost_equals(ds.transform)
    tr = Transformer.from_crs(32650, 4326, always_xy=True)
    b = o.bounds
    lons, lats = tr.transform([b[0], b[2], b[2], b[0]], [b[1], b[1], b[3], b[3]])
    w, s, e, n = o.bounds_wgs84 or (0, 0, 0, 0)
    # Every corner is inside the WGS 84 box, and the box is no larger than the corners need.
    assert w <= min(lons) and max(lons) <= e and s <= min(lats) and max(lats) <= n
    assert (min(lons), min(lats), max(lons), max(lats)) == pytest.approx((w, s, e, n), abs=1e-6)
    ring = o.footprint_wgs84()
    assert ring is not None and ring[0] == ring[-1]
    json.dumps(o.to_dict())


def test_world_file_and_prj_only(tmp_path: Path) -> None:
    tif = write_sample_ortho(tmp_path / "result.tif", embed_georef=False)
    o = Orthomosaic.open(tif)
    assert (o.transform_source, o.crs_source) == ("world_file", "prj")
    assert o.crs is not None and o.crs.to_epsg() == 32650
    assert o.transform.c == pytest.approx(202000.0) and o.transform.a == pytest.approx(0.05)
    assert o.bounds_wgs84 is not None and not o.findings


def test_world_file_alone_has_no_crs(tmp_path: Path) -> None:
    tif = write_sample_ortho(tmp_path / "result.tif", embed_georef=False, prj=False)
    o = Orthomosaic.open(tif)
    assert o.transform_source == "world_file" and o.crs is None and o.crs_source is None
    assert "ortho.no_crs" in codes(o)
    assert "world file alone" in next(f.message for f in o.findings if f.code == "ortho.no_crs")
    assert o.bounds_wgs84 is None and o.gsd_m is None
    # The map report's "output coordinate" fills the gap, then the job's geo_desc.
    rep = tmp_path / "report" / "map_report.json"
    rep.parent.mkdir()
    rep.write_text(json.dumps({"output coordinate": "WGS 84 / UTM zone 50N", "TDOM GSD": 0.05}))
    o2 = Orthomosaic.open(tif)
    assert o2.crs_source == "map_report" and o2.crs is not None and o2.crs.to_epsg() == 32650
    rep.unlink()
    params = json.dumps({"predefine_AOI": {"geo_desc": {"cs_type": "GEO_CS",
                                                        "geo_cs": "EPSG:32650", "geo_cs_wkt": ""}}})
    o3 = Orthomosaic.open(tif, job_parameters=params)
    assert o3.crs_source == "job_parameters" and o3.crs is not None
    assert o3.crs.to_epsg() == 32650 and "ortho.no_crs" not in codes(o3)


def test_not_georeferenced(tmp_path: Path) -> None:
    tif = write_sample_ortho(tmp_path / "a.tif", embed_georef=False, world_file=False, prj=False)
    o = Orthomosaic.open(tif)
    assert o.transform_source is None and "ortho.not_georeferenced" in codes(o)
    assert o.bounds_wgs84 is None and o.footprint_wgs84() is None


def test_world_file_disagrees(tmp_path: Path) -> None:
    tif = write_sample_ortho(tmp_path / "result.tif")
    with rasterio.open(tif) as ds:
        t = ds.transform
    # A world file written with the corner convention is half a pixel off.
    (tmp_path / "result.tfw").write_text("\n".join(str(v) for v in (t.a, t.d, t.b, t.e, t.c, t.f)))
    o = Orthomosaic.open(tif)
    f = next(f for f in o.findings if f.code == "ortho.worldfile_mismatch")
    assert f.level == "warning" and "half a pixel" in f.message
    assert o.transform.almost_equals(t)  # GeoTIFF tags win
    write_world_file(tmp_path / "result.tfw", Affine(t.a, t.b, t.c + 10 * t.a, t.d, t.e, t.f))
    o2 = Orthomosaic.open(tif)
    f2 = next(f for f in o2.findings if f.code == "ortho.worldfile_mismatch")
    assert "half a pixel" not in f2.message


def test_prj_disagrees_and_report_bounds(tmp_path: Path) -> None:
    tif = write_sample_ortho(tmp_path / "result.tif")
    (tmp_path / "result.prj").write_text('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",'
                                         '6378137,298.257223563]],PRIMEM["Greenwich",0],'
                                         'UNIT["degree",0.0174532925199433]]')
    rep = tmp_path / "report" / "map_report.json"
    rep.parent.mkdir()
    corner = {"top left lat": 10.0, "top left lon": 10.0, "bottom right lat": 9.99,
              "bottom right lon": 10.01}
    rep.write_text(json.dumps({"gps corner": corner}))
    o = Orthomosaic.open(tif)
    assert {"ortho.prj_mismatch", "ortho.report_bounds_mismatch"} <= codes(o)
    assert o.map_report is not None and o.map_report.gps_corner is not None


def test_missing_and_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ResultFormatError, match="does not exist"):
        Orthomosaic.open(tmp_path / "none.tif")
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"not a tiff")
    with pytest.raises(ResultFormatError, match="cannot read raster"):
        Orthomosaic.open(bad)


def test_preview_matches_single_read_across_chunks(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    tif = write_sample_ortho(tmp_path / "big.tif", width=900, height=700)
    monkeypatch.setattr(ortho_mod, "_CHUNK_BYTES", 20_000)  # force many row bands
    o = Orthomosaic.open(tif)
    arr, t = o.read_preview(10_000)
    rows, cols = arr.shape[1:]
    assert rows * cols <= 10_000 and arr.shape[0] == 4
    assert abs(cols / rows - 900 / 700) < 0.05
    with rasterio.open(tif) as ds:
        ref = ds.read(out_shape=(4, rows, cols), resampling=Resampling.nearest)
        # The preview's transform spans exactly the raster.
        assert _apply(t, 0, 0) == pytest.approx(_apply(ds.transform, 0, 0))
        assert _apply(t, cols, rows) == pytest.approx(_apply(ds.transform, 900, 700))
    np.testing.assert_array_equal(arr, ref)
    one, _ = o.read_preview(1, bands=[1])
    assert one.shape == (1, 1, 1)
    full, tf = o.read_preview(10**9)
    assert full.shape == (4, 700, 900) and tf.almost_equals(o.transform)
    with pytest.raises(ValueError):
        o.read_preview(0)


def test_preview_uses_overviews(tmp_path: Path) -> None:
    tif = write_sample_ortho(tmp_path / "ov.tif", width=800, height=600)
    with rasterio.open(tif, "r+") as ds:
        ds.build_overviews([2, 4, 8], Resampling.average)
    o = Orthomosaic.open(tif)
    assert o.overview_factors == [2, 4, 8]
    arr, _ = o.read_preview(8_000, resampling="average")
    assert arr.shape[1] * arr.shape[2] <= 8_000


def test_preview_rgba(tmp_path: Path) -> None:
    tif = write_sample_ortho(tmp_path / "result.tif")
    rgba, _ = Orthomosaic.open(tif).read_preview_rgba(10**6)
    assert rgba.shape == (48, 64, 4) and rgba.dtype == np.uint8
    assert (rgba[:2, :, 3] == 0).all() and (rgba[2:, :, 3] == 255).all()
    dsm = write_sample_ortho(tmp_path / "dsm.tif", dtype="float32", alpha=False)
    d = Orthomosaic.open(dsm)
    assert d.nodata == -9999.0 and not d.has_alpha
    rgba2, _ = d.read_preview_rgba(10**6)
    assert rgba2.shape == (48, 64, 4) and rgba2[0, 0, 3] == 0 and rgba2[1, 1, 3] == 255
    assert rgba2[..., 0].max() == 255 and (rgba2[..., 0] == rgba2[..., 1]).all()


def test_to_cog_applies_sidecar_georeferencing(tmp_path: Path) -> None:
    tif = write_sample_ortho(tmp_path / "result.tif", width=1100, height=900, embed_georef=False)
    o = Orthomosaic.open(tif)
    out = o.to_cog(tmp_path / "cog.tif")
    assert out.is_file() and not list(tmp_path.glob("*.part")) and not list(tmp_path.glob("*.vrt"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(out) as ds:
            assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            assert ds.overviews(1) and ds.crs.to_epsg() == 32650
            assert ds.transform.almost_equals(o.transform)
            assert ds.count == 4 and ds.is_tiled
            with rasterio.open(tif) as src:
                np.testing.assert_array_equal(ds.read(1), src.read(1))


def test_real_rasters_match_rasterio(real_data: Path) -> None:
    files = [p for p in sorted((real_data / "geotiff").rglob("*"))
             if p.suffix.lower() in (".tif", ".jpg")]
    assert files
    for p in files:
        o = Orthomosaic.open(p)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with rasterio.open(p) as ds:
                assert (o.width, o.height, o.count) == (ds.width, ds.height, ds.count), p
                assert o.bounds == pytest.approx(tuple(ds.bounds)), p
                if ds.crs is None:
                    assert o.crs is None
                else:
                    assert o.crs is not None and o.crs.to_epsg() == ds.crs.to_epsg(), p
                    assert o.crs_source == "geotiff"
                assert o.nodata == ds.nodata
        arr, _ = o.read_preview(4_000)
        assert arr.shape[1] * arr.shape[2] <= 4_000
    autzen = Orthomosaic.open(real_data / "geotiff" / "pdal_autzen" / "autzen.jpg")
    assert autzen.transform_source == "world_file" and "ortho.no_crs" in codes(autzen)
    web = Orthomosaic.open(real_data / "geotiff" / "webodm" / "orthophoto.tif")
    assert web.has_alpha and web.crs is not None and web.crs.to_epsg() == 32615
    assert web.gsd_m == pytest.approx(0.5, rel=1e-2)

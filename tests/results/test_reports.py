"""DJI Terra report parsing: typed fields, unknown keys kept, units."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from terranb.errors import ResultFormatError
from terranb.results.reports import (
    GeoReport,
    LidarReport,
    MapReport,
    ModelReport,
    Report,
    SfmReport,
    load_report,
    parse_report,
)

# The real map_report.json quoted in protocol.md §2.9 (desktop Terra 2D multispectral).
MAP_REPORT = {
    "GCJ tiles": False, "TDOM GSD": 0.033, "TDOM generate time": 94,
    "covered area": 0.011939704379426538, "densify level": 1, "densify time": 17,
    "dom_screennail size": [4500, 4000], "dsm_screennail size": [4500, 4000],
    "enable CUDA": True, "fly altitude": 64.5396276360662,
    "gps corner": {"bottom right lat": 6.001844626279201, "bottom right lon": -0.05722433586690048,
                   "top left lat": 6.004032264099209, "top left lon": -0.05833702171157177},
    "map mode": 4, "map tile": {"maximum level": 22, "minimum level": 12},
    "overlap_render size": [4500, 4000], "quality level": 1, "reflectance calibration": False,
}


def test_map_report(tmp_path: Path) -> None:
    p = tmp_path / "map_report.json"
    p.write_text(json.dumps(MAP_REPORT))
    rep = load_report(p)
    assert isinstance(rep, MapReport)
    assert rep.gsd_m == 0.033 and rep.map_tile_levels == (12, 22)
    assert rep.covered_area_km2 == pytest.approx(0.01194, rel=1e-3)
    assert rep.generate_time_s == 94 and rep.quality_level == 1
    assert rep.gps_corner is not None
    w, s, e, n = rep.gps_corner.bbox
    assert w < e and s < n and w == pytest.approx(-0.05833702171157177)
    assert rep.output_coordinate is None
    # Keys not interpreted are kept, and the whole document too.
    assert rep.extra["densify level"] == 1 and "TDOM GSD" not in rep.extra
    assert rep.raw == MAP_REPORT
    d = rep.to_dict()
    assert d["kind"] == "map_report" and d["extra"]["map mode"] == 4
    json.dumps(d)


def test_real_lidar_report(real_data: Path) -> None:
    rep = load_report(real_data / "reports" / "dji_terra_lidar" / "report.json")
    assert isinstance(rep, LidarReport)
    assert rep.output_coordinate == "WGS 84 / UTM zone 31N"
    assert rep.output_vertical_coordinate == "EGM2008_Geoid"
    assert rep.is_geographic is False
    assert rep.lidar_names == ["L2"] and rep.aircraft_names == ["DJI M300 RTK"]
    # report.md says "Total Process Time 324.650 min" and "LPP Time 14.013 min": milliseconds.
    assert rep.total_process_time_s == pytest.approx(324.650 * 60, abs=1)
    assert rep.times_s["lpp"] == pytest.approx(14.013 * 60, abs=0.1)
    assert rep.outputs["las"] is True and rep.outputs["osgb"] is False
    assert rep.average_density_per_m2 == pytest.approx(653.94, rel=1e-3)
    assert rep.tdom_gsd_m == 0.0084 and rep.dem_resolution_m == 0.5
    assert rep.gps_corner is not None and 41.6 < rep.gps_corner.top_left_lat < 41.7
    assert "ground extraction" in rep.extra and "flight param" in rep.extra
    assert "output coordinate" not in rep.extra
    json.dumps(rep.to_dict())


def test_sfm_and_model_reports() -> None:
    sfm = parse_report({"images number": 120, "images reconstructed": 118,
                        "georeferencing rmse": {"x": 0.01}, "flying altitude": 80,
                        "average ground sampling distance(GSD)": 0.021,
                        "rtk flag": {"NARROW_INT": 118}, "cameras": [{"camera model": "M3E"}],
                        "new key": 1})
    assert isinstance(sfm, SfmReport)
    assert (sfm.images_number, sfm.images_reconstructed, sfm.gsd_m) == (120, 118, 0.021)
    assert sfm.camera_models == ["M3E"] and sfm.extra == {"new key": 1}
    model = parse_report({"output coordinate": "CGCS2000 / 3-degree Gauss-Kruger CM 114E",
                          "output vertical coordinate": "default", "generate ply": True,
                          "generate b3dm": False, "other": 2}, kind="model_report")
    assert isinstance(model, ModelReport)
    assert model.outputs == {"ply": True, "b3dm": False} and model.extra == {"other": 2}


def test_unknown_report_and_errors(tmp_path: Path) -> None:
    rep = parse_report({"a": 1})
    assert type(rep) is Report and rep.extra == {"a": 1}
    bad = tmp_path / "map_report.json"
    bad.write_text("{not json")
    with pytest.raises(ResultFormatError, match="cannot read report"):
        load_report(bad)
    with pytest.raises(ResultFormatError):
        parse_report([1, 2])  # type: ignore[arg-type]
    # Missing or wrongly typed values become None rather than failing.
    rep2 = parse_report({"TDOM GSD": "n/a", "gps corner": {"top left lat": 1}}, kind="map_report")
    assert isinstance(rep2, MapReport) and rep2.gsd_m is None and rep2.gps_corner is None


def test_every_georeferenced_kind_reads_crs_and_corners_alike() -> None:
    where = {"output coordinate": "WGS 84 / UTM zone 50N", "output vertical coordinate": " ",
             "gps corner": MAP_REPORT["gps corner"]}
    for kind, own in (("map_report", {"TDOM GSD": 0.03}), ("model_report", {"generate ply": True}),
                      ("lidar_report", {"flight param": []})):
        rep = parse_report({**where, **own, "new key": 1}, kind=kind)
        assert isinstance(rep, GeoReport), kind
        assert rep.output_coordinate == "WGS 84 / UTM zone 50N", kind
        assert rep.output_vertical_coordinate is None, kind  # blank text reads as absent
        assert rep.gps_corner is not None and rep.gps_corner.bbox[0] < -0.0572, kind
        assert rep.extra == {"flight param": [], "new key": 1} if kind == "lidar_report" \
            else rep.extra == {"new key": 1}, kind
        assert rep.to_dict()["gps_corner"]["top_left_lat"] == 6.004032264099209
    # a corner block with a missing corner is no corner (and not kept as a known key either)
    half = parse_report({"gps corner": {"top left lat": 1.0}}, kind="model_report")
    assert isinstance(half, GeoReport) and half.gps_corner is None and half.extra == {}

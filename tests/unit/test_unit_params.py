"""Algorithm parameters: byte-exact quick-start strings, round trips and the
rejection of impossible combinations (protocol.md §2)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from terranb.errors import ValidationError
from terranb.params import (
    ExportParameter,
    GeoDesc,
    Params2D,
    Params3D,
    Params3DGS,
    ParamsLidar,
    PredefineAOI,
    job_type_code,
    parameters_from_json,
)

QS_2D = ('{"parameter":{"map_mode":1,"quality_level":1,"output_geo_desc":{"cs_type":"GEO_CS",'
         '"geo_cs":"EPSG:32650","geo_cs_wkt":"","override_vertical_cs":""}}}')
QS_3D = '{"parameter":{"output_mesh":true,"generate_obj":true,"generate_b3dm":true,"generate_osgb":true}}'  # noqa: E501
QS_LIDAR = ('{"parameter":{"sample_distance":0.2,"output_pointcloud":true,"generate_pnts":true,'
            '"generate_las":true,"output_geo_desc":{"cs_type":"GEO_CS","geo_cs":"EPSG:32649",'
            '"geo_cs_wkt":"","override_vertical_cs":""}}}')
FH2_3D = ('{"parameter":{"cut_AOI":false,"generate_b3dm":true,"generate_las":false,'
          '"generate_obj":false,"generate_osgb":false,"generate_ply":false,"generate_pnts":false,'
          '"generate_point_ply":false,"global_min_depth":-1,"model_simplify":0.2,'
          '"output_geo_desc":{"cs_type":"GEO_CS","geo_cs":"EPSG:32650","geo_cs_wkt":"",'
          '"override_vertical_cs":""},"output_mesh":true,"output_ply_with_normals":false,'
          '"output_pointcloud":false,"ply_with_normals_level":0,"quality_level":3,'
          '"stereo_mode":false,"usable_memory_GB":60,"water_refine":false}}')


def test_quick_start_strings_exactly() -> None:
    assert Params2D(map_mode=1, quality_level=1,
                    output_geo_desc=GeoDesc("EPSG:32650")).to_json() == QS_2D
    assert Params3D(output_mesh=True, generate_obj=True, generate_b3dm=True,
                    generate_osgb=True).to_json() == QS_3D
    assert ParamsLidar(sample_distance=0.2, output_pointcloud=True, generate_pnts=True,
                       generate_las=True, output_geo_desc=GeoDesc(32649)).to_json() == QS_LIDAR


@pytest.mark.parametrize(("cls", "text"), [(Params2D, QS_2D), (Params3D, QS_3D),
                                           (ParamsLidar, QS_LIDAR)])
def test_from_json_to_json_is_identity_for_documented_order(cls: type, text: str) -> None:
    assert cls.from_json(text).to_json() == text


def test_fh2_seed_parses_with_every_key_typed() -> None:
    p = Params3D.from_json(FH2_3D)
    assert p.extra == {}
    assert p.usable_memory_gb == 60 and p.cut_aoi is False and p.global_min_depth == -1
    assert json.loads(p.to_json()) == json.loads(FH2_3D)


def test_unknown_keys_kept_in_extra_after_known_ones() -> None:
    p = Params2D.from_json('{"parameter":{"future_knob":3,"map_mode":1}}')
    assert p.extra == {"future_knob": 3}
    assert p.to_json() == '{"parameter":{"map_mode":1,"future_knob":3}}'


def test_full_structure_with_aoi_and_export() -> None:
    p = Params3D(output_mesh=True, generate_obj=True,
                 predefine_aoi=PredefineAOI(polygon_points=[[0, 0, 0], [1, 0, 0], [1, 1, 0]],
                                            max_altitude=120, min_altitude=-5,
                                            geo_desc=GeoDesc("EPSG:4326")),
                 export=ExportParameter(pc_dir_structure=True, undistort_images=False))
    d = json.loads(p.to_json())
    assert list(d) == ["parameter", "predefine_AOI", "export_parameter"]
    assert d["predefine_AOI"] == {"max_altitude": 120, "min_altitude": -5,
                                  "polygon_points": [[0, 0, 0], [1, 0, 0], [1, 1, 0]],
                                  "geo_desc": {"cs_type": "GEO_CS", "geo_cs": "EPSG:4326",
                                               "geo_cs_wkt": "", "override_vertical_cs": ""}}
    assert d["export_parameter"] == {"pc_dir_structure": True, "undistort_images": False}
    assert Params3D.from_json(p.to_json()) == p


def test_geo_desc_inputs_and_variants() -> None:
    pyproj = pytest.importorskip("pyproj")
    assert GeoDesc(pyproj.CRS.from_epsg(32650)).geo_cs == "EPSG:32650"
    assert GeoDesc("epsg:4326").geo_cs == "EPSG:4326"
    assert GeoDesc.auto().to_dict() == {}
    assert Params2D(output_geo_desc={}).to_json() == '{"parameter":{"output_geo_desc":{}}}'
    enu = GeoDesc(cs_type="LOCAL_ENU_CS", offset=(1, 2, 3),
                  ref_gps={"latitude": 22.5, "longitude": 113.9, "altitude": 10})
    assert enu.to_dict() == {"cs_type": "LOCAL_ENU_CS", "offset": [1, 2, 3],
                             "ref_GPS": {"altitude": 10, "latitude": 22.5, "longitude": 113.9}}
    assert GeoDesc.from_dict(enu.to_dict()) == enu
    assert GeoDesc("EPSG:4326", override_vertical_cs=5773).override_vertical_cs == "EPSG:5773"


@pytest.mark.parametrize(("build", "message"), [
    (lambda: ParamsLidar(quality_level=2, sample_distance=0.2), "exclude each other"),
    (lambda: Params2D(dom_tile_size=1023), "multiple of 2"),
    (lambda: Params2D(dom_tile_size=0), "multiple of 2"),
    (lambda: Params2D(dom_tile_size=-4), "multiple of 2"),
    (lambda: GeoDesc("EPSG:123456"), "not a known coordinate system"),
    (lambda: GeoDesc("UTM50"), "not an EPSG code"),
    (lambda: GeoDesc(""), "GEO_CS needs geo_cs"),
    (lambda: Params3D(generate_obj=True), "output_mesh=True"),
    (lambda: Params3D(output_mesh=False, generate_i3s=True), "generate_i3s"),
    (lambda: Params3D(generate_las=True), "output_pointcloud=True"),
    (lambda: ParamsLidar(generate_las=True), "output_pointcloud=True"),
    (lambda: Params3D(output_mesh=True, model_simplify=0.01), r"\[0.05, 1.0\]"),
    (lambda: Params3D(output_mesh=True, model_simplify=1.5), r"\[0.05, 1.0\]"),
    (lambda: Params2D(map_mode=3), "map_mode must be one of"),
    (lambda: Params2D(quality_level=0), "quality_level must be one of"),
    (lambda: Params2D(quality_level=True), "quality_level must be one of"),
    (lambda: Params2D(sfm_method="FAST"), "SfM_method"),
    (lambda: Params2D(use_wallis="yes"), "use_Wallis must be true or false"),
    (lambda: ParamsLidar(scene_type=4, ground_extract=True), "scene_type"),
    (lambda: ParamsLidar(scene_type=1), "ground_extract=True"),
    (lambda: ParamsLidar(dem_resolution=0.5), "generate_dem=True"),
    (lambda: ParamsLidar(predefine_aoi=PredefineAOI(max_altitude=1)), "only to 2D and 3D"),
    (lambda: ParamsLidar(export=ExportParameter(undistort_images=True)), "not apply to LiDAR"),
    (lambda: PredefineAOI(polygon_points=[[0, 0], [1, 0], [1, 1]]), r"\[x, y, z\]"),
    (lambda: PredefineAOI(max_altitude=1, min_altitude=5), "above max_altitude"),
    (lambda: Params2D(extra={"map_mode": 1}), "repeats typed"),
    (lambda: Params2D.from_json("not json"), "not valid JSON"),
    (lambda: Params2D.from_json("[1]"), "JSON object"),
    (lambda: Params2D.from_json('{"parameters":{}}'), "unknown top-level"),
    (lambda: Params3DGS("[1, 2]"), "JSON object"),
])
def test_rejections(build: object, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build()  # type: ignore[operator]


def test_3dgs_passthrough() -> None:
    assert Params3DGS({"b": 1, "a": [1, 2]}).to_json() == '{"b":1,"a":[1,2]}'
    assert Params3DGS('{"x": true}').to_json() == '{"x":true}'


def test_job_type_code() -> None:
    from terranb.api.models import JobType

    assert [job_type_code(k) for k in ("2d", "3D", "lidar", 14, "15", JobType.LIDAR)] == \
        [14, 15, 13, 14, 15, 13]
    for bad in ("4d", 4, True, None):
        with pytest.raises(ValidationError):
            job_type_code(bad)
    assert isinstance(parameters_from_json("lidar", QS_LIDAR), ParamsLidar)


_bool = st.one_of(st.none(), st.booleans())


@given(map_mode=st.one_of(st.none(), st.sampled_from([0, 1, 2])),
       quality=st.one_of(st.none(), st.sampled_from([1, 2, 3])),
       tile=st.one_of(st.none(), st.integers(1, 4096).map(lambda n: n * 2)),
       wallis=_bool, pc=_bool, las=_bool, sfm=st.one_of(st.none(),
                                                        st.sampled_from(["GLOBAL", "INCREMENTAL"])),
       epsg=st.one_of(st.none(), st.sampled_from([4326, 32650, 32649, 3857])))
def test_2d_roundtrip_property(map_mode: int | None, quality: int | None, tile: int | None,
                               wallis: bool | None, pc: bool | None, las: bool | None,
                               sfm: str | None, epsg: int | None) -> None:
    if las and not pc:
        pc = True
    p = Params2D(map_mode=map_mode, quality_level=quality, dom_tile_size=tile, use_wallis=wallis,
                 output_pointcloud=pc, generate_las=las, sfm_method=sfm,
                 output_geo_desc=None if epsg is None else GeoDesc(epsg))
    text = p.to_json()
    assert Params2D.from_json(text) == p
    assert Params2D.from_json(text).to_json() == text
    assert " " not in text  # compact separators
    assert set(json.loads(text)["parameter"]) == {
        k for k, v in (("map_mode", map_mode), ("quality_level", quality),
                       ("dom_tile_size", tile), ("use_Wallis", wallis),
                       ("output_pointcloud", pc), ("generate_las", las), ("SfM_method", sfm),
                       ("output_geo_desc", epsg)) if v is not None}

"""Scene3D.from_result accepts every result folder open_results accepts (issue 11, point 4).

The folders are produced by the emulator's engine from one small synthetic flight,
for every job type and the product switches that change what a folder holds
(OBJ, tileset only, LAS/pnts only, LiDAR, 3DGS, 2D without DSM), plus FlightHub 2's
unpacked-zip layout (its `.terranb-<id>.json` marker, one folder level up) and
the sample tree whose 2D result has a DSM. Each must open with open_results and
give a scene with geometry of the expected kind; a report-only tree gives a
clear message.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

np = pytest.importorskip("numpy")
pytest.importorskip("rasterio")
pytest.importorskip("trimesh")

from terranb.emulator.engine import Engine  # noqa: E402
from terranb.errors import ResultFormatError, ValidationError  # noqa: E402
from terranb.results.layout import open_results  # noqa: E402
from terranb.viz.scene3d import Scene3D  # noqa: E402

GEO = {"cs_type": "GEO_CS", "geo_cs": "EPSG:32650", "geo_cs_wkt": "", "override_vertical_cs": ""}
ORIGIN = (30.52, 117.05)  # UTM 50N, where EPSG:32650 is valid
JOBS = {
    # name: (job type, parameter, expected layer kind, textured)
    "2d": ("2d", {"quality_level": 3}, "mesh", True),
    "3d-obj": ("3d", {"quality_level": 3}, "mesh", True),
    "3d-tileset": ("3d", {"quality_level": 3, "generate_b3dm": True, "generate_obj": False},
                   "mesh", True),
    "3d-las": ("3d", {"quality_level": 3, "output_mesh": False, "output_pointcloud": True,
                      "generate_las": True}, "points", False),
    "3d-pnts": ("3d", {"quality_level": 3, "output_mesh": False, "output_pointcloud": True,
                       "generate_pnts": True, "generate_las": False}, "points", False),
    "lidar": ("lidar", {"quality_level": 3}, "points", False),
    "3dgs": ("3dgs", {"quality_level": 3}, "points", False),
}


@pytest.fixture(scope="module")
def flight(tmp_path_factory: pytest.TempPathFactory):
    from terranb.dataset.synthetic import make_sample_flight

    return make_sample_flight(tmp_path_factory.mktemp("flight"), seed=3, rows=3, cols=3,
                              image_size=(360, 240), lidar=True, lidar_spacing=0.5,
                              origin=ORIGIN)


@pytest.fixture(scope="module")
def produced(flight, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    engine = Engine(seed=0)
    out: dict[str, Path] = {}
    photos = [(f"images/{p.name}", p) for p in flight.photos]
    for name, (job, param, _kind, _tex) in JOBS.items():
        inputs = [("L1/cloud.las", flight.lidar_las)] if job == "lidar" else photos
        folder = tmp_path_factory.mktemp(name)
        engine.produce(job, {"parameter": {**param, "output_geo_desc": GEO}}, inputs, folder)
        out[name] = folder
    return out


def _check(scene: Scene3D, kind: str, textured: bool) -> dict:
    stats = scene.stats
    layers = stats["layers"]
    assert layers and {lay["kind"] for lay in layers} == {kind}
    assert sum(lay["shown"] for lay in layers) > 100
    assert (stats["texture_bytes"] > 0) == textured
    return stats


@pytest.mark.parametrize("name", list(JOBS))
def test_every_emulator_job_folder_opens_in_3d(produced: dict[str, Path], name: str) -> None:
    _job, _param, kind, textured = JOBS[name]
    folder = produced[name]
    tree = open_results(folder)  # the contract: what open_results accepts ...
    scene = Scene3D.from_result(folder, max_bytes=2_500_000)  # ... from_result shows
    _check(scene, kind, textured)
    again = Scene3D.from_result(tree, max_bytes=2_500_000)  # the tree object works too
    assert again.stats["layers"][0]["kind"] == kind
    if name == "2d":  # the emulator's map has no DSM: said, not hidden
        assert [f.code for f in scene.findings] == ["scene.flat"]
        assert "no DSM" in scene.title


def test_flighthub2_zip_layout_one_level_up(produced: dict[str, Path], tmp_path: Path) -> None:
    """FlightHub 2 results unpack with terranb's marker files; a zip may add one folder."""
    for name in ("2d", "3d-tileset", "3dgs"):
        dest = tmp_path / name / "unpacked"
        shutil.copytree(produced[name], dest / "model")
        (dest / ".terranb-1234.json").write_text(json.dumps(["model/mission.json"]))
        assert open_results(dest).root == dest / "model"
        _, _, kind, textured = JOBS[name]
        _check(Scene3D.from_result(dest, max_bytes=2_500_000), kind, textured)


def test_dsm_is_relief_textured_by_the_ortho(tmp_path: Path) -> None:
    from terranb.results.samples import write_sample_tree

    root = write_sample_tree(tmp_path / "2d", kind="2d")
    tree = open_results(root)
    assert tree.dsm is not None and tree.ortho is not None
    scene = Scene3D.from_result(root)
    _check(scene, "mesh", True)
    assert scene.findings == []
    # heights are the DSM's (sample DSM: 20 m + a ramp), not a flat plane
    verts = scene._meshes[0].vertices
    dsm, _ = tree.dsm.read_preview(10**6, bands=[1])
    valid = dsm[0][dsm[0] != tree.dsm.nodata]
    assert verts[:, 2].min() == pytest.approx(valid.min(), abs=0.2)
    assert verts[:, 2].max() == pytest.approx(valid.max(), abs=0.2)
    # the DSM alone (a single-band .tif path) is relief coloured by elevation
    alone = Scene3D.from_result(root / "map" / "dsm.tif")
    _check(alone, "mesh", False)
    assert "legend" in alone.html()


def test_single_files_and_nothing_drawable(produced: dict[str, Path], tmp_path: Path) -> None:
    _check(Scene3D.from_result(produced["3dgs"] / "3dgs" / "point_cloud.ply",
                               max_bytes=2_000_000), "points", False)
    _check(Scene3D.from_result(produced["2d"] / "map" / "result.tif", max_bytes=2_000_000),
           "mesh", True)
    report = produced["2d"] / "map" / "report" / "map_report.json"
    open_results(report)  # accepted by open_results ...
    with pytest.raises(ValidationError, match="no mesh, point cloud, splats, DSM or orthomosaic"):
        Scene3D.from_result(report)  # ... and a clear message here
    with pytest.raises(ValidationError, match=r"\.ply"):
        Scene3D.from_result(tmp_path / "x.xyz")


def test_splat_colours_and_truncated_ply(produced: dict[str, Path], tmp_path: Path) -> None:
    from terranb.results.splats import read_splats

    ply = produced["3dgs"] / "3dgs" / "point_cloud.ply"
    s = read_splats(ply, 2000)
    assert len(s) == min(2000, s.source_count) and s.rgb is not None
    assert s.opacity is not None and np.allclose(s.opacity, 0.95, atol=1e-3)
    assert s.rgb.std() > 5  # the photos' colours, not one flat grey
    cut = tmp_path / "cut.ply"
    cut.write_bytes(ply.read_bytes()[:-100])
    with pytest.raises(ResultFormatError, match="truncated"):
        read_splats(cut)
    asc = tmp_path / "a.ply"
    asc.write_text("ply\nformat ascii 1.0\nelement vertex 1\nproperty float x\nend_header\n0\n")
    with pytest.raises(ResultFormatError, match="binary"):
        read_splats(asc)

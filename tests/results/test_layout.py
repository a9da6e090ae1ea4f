"""Result trees: recognition, typed parts, findings for missing and odd parts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from terranb.errors import ResultFormatError
from terranb.results.layout import open_results
from terranb.results.mesh import Mesh
from terranb.results.ortho import Orthomosaic
from terranb.results.pointcloud import PointCloud
from terranb.results.reports import LidarReport, MapReport, ModelReport, SfmReport
from terranb.results.samples import write_sample_las, write_sample_tree


def codes(tree: object) -> set[str]:
    return {f.code for f in tree.all_findings}  # type: ignore[attr-defined]


def test_2d_tree(tmp_path: Path) -> None:
    tree = open_results(write_sample_tree(tmp_path / "r", "2d"))
    assert tree.kind == "2d"
    assert isinstance(tree.ortho, Orthomosaic) and tree.ortho.path.name == "result.tif"
    assert isinstance(tree.dsm, Orthomosaic) and tree.dsm.dtype == "float32"
    assert set(tree.rasters) == {"map/result.tif", "map/dsm.tif"}
    assert isinstance(tree.reports["map_report"], MapReport)
    assert isinstance(tree.reports["sfm_report"], SfmReport)
    assert tree.ortho.map_report is tree.reports["map_report"]
    assert tree.mission == {"name": "sample 2d", "type": "2d"}
    assert not [f for f in tree.all_findings if f.level != "info"]
    json.dumps(tree.to_dict())


def test_3d_tree(tmp_path: Path) -> None:
    tree = open_results(write_sample_tree(tmp_path / "r", "3d"))
    assert tree.kind == "3d" and tree.ortho is None
    assert len(tree.meshes) == 1 and isinstance(tree.meshes[0], Mesh)
    assert tree.meshes[0].crs is not None and tree.meshes[0].crs.to_epsg() == 32650
    assert len(tree.point_clouds) == 1 and isinstance(tree.point_clouds[0], PointCloud)
    assert isinstance(tree.reports["model_report"], ModelReport)
    assert not [f for f in tree.all_findings if f.level != "info"]
    d = tree.to_dict(mesh_stats=True)
    assert d["meshes"][0]["face_count"] == 800


def test_lidar_tree_and_crs_from_report(tmp_path: Path) -> None:
    root = write_sample_tree(tmp_path / "r", "lidar")
    # A cloud without CRS VLRs gets its CRS from the report's "output coordinate".
    write_sample_las(root / "lidars" / "terra_las" / "cloud0a1b.las", n=100, epsg=None)
    tree = open_results(root)
    assert tree.kind == "lidar" and len(tree.point_clouds) == 2
    assert isinstance(tree.reports["lidar_report"], LidarReport)
    bare = next(pc for pc in tree.point_clouds if pc.path.name == "cloud0a1b.las")
    assert bare.crs_source == "given" and bare.crs is not None and bare.crs.to_epsg() == 32650


def test_missing_and_odd_parts(tmp_path: Path) -> None:
    root = write_sample_tree(tmp_path / "r", "2d")
    (root / "map" / "result.tif").unlink()
    (root / "map" / "report" / "map_report.json").unlink()
    (root / "mission.json").unlink()
    (root / "map" / "dsm.tif.part").write_bytes(b"x")
    (root / "notes.txt").write_text("")
    tree = open_results(root)
    c = codes(tree)
    assert {"tree.no_ortho", "tree.no_map_report", "tree.no_mission", "tree.partial_file",
            "tree.unexpected_entry", "tree.empty_file"} <= c
    assert next(f for f in tree.findings if f.code == "tree.no_ortho").level == "error"
    shutil.rmtree(root / "AT")
    assert "tree.no_at" in codes(open_results(root))


def test_3d_without_model(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "models" / "pc" / "0").mkdir(parents=True)
    tree = open_results(root)
    assert tree.kind == "3d" and {"tree.no_model", "tree.no_model_report"} <= codes(tree)


def test_lidar_without_cloud_and_mixed(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "lidars").mkdir(parents=True)
    (root / "map").mkdir()
    tree = open_results(root)
    assert tree.kind == "mixed" and {"tree.no_lidar_cloud", "tree.no_ortho"} <= codes(tree)


def test_unzipped_into_one_folder(tmp_path: Path) -> None:
    write_sample_tree(tmp_path / "download" / "job-123", "2d")
    tree = open_results(tmp_path / "download")
    assert tree.kind == "2d" and tree.root.name == "job-123"


def test_single_files(tmp_path: Path) -> None:
    root = write_sample_tree(tmp_path / "r", "3d")
    las = root / "models" / "pc" / "0" / "terra_las" / "cloud.las"
    assert open_results(las).kind == "point_cloud"
    obj = next(root.rglob("*.obj"))
    assert open_results(obj).kind == "mesh"
    rep = open_results(root / "report" / "model_report.json")
    assert rep.kind == "report" and "model_report" in rep.reports
    root2 = write_sample_tree(tmp_path / "r2", "2d")
    t = open_results(root2 / "map" / "result.tif")
    assert t.kind == "ortho" and t.ortho is not None and "map_report" in t.reports


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ResultFormatError, match="does not exist"):
        open_results(tmp_path / "none")
    (tmp_path / "a.zip").write_bytes(b"PK")
    with pytest.raises(ResultFormatError, match="unzip"):
        open_results(tmp_path / "a.zip")
    (tmp_path / "x.xyz").write_text("")
    with pytest.raises(ResultFormatError, match="unknown result file type"):
        open_results(tmp_path / "x.xyz")
    (tmp_path / "d").mkdir()
    with pytest.raises(ResultFormatError, match="not a DJI Terra result folder"):
        open_results(tmp_path / "d")


def test_bad_parts_become_findings(tmp_path: Path) -> None:
    root = write_sample_tree(tmp_path / "r", "2d")
    (root / "map" / "dsm.tif").write_bytes(b"garbage")
    (root / "AT" / "sfm_report.json").write_text("{broken")
    tree = open_results(root)
    assert {"tree.bad_raster", "tree.bad_report"} <= codes(tree)
    assert tree.ortho is not None and tree.dsm is None


def test_3dgs_tree(tmp_path: Path) -> None:
    root = tmp_path / "r"
    (root / "3dgs").mkdir(parents=True)
    assert "tree.no_3dgs" in codes(open_results(root))
    (root / "3dgs" / "point_cloud.ply").write_bytes(b"ply\n")
    tree = open_results(root)
    assert tree.kind == "3dgs" and tree.tilesets["3dgs"].name == "point_cloud.ply"

"""Result readers on cut, corrupt and odd inputs: ResultFormatError naming the file, or findings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from badinput_helpers import cli_error, one_line

from terranb.cli.main import main
from terranb.errors import MissingDependencyError, ResultFormatError

laspy = pytest.importorskip("laspy")
pytest.importorskip("rasterio")

from terranb.results.layout import open_results  # noqa: E402
from terranb.results.mesh import Mesh  # noqa: E402
from terranb.results.ortho import Orthomosaic  # noqa: E402
from terranb.results.pointcloud import PointCloud  # noqa: E402
from terranb.results.reports import load_report  # noqa: E402
from terranb.results.samples import (  # noqa: E402
    write_sample_las,
    write_sample_ortho,
    write_sample_tree,
)
from terranb.results.worldfile import read_world_file  # noqa: E402


@pytest.fixture(scope="module")
def las_bytes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("las")
    return {"las": write_sample_las(d / "c.las", n=5280).read_bytes(),
            "laz": write_sample_las(d / "c.laz", n=5280).read_bytes()}


def _cut(tmp_path: Path, data: bytes, size: int, name: str) -> Path:
    p = tmp_path / name
    p.write_bytes(data[:size])
    return p


# ------------------------------------------------------------------ point clouds
def test_500_byte_las_is_not_reported_healthy(tmp_path: Path, las_bytes: dict[str, bytes],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    p = _cut(tmp_path, las_bytes["las"], 500, "cut.las")
    with pytest.raises(ResultFormatError) as exc:
        PointCloud.open(p)
    one_line(str(exc.value), str(p), "truncated", "5280")
    assert main(["info", str(p)]) == 1
    captured = capsys.readouterr()
    assert "5,280 points" not in captured.out
    cli_error(captured.err, "truncated")


def test_half_las_gives_the_real_count_not_a_traceback(tmp_path: Path, las_bytes: dict[str, bytes],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    data = las_bytes["las"]
    p = _cut(tmp_path, data, len(data) // 2, "half.las")
    with pytest.raises(ResultFormatError) as exc:
        PointCloud.open(p)
    msg = one_line(str(exc.value), "half.las", "5280 points")
    held = int(msg.split("holds ")[1].split()[0])
    assert 0 < held < 5280
    assert main(["info", str(p)]) == 1
    cli_error(capsys.readouterr().err, "half.las", "truncated")


def test_half_las_in_a_result_tree_is_an_error_finding(tmp_path: Path,
                                                       las_bytes: dict[str, bytes]) -> None:
    root = write_sample_tree(tmp_path / "tree", "lidar")
    cloud = next(root.rglob("*.las"))
    cloud.write_bytes(las_bytes["las"][: len(las_bytes["las"]) // 2])
    tree = open_results(root)
    errors = [f for f in tree.all_findings if f.level == "error"]
    assert errors and "truncated" in errors[0].message and not tree.point_clouds


def test_half_laz_is_refused(tmp_path: Path, las_bytes: dict[str, bytes]) -> None:
    data = las_bytes["laz"]
    for size in (500, len(data) // 2):
        p = _cut(tmp_path, data, size, f"cut{size}.laz")
        with pytest.raises(ResultFormatError) as exc:
            PointCloud.open(p).decimate(100)
        one_line(str(exc.value), p.name, "truncated")


def test_laz_without_a_backend_names_the_extra(tmp_path: Path, las_bytes: dict[str, bytes],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "c.laz"
    p.write_bytes(las_bytes["laz"])
    pc = PointCloud.open(p)
    monkeypatch.setattr(laspy.LazBackend, "detect_available", staticmethod(lambda: ()))
    with pytest.raises(MissingDependencyError) as exc:
        pc.decimate(100)
    one_line(str(exc.value), "c.laz", "pip install")


@pytest.mark.parametrize("content", [b"", b"LASF", b"not a point cloud at all" * 20])
def test_garbage_las_is_a_result_format_error(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "g.las"
    p.write_bytes(content)
    with pytest.raises(ResultFormatError) as exc:
        PointCloud.open(p)
    one_line(str(exc.value), "g.las")


def test_nan_header_bounds_are_a_warning(tmp_path: Path, las_bytes: dict[str, bytes]) -> None:
    import struct

    data = bytearray(las_bytes["las"])
    # LAS header: max X, min X, max Y, min Y, max Z, min Z are doubles at byte 179.
    data[179:187] = struct.pack("<d", float("nan"))
    p = tmp_path / "nan.las"
    p.write_bytes(bytes(data))
    pc = PointCloud.open(p)
    codes = {f.code: f.level for f in pc.findings}
    assert codes.get("pointcloud.nonfinite_header") == "warning"
    assert pc.bounds_wgs84 is None
    json.dumps(pc.to_dict(), allow_nan=False)  # no NaN leaks into JSON


# ------------------------------------------------------------------ meshes
def _obj(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "m.obj"
    p.write_text(text)
    return p


def test_obj_with_nan_vertices_is_a_warning_and_bounds_stay_finite(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import math

    p = _obj(tmp_path, "v 0 0 0\nv 1 0 0\nv 0 1 0\nv nan 1 1\nv 1 1 inf\n"
                       "f 1 2 3\nf 2 3 4\nf 3 4 5\n")
    m = Mesh.open(p)
    assert m.face_count == 1 and all(math.isfinite(v) for v in m.bounds)
    warn = [f for f in m.findings if f.code == "mesh.nonfinite_vertices"]
    assert len(warn) == 1 and warn[0].level == "warning" and "2 vertex" in warn[0].message
    assert main(["info", str(p), "--mesh-stats"]) == 0
    out = capsys.readouterr().out
    bounds = next(ln for ln in out.splitlines() if ln.strip().startswith("bounds"))
    assert "WARNING mesh.nonfinite_vertices" in out and "nan" not in bounds and "inf" not in bounds


def test_obj_with_only_nan_vertices_is_an_error(tmp_path: Path) -> None:
    p = _obj(tmp_path, "v nan 0 0\nv 1 nan 0\nv 0 1 nan\nf 1 2 3\n")
    with pytest.raises(ResultFormatError) as exc:
        Mesh.open(p).face_count
    one_line(str(exc.value), "m.obj", "finite")


def test_obj_without_faces_is_an_error(tmp_path: Path) -> None:
    p = _obj(tmp_path, "v 0 0 0\nv 1 0 0\n")
    with pytest.raises(ResultFormatError) as exc:
        Mesh.open(p).face_count
    one_line(str(exc.value), "m.obj", "no faces")


# ------------------------------------------------------------------ rasters and sidecars
def test_random_bytes_tif_is_a_result_format_error(tmp_path: Path) -> None:
    p = tmp_path / "result.tif"
    p.write_bytes(os.urandom(3000))
    with pytest.raises(ResultFormatError) as exc:
        Orthomosaic.open(p)
    one_line(str(exc.value), "result.tif")


def test_cut_geotiff_is_refused_at_open_and_in_previews(tmp_path: Path) -> None:
    full = write_sample_ortho(tmp_path / "full.tif", width=256, height=256)
    p = tmp_path / "cut.tif"
    p.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(ResultFormatError) as exc:
        Orthomosaic.open(p)
    one_line(str(exc.value), "cut.tif", "truncated")


def test_preview_read_failure_is_a_result_format_error(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import rasterio

    o = Orthomosaic.open(write_sample_ortho(tmp_path / "o.tif", width=64, height=64))
    (tmp_path / "o.tif").write_bytes(b"gone bad after opening")
    with pytest.raises(ResultFormatError) as exc:
        o.read_preview()
    one_line(str(exc.value), "o.tif")
    assert not isinstance(exc.value, rasterio.errors.RasterioError)


@pytest.mark.parametrize("text", ["0.1\n0\n0\n-0.1\n500000\n", "a\nb\nc\nd\ne\nf\n",
                                  "0.1\n0\n0\n-0.1\n500000\nnan\n"])
def test_bad_world_files(tmp_path: Path, text: str) -> None:
    p = tmp_path / "result.tfw"
    p.write_text(text)
    with pytest.raises(ResultFormatError) as exc:
        read_world_file(p)
    one_line(str(exc.value), "result.tfw")


def test_bad_world_file_beside_a_raster_is_a_finding(tmp_path: Path) -> None:
    p = write_sample_ortho(tmp_path / "result.tif", width=32, height=32)
    p.with_suffix(".tfw").write_text("0.1\n0\n0\n-0.1\n500000\n")
    o = Orthomosaic.open(p)
    assert any(f.code == "ortho.bad_world_file" for f in o.findings)


# ------------------------------------------------------------------ reports
@pytest.mark.parametrize(("content", "needle"), [
    (b"{not json", "map_report.json"), (b"[1, 2]", "not a JSON object"),
    (b"\xff\xfe{}", "map_report.json"), (b"", "map_report.json")])
def test_bad_report_json(tmp_path: Path, content: bytes, needle: str) -> None:
    p = tmp_path / "map_report.json"
    p.write_bytes(content)
    with pytest.raises(ResultFormatError) as exc:
        load_report(p)
    one_line(str(exc.value), needle)


def test_bad_report_in_a_tree_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    root = write_sample_tree(tmp_path / "tree", "2d")
    (root / "map" / "report" / "map_report.json").write_text("{not json")
    tree = open_results(root)
    assert any("map_report.json" in f.message for f in tree.all_findings)


# ------------------------------------------------------------------ layout
def test_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ResultFormatError) as exc:
        open_results(tmp_path / "empty")
    one_line(str(exc.value), "empty", "map/")
    assert main(["info", str(tmp_path / "empty")]) == 1
    cli_error(capsys.readouterr().err, "not a DJI Terra result folder")


def test_symlink_loop(tmp_path: Path) -> None:
    loop = tmp_path / "loop.las"
    loop.symlink_to(loop)
    with pytest.raises(ResultFormatError) as exc:
        open_results(loop)
    one_line(str(exc.value), "loop.las")


def test_symlink_loop_inside_a_tree_does_not_hang(tmp_path: Path) -> None:
    root = write_sample_tree(tmp_path / "tree", "2d")
    (root / "map" / "again").symlink_to(root / "map")
    tree = open_results(root)
    assert tree.ortho is not None


def test_unreadable_file(tmp_path: Path) -> None:
    p = write_sample_las(tmp_path / "locked.las", n=50)
    p.chmod(0)
    try:
        try:
            p.read_bytes()
            pytest.skip("running as root: chmod 000 does not stop reads")
        except PermissionError:
            pass
        with pytest.raises(ResultFormatError) as exc:
            PointCloud.open(p)
        one_line(str(exc.value), "locked.las")
    finally:
        p.chmod(0o644)


def test_non_utf8_file_names_in_a_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_sample_tree(tmp_path / "tree", "2d")
    odd = os.fsencode(str(root / "map")) + b"/caf\xe9.tif"
    with open(odd, "wb") as fh:
        fh.write(b"junk")
    tree = open_results(root)
    assert tree.ortho is not None
    assert main(["info", str(root), "--json"]) == 0
    json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("text", [
    "v a b c\nv 1 0 0\nv 0 1 0\nf 1 2 3\n",       # not numbers
    "v 0 0\nv 1 0\nv 0 1\nf 1 2 3\n",             # 2D vertices
    "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 99\n",      # face index past the end
    "v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 -9\n",      # relative index before the start
])
def test_malformed_obj_is_a_result_format_error(tmp_path: Path, text: str) -> None:
    p = _obj(tmp_path, text)
    with pytest.raises(ResultFormatError) as exc:
        Mesh.open(p).bounds
    one_line(str(exc.value), "m.obj")

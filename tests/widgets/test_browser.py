"""Headless tests of the result browser: tree, buttons, zip download."""

from __future__ import annotations

import importlib.util
import sys
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("rasterio")
pytest.importorskip("folium")

_spec = importlib.util.spec_from_file_location(
    "_terranb_test_trees", Path(__file__).resolve().parents[1] / "report" / "_trees.py")
trees = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(trees)  # type: ignore[union-attr]

from terranb.widgets.browser import ResultBrowser, tree_html  # noqa: E402


@pytest.fixture()
def results(tmp_path: Path) -> Path:
    return trees.make_all(tmp_path / "results")


def test_tree_lists_files_with_sizes(results: Path) -> None:
    text = tree_html(results / "2d")
    assert "map/" in text and "result.tif" in text and "KB" in text


def test_selecting_results_and_buttons(results: Path) -> None:
    b = ResultBrowser(results, link_base=results.parent)
    assert [label for label, _v in b.select.options] == ["2d", "3d", "lidar"]
    assert "orthomosaic" in b.summary.value
    assert not b.view_button.disabled and not b.map_button.disabled  # 2D: DSM relief
    b.view_button.click()
    assert "<iframe" in b.view.value and not b.errors
    b.map_button.click()
    assert "<iframe" in b.view.value and not b.errors
    b.select.value = str(results / "lidar")
    assert "point cloud" in b.summary.value and not b.view_button.disabled
    b.map_button.click()
    assert "<iframe" in b.view.value


def test_download_zips_the_selected_result(results: Path) -> None:
    b = ResultBrowser(results, link_base=results.parent)
    b.download_button.click()
    z = results / "2d.zip"
    assert z.is_file()
    with zipfile.ZipFile(z) as zf:
        assert "2d/map/result.tif" in zf.namelist()
    # link_base stands for the Jupyter server's root: its /files/ URL, never a file path
    assert 'href="/files/results/2d.zip" download' in b.view.value


def test_report_button_writes_the_survey_report(results: Path) -> None:
    b = ResultBrowser(results, link_base=results.parent)
    b.report_button.click()
    assert (results / "survey_report.html").is_file()
    assert "srcdoc" in b.view.value and "results/survey_report.html" in b.view.value
    assert not b.errors


def test_snapshot_html(results: Path) -> None:
    b = ResultBrowser(results / "2d")
    assert "result.tif" in b._repr_mimebundle_()["text/html"]


def test_a_tileset_only_result_has_a_3d_view_and_a_map_box(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    pyproj = pytest.importorskip("pyproj")
    from terranb.results.tiles import mesh_tileset

    root = tmp_path / "results" / "fh2"
    g = np.linspace(-40, 40, 60)
    gx, gy = np.meshgrid(g, g)
    v = np.c_[gx.ravel(), gy.ravel(), np.zeros(gx.size)]
    i = np.arange(gx.size).reshape(gx.shape)
    a, b_, c, d = i[:-1, :-1].ravel(), i[:-1, 1:].ravel(), i[1:, :-1].ravel(), i[1:, 1:].ravel()
    f = np.r_[np.c_[a, c, b_], np.c_[b_, c, d]]
    mesh_tileset(root / "models" / "pc" / "0" / "terra_b3dms", v, f,
                 crs=pyproj.CRS.from_epsg(32650), origin=(500_000.0, 3_300_000.0, 20.0))
    b = ResultBrowser(root.parent, link_base=root.parent)
    b.select.value = str(root)
    assert "3D Tiles" in b.summary.value
    assert not b.view_button.disabled and not b.map_button.disabled
    assert "<iframe" in b.view_html() and "terra_b3dms" in b.view_html()
    assert "terra_b3dms" in b.map_html()


def _helper(name: str) -> object:
    spec = importlib.util.spec_from_file_location(
        f"_terranb_test_{name}", Path(__file__).resolve().parents[1] / "results" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = mod  # type: ignore[union-attr]  # dataclasses look it up
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def test_preview_button_reads_the_remote_tileset_by_ranges(results: Path, tmp_path: Path) -> None:
    rangeserver, tiles = _helper("_rangeserver"), _helper("_tiles")
    b = ResultBrowser(results, link_base=results.parent)
    assert b.preview_button.disabled  # nothing remote to read
    root = tmp_path / "ts"
    tiles.write_tileset(root, levels=2, base_n=5)  # type: ignore[attr-defined]
    with rangeserver.serve(root) as st:  # type: ignore[attr-defined]
        b = ResultBrowser(results, link_base=results.parent,
                          remote=f"{st.base}/tileset.json?sig=1")
        assert not b.preview_button.disabled
        html_doc = b.remote_preview_html()
        served = st.served
    assert "<iframe" in html_doc and "Total fetched" in html_doc
    p = b.last_preview
    assert p is not None and p.tileset is not None and p.bytes_fetched == served
    assert served > 0 and p.tileset.tiles_fetched > 0 and p.tileset.mesh.face_count > 0
    assert all(r.split("?")[0].endswith((".json", ".b3dm")) for r in st.requests)

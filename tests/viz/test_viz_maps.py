"""Folium result maps: byte budgets, overlay alignment, offline HTML, vector layers."""

from __future__ import annotations

import base64
import io
import math
import re
from pathlib import Path

import numpy as np
import pytest
import rasterio
from PIL import Image
from pyproj import Transformer
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds

from terranb.errors import ValidationError
from terranb.viz.maps import (
    density_overlay,
    footprint_collection,
    map_html,
    ortho_overlay,
    result_map,
    save_map,
)

UTM = "EPSG:32633"
# East of the zone's central meridian: the UTM grid is rotated ~1.8 degrees against
# north, so the warped overlay has transparent corners and alignment really is tested.
X0, Y0, PIX = 700_000.0, 5_000_000.0, 0.05


def _write_ortho(path: Path, h: int, w: int, *, marker: tuple[int, int] | None = None,
                 crs: str | None = UTM, seed: int = 0) -> Path:
    """RGB uint8 GeoTIFF of noise (worst case for PNG), written in strips."""
    rng = np.random.default_rng(seed)
    profile = {"driver": "GTiff", "width": w, "height": h, "count": 3, "dtype": "uint8",
               "transform": from_origin(X0, Y0, PIX, PIX), "photometric": "RGB"}
    if crs:
        profile["crs"] = crs
    with rasterio.open(path, "w", **profile) as ds:
        for r0 in range(0, h, 1024):
            r1 = min(h, r0 + 1024)
            block = rng.integers(0, 120, (3, r1 - r0, w), dtype=np.uint8)
            block[2] = 0
            if marker is not None:  # a pure red square at (row, col) +- 40 px
                mr, mc = marker
                lo, hi = max(r0, mr - 40), min(r1, mr + 40)
                if lo < hi:
                    block[0, lo - r0:hi - r0, mc - 40:mc + 40] = 255
                    block[1, lo - r0:hi - r0, mc - 40:mc + 40] = 0
            ds.write(block, window=rasterio.windows.Window(0, r0, w, r1 - r0))
    return path


@pytest.fixture(scope="module")
def big_ortho(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 4000 x 5000 px (60 MB of RGB noise, the worst case for PNG): far above the budgets.
    return _write_ortho(tmp_path_factory.mktemp("ortho") / "big.tif", 4000, 5000,
                        marker=(1000, 4500))


def test_big_ortho_map_html_stays_within_budget(big_ortho: Path, tmp_path: Path) -> None:
    budget = 400_000
    m = result_map(big_ortho, max_png_bytes=budget, max_pixels=1_000_000)
    html = map_html(m)
    pngs = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", html)
    overlay = max(pngs, key=len)  # Leaflet's own icons are tiny
    assert len(base64.b64decode(overlay)) <= budget
    # Page = overlay (base64) + inlined Leaflet + folium boilerplate.
    assert len(html.encode()) <= budget * 4 / 3 + 250_000
    out = save_map(m, tmp_path / "map.html")
    assert out.stat().st_size <= budget * 4 / 3 + 250_000
    assert not list(tmp_path.glob("*.part"))


def _mercator_row_col_to_lonlat(bounds: tuple[float, float, float, float], size: tuple[int, int],
                                row: float, col: float) -> tuple[float, float]:
    w, s, e, n = bounds
    to_m = Transformer.from_crs(4326, 3857, always_xy=True)
    to_ll = Transformer.from_crs(3857, 4326, always_xy=True)
    mx0, my0 = to_m.transform(w, s)
    mx1, my1 = to_m.transform(e, n)
    h, wd = size
    mx = mx0 + (col + 0.5) / wd * (mx1 - mx0)
    my = my1 - (row + 0.5) / h * (my1 - my0)
    return to_ll.transform(mx, my)


def test_overlay_bounds_and_pixels_line_up_with_the_ortho(big_ortho: Path) -> None:
    ov = ortho_overlay(big_ortho, max_png_bytes=600_000, max_pixels=1_000_000)
    with rasterio.open(big_ortho) as src:
        w, s, e, n = transform_bounds(src.crs, "EPSG:4326", *src.bounds, densify_pts=21)
    h_px, w_px = ov.size
    tol_lon = (ov.bounds[2] - ov.bounds[0]) / w_px * 2  # two overlay pixels
    tol_lat = (ov.bounds[3] - ov.bounds[1]) / h_px * 2
    assert abs(ov.bounds[0] - w) <= tol_lon and abs(ov.bounds[2] - e) <= tol_lon
    assert abs(ov.bounds[1] - s) <= tol_lat and abs(ov.bounds[3] - n) <= tol_lat
    # The red marker lands where its UTM position says it should.
    img = np.asarray(Image.open(io.BytesIO(ov.png)).convert("RGBA")).astype(int)
    red = (img[..., 0] > 200) & (img[..., 1] < 60) & (img[..., 3] > 0)
    rows, cols = np.nonzero(red)
    assert rows.size > 20
    lon, lat = _mercator_row_col_to_lonlat(ov.bounds, ov.size, rows.mean(), cols.mean())
    ex, ey = X0 + 4500 * PIX, Y0 - 1000 * PIX
    elon, elat = Transformer.from_crs(UTM, 4326, always_xy=True).transform(ex, ey)
    assert abs(lon - elon) <= tol_lon and abs(lat - elat) <= tol_lat
    # Outside the (rotated) UTM footprint the overlay is transparent, inside opaque.
    assert img[0, 0, 3] == 0 or img[0, -1, 3] == 0
    assert img[h_px // 2, w_px // 2, 3] == 255
    assert set(np.unique(img[..., 3])) <= {0, 255}


def test_results_orthomosaic_object_is_accepted(tmp_path: Path) -> None:
    from terranb.results.ortho import Orthomosaic
    from terranb.results.samples import write_sample_ortho

    tif = write_sample_ortho(tmp_path / "result.tif", width=64, height=48)
    ortho = Orthomosaic.open(tif)
    ov = ortho_overlay(ortho, max_png_bytes=50_000)
    bw = ortho.bounds_wgs84
    assert bw is not None
    assert all(math.isclose(a, b, abs_tol=2e-6) for a, b in zip(ov.bounds, bw))
    # The sample's two top rows are transparent (alpha 0): the overlay keeps that.
    img = np.asarray(Image.open(io.BytesIO(ov.png)).convert("RGBA"))
    assert img[0, :, 3].max() == 0 and img[img.shape[0] // 2, img.shape[1] // 2, 3] == 255


def test_ortho_without_crs_says_how_to_fix(tmp_path: Path) -> None:
    tif = _write_ortho(tmp_path / "nocrs.tif", 50, 60, crs=None)
    with pytest.raises(ValidationError, match="crs="):
        ortho_overlay(tif)
    ov = ortho_overlay(tif, crs=UTM)
    west = Transformer.from_crs(UTM, 4326, always_xy=True).transform(X0, Y0 - 50 * PIX)[0]
    assert ov.bounds[0] == pytest.approx(west, abs=1e-5)


def external_loads(html: str) -> list[str]:
    """Markup that would make a browser fetch something over the network."""
    patterns = [
        r"<script[^>]*\bsrc\s*=",  # any external script
        r"<link[^>]*\bhref\s*=",  # stylesheets, icons, preloads
        r"<(img|iframe|source|video|audio)[^>]*\bsrc\s*=\s*[\"']?(https?:)?//",
        r"url\(\s*[\"']?(https?:)?//",  # CSS url(...)
        r"@import",
        r"L\.tileLayer\(",
    ]
    return [m.group(0) for p in patterns for m in re.finditer(p, html)]


def test_offline_map_requests_nothing_and_tiles_are_opt_in(tmp_path: Path) -> None:
    tif = _write_ortho(tmp_path / "small.tif", 200, 300)
    html = map_html(result_map(tif, max_png_bytes=100_000))
    # No script, stylesheet, image or tile is fetched from anywhere.
    assert external_loads(html) == []
    assert "cdn.jsdelivr" not in html
    assert "window.L=" in html.replace(" ", "")  # Leaflet inlined
    online = map_html(result_map(tif, max_png_bytes=100_000, tiles="OpenStreetMap"))
    assert "tile.openstreetmap.org" in online


def test_density_layer_bins_points(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    # A dense 10 m x 10 m cluster inside a sparse 200 m x 100 m area.
    sparse = np.c_[X0 + rng.uniform(0, 200, 20_000), Y0 + rng.uniform(0, 100, 20_000)]
    dense = np.c_[X0 + 150 + rng.uniform(0, 10, 30_000), Y0 + 20 + rng.uniform(0, 10, 30_000)]
    pts = np.vstack([sparse, dense])
    ov = density_overlay(pts, crs=UTM, bins=100, max_png_bytes=60_000)
    assert len(ov.png) <= 60_000
    img = np.asarray(Image.open(io.BytesIO(ov.png)).convert("RGBA")).astype(int)
    bright = img[..., :3].sum(axis=2)
    r, c = np.unravel_index(np.argmax(np.where(img[..., 3] > 0, bright, -1)), bright.shape)
    lon, lat = _mercator_row_col_to_lonlat(ov.bounds, ov.size, r, c)
    ex, ey = Transformer.from_crs(4326, UTM, always_xy=True).transform(lon, lat)
    assert X0 + 145 <= ex <= X0 + 165 and Y0 + 15 <= ey <= Y0 + 35
    with pytest.raises(ValidationError, match="crs="):
        density_overlay(pts)  # projected coordinates without a CRS


def test_density_grid_adapts_to_the_number_of_points() -> None:
    from terranb.viz.maps import auto_density_bins

    rng = np.random.default_rng(1)
    # a sparse cloud (1,000 points over 200 m): the default grid keeps ~25 points a cell,
    # not 512 cells of scattered single points
    pts = np.c_[X0 + rng.uniform(0, 200, 1000), Y0 + rng.uniform(0, 200, 1000)]
    ov = density_overlay(pts, crs=UTM)
    assert "16x16 cells" in ov.note or "16x17 cells" in ov.note or "17x16 cells" in ov.note
    assert auto_density_bins(1000) == 16 and auto_density_bins(62_766) == 50
    assert auto_density_bins(10**9) == 512
    assert "100x" in density_overlay(pts, crs=UTM, bins=100).note  # explicit bins still win


def test_results_point_sample_feeds_the_density_layer(tmp_path: Path) -> None:
    from terranb.results.pointcloud import PointCloud
    from terranb.results.samples import write_sample_las

    pc = PointCloud.open(write_sample_las(tmp_path / "c.las", n=3000))
    m = result_map(points=pc, density_bins=64)
    assert "point density" in map_html(m)


def test_footprints_and_bboxes(tmp_path: Path) -> None:
    def square(i: int) -> dict:
        x, y = 15.0 + i * 1e-4, 45.0
        ring = [[x, y], [x + 1e-4, y], [x + 1e-4, y + 1e-4], [x, y + 1e-4], [x, y]]
        return {"type": "Feature", "properties": {"name": f"DJI_{i:04d}.JPG", "obj": {"x": 1}},
                "geometry": {"type": "Polygon", "coordinates": [ring]}}

    class Geo:
        @property
        def __geo_interface__(self) -> dict:
            return {"type": "Polygon",
                    "coordinates": [[[15, 45], [15.1, 45], [15.1, 45.1], [15, 45]]]}

    fc = footprint_collection([square(i) for i in range(3)] + [Geo()])
    assert len(fc["features"]) == 4
    assert "obj" not in fc["features"][0]["properties"]  # non-scalar properties dropped
    with pytest.warns(UserWarning, match="kept"):
        capped = footprint_collection({"type": "FeatureCollection",
                                       "features": [square(i) for i in range(500)]},
                                      max_bytes=20_000)
    assert 0 < len(capped["features"]) < 500
    m = result_map(footprints=[square(i) for i in range(5)],
                   bboxes={"AOI": (15.0, 45.0, 15.001, 45.001)})
    html = map_html(m)
    assert "DJI_0004.JPG" in html and "AOI" in html
    with pytest.raises(ValidationError, match="WGS84"):
        result_map(bboxes=[(500000, 5000000, 500100, 5000100)])
    with pytest.raises(ValidationError, match="at least one"):
        result_map()


def test_dataset_footprints_are_drawn() -> None:
    from terranb.dataset.footprint import Footprint, FootprintSet

    def fp(i: int) -> Footprint:
        x = 114.0 + i * 1e-4
        ring = ((x, 22.5), (x + 2e-4, 22.5), (x + 2e-4, 22.5002), (x, 22.5002))
        return Footprint(path=Path(f"DJI_{i:04d}.JPG"), epsg=32650, utm=((0.0, 0.0),) * 4,
                         wgs84=ring, camera=(0.0, 0.0), centre=(0.0, 0.0), height=100.0,
                         gsd=0.02)

    fps = FootprintSet(footprints=[fp(i) for i in range(4)], epsg=32650)
    fc = footprint_collection(fps)
    assert [f["properties"]["name"] for f in fc["features"]] == [
        f"DJI_{i:04d}.JPG" for i in range(4)]
    assert "DJI_0003.JPG" in map_html(result_map(footprints=fps))
    assert len(footprint_collection([fp(0), fp(1)])["features"]) == 2


def test_real_geotiff_map(real_data: Path) -> None:
    from terranb.results.ortho import Orthomosaic

    tif = real_data / "geotiff" / "rasterio" / "RGB.byte.tif"
    if not tif.exists():
        pytest.skip("real GeoTIFF sample missing")
    ortho = Orthomosaic.open(tif)
    ov = ortho_overlay(ortho, max_png_bytes=150_000)
    assert len(ov.png) <= 150_000
    bw = ortho.bounds_wgs84
    assert bw is not None
    tol = (bw[2] - bw[0]) / ov.size[1] * 2
    assert all(abs(a - b) <= tol for a, b in zip(ov.bounds, bw, strict=True))


@pytest.mark.parametrize("kind", ["2d", "3d", "lidar"])
def test_result_trees_map_and_view(kind: str, tmp_path: Path) -> None:
    from terranb.results.layout import open_results
    from terranb.results.samples import write_sample_tree
    from terranb.viz import Scene3D, tree_map

    tree = open_results(write_sample_tree(tmp_path / kind, kind=kind))
    html = map_html(tree_map(tree, max_png_bytes=50_000))
    assert ("orthomosaic" in html) == (kind == "2d")
    assert ("point density" in html) == (kind != "2d")
    layer = Scene3D.from_tree(tree).stats["layers"][0]
    # 2D: the DSM as relief (tests/viz/test_scene3d_every_result.py covers every layout)
    assert layer["kind"] == ("points" if kind == "lidar" else "mesh")


@pytest.mark.parametrize(("height", "expected"), [(420, "420px"), ("30em", "30em")])
def test_notebook_iframe_is_as_tall_as_the_map(height: int | str, expected: str) -> None:
    """folium's default frame is 60 % of the width tall: a white gap under a 500 px map."""
    import re

    m = result_map(bboxes=[(10.0, 50.0, 10.01, 50.01)], height=height)
    html = m._repr_html_()
    frame = re.search(r"<iframe[^>]*>", html)
    assert frame and f'height="{expected}"' in frame.group(0)
    assert "padding-bottom" not in html.split("srcdoc", 1)[0]
    assert "terranb_leaflet_inline" in m.get_root().header._children  # offline still applies


def test_saved_map_fills_its_page(tmp_path: Path) -> None:
    import re

    m = result_map(bboxes=[(10.0, 50.0, 10.01, 50.01)], height=500)
    html = save_map(m, tmp_path / "m.html").read_text(encoding="utf-8")
    style = re.search(r"#map_\w+\s*\{([^}]*)\}", html)
    assert style and "height: 100.0%" in style.group(1) and "500" not in style.group(1)
    assert m.height == (500.0, "px")  # the notebook map keeps its size
    kept = save_map(m, tmp_path / "k.html", fill_page=False).read_text(encoding="utf-8")
    assert "height: 500.0px" in kept

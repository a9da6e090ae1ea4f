"""Deep zoom in a real browser: Leaflet loads the kernel's tiles and they show the native pixels.

The ortho is 2-pixel stripes: the bounded overlay (decimated 6x) averages them to a flat
colour, the live tiles at the native zoom show them. The screenshot's pixel-to-pixel
contrast with the tile layer must be far above the same view without it.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
pytest.importorskip("rio_tiler")
pytest.importorskip("folium")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from _browser import artifact, assert_not_blank, launch, require_chromium  # noqa: E402

from terranb.viz.maps import result_map  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _stripes(path: Path, n: int = 2048) -> Path:
    from rasterio.transform import from_origin

    cols = (np.arange(n) // 2) % 2  # 2 px dark, 2 px light
    band = np.where(cols[None, :] == 1, 230, 30).astype(np.uint8).repeat(n, axis=0)
    data = np.stack([band, band // 2, 255 - band])
    with rasterio.open(path, "w", driver="COG", width=n, height=n, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(500_000, 5_000_000, 0.05, 0.05),
                       compress="DEFLATE", overviews="AUTO") as ds:
        ds.write(data)
    return path


def _contrast(png: bytes) -> float:
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    return float(np.abs(np.diff(a, axis=1)).mean())


def test_live_tiles_show_native_pixels(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    cog = _stripes(tmp_path / "stripes.tif")
    m = result_map(ortho=cog, deep_zoom=True, max_pixels=100_000, furniture=False,
                   height=400, width=600)
    layer = next(c for c in m._children.values() if getattr(c, "terranb_live", None))
    server = layer.terranb_live
    page_html = tmp_path / "live.html"
    page_html.write_text(m.get_root().render(), encoding="utf-8")  # the live render
    w, s, e, n = server.bounds_wgs84
    view = f"{m.get_name()}.setView([{(s + n) / 2}, {(w + e) / 2}], {server.maxzoom})"
    with sync_playwright() as p:
        browser = launch(p)
        try:
            page = browser.new_page(viewport={"width": 640, "height": 440})
            page.goto(page_html.as_uri())
            page.evaluate(view)
            # every tile of the view loaded (Leaflet marks each one), then the fade-in
            page.wait_for_function(
                "document.querySelectorAll('img.leaflet-tile-loaded[src*=\"terranb-tiles\"]')"
                ".length >= 2 && !document.querySelector("
                "'img.leaflet-tile[src*=\"terranb-tiles\"]:not(.leaflet-tile-loaded)')",
                timeout=30_000)
            page.wait_for_timeout(800)
            live = page.screenshot()
            # zooming out past the tiles' min zoom stays possible (the overlay shows there)
            assert page.evaluate(f"{m.get_name()}.getMinZoom()") == 0
            page.evaluate(f"{m.get_name()}.removeLayer({layer.get_name()})")
            page.wait_for_timeout(500)
            overlay_only = page.screenshot()
        finally:
            browser.close()
    artifact("deep_zoom_live.png").write_bytes(live)
    artifact("deep_zoom_overlay_only.png").write_bytes(overlay_only)
    assert_not_blank(live, "the deep-zoom map", min_colours=2)
    assert server.stats["tiles"] >= 2 and not server.stats["errors"]
    c_live, c_overlay = _contrast(live), _contrast(overlay_only)
    assert c_live > 3 * c_overlay, (c_live, c_overlay)
    server.stop()

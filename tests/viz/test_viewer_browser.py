"""The viewer and the map render in headless Chromium with the network off.

Chromium is the Debian package (``/usr/bin/chromium``, installed by ``.ci/run``),
driven by Playwright; WebGL runs on SwiftShader (no GPU). Every request that is
not ``data:``/``about:`` is aborted and recorded, and the test asserts there were
none. Screenshots go to ``tests/artifacts/`` for inspection.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
    # WebGL without a GPU: ANGLE on the SwiftShader software rasteriser.
    "--use-gl=angle", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None,
                       reason="Debian chromium not installed at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield b
        finally:
            b.close()


class OfflinePage:
    """A page whose every non-data: request is aborted and remembered."""

    def __init__(self, browser: Any, width: int = 800, height: int = 600) -> None:
        self.context = browser.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.attempted: list[str] = []
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.context.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(("data:", "about:")):
            route.continue_()
        else:
            self.attempted.append(url)
            route.abort()

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def offline(browser: Any) -> Iterator[OfflinePage]:
    page = OfflinePage(browser)
    try:
        yield page
    finally:
        page.close()


def _pixels(png: bytes) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(float)


def _assert_not_blank(img: np.ndarray, background: tuple[int, int, int] | None = None,
                      min_cover: float = 0.05) -> None:
    spread = float(img.reshape(-1, 3).std(axis=0).sum())
    assert spread > 20, f"screenshot looks blank (colour spread {spread:.1f})"
    if background is not None:
        cover = float((np.abs(img - np.array(background)).sum(axis=2) > 24).mean())
        assert cover > min_cover, f"only {cover:.1%} of the canvas differs from the background"


def _scene() -> Any:
    from terranb.viz.scene3d import Scene3D

    j, i = np.mgrid[0:150, 0:150]
    z = np.sin(i / 12.0) * 6 + np.cos(j / 9.0) * 4
    v = np.c_[i.ravel() * 1.0, j.ravel() * 1.0, z.ravel()]
    a = (j[:-1, :-1] * 150 + i[:-1, :-1]).ravel()
    f = np.r_[np.c_[a, a + 1, a + 151], np.c_[a, a + 151, a + 150]]
    uv = np.c_[i.ravel() / 149.0, j.ravel() / 149.0]
    tex = np.zeros((256, 256, 3), np.uint8)
    tex[..., 0] = np.arange(256)[None, :]
    tex[..., 1] = np.arange(256)[:, None]
    tex[::32] = 255
    rng = np.random.default_rng(0)
    n = 20_000
    pts = np.c_[rng.uniform(0, 149, n), rng.uniform(0, 149, n), rng.uniform(12, 20, n)]
    scene = Scene3D(title="browser test", max_bytes=4_000_000)
    scene.add_mesh(v, f, uv=uv, texture=tex, name="terrain")
    scene.add_points(pts, color_by="elevation", name="canopy", size=3)
    return scene


def test_viewer_renders_offline_and_responds_to_drag(offline: OfflinePage) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page = offline.page
    page.set_content(_scene().html())
    page.wait_for_function("window.terranbViewer && (window.terranbViewer.ready || "
                           "window.terranbViewer.error)", timeout=60_000)
    state = page.evaluate("window.terranbViewer")
    assert state["error"] is None and state["frames"] >= 1, state
    canvas = page.locator("#c")
    before = canvas.screenshot(path=str(ARTIFACTS / "viewer_scene.png"))
    _assert_not_blank(_pixels(before), background=(0x1B, 0x1D, 0x22), min_cover=0.1)
    # Orbit: a drag re-renders from another angle.
    page.mouse.move(400, 300)
    page.mouse.down()
    page.mouse.move(520, 260, steps=4)
    page.mouse.up()
    page.wait_for_function(f"window.terranbViewer.frames > {state['frames']}", timeout=20_000)
    after = canvas.screenshot(path=str(ARTIFACTS / "viewer_scene_rotated.png"))
    assert np.abs(_pixels(after) - _pixels(before)).mean() > 1.0
    assert offline.attempted == [], f"network requests attempted: {offline.attempted}"
    assert offline.errors == []


def test_notebook_iframe_repr_renders_offline(offline: OfflinePage) -> None:
    from terranb.viz.scene3d import Scene3D

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    xyz = np.c_[rng.uniform(0, 100, 30_000), rng.uniform(0, 80, 30_000), rng.normal(0, 3, 30_000)]
    scene = Scene3D.from_points(xyz, color_by="elevation", height=400)
    # What JupyterLab / nbconvert put in the page: the repr as-is in an output div.
    offline.page.set_content(f"<html><body><div class='output'>{scene._repr_html_()}</div>"
                             "</body></html>")
    frame = offline.page.frame_locator("iframe").first
    inner = next(f for f in offline.page.frames if f != offline.page.main_frame)
    inner.wait_for_function("window.terranbViewer && (window.terranbViewer.ready || "
                            "window.terranbViewer.error)", timeout=60_000)
    assert inner.evaluate("window.terranbViewer.error") is None
    shot = frame.locator("#c").screenshot(path=str(ARTIFACTS / "viewer_iframe.png"))
    _assert_not_blank(_pixels(shot), background=(0x1B, 0x1D, 0x22))
    assert offline.attempted == [], f"network requests attempted: {offline.attempted}"


def test_result_map_renders_offline(offline: OfflinePage, tmp_path: Path) -> None:
    import rasterio
    from rasterio.transform import from_origin

    from terranb.viz.maps import map_html, result_map

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    tif = tmp_path / "o.tif"
    yy, xx = np.mgrid[0:300, 0:400]
    data = np.stack([(xx * 255 // 400), (yy * 255 // 300), np.full_like(xx, 90)]).astype(np.uint8)
    with rasterio.open(tif, "w", driver="GTiff", width=400, height=300, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(500_000, 5_000_000, 0.1, 0.1)) as ds:
        ds.write(data)
    offline.page.set_content(map_html(result_map(tif, max_png_bytes=200_000, height=560)))
    offline.page.wait_for_function(
        "(() => { const i = document.querySelector('img.leaflet-image-layer');"
        " return i && i.complete && i.naturalWidth > 0; })()", timeout=30_000)
    offline.page.wait_for_timeout(300)  # let Leaflet's zoom animation settle
    shot = offline.page.screenshot(path=str(ARTIFACTS / "result_map.png"))
    _assert_not_blank(_pixels(shot))
    assert offline.page.evaluate("typeof L") == "object"
    assert offline.attempted == [], f"network requests attempted: {offline.attempted}"

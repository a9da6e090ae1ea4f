"""The survey report opens in headless Chromium without a single network request failing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from _browser import artifact, assert_not_blank, launch, require_chromium

pytest.importorskip("rasterio")
pytest.importorskip("folium")

_spec = importlib.util.spec_from_file_location(
    "_terranb_test_trees", Path(__file__).resolve().parents[1] / "report" / "_trees.py")
trees = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
_spec.loader.exec_module(trees)  # type: ignore[union-attr]


@pytest.mark.browser
def test_report_opens_offline_in_chromium(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import sync_playwright

    from terranb.report import build_report

    results = trees.make_all(tmp_path / "results")
    report = build_report(results, tmp_path / "report.html")
    failed: list[str] = []
    external: list[str] = []
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("requestfailed", lambda r: failed.append(f"{r.url[:120]} {r.failure}"))
        page.on("request", lambda r: external.append(r.url[:120])
                if not r.url.startswith(("file:", "data:", "about:", "blob:")) else None)
        page.goto(report.as_uri(), wait_until="load")
        page.wait_for_timeout(1500)  # let the map and 3D frames run their scripts
        for title in ("Results", "Map", "3D views", "Statistics", "Findings", "Run card"):
            assert page.locator(f"h2:text-is('{title}')").count() == 1, title
        # ortho map + LiDAR density map + mesh view + point view
        assert page.locator("iframe").count() == 4
        png = page.screenshot(full_page=True)
        artifact("report_full.png").write_bytes(png)
        assert_not_blank(png, "the report page")
        for title in ("map", "density"):
            # the Leaflet maps really drew inside their frames
            frame = page.frame_locator(f"#map iframe[title='{title}']")
            assert frame.locator(".leaflet-container").count() == 1
            assert frame.locator(".leaflet-image-layer").count() >= 1  # ortho / density image
            el = page.locator(f"#map iframe[title='{title}']")
            el.scroll_into_view_if_needed()
            page.wait_for_timeout(800)  # offscreen frames are not painted until visible
            map_png = el.screenshot()
            artifact(f"report_{title}.png").write_bytes(map_png)
            assert_not_blank(map_png, f"the report's {title} map")
            # the map fills its frame: no white band under it (there was one of 20 px)
            inner = el.element_handle().content_frame()
            assert inner is not None
            map_h, frame_h = inner.evaluate(
                "() => [document.querySelector('.folium-map').getBoundingClientRect().height,"
                " window.innerHeight]")
            assert abs(map_h - frame_h) < 2, (title, map_h, frame_h)
        # the 3D views draw (WebGL, or nothing): each frame, scrolled into view, is not blank
        views = page.locator("#views iframe")
        assert views.count() == 2
        for i in range(views.count()):
            views.nth(i).scroll_into_view_if_needed()
            page.wait_for_timeout(800)  # offscreen frames are not painted until visible
            shot = views.nth(i).screenshot()
            artifact(f"report_view{i}.png").write_bytes(shot)
            assert_not_blank(shot, f"3D view {i}")
        browser.close()
    assert failed == [], f"failed requests: {failed}"
    assert external == [], f"requests that leave the page: {external}"


@pytest.mark.browser
def test_map_fitted_before_its_frame_has_a_size_refits(tmp_path: Path) -> None:
    """A report map whose frame has no size when its script runs (Chromium printed some PDFs
    that way: scale bars of 5000 km) fits its bounds again once the frame gets a size."""
    require_chromium()
    import html

    from playwright.sync_api import sync_playwright

    from terranb.viz.maps import map_html, result_map

    bbox = (-91.9947, 46.8424, -91.9927, 46.8433)  # the demo site, 150 m x 100 m
    doc = map_html(result_map(bboxes={"site": bbox}, height=400))
    page_html = ('<iframe id="f" style="width:0;height:0;border:0" sandbox="allow-scripts" '
                 f'srcdoc="{html.escape(doc, quote=True)}"></iframe>')
    zoom = """() => { const k = Object.keys(window).find(n => n.startsWith('map_'));
                      return window[k].getZoom(); }"""
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 900, "height": 600})
        page.set_content(page_html, wait_until="load")
        page.wait_for_timeout(500)
        frame = page.frames[1]
        assert frame.evaluate(zoom) <= 3  # fitted at size 0: the whole world
        page.evaluate("document.getElementById('f').style.cssText = "
                      "'width:800px;height:400px;border:0'")
        page.wait_for_timeout(800)
        fitted = frame.evaluate(zoom)
        browser.close()
    assert fitted >= 16, f"the map stayed at zoom {fitted} after its frame got a size"


@pytest.mark.browser
@pytest.mark.parametrize("sandbox", ["report", "opaque origin"])
def test_report_mesh_view_shows_its_texture(tmp_path: Path, sandbox: str) -> None:
    """A screenshot as a person takes one (``chromium --headless --screenshot
    --virtual-time-budget``): an opaque-origin frame runs in its own process, which the
    screenshot does not wait for, so a photo-sized texture was not decoded yet and the
    mesh was black; the report's frames share the page's origin and the texture shows."""
    require_chromium()
    import shutil
    import subprocess

    import numpy as np
    from PIL import Image

    from terranb.report.template import iframe
    from terranb.viz.scene3d import Scene3D

    j, i = np.mgrid[0:60, 0:60]
    v = np.c_[i.ravel() * 1.0, j.ravel() * 1.0, np.sin(i / 9.0).ravel() * 3]
    a = (j[:-1, :-1] * 60 + i[:-1, :-1]).ravel()
    f = np.r_[np.c_[a, a + 1, a + 61], np.c_[a, a + 61, a + 60]]
    # a bright yellow photo of a real texture's size (a tiny one decodes at once)
    rng = np.random.default_rng(0)
    tex = (np.array([230, 200, 40]) + rng.integers(-20, 20, (911, 1507, 3))).astype(np.uint8)
    scene = Scene3D(title="textured", max_bytes=2_000_000)
    scene.add_mesh(v, f, uv=np.c_[i.ravel() / 59.0, j.ravel() / 59.0], texture=tex, name="m")
    frame = iframe(scene.html(), 480, "textured")
    if sandbox == "opaque origin":
        frame = frame.replace('sandbox="allow-scripts allow-same-origin"',
                              'sandbox="allow-scripts"')
    page_file = tmp_path / "page.html"
    page_file.write_text(f"<html><body style='margin:0'>{frame}</body></html>", encoding="utf-8")
    shot = artifact(f"report_mesh_{sandbox.replace(' ', '_')}.png")
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=900,520", "--virtual-time-budget=10000",
                    f"--screenshot={shot}", page_file.as_uri()],
                   check=True, capture_output=True, timeout=120)
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    yellow = int(((img[..., 0] > 150) & (img[..., 1] > 130) & (img[..., 2] < 90)).sum())
    dark_mesh = int((img.sum(axis=2) < 20).sum())  # the black mesh of the failure
    if sandbox == "report":
        assert yellow > 20_000 and dark_mesh < 2_000, (yellow, dark_mesh)
    elif yellow > 20_000:  # documents why the report's frames are not opaque-origin
        pytest.skip("this Chromium draws textures in opaque-origin frames too")

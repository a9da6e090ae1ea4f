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

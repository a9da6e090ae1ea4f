"""Notebooks 01 and 06 as an analyst meets them in Voila, looked at in headless Chromium.

Voila serves a copy of the repository's notebooks/ folder (tree mode, so pages are
``/voila/render/notebooks/<nb>``, with the repository's voila.json in its working
folder). For each notebook, after every cell has run:

* no white band under a folium map: each map iframe is as tall as the map inside it
  (DOM heights) and the iframe's last pixel rows are map, not page white;
* the widgets render (tracker, submit, result browser) and still work after the
  last cell: in 01, Check runs preflight on the working folder the notebook made;
* in 06, the report link and the result browser's Report link are Voila URLs that
  answer 200 with the report.

Screenshots go to tests/artifacts/voila_nb01.png, voila_nb06.png.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from _browser import artifact, assert_not_blank, free_port, launch, require_chromium
from test_voila_widgets import _wait_http

pytest.importorskip("voila")
pytest.importorskip("ipywidgets")
pytest.importorskip("moto")

ROOT = Path(__file__).resolve().parents[2]
WHITE_BAND_PX = 12  # more than this many near-white rows at a map's bottom is a gap

MAP_HEIGHT = """() => { const m = document.querySelector('.folium-map');
  return m ? m.getBoundingClientRect().height : null; }"""


def _white_rows_at_bottom(png: bytes) -> int:
    import io

    import numpy as np
    from PIL import Image

    a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    white = (a.min(axis=2) > 245).mean(axis=1) > 0.98  # a row that is (nearly) all white
    n = 0
    for row in white[::-1]:
        if not row:
            break
        n += 1
    return n


def _check_maps(page: Any, name: str) -> int:
    """Every folium map iframe (sandboxed srcdoc ones too, read through Playwright's frame
    access) is as tall as its map, and its bottom rows are map, not white page."""
    frames = page.locator("iframe")
    checked = 0
    for i in range(frames.count()):
        el = frames.nth(i)
        inner = el.element_handle().content_frame()
        map_h = inner.evaluate(MAP_HEIGHT) if inner is not None else None
        if map_h is None:
            continue  # a 3D view or the report, not a map
        frame_h = el.evaluate("f => f.getBoundingClientRect().height")
        assert abs(frame_h - map_h) <= 4, (
            f"{name}: map {i} is {map_h:.0f} px tall in a {frame_h:.0f} px iframe "
            f"(a {frame_h - map_h:.0f} px white gap)")
        el.scroll_into_view_if_needed()
        band = _white_rows_at_bottom(el.screenshot())
        assert band <= WHITE_BAND_PX, f"{name}: {band} white rows under map {i}"
        checked += 1
    assert checked, f"{name}: no folium map iframe on the page"
    return checked


def _full_page(page: Any) -> bytes:
    """Voila's page scrolls inside its own container, which full_page does not see: grow the
    viewport to the tallest scroll height, shoot, and restore it."""
    height = page.evaluate(
        "Math.max(...[...document.querySelectorAll('body, body *')].map(e => e.scrollHeight))")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 12_000)})
    page.wait_for_timeout(600)
    try:
        return bytes(page.screenshot(full_page=True))
    finally:
        page.set_viewport_size(size)


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.read()


@pytest.mark.browser
@pytest.mark.slow
def test_notebooks_01_and_06_in_voila(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks",
                    ignore=shutil.ignore_patterns("terranb-nb*", "conftest.py"))
    shutil.copy(ROOT / "voila.json", tmp_path / "voila.json")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "TERRANB_NOTEBOOK_CLEANUP"}
    log = (tmp_path / "voila.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "voila", str(tmp_path), "--no-browser", f"--port={port}",
         "--Voila.ip=127.0.0.1", "--show_tracebacks=True"],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(base + "/", proc, 60)
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.set_default_timeout(180_000)
            expect.set_options(timeout=180_000)  # kernels run whole notebooks first

            # -- 01: maps, tracker, submit; still usable after the last cell
            page.goto(base + "/voila/render/notebooks/01_quick_start.ipynb")
            expect(page.get_by_text("the emulator and the widgets stay usable")).to_be_visible()
            assert "Traceback" not in page.inner_text("body")
            expect(page.locator(".terranb-tracker")).to_be_visible()
            expect(page.locator(".terranb-tracker")).to_contain_text("succeeded")
            page.get_by_role("button", name="Check").click()
            expect(page.locator(".tnb-verdict")).to_contain_text("ready to submit")
            page.wait_for_timeout(500)
            assert _check_maps(page, "01") >= 2
            shot = _full_page(page)
            artifact("voila_nb01.png").write_bytes(shot)
            assert_not_blank(shot, "notebook 01 in Voila")

            # -- 06: report link served, browser renders, its Report link served too
            page.goto(base + "/voila/render/notebooks/06_survey_report.ipynb")
            expect(page.get_by_text("kept terranb-nb06-")).to_be_visible()
            assert "Traceback" not in page.inner_text("body")
            href = page.locator("a.tnb-report-link").get_attribute("href") or ""
            assert href.startswith("/voila/files/notebooks/terranb-nb06-"), href
            status, body = _get(base + href)
            assert status == 200 and b"Run card" in body
            b = page.locator(".terranb-browser")
            expect(b).to_be_visible()
            b.get_by_role("button", name="Report").click()
            link = b.locator("a.tnb-link-voila")
            expect(link).to_be_visible()
            status, body = _get(base + (link.get_attribute("href") or ""))
            assert status == 200 and b"<html" in body[:2000].lower()
            b.get_by_role("button", name="Map").click()
            expect(b).to_contain_text("map: done")
            page.wait_for_timeout(1000)
            assert _check_maps(page, "06") >= 1
            shot = _full_page(page)
            artifact("voila_nb06.png").write_bytes(shot)
            assert_not_blank(shot, "notebook 06 in Voila")
            part = b.screenshot()
            artifact("voila_browser.png").write_bytes(part)
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    text = (tmp_path / "voila.log").read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]

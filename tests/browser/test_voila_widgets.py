"""Real browser: the submit and tracker widgets served by Voila, clicked in headless Chromium.

A small notebook (written here) starts the emulator, writes a 12-photo sample
flight and shows the submit widget and the job tracker. Voila serves it on
127.0.0.1; Playwright drives the Debian chromium: Check, wait for the preflight
verdict, Submit, wait until the tracker shows the job succeeded. Screenshots go
to tests/artifacts/ and are checked for content; the DOM is checked for texts.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from _browser import artifact, assert_not_blank, free_port, launch, require_chromium

pytest.importorskip("voila")
pytest.importorskip("ipywidgets")
pytest.importorskip("moto")

APP = '''
import contextlib
from pathlib import Path

from terranb.dataset.synthetic import make_sample_flight
from terranb.emulator import serve
from terranb.jobs import Ledger
from terranb.widgets import JobTracker, LedgerOps, SubmitOps, SubmitWidget, backends_for
import ipywidgets as w

WORK = Path({work!r})
stack = contextlib.ExitStack()  # the emulator lives as long as the kernel
emu = stack.enter_context(serve(job_seconds=1, seed=3))
flight = make_sample_flight(WORK / "flight", seed=3, photos=12, image_size=(600, 400),
                            lidar=False)
factory = backends_for(emu)
ledger = Ledger(WORK / "state")
tracker = JobTracker(LedgerOps(ledger, factory), dest=WORK / "results", interval=0.5,
                     idle_interval=1.0)
submit = SubmitWidget(flight.photos[0].parent, ops=SubmitOps(factory, ledger), tracker=tracker)
tracker.start()
w.VBox([w.HTML("<h3 id='tnb-app'>terranb widgets</h3>"), submit.widget, tracker.widget])
'''


def _notebook(path: Path, work: Path) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(APP.format(work=str(work)))], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, path)


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"voila exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "api", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # the server answers (voila has no /api page): it is up
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"voila did not answer on {url} within {timeout} s")


@pytest.mark.browser
@pytest.mark.slow
def test_submit_and_track_in_voila(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    work = tmp_path / "work"
    work.mkdir()
    app = tmp_path / "app.ipynb"
    _notebook(app, work)
    port = free_port()
    log = (tmp_path / "voila.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "voila", str(app), "--no-browser", f"--port={port}",
         "--Voila.ip=127.0.0.1", "--show_tracebacks=True",
         "--ServerApp.disable_check_xsrf=True"],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, env=dict(os.environ))
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_http(url, proc, 60)
        with sync_playwright() as p:
            browser = launch(p)
            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            page.set_default_timeout(120_000)
            page.goto(url, wait_until="domcontentloaded")
            check = page.get_by_role("button", name="Check")
            expect(check).to_be_visible(timeout=150_000)  # kernel + emulator + flight
            submit = page.get_by_role("button", name="Submit")
            expect(submit).to_be_disabled()
            check.click()
            expect(page.locator(".tnb-verdict")).to_contain_text("ready to submit")
            expect(submit).to_be_enabled()
            shot = page.screenshot(full_page=True)
            artifact("voila_checked.png").write_bytes(shot)
            assert_not_blank(shot, "the checked submit widget")
            assert "photos" in page.locator(".terranb-submit").inner_text()
            assert page.locator(".terranb-submit iframe").count() == 1  # footprint map

            submit.click()
            expect(page.locator(".tnb-job-uuid")).to_be_visible(timeout=120_000)
            uuid = page.locator(".tnb-job-uuid").inner_text().strip()
            assert len(uuid) == 36
            tracker = page.locator(".terranb-tracker")
            expect(tracker.locator(".tnb-state", has_text="succeeded")).to_be_visible(
                timeout=120_000)
            expect(tracker).to_contain_text(uuid[:8])
            page.wait_for_timeout(300)
            shot = page.screenshot(full_page=True)
            artifact("voila_finished.png").write_bytes(shot)
            assert_not_blank(shot, "the finished page")
            for cls in (".terranb-submit", ".terranb-tracker"):
                part = page.locator(cls).screenshot()
                name = cls.strip(".").replace("terranb-", "")
                artifact(f"voila_{name}.png").write_bytes(part)
                assert_not_blank(part, cls, min_colours=8)
            # the upload bar reached 100 % and the download button is enabled for the job
            assert "/" in page.locator(".terranb-submit").inner_text()  # "x MB / y MB"
            expect(tracker.get_by_role("button", name="Download")).to_be_enabled()
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

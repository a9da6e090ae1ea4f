"""End to end: the emulator's dock mission -> Job.from_flight_task (a FlightHub 2 map
model built from the flight's media, nothing uploaded) -> wait -> results ->
open_results -> the model's preview image and the survey report; and the same photos
through open modeling give the same ortho: overlapping extents, the same ground sample
distance, and pixels that agree over the common area."""

from __future__ import annotations

import shutil
import time
import urllib.request

import pytest

from terranb.jobs.factory import make_backend
from terranb.jobs.job import Job
from terranb.jobs.ledger import Ledger
from terranb.params import GeoDesc, Params2D

pytestmark = [pytest.mark.slow, pytest.mark.served, pytest.mark.timeout(240)]
emulator = pytest.importorskip("terranb.emulator")


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))


def test_dock_mission_to_map_model_results(tmp_path):
    from terranb.results.layout import open_results

    params = Params2D(quality_level=3, output_geo_desc=GeoDesc("EPSG:32615"))
    with emulator.serve(job_seconds=1, seed=3) as emu:
        kw = {"user_token": emu.user_token, "project_uuid": emu.project_uuid,
              "base_url": emu.base_url}
        ledger = Ledger(tmp_path / "ledger")
        fh = make_backend("flighthub", **kw).client  # type: ignore[attr-defined]
        sn = fh.projects.dock_serials()[0]
        (task,) = fh.flight_tasks.list(sn, 0, int(time.time()) + 60)
        job = Job.from_flight_task(task.uuid, params, backend=make_backend("flighthub-map",
                                                                           **kw),
                                   ledger=ledger)
        assert job.status().state.value in ("queued", "running", "processing", "succeeded")
        assert job.wait(interval=0.3, timeout=180).state.value == "succeeded"
        out = job.results(tmp_path / "map_model")
        detail = fh.map_models.get(job.id)
        with urllib.request.urlopen(detail.preview_url) as r:
            preview_png = r.read()
        # The same photos (downloaded from the task's media) through open modeling.
        photos = tmp_path / "photos"
        photos.mkdir()
        for m in fh.flight_tasks.media(task.uuid):
            with urllib.request.urlopen(m.original_url) as r, open(photos / m.name, "wb") as f:
                shutil.copyfileobj(r, f)
        om = Job.submit(photos, params, backend=make_backend("flighthub", **kw),
                        ledger=ledger, journal=tmp_path / "j.sqlite3")
        om.wait(interval=0.3, timeout=180)
        out_om = om.results(tmp_path / "open_modeling")
        again = Job.attach(job.id, ledger=ledger, **kw)
        assert again.backend.kind == "flighthub-map"
    tree, ref = open_results(out), open_results(out_om)
    assert tree.ortho is not None and ref.ortho is not None
    assert tree.ortho.crs is not None and tree.ortho.crs.to_epsg() == 32615
    ratio = _overlap(tree.ortho.bounds, ref.ortho.bounds)
    print(f"map model vs open modeling ortho extent overlap: {ratio:.3f}")
    assert ratio > 0.9
    gsd, gsd_ref = tree.ortho.gsd_m, ref.ortho.gsd_m
    assert gsd and gsd_ref and abs(gsd / gsd_ref - 1) < 0.05, (gsd, gsd_ref)
    corr = _pixel_agreement(tree.ortho.path, ref.ortho.path)
    print(f"ortho GSD {gsd:.4f} vs {gsd_ref:.4f} m; luminance correlation {corr:.3f}")
    assert corr > 0.9

    # Preview: the map model's preview_url is its screennail, the one in the results.
    assert preview_png[:8] == b"\x89PNG\r\n\x1a\n"
    assert preview_png == (out / "map/report/dom_screennail.png").read_bytes()
    # Report: the survey report of the map model's results, from the photos it used.
    from terranb.report import build_report

    html = build_report(out, tmp_path / "dock_mission.html", title="Dock mission").read_text(
        encoding="utf-8")
    for section in ("Map", "Statistics"):
        assert f">{section}</h2>" in html, section
    assert "EPSG:32615" in html or "32615" in html


def _pixel_agreement(a, b) -> float:
    """Correlation of the two orthos' luminance over their common extent (same grid)."""
    import numpy as np
    import rasterio
    from rasterio.windows import from_bounds

    with rasterio.open(a) as ra, rasterio.open(b) as rb:
        left, bottom = max(ra.bounds.left, rb.bounds.left), max(ra.bounds.bottom,
                                                                  rb.bounds.bottom)
        right, top = min(ra.bounds.right, rb.bounds.right), min(ra.bounds.top, rb.bounds.top)
        shape = (256, 256)
        bands = [1, 2, 3]
        la = ra.read(bands, window=from_bounds(left, bottom, right, top, ra.transform),
                     out_shape=(3, *shape)).astype(float).mean(axis=0)
        lb = rb.read(bands, window=from_bounds(left, bottom, right, top, rb.transform),
                     out_shape=(3, *shape)).astype(float).mean(axis=0)
    valid = (la > 0) & (lb > 0)
    assert valid.mean() > 0.5, "the common area is mostly empty"
    return float(np.corrcoef(la[valid], lb[valid])[0, 1])

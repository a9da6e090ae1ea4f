"""End to end: a FlightHub 2 3D job with the seed's default parameter_3d on the emulator
gives a tileset-only result whose local preview renders in the 3D viewer (Chromium)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path
from typing import Any

import pytest

from terranb.jobs.factory import make_backend
from terranb.jobs.job import Job
from terranb.jobs.ledger import Ledger
from terranb.params import Params3D

pytestmark = [pytest.mark.slow, pytest.mark.served, pytest.mark.timeout(240)]

emulator = pytest.importorskip("terranb.emulator")
np = pytest.importorskip("numpy")

FH2_3D = ('{"parameter":{"cut_AOI":false,"generate_b3dm":true,"generate_las":false,'
          '"generate_obj":false,"generate_osgb":false,"generate_ply":false,"generate_pnts":false,'
          '"generate_point_ply":false,"global_min_depth":-1,"model_simplify":0.2,'
          '"output_geo_desc":{"cs_type":"GEO_CS","geo_cs":"EPSG:32650","geo_cs_wkt":"",'
          '"override_vertical_cs":""},"output_mesh":true,"output_ply_with_normals":false,'
          '"output_pointcloud":false,"ply_with_normals_level":0,"quality_level":3,'
          '"stereo_mode":false,"usable_memory_GB":60,"water_refine":false}}')
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


@pytest.fixture(autouse=True)
def _small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto.s3.models as s3models

    monkeypatch.setattr(s3models, "S3_UPLOAD_PART_MIN_SIZE", 64 * 1024)


def _render(html: str) -> tuple[dict[str, Any], Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    from PIL import Image

    args = ["--no-sandbox", "--disable-gpu", "--use-gl=angle", "--use-angle=swiftshader",
            "--enable-unsafe-swiftshader", "--disable-background-networking"]
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            ctx = b.new_context(viewport={"width": 800, "height": 600})
            attempted: list[str] = []

            def route(r: Any) -> None:
                if r.request.url.startswith(("data:", "about:")):
                    r.continue_()
                else:
                    attempted.append(r.request.url)
                    r.abort()

            ctx.route("**/*", route)
            page = ctx.new_page()
            page.set_content(html)
            page.wait_for_function("window.terranbViewer && (window.terranbViewer.ready || "
                                   "window.terranbViewer.error)", timeout=60_000)
            state = page.evaluate("window.terranbViewer")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            png = page.locator("#c").screenshot(path=str(ARTIFACTS / "viewer_fh2_tileset.png"))
            assert attempted == [], attempted
        finally:
            b.close()
    return state, np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(float)


def test_fh2_default_3d_job_ends_with_a_tileset_that_the_viewer_renders(tmp_path):
    synthetic = pytest.importorskip("terranb.dataset.synthetic")
    flight = synthetic.make_sample_flight(tmp_path / "flight", seed=3, rows=3, cols=4,
                                          image_size=(480, 320), lidar=False,
                                          origin=(30.52, 117.05))  # in EPSG:32650's zone
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in flight.photos:
        shutil.copy(p, photos / p.name)
    with emulator.serve(job_seconds=1, seed=5) as emu:
        backend = make_backend("flighthub", user_token=emu.user_token,
                               project_uuid=emu.project_uuid, base_url=emu.base_url)
        job = Job.submit(photos, Params3D.from_json(FH2_3D), backend=backend,
                         ledger=Ledger(tmp_path / "ledger"), journal=tmp_path / "j.sqlite3")
        status = job.wait(interval=0.3, timeout=180)
        assert status.state.value == "succeeded", status
        out = job.results(tmp_path / "out")
    from terranb.results.layout import open_results
    from terranb.viz.scene3d import Scene3D

    tree = open_results(out)
    assert tree.kind == "3d" and tree.meshes == [] and tree.point_clouds == []
    (ts,) = tree.tiled_models
    assert ts.kind == "b3dm" and ts.georeferenced and ts.depth == 2
    scene = Scene3D.from_result(out, max_bytes=4_000_000)
    assert scene.findings == []
    html = scene.html()
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: the tileset preview was built but not rendered")
    state, img = _render(html)
    assert state["error"] is None and state["frames"] >= 1, state
    background = np.array([0x1B, 0x1D, 0x22])
    cover = float((np.abs(img - background).sum(axis=2) > 24).mean())
    assert cover > 0.1, f"only {cover:.1%} of the canvas differs from the background"
    assert float(img.reshape(-1, 3).std(axis=0).sum()) > 20  # texture, not a flat fill

"""End to end: a finished TerraAPI 2D job on the emulator previewed from the bucket.

``Job.preview()`` reads the ortho COG through presigned URLs by counted range reads:
the bytes fetched are a small fraction of the file, the pixels match a local read of
the same overview, and the CLI prints the same preview.
"""

from __future__ import annotations

import json

import pytest

from terranb.jobs.factory import make_backend
from terranb.jobs.job import Job
from terranb.jobs.ledger import Ledger
from terranb.params import Params2D

pytestmark = [pytest.mark.slow, pytest.mark.served, pytest.mark.timeout(240)]

emulator = pytest.importorskip("terranb.emulator")
rasterio = pytest.importorskip("rasterio")
np = pytest.importorskip("numpy")


@pytest.fixture(autouse=True)
def _small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto.s3.models as s3models

    monkeypatch.setattr(s3models, "S3_UPLOAD_PART_MIN_SIZE", 64 * 1024)


def test_finished_2d_job_previews_remotely_for_a_fraction_of_its_bytes(tmp_path, monkeypatch,
                                                                       capsys):
    synthetic = pytest.importorskip("terranb.dataset.synthetic")
    flight = synthetic.make_sample_flight(tmp_path / "flight", photos=24, image_size=(640, 480),
                                          lidar=False, seed=3)
    photos = flight.photos[0].parent
    ledger = tmp_path / "ledger"
    with emulator.serve(job_seconds=1, seed=11) as emu:
        backend = make_backend("terra", app_key=emu.app_key, secret_key=emu.secret_key,
                               base_url=emu.base_url, s3_endpoint_url=emu.s3_endpoint_url)
        job = Job.submit(photos, Params2D(), backend=backend, name="preview",
                         ledger=Ledger(ledger), journal=tmp_path / "j.sqlite3")
        assert job.wait(interval=0.3, timeout=180).state.value == "succeeded"
        preview = job.preview(max_pixels=100_000)
        ortho_item = next(i for i in preview.items if i.kind == "ortho")
        assert ortho_item.status == "previewed", preview.summary()
        size = ortho_item.size
        assert size is not None and size > 200_000, size
        o = preview.ortho
        assert o.rgba.shape[0] * o.rgba.shape[1] <= 100_000
        # Counted bytes: every item's cost adds up, and the ortho cost is far below its file.
        assert preview.bytes_fetched == sum(i.bytes_fetched for i in preview.items)
        assert ortho_item.bytes_fetched < 0.25 * size, (ortho_item.bytes_fetched, size)
        # A cap below what the overview needs is refused, not silently exceeded.
        capped = job.preview(max_pixels=100_000, max_bytes=2_000)
        assert capped.bytes_fetched <= 2_000
        assert next(i for i in capped.items if i.kind == "ortho").status == "error"
        # The CLI previews the same job from the ledger and writes a page.
        from terranb.cli.main import main

        monkeypatch.setenv("DJI_APP_KEY", emu.app_key)
        monkeypatch.setenv("DJI_SECRET_KEY", emu.secret_key)
        monkeypatch.setenv("TERRANB_BASE_URL", emu.base_url)
        monkeypatch.setenv("TERRANB_S3_ENDPOINT_URL", emu.s3_endpoint_url)
        out = tmp_path / "p.html"
        rc = main(["preview", job.id, "--ledger", str(ledger), "--out", str(out),
                   "--max-pixels", "100000", "--json"])
        printed = json.loads(capsys.readouterr().out)
        assert rc == 0 and printed["bytes_fetched"] < 0.25 * size
        assert "Total fetched" in out.read_text(encoding="utf-8")
        assert emu.secret_key not in out.read_text(encoding="utf-8")
        job.results(tmp_path / "out")
    local = next((tmp_path / "out").rglob("result.tif"))
    assert local.stat().st_size == size
    with rasterio.open(local) as ds:
        factors = ds.overviews(1)
    assert o.factor in factors, (o.factor, factors, o.overview_factors)
    with rasterio.open(local, overview_level=factors.index(o.factor)) as ds:
        assert np.array_equal(o.rgba[..., 0], ds.read(1))

"""Fixtures for the bad-input battery: one-line messages, nothing half written."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="module")
def served_job(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One finished 2D job on the embedded emulator, recorded in a ledger of its own."""
    pytest.importorskip("moto")
    pytest.importorskip("rasterio")
    emulator = pytest.importorskip("terranb.emulator")
    from terranb.dataset.synthetic import make_sample_flight
    from terranb.jobs.factory import make_backend
    from terranb.jobs.job import Job
    from terranb.jobs.ledger import Ledger
    from terranb.params import Params2D

    base = tmp_path_factory.mktemp("served")
    flight = make_sample_flight(base / "flight", photos=10, image_size=(64, 64), lidar=False,
                                seed=5)
    photos = flight.photos[0].parent
    saved = {k: os.environ.pop(k) for k in list(os.environ)
             if k.startswith(("DJI_", "TERRANB_", "AWS_")) and k != "TERRANB_REAL_DATA"}
    try:
        with emulator.serve(job_seconds=0.5) as emu:
            backend = make_backend("terra", app_key=emu.app_key, secret_key=emu.secret_key,
                                   base_url=emu.base_url, s3_endpoint_url=emu.s3_endpoint_url)
            ledger_dir = base / "ledger"
            job = Job.submit(photos, Params2D(), backend=backend, ledger=Ledger(ledger_dir),
                             preflight=False, name="badinput")
            job.wait(timeout=120, interval=0.2)
            yield {"emu": emu, "job_id": job.id, "ledger": ledger_dir,
                   "env": {"DJI_APP_KEY": emu.app_key, "DJI_SECRET_KEY": emu.secret_key,
                           "TERRANB_BASE_URL": emu.base_url,
                           "TERRANB_S3_ENDPOINT_URL": emu.s3_endpoint_url or ""}}
    finally:
        os.environ.update(saved)


@pytest.fixture()
def served_env(served_job: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The served job, with its service settings in the environment (as a user would set them)."""
    for k, v in served_job["env"].items():
        if v:
            monkeypatch.setenv(k, v)
    return served_job

"""The widgets against the real emulator: Check, Submit, track to the end, download, browse."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("moto")


@pytest.mark.slow
@pytest.mark.served
def test_check_submit_track_download_browse(tmp_path: Path) -> None:
    from terranb.dataset.synthetic import make_sample_flight
    from terranb.emulator import serve
    from terranb.jobs.ledger import Ledger
    from terranb.widgets import (
        JobTracker,
        LedgerOps,
        ResultBrowser,
        SubmitOps,
        SubmitWidget,
        backends_for,
    )

    flight = make_sample_flight(tmp_path / "flight", seed=1, photos=12, image_size=(600, 400),
                                lidar=False)
    images = flight.photos[0].parent
    with serve(job_seconds=1, seed=1) as emu:
        factory = backends_for(emu)
        ledger = Ledger(tmp_path / "state")
        tracker = JobTracker(LedgerOps(ledger, factory), dest=tmp_path / "results",
                             interval=0.3, idle_interval=0.3)
        w = SubmitWidget(images, ops=SubmitOps(factory, ledger), tracker=tracker)
        w.check_button.click()
        assert w.report is not None and not w.report.errors, w.findings.value
        assert "<iframe" in w.map.value  # footprint map
        assert not w.submit_button.disabled
        w.submit_button.click()
        assert w.job is not None, w.errors
        assert w.total_bar.value == 1.0
        uuid = w.job.id
        assert tracker.rows and tracker.rows[0].record.job_id == uuid

        async def follow() -> str:
            tracker.start()
            for _ in range(300):
                if tracker.rows and tracker.rows[0].state in ("succeeded", "failed"):
                    break
                await asyncio.sleep(0.1)
            tracker.stop()
            return tracker.rows[0].state

        assert asyncio.run(follow()) == "succeeded", tracker.table.value
        assert "succeeded" in tracker.snapshot_html()
        tracker.job_select.value = uuid
        tracker.download_button.click()
        result = tracker.downloaded[uuid]
        assert (result / "map" / "result.tif").is_file()
        ledger.close()

    browser = ResultBrowser(result, link_base=tmp_path)
    assert "orthomosaic" in browser.summary.value
    browser.map_button.click()
    assert "<iframe" in browser.view.value and not browser.errors

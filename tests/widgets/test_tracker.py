"""Headless tests of the job tracker: rows, buttons, the loop task and the HTML snapshot."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ipywidgets")

from terranb.widgets._common import job_row, jobs_table_html, normalise_state
from terranb.widgets.tracker import JobTracker


@dataclass
class FakeJob:
    uuid: str
    name: str
    status: str
    percentage: float = 0.0
    remain_seconds: float | None = None
    message: str = ""
    job_type: str = "2d"
    backend: str = "terra"


@dataclass
class FakeOps:
    """In-memory ledger: each poll advances running jobs by 50 %."""

    jobs: dict[str, FakeJob] = field(default_factory=dict)
    cancelled: list[str] = field(default_factory=list)
    polled: list[str] = field(default_factory=list)
    downloads: list[tuple[str, Path]] = field(default_factory=list)

    def list_jobs(self) -> list[FakeJob]:
        return list(self.jobs.values())

    def poll(self, uuid: str) -> FakeJob:
        self.polled.append(uuid)
        job = self.jobs[uuid]
        if job.status == "executing":
            job.percentage = min(100.0, job.percentage + 50.0)
            job.remain_seconds = 10.0 * (100 - job.percentage) / 50
            if job.percentage >= 100:
                job.status = "execution_finished"
        return job

    def attach(self, uuid: str) -> FakeJob:
        self.jobs[uuid] = FakeJob(uuid, "attached", "executing")
        return self.jobs[uuid]

    def cancel(self, uuid: str) -> None:
        self.cancelled.append(uuid)
        self.jobs[uuid].status = "stopped"

    def download(self, uuid: str, dest: Path, on_progress: Any) -> Path:
        from terranb.transfer.progress import ProgressEvent

        dest.mkdir(parents=True)
        (dest / "map").mkdir()
        (dest / "map" / "result.tif").write_bytes(b"x" * 10)
        on_progress(ProgressEvent("download", "map/result.tif", 10, 10, 10, 10, 1, 1, True))
        self.downloads.append((uuid, dest))
        return dest


def _ops() -> FakeOps:
    ops = FakeOps()
    ops.jobs["aaaaaaaa-1111"] = FakeJob("aaaaaaaa-1111", "flight 2d", "executing", 0.0, 20.0)
    ops.jobs["bbbbbbbb-2222"] = FakeJob("bbbbbbbb-2222", "old", "execution_fail", 40.0,
                                        message="not enough overlap")
    return ops


def test_state_words_cover_both_services() -> None:
    assert normalise_state("execution_finished") == "succeeded"
    assert normalise_state("EXECUTION_FAIL") == "failed"
    assert normalise_state("reconstruction_canceled") == "cancelled"
    assert normalise_state("waiting") == "queued"

    class Status:
        name = "RESULT_PROCESSING"

    assert normalise_state(Status()) == "processing"


def test_refresh_draws_rows_and_enables_buttons(tmp_path: Path) -> None:
    ops = _ops()
    tracker = JobTracker(ops, dest=tmp_path)
    rows = tracker.refresh()
    assert [r.state for r in rows] == ["running", "failed"]
    assert "flight 2d" in tracker.table.value and "not enough overlap" in tracker.table.value
    assert tracker.job_select.value == "aaaaaaaa-1111"
    assert not tracker.cancel_button.disabled  # running job: can cancel
    assert tracker.download_button.disabled     # not finished: nothing to download
    tracker.job_select.value = "bbbbbbbb-2222"
    assert tracker.cancel_button.disabled        # failed job: nothing to cancel
    assert ops.polled == []                      # refresh() reads the ledger only


def test_polling_advances_until_finished_then_download(tmp_path: Path) -> None:
    ops = _ops()
    tracker = JobTracker(ops, dest=tmp_path)
    tracker.refresh_button.click()  # no running loop: runs to completion
    assert ops.polled == ["aaaaaaaa-1111"]  # only active jobs are polled
    assert tracker.rows[0].percentage == 50.0
    assert "10s" in tracker.table.value       # ETA column
    tracker.refresh_button.click()
    assert tracker.rows[0].state == "succeeded"
    assert not tracker.download_button.disabled
    tracker.download_button.click()
    assert ops.downloads == [("aaaaaaaa-1111", tmp_path / "aaaaaaaa-1111")]
    assert tracker.download_bar.value == 1.0
    assert tracker.downloaded["aaaaaaaa-1111"] == tmp_path / "aaaaaaaa-1111"
    assert "downloaded" in tracker.status.value


def test_cancel_and_attach_buttons(tmp_path: Path) -> None:
    ops = _ops()
    tracker = JobTracker(ops, dest=tmp_path)
    tracker.refresh()
    tracker.cancel_button.click()
    assert ops.cancelled == ["aaaaaaaa-1111"]
    assert tracker.rows[0].state == "stopped"
    assert tracker.cancel_button.disabled
    tracker.attach_button.click()  # empty uuid: refused with a message
    assert tracker.errors and "uuid" in tracker.errors[-1]
    tracker.attach_text.value = "cccccccc-3333"
    tracker.attach_button.click()
    assert "cccccccc-3333" in [r.uuid for r in tracker.rows]
    assert tracker.job_select.value == "cccccccc-3333"


def test_errors_of_an_operation_are_shown_not_lost(tmp_path: Path) -> None:
    ops = _ops()

    def boom(uuid: str) -> None:
        raise RuntimeError("service said no")

    ops.cancel = boom  # type: ignore[method-assign]
    tracker = JobTracker(ops, dest=tmp_path)
    tracker.refresh()
    tracker.cancel_button.click()
    assert "service said no" in tracker.status.value


def test_live_task_runs_on_the_loop_without_blocking(tmp_path: Path) -> None:
    ops = _ops()
    tracker = JobTracker(ops, dest=tmp_path, interval=0.01, idle_interval=0.01)

    async def scenario() -> list[str]:
        tracker.start()
        assert tracker.running
        ticks = []
        # the loop stays free: this coroutine keeps running while the tracker polls
        for _ in range(200):
            ticks.append(tracker.rows[0].state if tracker.rows else "")
            if tracker.rows and tracker.rows[0].state == "succeeded":
                break
            await asyncio.sleep(0.01)
        tracker.stop()
        return ticks

    ticks = asyncio.run(scenario())
    assert ticks[-1] == "succeeded"
    assert not tracker.running


def test_snapshot_for_exported_notebooks(tmp_path: Path) -> None:
    tracker = JobTracker(_ops(), dest=tmp_path)
    tracker.refresh()
    bundle = tracker._repr_mimebundle_()
    assert "flight 2d" in bundle["text/html"]
    assert "<table" in bundle["text/html"]
    assert tracker._repr_html_() == bundle["text/html"]


def test_job_row_reads_models_and_dicts() -> None:
    row = job_row({"uuid": "u1", "status": 3, "percentage": 42, "remain_seconds": 5,
                   "type": 14})
    assert row.percentage == 42.0 and row.job_type == "2d" and row.remain_seconds == 5.0
    html = jobs_table_html([row])
    assert "u1" in html and "42%" in html
    assert "no jobs" in jobs_table_html([])


def test_exported_notebook_shows_the_table(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbconvert = pytest.importorskip("nbconvert")
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    tracker = JobTracker(_ops(), dest=tmp_path)
    tracker.refresh()
    cell = new_code_cell("tracker", outputs=[new_output("display_data",
                                                        data=tracker._repr_mimebundle_())])
    nb = new_notebook(cells=[cell])
    html, _ = nbconvert.HTMLExporter().from_notebook_node(nbformat.from_dict(nb))
    assert "terranb-jobs" in html and "flight 2d" in html and "not enough overlap" in html


@pytest.mark.parametrize(("record", "state", "label"), [
    ({"uuid": "t1", "status": 3}, "running", "executing"),
    ({"uuid": "t2", "status": "4"}, "processing", "result processing"),
    ({"uuid": "t3", "state": "succeeded", "raw_status": 6}, "succeeded", "finished"),
    ({"uuid": "f1", "status": 14, "backend": "flighthub"}, "running", "executing"),
    ({"uuid": "f2", "status": 16, "backend": "flighthub"}, "cancelled", "canceled"),
    ({"uuid": "x1", "status": 99}, "unknown", ""),
])
def test_table_shows_status_names_not_codes(record: dict, state: str, label: str) -> None:
    """Ledger records keep the service's integer code; the table names it."""
    row = job_row(record)
    assert (row.state, row.status) == (state, label)
    cell = jobs_table_html([row]).split('class="tnb-state">', 1)[1].split("</td>", 1)[0]
    text = re.sub(r"<[^>]+>", "", cell)  # the words shown, not the styles
    assert not any(ch.isdigit() for ch in text) and state in text and label in text, text


def test_progress_label_is_beside_the_bar_not_over_it() -> None:
    html = jobs_table_html([job_row({"uuid": "p1", "status": 3, "percentage": 42})])
    cell = html.split('class="tnb-progress"', 1)[1].split("</td>", 1)[0]
    assert "position:absolute" not in cell and "display:flex" in cell
    # the label is a sibling after the bar's track, not inside it
    assert re.search(r"</div></div><span[^>]*>42%</span>", cell)

"""Headless tests of the job tracker: rows, buttons, the loop task and the HTML snapshot."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ipywidgets")

from terranb.jobs.ledger import Ledger, LedgerRecord
from terranb.jobs.states import JobState, JobStatus
from terranb.widgets.jobs_table import JobRow, jobs_table_html
from terranb.widgets.tracker import JobTracker


@dataclass
class FakeOps:
    """The tracker's operations over a real ledger, with no service: each poll
    advances a running job by 50 % and writes the answer to the ledger, as
    :meth:`terranb.jobs.Job.status` does."""

    ledger: Ledger
    cancelled: list[str] = field(default_factory=list)
    polled: list[str] = field(default_factory=list)
    downloads: list[tuple[str, Path]] = field(default_factory=list)

    def list_jobs(self) -> list[LedgerRecord]:
        return self.ledger.list()

    def poll(self, uuid: str) -> JobStatus:
        self.polled.append(uuid)
        record = self.ledger.get(uuid)
        assert record is not None
        status = record.last_status()
        if status.state is JobState.RUNNING:
            progress = min(1.0, status.progress + 0.5)
            if progress >= 1.0:
                status = JobStatus(uuid, JobState.SUCCEEDED, 6, 1.0, "finished")
            else:
                status = JobStatus(uuid, JobState.RUNNING, 3, progress, "executing",
                                   remain_seconds=round(10 * (1 - progress) / 0.5))
        self.ledger.update_status(uuid, status)
        return status

    def attach(self, uuid: str) -> LedgerRecord:
        return self.ledger.add(LedgerRecord(uuid, "terra", name="attached", state="running",
                                            raw_status=3))

    def cancel(self, uuid: str) -> None:
        self.cancelled.append(uuid)
        self.ledger.update_status(uuid, JobStatus(uuid, JobState.CANCELLED, 5, 0.0, "stopped"))

    def download(self, uuid: str, dest: Path, on_progress: Any) -> Path:
        from terranb.transfer.progress import ProgressEvent

        dest.mkdir(parents=True)
        (dest / "map").mkdir()
        (dest / "map" / "result.tif").write_bytes(b"x" * 10)
        on_progress(ProgressEvent("download", "map/result.tif", 10, 10, 10, 10, 1, 1, True))
        self.downloads.append((uuid, dest))
        return dest


def _ops(tmp_path: Path) -> FakeOps:
    ledger = Ledger(tmp_path / "ledger")
    ledger.add(LedgerRecord("aaaaaaaa-1111", "terra", name="flight 2d", job_type="2d",
                            state="running", raw_status=3, submitted_at=2.0))
    ledger.add(LedgerRecord("bbbbbbbb-2222", "terra", name="old", job_type="2d",
                            state="failed", raw_status=7, progress=0.4,
                            message="not enough overlap", submitted_at=1.0))
    return FakeOps(ledger)


def test_refresh_draws_rows_and_enables_buttons(tmp_path: Path) -> None:
    ops = _ops(tmp_path)
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
    ops = _ops(tmp_path)
    tracker = JobTracker(ops, dest=tmp_path)
    tracker.refresh_button.click()  # no running loop: runs to completion
    assert ops.polled == ["aaaaaaaa-1111"]  # only active jobs are polled
    assert tracker.rows[0].seen.progress == 0.5
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
    ops = _ops(tmp_path)
    tracker = JobTracker(ops, dest=tmp_path)
    tracker.refresh()
    tracker.cancel_button.click()
    assert ops.cancelled == ["aaaaaaaa-1111"]
    assert tracker.rows[0].state == "cancelled"
    assert tracker.cancel_button.disabled
    tracker.attach_button.click()  # empty uuid: refused with a message
    assert tracker.errors and "uuid" in tracker.errors[-1]
    tracker.attach_text.value = "cccccccc-3333"
    tracker.attach_button.click()
    assert "cccccccc-3333" in [r.record.job_id for r in tracker.rows]
    assert tracker.job_select.value == "cccccccc-3333"


def _raising(exc: Exception) -> Any:
    """An ops method that fails with ``exc`` for any job."""

    def method(uuid: str) -> Any:
        raise exc

    return method


def test_errors_of_an_operation_are_shown_not_lost(tmp_path: Path) -> None:
    ops = _ops(tmp_path)
    ops.cancel = _raising(RuntimeError("service said no"))  # type: ignore[method-assign]
    tracker = JobTracker(ops, dest=tmp_path)
    tracker.refresh()
    tracker.cancel_button.click()
    assert "service said no" in tracker.status.value


def test_live_task_runs_on_the_loop_without_blocking(tmp_path: Path) -> None:
    ops = _ops(tmp_path)
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
    tracker = JobTracker(_ops(tmp_path), dest=tmp_path)
    tracker.refresh()
    bundle = tracker._repr_mimebundle_()
    assert "flight 2d" in bundle["text/html"]
    assert "<table" in bundle["text/html"]
    assert tracker._repr_html_() == bundle["text/html"]


def test_a_poll_replaces_the_ledgers_status_and_brings_the_eta() -> None:
    record = LedgerRecord("u1", "terra", name="n", job_type="lidar", state="queued",
                          raw_status=1)
    row = JobRow.from_record(record)
    assert (row.state, row.status_label, row.seen.remain_seconds) == ("queued", "waiting", None)
    polled = row.observed(JobStatus("u1", JobState.RUNNING, 3, 0.42, "executing",
                                    remain_seconds=3725))
    assert (polled.state, polled.record.job_type) == ("running", "lidar")
    html = jobs_table_html([polled])
    assert "u1" in html and "42%" in html and "1h 02m" in html
    assert "no jobs" in jobs_table_html([])


def test_a_failed_poll_shows_its_error_and_keeps_the_row(tmp_path: Path) -> None:
    ops = _ops(tmp_path)
    ops.poll = _raising(ConnectionError("service unreachable"))  # type: ignore[method-assign]
    tracker = JobTracker(ops, dest=tmp_path)
    tracker.refresh_button.click()
    assert tracker.rows[0].state == "running"  # the ledger's last status stays
    assert tracker.rows[0].message == "ConnectionError: service unreachable"
    assert "service unreachable" in tracker.table.value
    assert tracker.rows[1].message == "not enough overlap"  # finished jobs are not polled


def test_exported_notebook_shows_the_table(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbconvert = pytest.importorskip("nbconvert")
    from nbformat.v4 import new_code_cell, new_notebook, new_output

    tracker = JobTracker(_ops(tmp_path), dest=tmp_path)
    tracker.refresh()
    cell = new_code_cell("tracker", outputs=[new_output("display_data",
                                                        data=tracker._repr_mimebundle_())])
    nb = new_notebook(cells=[cell])
    html, _ = nbconvert.HTMLExporter().from_notebook_node(nbformat.from_dict(nb))
    assert "terranb-jobs" in html and "flight 2d" in html and "not enough overlap" in html


@pytest.mark.parametrize(("record", "state", "label"), [
    (LedgerRecord("t1", "terra", state="running", raw_status=3), "running", "executing"),
    (LedgerRecord("t2", "terra", state="processing", raw_status=4), "processing",
     "result processing"),
    (LedgerRecord("t3", "terra", state="succeeded", raw_status=6), "succeeded", "finished"),
    (LedgerRecord("t4", "terra", state="queued"), "queued", ""),  # nothing seen yet: -1
    (LedgerRecord("f1", "flighthub", state="running", raw_status=14), "running", "executing"),
    (LedgerRecord("f2", "flighthub", state="cancelled", raw_status=16), "cancelled",
     "canceled"),
    (LedgerRecord("m1", "flighthub-map", state="succeeded", raw_status=0), "succeeded", ""),
    (LedgerRecord("x1", "terra", state="unknown", raw_status=99), "unknown", ""),
])
def test_table_shows_status_names_not_codes(record: LedgerRecord, state: str,
                                            label: str) -> None:
    """Ledger records keep the service's integer code; the table names it."""
    row = JobRow.from_record(record)
    assert (row.state, row.status_label) == (state, label)
    cell = jobs_table_html([row]).split('class="tnb-state">', 1)[1].split("</td>", 1)[0]
    text = re.sub(r"<[^>]+>", "", cell)  # the words shown, not the styles
    assert not any(ch.isdigit() for ch in text) and state in text and label in text, text


def test_a_polled_flighthub_row_names_its_code_as_flighthub_does() -> None:
    """A poll's answer carries no backend: the row labels it by its record's backend (the
    FlightHub 2 code 14 is "executing", not TerraAPI's unknown 14), as the ledger row is."""
    row = JobRow.from_record(LedgerRecord("f1", "flighthub", state="queued", raw_status=12))
    assert row.status_label == "requesting resource"
    polled = row.observed(JobStatus("f1", JobState.RUNNING, 14, 0.3, "reconstruction executing"))
    assert polled.status_label == "executing"
    assert "running <small" in jobs_table_html([polled])


def test_progress_label_is_beside_the_bar_not_over_it() -> None:
    row = JobRow.from_record(LedgerRecord("p1", "terra", state="running", raw_status=3,
                                          progress=0.42))
    html = jobs_table_html([row])
    cell = html.split('class="tnb-progress"', 1)[1].split("</td>", 1)[0]
    assert "position:absolute" not in cell and "display:flex" in cell
    # the label is a sibling after the bar's track, not inside it
    assert re.search(r"</div></div><span[^>]*>42%</span>", cell)

"""The run card's job entry built from the job ledger's record (what the demo writes)."""

from __future__ import annotations

from pathlib import Path

from terranb.jobs.ledger import Ledger, LedgerRecord
from terranb.jobs.states import JobState, JobStatus
from terranb.report.runcard import JobRecord, RunCard


def test_job_record_from_a_ledger_round_trip(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.add(LedgerRecord(job_id="1b4e28ba-2fa1-11d2-883f-0016d3cca427", backend="terra",
                            name="roof", job_type="3d", resource_uuid="res-1",
                            parameters='{"type":15}', state="queued",
                            submitted_at=1_700_000_000.0, started_at=1_700_000_005.0))
    ledger.update_status("1b4e28ba-2fa1-11d2-883f-0016d3cca427",
                         JobStatus("1b4e28ba-2fa1-11d2-883f-0016d3cca427", JobState.SUCCEEDED, 6,
                                   1.0, "finished", None, "out-res"))
    record = ledger.get("1b4e28ba")
    assert record is not None and record.finished_at is not None

    job = JobRecord.from_ledger(record, results_dir="3d")
    assert (job.uuid, job.job_type, job.backend, job.name) == (record.job_id, "3d", "terra", "roof")
    assert (job.parameters, job.status) == ('{"type":15}', "succeeded")
    assert (job.resource_uuid, job.output_resource_uuid) == ("res-1", "out-res")
    assert (job.submitted_at, job.started_at) == ("2023-11-14T22:13:20+00:00",
                                                  "2023-11-14T22:13:25+00:00")
    assert job.finished_at.endswith("+00:00") and job.results_dir == "3d"

    card = RunCard(backend="terra", jobs=[job])
    assert RunCard.from_dict(card.to_dict()).jobs == [job]


def test_job_record_from_a_record_not_yet_started_leaves_times_empty() -> None:
    job = JobRecord.from_ledger(LedgerRecord(job_id="j", backend="flighthub",
                                             results_dir="/tmp/out"))
    assert (job.started_at, job.finished_at, job.status) == ("", "", "unknown")
    assert job.submitted_at and job.results_dir == "/tmp/out"

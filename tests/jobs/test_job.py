"""The Job handle over an in-memory backend: submit, reuse, preflight, wait, cancel, results."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from terranb.errors import ConfigError, JobFailed, PreflightError, ValidationError
from terranb.jobs.job import Job, SubmitProgress
from terranb.jobs.ledger import Ledger
from terranb.jobs.states import JobState
from terranb.params import Params2D, Params3D
from terranb.transfer.journal import Journal
from terranb.transfer.progress import ProgressEvent

FAST = {"interval": 0.0, "sleep": lambda s: None}


def _submit(photos: Path, backend, tmp_path: Path, params=None, **kw):
    return Job.submit(photos, params or Params2D(), backend=backend, preflight=False,
                      ledger=Ledger(tmp_path / "ledger"), journal=tmp_path / "j.sqlite3", **kw)


def test_submit_uploads_binds_starts_and_records(photos, backend, tmp_path):
    events = []
    job = _submit(photos, backend, tmp_path, name="survey", on_progress=events.append)
    assert sorted(backend.resources[job.resource_uuid]) == sorted(p.name for p in photos.iterdir())
    assert backend.bind_calls == 2  # 60 files in batches of 50
    info = backend.jobs[job.id]
    assert info["type"] == 14 and info["parameters"] == Params2D().to_json()
    steps = [e.step for e in events if isinstance(e, SubmitProgress)]
    assert steps == ["upload", "resource", "bind", "start", "done"]
    uploads = [e for e in events if isinstance(e, ProgressEvent) and e.phase == "upload"]
    assert uploads[-1].total_done == sum(p.stat().st_size for p in photos.iterdir())
    rec = Ledger(tmp_path / "ledger").get(job.id)
    assert rec.backend == "terra" and rec.name == "survey" and rec.job_type == "2d"
    assert rec.resource_uuid == job.resource_uuid and len(rec.fingerprint) == 64
    assert rec.dataset == str(photos.resolve())


def test_second_job_with_other_parameters_reuses_the_resource(photos, backend, tmp_path):
    first = _submit(photos, backend, tmp_path)
    tokens, binds = backend.tokens, backend.bind_calls
    second = _submit(photos, backend, tmp_path, params=Params3D())
    assert second.resource_uuid == first.resource_uuid
    assert backend.bind_calls == binds  # nothing bound again
    with Journal(tmp_path / "j.sqlite3") as j:
        assert j.runs()[-1].bytes_sent == 0  # nothing uploaded again
    assert backend.jobs[second.id]["type"] == 15
    # Explicit resource: no upload at all.
    third = Job.submit(None, Params2D(), backend=backend, resource=first.resource_uuid,
                       ledger=Ledger(tmp_path / "ledger"))
    assert third.resource_uuid == first.resource_uuid and backend.tokens == tokens + 1


def test_changed_data_set_gets_a_new_resource(photos, backend, tmp_path):
    first = _submit(photos, backend, tmp_path)
    (photos / "DJI_0000.JPG").write_bytes(b"retaken photo")
    second = _submit(photos, backend, tmp_path)
    assert second.resource_uuid != first.resource_uuid
    assert len(backend.resources[second.resource_uuid]) == 60


def test_wait_reports_updates_and_results_download(photos, backend, tmp_path):
    job = _submit(photos, backend, tmp_path)
    seen = []
    status = job.wait(on_update=seen.append, **FAST)
    assert status.state is JobState.SUCCEEDED
    assert [s.state for s in seen] == [JobState.QUEUED, JobState.RUNNING, JobState.RUNNING,
                                      JobState.SUCCEEDED]  # progress moved: two updates
    out = job.results(tmp_path / "out")
    assert (out / "map/result.tif").read_bytes() == b"tif" * 100
    rec = Ledger(tmp_path / "ledger").get(job.id)
    assert rec.state == "succeeded" and rec.finished_at and rec.outputs == ["map/result.tif",
                                                                             "mission.json"]


def test_failed_job_raises_job_failed_with_the_message(photos, backend, tmp_path):
    backend.fail_with = 7
    job = _submit(photos, backend, tmp_path)
    with pytest.raises(JobFailed, match="too few tie points") as info:
        job.wait(**FAST)
    assert info.value.job.raw_status == 7
    with pytest.raises(JobFailed):
        job.results(tmp_path / "out")


def test_cancel(photos, backend, tmp_path):
    job = _submit(photos, backend, tmp_path)
    assert job.cancel().state is JobState.CANCELLED
    with pytest.raises(JobFailed, match="cancelled"):
        job.wait(**FAST)
    with pytest.raises(JobFailed, match="ended without results: submit a new job"):
        job.results(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_attach_after_restart(photos, backend, tmp_path):
    job = _submit(photos, backend, tmp_path)
    again = Job.attach(job.id[:9], backend=backend, ledger=Ledger(tmp_path / "ledger"))
    assert again.id == job.id and again.resource_uuid == job.resource_uuid
    with pytest.raises(ConfigError, match="not in the ledger"):
        Job.attach("nope-0000", ledger=Ledger(tmp_path / "ledger"))
    # A job submitted elsewhere: attached through the backend and added to the ledger.
    other = backend.start("res-x", 14, "{}", "elsewhere")
    got = Job.attach(other, backend=backend, ledger=Ledger(tmp_path / "ledger"))
    assert got.id == other and Ledger(tmp_path / "ledger").get(other) is not None


def test_job_type_is_required_for_plain_parameters(photos, backend, tmp_path):
    with pytest.raises(ValidationError, match="job type"):
        _submit(photos, backend, tmp_path, params={"parameter": {}})
    job = _submit(photos, backend, tmp_path, params={"parameter": {}}, job_type="lidar")
    assert backend.jobs[job.id]["type"] == 13


def _fake_preflight(monkeypatch, errors):
    mod = types.ModuleType("terranb.dataset.preflight")
    calls = []

    def preflight(source, backend=None, job_type=None):
        calls.append((source, backend, job_type))
        finding = types.SimpleNamespace(severity="error", message="only 3 photos have GPS")
        warning = types.SimpleNamespace(severity="warning", message="a.las: not a JPEG photo")
        return types.SimpleNamespace(findings=[finding, warning] if errors else [warning])

    mod.preflight = preflight
    monkeypatch.setitem(sys.modules, "terranb.dataset.preflight", mod)
    return calls


def test_preflight_errors_refuse_unless_forced(photos, backend, tmp_path, monkeypatch):
    calls = _fake_preflight(monkeypatch, errors=True)
    kw = dict(backend=backend, ledger=Ledger(tmp_path / "l"), journal=tmp_path / "j.sqlite3")
    with pytest.raises(PreflightError, match="only 3 photos have GPS"):
        Job.submit(photos, Params2D(), **kw)
    assert backend.tokens == 0  # nothing uploaded
    job = Job.submit(photos, Params2D(), force=True, **kw)
    assert job.id in backend.jobs and calls[0][1:] == ("terra", "2d")


def test_preflight_warnings_are_reported_before_the_upload(photos, backend, tmp_path,
                                                           monkeypatch):
    _fake_preflight(monkeypatch, errors=False)
    events = []
    Job.submit(photos, Params2D(), backend=backend, ledger=Ledger(tmp_path / "l"),
               journal=tmp_path / "j.sqlite3", on_progress=events.append)
    steps = [(e.step, e.message) for e in events if isinstance(e, SubmitProgress)]
    warned = steps.index(("preflight", "warning: a.las: not a JPEG photo"))
    assert warned < min(i for i, (step, _) in enumerate(steps) if step == "upload")

"""The jobs CLI without a service: ledger listing, usage and error exits, progress bars."""

from __future__ import annotations

import json

from terranb.cli.cmd_jobs import _Bars
from terranb.cli.main import main
from terranb.jobs.job import SubmitProgress
from terranb.jobs.ledger import Ledger, LedgerRecord
from terranb.jobs.states import JobState, JobStatus
from terranb.transfer.progress import ProgressEvent


def test_jobs_list_reads_the_ledger(tmp_path, capsys):
    ledger = Ledger(tmp_path)
    ledger.add(LedgerRecord("11111111-aaaa", "terra", name="north field", job_type="2d",
                            state="running", submitted_at=100.0))
    ledger.add(LedgerRecord("22222222-bbbb", "flighthub", name="south", job_type="3d",
                            state="succeeded", submitted_at=200.0))
    assert main(["jobs", "list", "--ledger", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("22222222-bbbb  flighthub") and "north field" in out[1]
    assert main(["jobs", "list", "--ledger", str(tmp_path), "--json",
                 "--backend", "terra"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [d["job_id"] for d in data] == ["11111111-aaaa"]


def test_empty_ledger_and_default_location_from_env(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TERRANB_LEDGER_DIR", str(tmp_path / "L"))
    assert main(["jobs", "list"]) == 0
    assert "no jobs" in capsys.readouterr().out
    assert (tmp_path / "L" / "ledger.sqlite3").is_file()


def test_usage_and_error_exit_codes(tmp_path, capsys):
    assert main(["submit", str(tmp_path)]) == 2  # --type is required
    capsys.readouterr()
    # Unknown job, no credentials configured: a clear error and exit 1.
    assert main(["jobs", "show", "deadbeef", "--ledger", str(tmp_path), "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"]["type"] in ("ConfigError", "ValidationError")
    assert "terranb: error:" in captured.err


def test_progress_bars_render_on_stderr(capsys):
    bars = _Bars(True)
    bars(SubmitProgress("upload", "uploading flight/"))
    bars(ProgressEvent("upload", "a.jpg", 50, 100, 50, 200, 0, 2))
    bars(ProgressEvent("upload", "b.jpg", 100, 100, 200, 200, 2, 2, True))
    bars.job(JobStatus("j", JobState.RUNNING, 3, 0.42, "executing"))
    bars.close()
    err = capsys.readouterr().err
    assert "uploading flight/" in err and "upload" in err and "42" in err


def test_a_new_step_closes_the_finished_byte_bar(capsys):
    bars = _Bars(True)
    bars(ProgressEvent("upload", "a.jpg", 100, 100, 100, 100, 1, 1, True))
    upload_bar = bars.bars["upload"]
    bars(SubmitProgress("bind", "binding 1 file"))
    assert "upload" not in bars.bars and upload_bar.disable  # closed: not redrawn later
    bars.close()


def test_show_text_gives_readable_times():
    import time

    from terranb.cli.cmd_jobs import _readable

    stamp = time.mktime((2026, 5, 4, 3, 2, 1, 0, 0, -1))
    assert _readable("submitted_at", stamp) == "2026-05-04 03:02:01"
    assert _readable("upload_seconds", 2.56) == "2.6 s"
    assert _readable("progress", 1.0) == 1.0 and _readable("state", "running") == "running"

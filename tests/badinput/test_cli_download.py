"""`terranb download` on the emulator: no clobbering, true counts, ledger vs env origin."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from badinput_helpers import cli_error, no_partials, tree_files

from terranb.cli.main import main

pytestmark = [pytest.mark.served, pytest.mark.timeout(180)]


def _download(served: dict[str, Any], dest: Path, *extra: str) -> int:
    return main(["download", served["job_id"], str(dest), "--ledger", str(served["ledger"]),
                 "--no-progress", *extra])


def test_download_never_clobbers_a_different_file(served_env: dict[str, Any], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "out"
    assert _download(served_env, dest) == 0
    first = tree_files(dest)
    out = capsys.readouterr().out
    real = [n for n in first if not n.startswith(".terranb-")]
    assert out.startswith(f"{len(real)} files in")  # the count printed is the count on disk
    mine = b"my own edited orthomosaic"
    (dest / "map" / "result.tif").write_bytes(mine)
    assert _download(served_env, dest) == 1
    cli_error(capsys.readouterr().err, "refusing to overwrite", "map/result.tif", "--overwrite")
    assert (dest / "map" / "result.tif").read_bytes() == mine  # the user's file is intact
    no_partials(dest)
    # Intent: --overwrite replaces it with the service's file.
    assert _download(served_env, dest, "--overwrite") == 0
    assert tree_files(dest)["map/result.tif"] == first["map/result.tif"]
    no_partials(dest)


def test_identical_files_are_skipped_not_rewritten(served_env: dict[str, Any], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "out"
    assert _download(served_env, dest, "--json") == 0
    before = {p: p.stat().st_mtime_ns for p in dest.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert _download(served_env, dest, "--json") == 0
    files = json.loads(capsys.readouterr().out)["files"]
    assert all((dest / n).is_file() for n in files)
    assert {p: p.stat().st_mtime_ns for p in before} == before


def test_ledger_origin_does_not_beat_the_environment(served_env: dict[str, Any], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The ledger remembers a dead origin; TERRANB_BASE_URL names the live one: env wins."""
    from terranb.jobs.ledger import Ledger

    ledger_dir = tmp_path / "ledger"
    rec = Ledger(served_env["ledger"]).get(served_env["job_id"])
    assert rec is not None
    rec.base_url = "http://127.0.0.1:9"  # discard port: nothing answers there
    Ledger(ledger_dir).add(rec)
    assert main(["jobs", "show", served_env["job_id"], "--ledger", str(ledger_dir),
                 "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["state"] == "succeeded"
    note = [ln for ln in captured.err.splitlines() if "note:" in ln]
    assert len(note) == 1 and "TERRANB_BASE_URL" in note[0] and "127.0.0.1:9" in note[0]


def test_python_api_attach_follows_the_environment(served_env: dict[str, Any],
                                                   tmp_path: Path) -> None:
    from terranb.jobs.job import Job
    from terranb.jobs.ledger import Ledger

    ledger = Ledger(tmp_path / "ledger")
    rec = Ledger(served_env["ledger"]).get(served_env["job_id"])
    assert rec is not None
    rec.base_url = "http://127.0.0.1:9"
    ledger.add(rec)
    job = Job.attach(served_env["job_id"], ledger=ledger)
    assert job.backend.base_url == served_env["env"]["TERRANB_BASE_URL"].rstrip("/")
    assert job.status().state.value == "succeeded"


def test_download_into_a_file_is_refused(served_env: dict[str, Any], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "a-file"
    dest.write_text("x")
    assert _download(served_env, dest) == 1
    cli_error(capsys.readouterr().err, str(dest), "not a folder")
    assert dest.read_text() == "x"


def test_download_checksums_match_the_listing(served_env: dict[str, Any], tmp_path: Path) -> None:
    """What is on disk is what the service listed (MD5 by MD5), no extra result files."""
    from terranb.jobs.job import Job
    from terranb.jobs.ledger import Ledger

    job = Job.attach(served_env["job_id"], ledger=Ledger(served_env["ledger"]))
    listing = job.backend.output_files(job.status())
    job.results(tmp_path / "out")
    on_disk = {n: b for n, b in tree_files(tmp_path / "out").items()
               if not n.startswith(".terranb-")}
    assert sorted(on_disk) == sorted(f.name for f in listing)
    for f in listing:
        if f.checksum and len(f.checksum.strip('"')) == 32:
            assert hashlib.md5(on_disk[f.name]).hexdigest() == f.checksum.strip('"').lower()

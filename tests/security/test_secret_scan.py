"""No secret reaches the console or a file at ``-vv``: submit, download, report, demo.

Every command runs as a child process (``_cli.py`` = the ``terranb`` entry point,
plus instrumentation), so logging is configured exactly as on a terminal:
``-vv`` turns on DEBUG for the root logger, which includes botocore's canonical
requests (``x-amz-security-token:...``), urllib3's request lines (presigned URL
signatures) and s3transfer. The test knows every secret in play -- distinctive
AK/SK and organisation key, and every STS key set the emulator issued, recorded
as it issued them -- and greps stdout, stderr and every file written (ledger,
journal, config, result tree, report, demo folder) for each of them.

The self-test runs the same submit with the redacting filter switched off and
asserts that the STS session token then does appear: the scan can fail, and the
filter is what makes it pass.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("moto")
pytest.importorskip("fastapi")

pytestmark = [pytest.mark.served, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
AK = "AKsecscan0c4f9e2b71d8"
SK = "SKsecscan-7f3e9c1b2a4d6e8f0a1b3c5d7e9f"
USER_TOKEN = "UTsecscan-d41d8cd98f00b204e9800998ecf8427e"


def _run(argv: list[str], env: dict[str, str], cwd: Path,
         timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(HERE / "_cli.py"), *argv], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def _secrets(record: Path, extra: list[str]) -> list[str]:
    found = list(extra)
    if record.exists():
        for line in record.read_text(encoding="utf-8").splitlines():
            found += json.loads(line)
    return [s for s in found if s]


def _leaks(secrets: list[str], blobs: list[tuple[str, bytes]]) -> list[str]:
    return [f"{secret[:6]}... in {where}" for where, blob in blobs for secret in secrets
            if secret.encode() in blob]


def _files(root: Path) -> list[tuple[str, bytes]]:
    return [(str(p.relative_to(root)), p.read_bytes()) for p in sorted(root.rglob("*"))
            if p.is_file()]


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    """An emulator with known identities; records every STS key set it issues."""
    from terranb import emulator
    from terranb.emulator import storage

    record = tmp_path_factory.mktemp("record") / "issued.jsonl"
    original = storage.EmbeddedStorage.issue_credentials

    def issue(self: Any, *args: Any, **kwargs: Any) -> Any:
        creds = original(self, *args, **kwargs)
        with open(record, "a", encoding="utf-8") as fh:
            fh.write(json.dumps([creds.access_key_id, creds.secret_access_key,
                                 creds.session_token]) + "\n")
        return creds

    storage.EmbeddedStorage.issue_credentials = issue  # type: ignore[method-assign]
    try:
        with emulator.serve(app_key=AK, secret_key=SK, user_token=USER_TOKEN, job_seconds=0.5,
                            data_dir=tmp_path_factory.mktemp("emu-data")) as info:
            yield info, record
    finally:
        storage.EmbeddedStorage.issue_credentials = original  # type: ignore[method-assign]


def _env(info: Any, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DJI_", "TERRANB_", "AWS_"))}
    env.update({
        "PYTHONPATH": str(REPO), "HOME": str(work / "home"),
        "XDG_CONFIG_HOME": str(work / "config"), "XDG_CACHE_HOME": str(work / "cache"),
        "TERRANB_LEDGER_DIR": str(work / "ledger"),
        "DJI_APP_KEY": AK, "DJI_SECRET_KEY": SK, "TERRANB_BASE_URL": info.base_url,
        "TERRANB_S3_ENDPOINT_URL": info.s3_endpoint_url,
        "TERRANB_FH2_USER_TOKEN": USER_TOKEN, "TERRANB_FH2_PROJECT_UUID": info.project_uuid,
        "TERRANB_FH2_BASE_URL": info.base_url,
    })
    return env


@pytest.fixture(scope="module")
def flight(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from terranb.dataset.synthetic import make_sample_flight

    out = tmp_path_factory.mktemp("flight")
    sample = make_sample_flight(out, seed=3, photos=10, image_size=(320, 240))
    return sample.photos[0].parent


def _submit(env: dict[str, str], work: Path, flight: Path, *extra: str) -> tuple[str, str]:
    proc = _run(["-vv", "submit", str(flight), "--type", "2d", "--name", "secscan", "--wait",
                 "--no-progress", "--interval", "0.3", "--json", *extra], env, work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, proc.stderr


def test_scan_submit_download_report_at_vv(emu, flight, tmp_path):
    info, record = emu
    work = tmp_path / "work"
    work.mkdir()
    env = _env(info, work)
    out, err = _submit(env, work, flight)
    outputs = [("submit stdout", out.encode()), ("submit stderr", err.encode())]
    assert "DEBUG botocore" in err and "x-amz-security-token:***" in err  # really at DEBUG
    job_id = json.loads(out)["job_id"] if out.strip().startswith("{") else out.split()[0]
    proc = _run(["-vv", "download", job_id, str(work / "results"), "--no-progress"], env, work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs += [("download stdout", proc.stdout.encode()), ("download stderr",
                                                            proc.stderr.encode())]
    assert list((work / "results").rglob("result.tif"))
    proc = _run(["-vv", "report", str(work / "results"), "--out", str(work / "report.html")],
                env, work)
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs += [("report stdout", proc.stdout.encode()), ("report stderr", proc.stderr.encode())]
    # FlightHub 2 as well: the organisation key travels in X-User-Token.
    out2, err2 = _submit(env, work, flight, "--backend", "flighthub")
    outputs += [("fh2 submit stdout", out2.encode()), ("fh2 submit stderr", err2.encode())]
    secrets = _secrets(record, [SK, USER_TOKEN])
    assert len(secrets) >= 2 + 3 * 2  # SK, org key, and at least two STS key sets
    files = _files(work)
    assert any("ledger" in name for name, _ in files) and any(
        name.endswith(".html") for name, _ in files)
    assert not _leaks(secrets, outputs + files)


def test_scan_fails_without_the_filter(emu, flight, tmp_path):
    """Self-test: with the filter off the same submit prints the STS session token."""
    info, record = emu
    work = tmp_path / "work"
    work.mkdir()
    env = _env(info, work) | {"SECSCAN_NO_FILTER": "1"}
    before = len(_secrets(record, []))
    _out, err = _submit(env, work, flight)
    issued = _secrets(record, [])[before:]
    tokens = issued[2::3]
    assert tokens and any(t in err for t in tokens), "the scan could not fail: no token printed"


def test_scan_demo_at_vv(tmp_path):
    record = tmp_path / "record" / "issued.jsonl"
    record.parent.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJI_", "TERRANB_", "AWS_"))}
    env.update({"PYTHONPATH": str(REPO), "HOME": str(work / "home"),
                "XDG_CONFIG_HOME": str(work / "config"), "XDG_CACHE_HOME": str(work / "cache"),
                "SECSCAN_RECORD": str(record), "SECSCAN_SK": SK, "SECSCAN_USER_TOKEN": USER_TOKEN})
    proc = _run(["-vv", "demo", "--out", str(work / "demo"), "--photos", "10", "--job-seconds",
                 "0.5", "--types", "2d,3d", "--no-progress", "--json"], env, work, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "DEBUG botocore" in proc.stderr
    secrets = _secrets(record, [SK, USER_TOKEN])
    assert len(secrets) >= 5
    outputs = [("demo stdout", proc.stdout.encode()), ("demo stderr", proc.stderr.encode())]
    assert not _leaks(secrets, outputs + _files(work))

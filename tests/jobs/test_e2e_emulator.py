"""End to end against the emulator: 200 photos, a 2D job, results; clean vs faults; FH2; CLI.

These start the emulator (``terranb.emulator.serve``) on 127.0.0.1 and are marked
``slow`` and ``served``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from terranb.jobs.factory import make_backend
from terranb.jobs.job import Job
from terranb.jobs.ledger import Ledger
from terranb.params import Params2D
from terranb.transfer.journal import Journal

# A per-test limit well below the global 600 s: a stuck socket fails fast, and
# pytest-timeout prints every thread's stack (the uploader's workers included).
pytestmark = [pytest.mark.slow, pytest.mark.served, pytest.mark.timeout(180)]

emulator = pytest.importorskip("terranb.emulator")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    synthetic = pytest.importorskip("terranb.dataset.synthetic")
    out = tmp_path_factory.mktemp("flight")
    flight = synthetic.make_sample_flight(out, photos=200, image_size=(64, 64), lidar=False,
                                          seed=3)
    root = flight.photos[0].parent
    assert len(list(root.iterdir())) == 200
    return root


@pytest.fixture(autouse=True)
def _small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto.s3.models as s3models

    monkeypatch.setattr(s3models, "S3_UPLOAD_PART_MIN_SIZE", 64 * 1024)


def _terra(emu: Any) -> Any:
    return make_backend("terra", app_key=emu.app_key, secret_key=emu.secret_key,
                        base_url=emu.base_url, s3_endpoint_url=emu.s3_endpoint_url)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _without_clock(data: bytes) -> Any:
    def strip(obj: Any) -> Any:
        if isinstance(obj, dict):
            return {k: strip(v) for k, v in obj.items()
                    if k != "created" and not k.endswith(" time")}
        if isinstance(obj, list):
            return [strip(v) for v in obj]
        return obj

    return strip(json.loads(data))


def _retry(fn: Any) -> Any:
    from terranb.errors import TerranbError

    for _ in range(10):
        try:
            return fn()
        except TerranbError:  # injected faults hit the test's own listing too
            pass
    return fn()


def _run_2d(photos: Path, work: Path, **knobs: Any) -> tuple[dict[str, bytes], list[str], int]:
    with emulator.serve(job_seconds=1, seed=11, **knobs) as emu:
        backend = _terra(emu)
        tokens = []
        obtain = backend.obtain_credentials

        def counted() -> Any:
            tokens.append(1)
            return obtain()

        backend.obtain_credentials = counted  # type: ignore[method-assign]
        job = Job.submit(photos, Params2D(), backend=backend, name="e2e",
                         ledger=Ledger(work / "ledger"), journal=work / "journal.sqlite3")
        job.wait(interval=0.3, timeout=180)
        out = job.results(work / "out")
        names = _retry(lambda: [f.name for f in backend.client.files.list(
            resource_uuid=job.resource_uuid)])
        with Journal(work / "journal.sqlite3") as journal:
            session = journal.find_session(str(photos.resolve()), backend.label())
            rows = journal.files(session.id)
            assert all(r.bind_state == 2 and r.bound_resource == job.resource_uuid for r in rows)
        return _tree(out), names, len(tokens)


@pytest.mark.timeout(300)  # two full runs of 200 photos, one with faults
def test_2d_job_clean_and_with_faults_gives_identical_results(photos, tmp_path):
    clean, clean_names, _ = _run_2d(photos, tmp_path / "clean")
    faulty, faulty_names, tokens = _run_2d(photos, tmp_path / "faulty", fail_rate=0.1,
                                           token_ttl=15)
    local = sorted(p.name for p in photos.iterdir())
    for names in (clean_names, faulty_names):
        assert len(names) == len(set(names)) == 200  # no file bound twice
        assert sorted(names) == local  # none missing
    assert "map/result.tif" in clean and "mission.json" in clean
    assert faulty.keys() == clean.keys()
    # Identical bytes, except the wall-clock stamps the emulator writes like DJI Terra does
    # (mission.json "created", map_report.json "... generate time").
    # (.terranb-downloads.json is terranb's own record of what it downloaded, with times.)
    differing = {k for k in clean if clean[k] != faulty[k]} - {".terranb-downloads.json"}
    assert differing <= {"mission.json", "map/report/map_report.json"}, differing
    for name in differing:
        assert _without_clock(clean[name]) == _without_clock(faulty[name]), name
    assert clean["map/result.tif"] == faulty["map/result.tif"]
    assert tokens >= 1


def test_multipart_upload_continues_across_sts_keys(tmp_path):
    from terranb.transfer.s3client import make_client
    from terranb.transfer.upload import Uploader

    data = bytes(range(256)) * (256 * 12)  # 768 KiB = 12 parts of 64 KiB
    root = tmp_path / "big"
    root.mkdir()
    (root / "cloud.las").write_bytes(data)
    with emulator.serve(job_seconds=1, seed=2, token_ttl=1.5, bandwidth=256 * 1024) as emu:
        backend = _terra(emu)
        issued = []

        def provider() -> Any:
            creds = backend.obtain_credentials()
            issued.append(creds.access_key_id)
            return creds

        up = Uploader(provider, journal=tmp_path / "j.sqlite3", workers=2, part_size=64 * 1024)
        result = up.upload(root)
        assert len(set(issued)) >= 2  # new STS keys during the upload
        assert result.bytes_sent == len(data)  # no finished part was sent again
        (row,) = result.files
        assert row.etag.endswith("-12")
        fresh = backend.obtain_credentials()
        body = make_client(fresh).get_object(Bucket=fresh.bucket, Key=row.key)["Body"].read()
        assert body == data


@pytest.fixture(scope="module")
def emu() -> Any:
    with emulator.serve(job_seconds=1, seed=5) as info:
        yield info


def test_flighthub_2d_model_end_to_end(emu, photos, tmp_path):
    subset = tmp_path / "fh2"
    subset.mkdir()
    for p in sorted(photos.iterdir())[:20]:
        shutil.copy(p, subset / p.name)
    backend = make_backend("flighthub", user_token=emu.user_token,
                           project_uuid=emu.project_uuid, base_url=emu.base_url)
    ledger = Ledger(tmp_path / "ledger")
    job = Job.submit(subset, Params2D(), backend=backend, ledger=ledger,
                     journal=tmp_path / "j.sqlite3")
    assert sorted(backend.bound_names(job.resource_uuid)) == sorted(
        p.name for p in subset.iterdir())
    status = job.wait(interval=0.3, timeout=180)
    assert status.state.value == "succeeded" and status.output_ref
    out = job.results(tmp_path / "out")
    assert (out / "map" / "result.tif").is_file() or any(out.rglob("*.tif"))
    assert not list(out.glob(".terranb-*.zip"))
    first = _tree(out)
    import terranb.jobs.flighthub_backend as fhb

    def no_download(*a: Any, **k: Any) -> None:
        raise AssertionError("results were complete: nothing should be downloaded")

    fhb_download, fhb.download_object = fhb.download_object, no_download  # type: ignore[assignment]
    try:
        job.results(out)  # complete already: no second download
    finally:
        fhb.download_object = fhb_download
    assert _tree(out) == first
    again = Job.attach(job.id[:8], backend=backend, ledger=ledger)
    assert again.status().state.value == "succeeded"


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    from terranb.cli.main import main

    code = main(args)
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_cli_submit_wait_list_show_download(emu, photos, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DJI_APP_KEY", emu.app_key)
    monkeypatch.setenv("DJI_SECRET_KEY", emu.secret_key)
    monkeypatch.setenv("TERRANB_BASE_URL", emu.base_url)
    monkeypatch.setenv("TERRANB_S3_ENDPOINT_URL", emu.s3_endpoint_url)
    monkeypatch.setenv("TERRANB_JOURNAL_DIR", str(tmp_path / "journal"))
    subset = tmp_path / "cli"
    subset.mkdir()
    for p in sorted(photos.iterdir())[:30]:
        shutil.copy(p, subset / p.name)
    sub = _cli(["submit", str(subset), "--type", "2d", "--crs", "EPSG:32615", "--wait",
                "--interval", "0.3", "--json"], capsys)
    assert sub["state"] == "succeeded"
    job_id = sub["job_id"]
    listed = _cli(["jobs", "list", "--json"], capsys)
    assert [r["job_id"] for r in listed] == [job_id]
    assert '"EPSG:32615"' in listed[0]["parameters"]
    shown = _cli(["jobs", "show", job_id[:8], "--json"], capsys)
    assert shown["state"] == "succeeded" and shown["resource_uuid"] == sub["resource_uuid"]
    remote = _cli(["jobs", "list", "--remote", "--json"], capsys)
    assert job_id in [r["job_id"] for r in remote]
    got = _cli(["download", job_id, str(tmp_path / "res"), "--zip", "--json"], capsys)
    assert "map/result.tif" in got["files"] and Path(got["zip"]).is_file()
    attached = _cli(["jobs", "attach", job_id, "--json"], capsys)
    assert attached["state"] == "succeeded"
    # A second submit of the same folder reuses the resource: nothing uploaded or bound again.
    again = _cli(["submit", str(subset), "--type", "2d", "--no-preflight", "--json"], capsys)
    assert again["resource_uuid"] == sub["resource_uuid"]

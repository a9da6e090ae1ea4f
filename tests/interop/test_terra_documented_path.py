"""TerraAPI results by DJI's documented path, against a server that has only seed 001's calls.

The stand-in (``standin_terra.py``) 404s ``GET /v2/files?resourceUuid=`` like any
route the quick start does not show, so a job's results can only come through
``GET /v2/resources/{outputResourceUuid}`` -> ``fileUuids`` -> ``GET /v2/files/{uuid}``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from standin_terra import StrictTerraStandin

from terranb.api.terra import TerraClient
from terranb.errors import NotFoundError, UnsupportedRouteError
from terranb.jobs.job import Job
from terranb.jobs.ledger import Ledger
from terranb.jobs.terra_backend import FILES_LIST_ROUTE, TerraBackend

AK, SK = "standin-ak", "standin-sk"
PARAMS = json.dumps({"parameter": {"map_mode": 1, "quality_level": 1}})
NAMES = ["DJI_0001.JPG", "DJI_0002.JPG", "sub/DJI_0003.JPG"]


@pytest.fixture
def standin():
    with StrictTerraStandin(AK, SK) as s:
        yield s


def _submit(client: TerraClient, tmp_path: Path) -> Job:
    """Resource + upload_callback + create + start, all by seed 001's calls."""
    token = client.store.obtain_token()
    res = client.resources.create("photos")
    client.store.upload_callback(res.uuid, token, [
        {"name": n, "etag": hashlib.md5(n.encode()).hexdigest()} for n in NAMES])
    backend = TerraBackend(client, download_workers=2)
    return Job.submit(None, PARAMS, backend=backend, job_type="2d", resource=res.uuid,
                      ledger=Ledger(tmp_path / "ledger.sqlite"), preflight=False)


def test_results_download_through_the_documented_path(standin, tmp_path: Path) -> None:
    client = TerraClient(AK, SK, base_url=standin.url)
    job = _submit(client, tmp_path)
    status = job.wait(interval=0.01, max_interval=0.05, timeout=20)
    assert status.state.is_success
    dest = job.results(tmp_path / "out")
    mission = json.loads((dest / "mission.json").read_text())
    assert mission["inputs"] == NAMES  # computed by the stand-in from the bound files
    assert mission["parameters"] == json.loads(PARAMS)
    assert json.loads((dest / "images/survey/image_list.json").read_text()) == sorted(NAMES)
    assert (dest / "AT/count.txt").read_text() == "3 images\n"

    st = standin.state
    listed = st.calls("GET", "/terra-rescon-be/v2/files?")
    assert [s for _, s in listed] == [404], listed  # the shortcut was tried once, refused
    assert not client.offers(FILES_LIST_ROUTE)
    out_uuid = status.output_ref
    assert st.calls("GET", f"/terra-rescon-be/v2/resources/{out_uuid}") == [
        (f"/terra-rescon-be/v2/resources/{out_uuid}", 200)]
    details = [t for t, s in st.calls("GET", "/terra-rescon-be/v2/files/") if s == 200]
    assert sorted(t.rsplit("/", 1)[-1] for t in details) == sorted(
        st.resources[out_uuid]["fileUuids"])

    # A second download on the same client does not ask for the list again.
    before = len(st.log)
    job.results(tmp_path / "again")
    assert not [t for m, t, _ in st.log[before:] if t.startswith("/terra-rescon-be/v2/files?")]
    assert (tmp_path / "again/mission.json").read_bytes() == (dest / "mission.json").read_bytes()


def test_unsupported_route_is_not_reported_as_missing(standin, tmp_path: Path) -> None:
    client = TerraClient(AK, SK, base_url=standin.url)
    job = _submit(client, tmp_path)
    with pytest.raises(UnsupportedRouteError) as info:
        job.cancel()
    text = str(info.value)
    assert "does not offer stopping jobs" in text and "does not exist" not in text
    assert info.value.route == f"POST /v2/jobs/{job.id}/stop"
    # A job that really is unknown is still a NotFoundError (the service's 102114).
    with pytest.raises(NotFoundError) as missing:
        client.jobs.get("00000000-0000-0000-0000-000000000000")
    assert not isinstance(missing.value, UnsupportedRouteError)
    assert missing.value.code == 102114


def test_cli_download_and_cancel_against_the_strict_server(
        standin, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from terranb.cli.main import main

    client = TerraClient(AK, SK, base_url=standin.url)
    job = _submit(client, tmp_path)
    job.wait(interval=0.01, max_interval=0.05, timeout=20)
    for k, v in {"DJI_APP_KEY": AK, "DJI_SECRET_KEY": SK, "TERRANB_BASE_URL": standin.url,
                 "TERRANB_CONFIG_FILE": str(tmp_path / "none.toml")}.items():
        monkeypatch.setenv(k, v)
    ledger = str(tmp_path / "ledger.sqlite")
    assert main(["download", job.id, str(tmp_path / "cli-out"), "--ledger", ledger,
                 "--no-progress"]) == 0
    assert json.loads((tmp_path / "cli-out/mission.json").read_text())["inputs"] == NAMES
    capsys.readouterr()
    assert main(["jobs", "cancel", job.id, "--ledger", ledger]) == 1
    err = capsys.readouterr().err
    assert "does not offer stopping jobs" in err, err
    assert "does not exist" not in err

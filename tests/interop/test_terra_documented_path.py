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
# Seed 000: a 2D/3D job needs at least ten images; one in a sub-folder.
NAMES = [f"DJI_{i:04d}.JPG" for i in range(1, 12)] + ["sub/DJI_0012.JPG"]


@pytest.fixture(params=[False, True], ids=["full-file-detail", "lean-file-detail"])
def standin(request: pytest.FixtureRequest):
    """``lean``: file details carry only uuid, name and url (all the seeds show)."""
    with StrictTerraStandin(AK, SK, lean=request.param) as s:
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
    assert (dest / "AT/count.txt").read_text() == f"{len(NAMES)} images\n"

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
    # Listing one resource's files takes the documented path; a listing with no
    # documented alternative says the route is not offered, with what to use instead.
    out_uuid = job.status().output_ref
    assert main(["files", "list", "--resource", out_uuid, "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert sorted(f["name"] for f in listed) == sorted(
        ["mission.json", "images/survey/image_list.json", "AT/count.txt"])
    assert main(["files", "list", "--search", "mission"]) == 1
    err = capsys.readouterr().err
    assert "does not offer GET /v2/files" in err and "--resource UUID" in err, err
    assert main(["resources", "list"]) == 1
    assert "does not offer GET /v2/resources" in capsys.readouterr().err
    # A documented path with an undocumented method (405 from Go's mux): the same answer.
    assert main(["resources", "delete", out_uuid]) == 1
    err = capsys.readouterr().err
    assert f"does not offer DELETE /v2/resources/{out_uuid}" in err and "405" in err, err


def _raw(standin: StrictTerraStandin, method: str, target: str, body: bytes = b"", *,
         date: str | None = None, headers: dict[str, str] | None = None,
         key: str = SK) -> tuple[int, bytes]:
    """One request signed by hand exactly as seed 001's scripts sign it."""
    import base64
    import hmac
    import time
    import urllib.error
    import urllib.request

    date = date or time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    text = f"date: {date}\n@request-target: {method.lower()} {target}\ndigest: SHA-256={digest}"
    sig = base64.b64encode(hmac.new(key.encode(), text.encode(), hashlib.sha256).digest())
    hdrs = {"Date": date, "Digest": f"SHA-256={digest}",
            "Content-Type": "application/json;charset=UTF-8",
            "Authorization": f'hmac username="{AK}", algorithm="hmac-sha256", '
                             f'headers="date @request-target digest", signature="{sig.decode()}"'}
    hdrs.update(headers or {})
    req = urllib.request.Request(standin.url + target, data=body or None, method=method,
                                 headers={k: v for k, v in hdrs.items() if v})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_the_standin_refuses_what_the_quick_start_would_not_send(standin) -> None:
    """Self-test: the stand-in is strict where the seeds are explicit (else the
    documented-path tests above would prove less than they claim)."""
    p = "/terra-rescon-be/v2"
    ok, body = _raw(standin, "POST", f"{p}/resources", b'{"name": "r", "type": "map"}')
    assert ok == 200, body
    rid = json.loads(body)["data"]["uuid"]
    assert _raw(standin, "GET", f"{p}/resources/{rid}")[0] == 200
    # Paths: exact, no trailing slash, no query on documented calls.
    assert _raw(standin, "GET", f"{p}/resources/{rid}/")[0] == 404
    assert _raw(standin, "GET", f"{p}/files?resourceUuid={rid}")[0] == 404
    assert _raw(standin, "DELETE", f"{p}/resources/{rid}")[0] == 405  # GET-only path
    # Gateway: wrong SK, stale or non-GMT Date, Digest not over the body.
    assert _raw(standin, "GET", f"{p}/resources/{rid}", key="other")[0] == 401
    status, text = _raw(standin, "GET", f"{p}/resources/{rid}",
                        date="Mon, 01 Jan 2024 00:00:00 GMT")
    assert status == 401 and b"valid date" in text
    assert _raw(standin, "GET", f"{p}/resources/{rid}",
                date="2024-01-01T00:00:00Z")[0] == 401
    assert _raw(standin, "POST", f"{p}/jobs", b'{"name": "j"}',
                headers={"Digest": "SHA-256=" + "A" * 43 + "="})[0] == 401
    # Bodies: JSON content type, keys as the scripts spell them.
    assert _raw(standin, "POST", f"{p}/jobs", b'{"name": "j"}',
                headers={"Content-Type": "text/plain"})[0] == 400
    tok = json.loads(_raw(standin, "POST", f"{p}/store/obtain_token")[1])["data"]
    cb = json.dumps({"resourceuuid": rid, "callbackParam": tok["callbackParam"],
                     "files": [{"name": "a.jpg", "etag": "e", "checksum": "e"}]}).encode()
    assert _raw(standin, "POST", f"{p}/store/upload_callback", cb)[0] == 400
    jid = json.loads(_raw(standin, "POST", f"{p}/jobs", b'{"name": "j"}')[1])["data"]["uuid"]
    start = {"type": 14, "resourceUuid": rid, "parameters": PARAMS}
    # Fewer than ten images (seed 000), then a parameters object instead of a string.
    assert b"minimum of 10" in _raw(standin, "POST", f"{p}/jobs/{jid}/start",
                                    json.dumps(start).encode())[1]
    start["parameters"] = json.loads(PARAMS)
    assert _raw(standin, "POST", f"{p}/jobs/{jid}/start", json.dumps(start).encode())[0] == 400


def test_a_local_folder_end_to_end_against_the_strict_server(tmp_path: Path) -> None:
    """Photos on disk -> obtain_token -> upload (boto3, the token's keys) -> upload_callback
    (the stand-in checks each object and its ETag) -> create/start -> wait -> results by
    the documented path: the whole user path, with no emulator involved."""
    pytest.importorskip("moto")
    synthetic = pytest.importorskip("terranb.dataset.synthetic")
    flight = synthetic.make_sample_flight(tmp_path / "flight", photos=12, image_size=(96, 64),
                                          lidar=False, seed=4)
    folder = Path(flight.photos[0]).parent
    with StrictTerraStandin(AK, SK, s3=True) as s:
        client = TerraClient(AK, SK, base_url=s.url, s3_endpoint_url=s.s3_url)
        job = Job.submit(folder, PARAMS, backend=TerraBackend(client), job_type="2d",
                         ledger=Ledger(tmp_path / "ledger.sqlite"),
                         journal=tmp_path / "journal.sqlite3")
        assert job.wait(interval=0.01, max_interval=0.05, timeout=60).state.is_success
        dest = job.results(tmp_path / "out")
        bound = [s.state.files[f] for r in s.state.resources.values() if r["type"] == "map"
                 for f in r["fileUuids"]]
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert sorted(f["name"] for f in bound) == names
    # Sizes come from the objects the stand-in found in its bucket: the real uploads.
    assert {f["name"]: f["size"] for f in bound} == {
        n: (folder / n).stat().st_size for n in names}
    assert sorted(json.loads((dest / "mission.json").read_text())["inputs"]) == names

"""terranb's own FlightHub 2 client against ``terranb emulator`` over a socket: it keeps the
rules the emulator enforces (issue 13), so none of their codes ever comes back to it.

* 211400: terranb binds to the batch id of the token's ``store_path``, never a uuid of its own;
* 212400: 230 real uploads are bound in callbacks of at most 100 files;
* 210429: terranb asks for one model per start, so a start never exceeds the limit by
  itself; when the limit is reached by models already running, the refusal reaches the user
  as :class:`JobLimitError` with the code, not as a generic failure.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from terranb.api.flighthub import FlightHubClient, batch_uuid
from terranb.emulator import errors_wire as E
from terranb.errors import JobLimitError
from terranb.jobs.flighthub_backend import FlightHubBackend
from terranb.params import Params2D, Params3D
from terranb.transfer.journal import FileRow

pytestmark = [pytest.mark.served, pytest.mark.timeout(240)]


def _client(info: dict[str, Any]) -> FlightHubClient:
    return FlightHubClient(info["user_token"], info["project_uuid"], base_url=info["base_url"])


def _upload(creds: Any, names: list[str]) -> list[FileRow]:
    """Put one small object per name where the token says (its own STS keys)."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=creds.endpoint_url, region_name=creds.region,
                      aws_access_key_id=creds.access_key_id,
                      aws_secret_access_key=creds.secret_access_key,
                      aws_session_token=creds.session_token)
    rows = []
    for name in names:
        body = name.encode() * 8
        key = creds.store_path.replace("{fileName}", name)
        etag = s3.put_object(Bucket=creds.bucket, Key=key, Body=body)["ETag"].strip('"')
        rows.append(FileRow(name, len(body), 0, "", hashlib.md5(body).hexdigest(), key, None,
                            etag, True, None, 0))
    return rows


def test_binding_over_100_uploads_keeps_the_rules(emulator_process) -> None:
    fh = _client(emulator_process)
    backend = FlightHubBackend(fh)
    creds = fh.obtain_token()
    rid = backend.new_resource("many", store_path=creds.store_path)
    assert rid == batch_uuid(creds.store_path)
    names = [f"DJI_{i:04d}.JPG" for i in range(230)]
    rows = _upload(creds, names)
    sent: list[int] = []
    real = fh.call

    def spy(method: str, path: str, **kw: Any) -> Any:
        if path.endswith("/stores/upload_callback"):
            sent.append(len(kw["json_body"]["files"]))
            assert kw["json_body"]["resource_uuid"] == rid
        return real(method, path, **kw)

    fh.call = spy  # type: ignore[method-assign]
    backend.bind(rid, creds.callback_param, rows, resource_name="many")  # raises on 211400/212400
    assert sent == [100, 100, 30], f"terranb sent upload_callback batches of {sent}"
    assert sorted(fh.get_resource(rid).file_names) == names


@pytest.fixture(scope="module")
def slow_emulator(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An emulator whose models run for a minute (the limit test needs them running)."""
    emulator = pytest.importorskip("terranb.emulator")
    with emulator.serve(job_seconds=60, seed=2,
                        data_dir=tmp_path_factory.mktemp("slow-emu")) as emu:
        yield {"user_token": emu.user_token, "project_uuid": emu.project_uuid,
               "base_url": emu.base_url}


def test_starts_never_exceed_the_limit_by_themselves(slow_emulator) -> None:
    fh = _client(slow_emulator)
    backend = FlightHubBackend(fh, sleep=lambda s: None)
    creds = fh.obtain_token()
    rid = backend.new_resource("limit", store_path=creds.store_path)
    backend.bind(rid, creds.callback_param,
                 _upload(creds, [f"P{i}.JPG" for i in range(6)]), resource_name="limit")
    slow = Params3D(quality_level=1).to_json()
    started = []
    try:
        # One model running, then terranb asks for another: 2 in all, within the limit.
        started.append(backend.start(rid, 15, slow, "first", kind="3d"))
        started.append(backend.start(rid, 14, Params2D(map_mode=1).to_json(), "second",
                                     kind="2d"))
        running = {m.model_uuid for m in fh.running_models()}
        assert set(started) <= running, (started, running)
        # A third while two run: the service's refusal, typed, with its code.
        with pytest.raises(JobLimitError) as info:
            backend.start(rid, 15, slow, "third", kind="3d")
        assert info.value.code == E.FH2_TOO_MANY
        assert "running" in str(info.value), str(info.value)
        assert len(fh.running_models()) == len(started)
    finally:
        for m in started:
            try:
                fh.stop_model(m)
            except Exception:  # a model that already finished
                pass

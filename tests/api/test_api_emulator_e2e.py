"""Every endpoint of the three clients against the emulator over a real socket:
proves the clients and the emulator agree on the wire (signing, envelopes, casing)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from terranb.api.cloudapi import CloudApiClient
from terranb.api.flighthub import FlightHubClient, batch_uuid
from terranb.api.models import ModelStatus, TerraJobStatus
from terranb.api.terra import TerraClient
from terranb.errors import AuthenticationError, InvalidOperationError, NotFoundError
from terranb.params import Params2D

pytestmark = [pytest.mark.served, pytest.mark.slow]

boto3 = pytest.importorskip("boto3")
pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    from terranb.emulator import serve

    with serve(job_seconds=60, seed=1) as info:
        yield info


def _put(creds: Any, names: list[str]) -> list[dict[str, str]]:
    s3 = boto3.client("s3", aws_access_key_id=creds.access_key_id,
                      aws_secret_access_key=creds.secret_access_key,
                      aws_session_token=creds.session_token, region_name=creds.region or
                      "us-east-1", endpoint_url=creds.resolved_endpoint())
    out = []
    for name in names:
        r = s3.put_object(Bucket=creds.bucket, Key=creds.key_for(name), Body=b"x" * 64)
        out.append({"name": name, "etag": r["ETag"]})
    return out


def test_terra_every_endpoint(emu: Any) -> None:
    c = TerraClient(emu.app_key, emu.secret_key, base_url=emu.base_url,
                    s3_endpoint_url=emu.s3_endpoint_url)
    creds = c.store.obtain_token()
    assert creds.endpoint_url == emu.s3_endpoint_url and "{fileName}" in creds.store_path
    res = c.resources.create("e2e photos")
    files = c.store.upload_callback(res.uuid, creds,
                                    _put(creds, [f"sub/IMG_{i:04d}.JPG" for i in range(10)]))
    assert sorted(f.name for f in files) == [f"sub/IMG_{i:04d}.JPG" for i in range(10)]
    assert res.uuid in [r.uuid for r in c.resources.list(search="e2e")]
    detail = c.resources.get(res.uuid)
    assert len(detail.file_uuids) == 10
    listed = list(c.files.list(resource_uuid=res.uuid, need_url=True, page_size=4))
    assert len(listed) == 10 and all(f.url.startswith("http") for f in listed)
    one = c.files.get(listed[0].uuid)
    assert one.url and "&" in one.url  # JSON-decoded presigned URL
    job = c.jobs.create("e2e job")
    started = c.jobs.start(job.uuid, "2d", res.uuid, Params2D(map_mode=1, quality_level=3))
    assert started.status is not TerraJobStatus.WAITING_FOR_START
    with pytest.raises(InvalidOperationError):
        c.jobs.start(job.uuid, 14, res.uuid, "{}")
    assert job.uuid in [j.uuid for j in c.jobs.list(type=14)]
    c.jobs.stop(job.uuid)
    assert c.jobs.get(job.uuid).status in (TerraJobStatus.STOPPED, TerraJobStatus.FAILED,
                                           TerraJobStatus.FINISHED)
    c.jobs.delete(job.uuid)
    c.files.delete(listed[0].uuid)
    c.resources.delete(res.uuid, delete_mode=1)
    with pytest.raises(NotFoundError):
        c.resources.get(res.uuid)
    with pytest.raises(AuthenticationError, match="secret key"):
        TerraClient(emu.app_key, "wrong-sk", base_url=emu.base_url).jobs.get(job.uuid)


def test_flighthub_every_endpoint(emu: Any) -> None:
    for version in ("v0.1", "v2.0"):
        fh = FlightHubClient(emu.user_token, emu.project_uuid, base_url=emu.base_url,
                             api_version=version)
        creds = fh.obtain_token()
        res_uuid = batch_uuid(creds.store_path)
        up = fh.upload_callback(res_uuid, creds, _put(creds, [f"IMG_{i}.JPG" for i in range(6)]),
                                resource_name="e2e")
        assert up.upload_count == 6
        assert len(fh.get_resource(res_uuid).file_names) == 6
        refs = fh.start_reconstruction(res_uuid, parameter_2d=Params2D(map_mode=1))
        model_uuid = refs["model_2d"].uuid
        assert fh.get_model(model_uuid).model_status is not ModelStatus.UNKNOWN
        assert model_uuid in [m.uuid for m in fh.running_models()]
        fh.stop_model(model_uuid)
        fh.delete_model(model_uuid)
        fh.delete_resource(res_uuid)
    with pytest.raises(AuthenticationError):
        FlightHubClient("bad-token", emu.project_uuid, base_url=emu.base_url).running_models()


def test_cloudapi_every_endpoint(emu: Any) -> None:
    ca = CloudApiClient(emu.base_url, emu.cloudapi_username, emu.cloudapi_password)
    user = ca.login()
    assert user.workspace_id == emu.workspace_id
    ca.refresh()
    creds = ca.sts()
    key = creds.key_for("DJI_0001.JPG")
    put = _put(creds, ["DJI_0001.JPG"])
    assert put
    fp = uuid.uuid4().hex.upper()
    assert ca.fast_upload(None, fp, "DJI_0001.JPG", {"sn": "SN1"}) is False
    ext = {"drone_model_key": "0-67-0", "file_group_id": "g-1", "is_original": True,
           "payload_model_key": "1-53-0", "tinny_fingerprint": "tfp_1", "sn": "1AD3CA2VL3LAD6"}
    meta = {"absolute_altitude": 50.0, "created_time": "2023-01-01T20:00:00+08:00",
            "gimbal_yaw_degree": -4.3, "shoot_position": {"lat": 22.57, "lng": 113.94},
            "relative_altitude": 100.0}
    assert ca.upload_callback(None, object_key=key, name="DJI_0001.JPG", fingerprint=fp,
                              ext=ext, metadata=meta, path="wayline_1") == key
    assert ca.fast_upload(None, fp, "DJI_0001.JPG", ext) is True
    assert ca.tiny_fingerprints(None, ["tfp_1", "nope"]) == ["tfp_1"]
    ca.group_upload_callback(None, "g-1", 1, 1)
    media = [m for m in ca.list_media() if m.fingerprint == fp]
    assert len(media) == 1
    assert ca.media_download_url(None, media[0].file_id).startswith("http")

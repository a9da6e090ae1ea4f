"""Restart with the same data dir keeps resources, files, jobs and keys; running jobs resume."""

from __future__ import annotations

import json
import time

import pytest
import requests
from emu_helpers import Served, bound_resource

from terranb.emulator.config import EmulatorOptions
from terranb.emulator.server import Emulator
from terranb.errors import ConfigError

pytestmark = pytest.mark.slow


def _wait(t, job, until=(5, 6, 7), timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = t.ok("GET", f"/jobs/{job}")
        if j["status"] in until:
            return j
        time.sleep(0.1)
    raise AssertionError(j)


def _fh2(served, method, path, body=None):
    r = requests.request(
        method,
        f"{served.base_url}/openapi/v0.1/open_model{path}",
        data=None if body is None else json.dumps(body),
        headers=served.fh2_headers(),
        timeout=30,
    )
    doc = r.json()
    assert doc["code"] == 0, doc
    return doc["data"]


def _start_fh2_model(served, photos):
    from emu_helpers import upload_files

    tok = _fh2(served, "POST", "/stores/obtain_token")
    files = upload_files(tok["end_point"], tok, {p.name: p.read_bytes() for p in photos[:5]})
    ruuid = tok["store_path"].split("/{fileName}")[0].rsplit("/", 1)[-1]  # the batch id
    _fh2(
        served,
        "POST",
        "/stores/upload_callback",
        {"resource_uuid": ruuid, "callback_param": tok["callback_param"], "files": files},
    )
    params = json.dumps({"parameter": {"quality_level": 3}})
    started = _fh2(
        served,
        "POST",
        "/models/reconstruction/start",
        {"resource_uuid": ruuid, "parameter_2d": params},
    )
    return started["model_2d"]["uuid"]


def _wait_fh2(served, model, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        m = _fh2(served, "GET", f"/models/{model}")
        if m["model_status"] in (8, 16) or m["zip_status"] in (2, 3):
            return m
        time.sleep(0.1)
    raise AssertionError(m)


def test_restart_keeps_everything_and_resumes_running_job(tmp_path, photos):
    data = tmp_path / "data"
    emu = Emulator(EmulatorOptions(data_dir=data, job_seconds=0.5))
    emu.start()
    try:
        served = Served(emu)
        t = served.terra(fresh=False)
        res = bound_resource(served, t, photos)
        done = t.ok("POST", "/jobs", {"name": "done"})["uuid"]
        t.ok(
            "POST",
            f"/jobs/{done}/start",
            {
                "type": 14,
                "resourceUuid": res,
                "parameters": json.dumps({"parameter": {"quality_level": 3}}),
            },
        )
        finished = _wait(t, done)
        assert finished["status"] == 6
        out_files = t.ok("GET", f"/resources/{finished['outputResourceUuid']}")["fileUuids"]
        url = t.ok("GET", f"/files/{out_files[0]}")["url"]
        # a job that is running when the emulator stops
        emu.options.job_seconds = 30
        running = t.ok("POST", "/jobs", {"name": "running"})["uuid"]
        t.ok(
            "POST", f"/jobs/{running}/start", {"type": 14, "resourceUuid": res, "parameters": "{}"}
        )
        assert t.ok("GET", f"/jobs/{running}")["status"] in (1, 2)
        never = t.ok("POST", "/jobs", {"name": "never started"})["uuid"]
        # a FlightHub 2 model that is running too
        model = _start_fh2_model(served, photos)
        # a second emulator cannot share the data dir
        with pytest.raises(ConfigError, match="data dir"):
            Emulator(EmulatorOptions(data_dir=data)).start()
        before = (emu.info.app_key, emu.info.secret_key, emu.info.user_token, emu.info.project_uuid)
    finally:
        emu.stop()

    emu2 = Emulator(EmulatorOptions(data_dir=data, job_seconds=0.5))
    emu2.start()
    try:
        assert (
            emu2.info.app_key,
            emu2.info.secret_key,
            emu2.info.user_token,
            emu2.info.project_uuid,
        ) == before
        t2 = Served(emu2).terra(fresh=False)
        detail = t2.ok("GET", f"/resources/{res}")
        assert len(detail["fileUuids"]) == len(photos) and detail["summary"]["revisable"] is False
        assert t2.ok("GET", f"/jobs/{done}")["status"] == 6
        assert t2.ok("GET", f"/jobs/{never}")["status"] == 0
        assert (
            t2.ok("GET", f"/resources/{finished['outputResourceUuid']}")["fileUuids"] == out_files
        )
        # the same object store, and the old presigned URL still works (same S3 port)
        assert requests.get(url, timeout=10).status_code == 200
        resumed = _wait(t2, running)
        assert resumed["status"] == 6 and "resumed" in resumed["message"]
        m = _wait_fh2(Served(emu2), model)
        assert m["model_status"] == 15 and m["zip_status"] == 2, m
        names = {
            t2.ok("GET", f"/files/{u}")["name"]
            for u in t2.ok("GET", f"/resources/{resumed['outputResourceUuid']}")["fileUuids"]
        }
        assert "map/result.tif" in names
    finally:
        emu2.stop()


def test_resumed_job_without_inputs_fails_with_message(tmp_path, photos):
    data = tmp_path / "data"
    emu = Emulator(EmulatorOptions(data_dir=data, job_seconds=30))
    emu.start()
    try:
        served = Served(emu)
        t = served.terra(fresh=False)
        res = bound_resource(served, t, photos[:10])
        job = t.ok("POST", "/jobs", {"name": "x"})["uuid"]
        t.ok("POST", f"/jobs/{job}/start", {"type": 14, "resourceUuid": res, "parameters": "{}"})
    finally:
        emu.stop()
    # the input objects vanish while the emulator is down
    import shutil

    shutil.rmtree(data / "s3" / "objects")
    shutil.rmtree(data / "s3" / "meta")
    emu2 = Emulator(EmulatorOptions(data_dir=data, job_seconds=0.5))
    emu2.start()
    try:
        t2 = Served(emu2).terra(fresh=False)
        final = _wait(t2, job)
        assert final["status"] == 7 and "no longer in the bucket" in final["message"]
    finally:
        emu2.stop()

"""Restart with the same data dir keeps resources, files, jobs and keys; running jobs resume."""

from __future__ import annotations

import json
import time

import pytest
import requests
from emu_helpers import Served, bound_resource

from terranb.emulator.config import EmulatorOptions
from terranb.emulator.server import Emulator

pytestmark = pytest.mark.slow


def _wait(t, job, until=(5, 6, 7), timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        j = t.ok("GET", f"/jobs/{job}")
        if j["status"] in until:
            return j
        time.sleep(0.1)
    raise AssertionError(j)


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

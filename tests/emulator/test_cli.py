"""``terranb emulator`` contract: first stdout line is JSON, SIGTERM/SIGINT stop it cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import requests

from terranb.api.signing import sign

pytestmark = [pytest.mark.served, pytest.mark.slow]

KEYS = {
    "base_url",
    "s3_endpoint_url",
    "app_key",
    "secret_key",
    "user_token",
    "project_uuid",
    "workspace_id",
    "cloudapi_username",
    "cloudapi_password",
    "data_dir",
}


def _start(args, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "terranb", "emulator", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        raise AssertionError(f"no output; stderr: {proc.stderr.read()}")
    return proc, json.loads(line)


def test_cli_first_line_json_and_sigterm(tmp_path):
    sig = signal.SIGTERM
    data = tmp_path / "data"
    proc, info = _start(
        [
            "--port",
            "0",
            "--app-key",
            "my-ak",
            "--secret-key",
            "my-sk",
            "--data-dir",
            str(data),
            "--job-seconds",
            "1",
            "--seed",
            "3",
        ],
        tmp_path,
    )
    try:
        assert KEYS <= set(info)
        assert info["app_key"] == "my-ak" and info["secret_key"] == "my-sk"
        assert info["workspace_id"] == "e3dea0f5-37f2-4d79-ae58-490af3228069"
        assert info["cloudapi_username"] == "adminPC" and info["cloudapi_password"] == "adminPC"
        assert info["base_url"].startswith("http://127.0.0.1:")
        assert info["data_dir"] == str(data.resolve())
        path = "/terra-rescon-be/v2/store/obtain_token"
        r = requests.post(
            info["base_url"] + path, headers=sign("POST", path, b"", "my-ak", "my-sk"), timeout=10
        )
        assert r.status_code == 200 and r.json()["result"]["code"] == 0
        s3 = requests.get(info["s3_endpoint_url"], timeout=10)
        assert s3.status_code in (400, 403)  # S3 answers (unsigned requests are refused)
    finally:
        proc.send_signal(sig)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert rc == 0, proc.stderr.read()
    for url in (info["base_url"], info["s3_endpoint_url"]):
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=2)
    assert (data / "emulator.sqlite3").exists()


def test_cli_rejects_bad_knob(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "terranb", "emulator", "--fail-rate", "2"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 1 and "--fail-rate" in proc.stderr
    assert proc.stdout == ""


def test_cli_ctrl_c_and_temp_data_dir_is_removed(tmp_path):
    proc, info = _start(["--job-seconds", "1"], tmp_path)
    assert KEYS <= set(info) and info["app_key"] and info["secret_key"]
    assert os.path.isdir(info["data_dir"])
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    time.sleep(0.1)
    assert not os.path.exists(info["data_dir"])


def test_cli_kill_9_then_restart_resumes_running_job(tmp_path, photos):
    """A job running when the process dies is picked up by the next run on the same data dir."""
    from types import SimpleNamespace

    from emu_helpers import Terra, bound_resource

    data = tmp_path / "data"
    args = ["--data-dir", str(data), "--app-key", "ak9", "--secret-key", "sk9"]
    proc, info = _start([*args, "--job-seconds", "60"], tmp_path)
    try:
        t = Terra(info["base_url"], "ak9", "sk9")
        res = bound_resource(SimpleNamespace(info=SimpleNamespace(**info)), t, photos[:10])
        job = t.ok("POST", "/jobs", {"name": "crash"})["uuid"]
        t.ok("POST", f"/jobs/{job}/start", {"type": 14, "resourceUuid": res, "parameters": "{}"})
        assert t.ok("GET", f"/jobs/{job}")["status"] in (1, 2)
    finally:
        proc.kill()  # SIGKILL: no clean-up at all
        proc.wait(timeout=30)
    proc, info = _start([*args, "--job-seconds", "0.5"], tmp_path)
    try:
        t = Terra(info["base_url"], "ak9", "sk9")
        deadline = time.time() + 60
        while time.time() < deadline:
            j = t.ok("GET", f"/jobs/{job}")
            if j["status"] in (5, 6, 7):
                break
            time.sleep(0.2)
        assert j["status"] == 6 and "resumed" in j["message"], j
        assert len(t.ok("GET", f"/resources/{res}")["fileUuids"]) == 10
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0

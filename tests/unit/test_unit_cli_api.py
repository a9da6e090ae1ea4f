"""``terranb configure`` and the resources/files/models/media commands:
output, --json, exit codes 0/1/2."""

from __future__ import annotations

import argparse
import json
import os
import stat
import sys

import pytest
import responses

from terranb.cli import cmd_api, cmd_config
from terranb.cli._common import run_handler
from terranb.config import Settings, config_path, read_config_file

US = "https://openapi-us.dji.com/terra-rescon-be"
FH = "https://es-flight-api-us.djigate.com/openapi/v0.1/open_model"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="terranb")
    sub = parser.add_subparsers(dest="command")
    cmd_config.register(sub)
    cmd_api.register(sub)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return run_handler(args.func, args)


def ok(data: object = None) -> dict:
    return {"result": {"code": 0, "msg": "", "desc": ""}, "data": data}


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DJI_APP_KEY", "ak")
    monkeypatch.setenv("DJI_SECRET_KEY", "sk-cli-secret")
    monkeypatch.setenv("TERRANB_FH2_USER_TOKEN", "fh-cli-token")
    monkeypatch.setenv("TERRANB_FH2_PROJECT_UUID", "prj")


def test_configure_writes_0600_and_show_masks(capsys: pytest.CaptureFixture[str]) -> None:
    rc = run(["configure", "--profile", "lab", "--app-key", "AK1", "--secret-key", "SK-xyz",
              "--region", "cn", "--no-prompt"])
    assert rc == 0
    path = config_path()
    assert read_config_file(path)["profile"]["lab"] == {"app_key": "AK1", "secret_key": "SK-xyz",
                                                        "region": "cn"}
    if sys.platform != "win32":
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert Settings.load("lab").region == "cn"
    capsys.readouterr()
    assert run(["configure", "--profile", "lab", "--show", "--json"]) == 0
    out = capsys.readouterr().out
    info = json.loads(out)
    assert info["settings"]["secret_key"] == "***" and "SK-xyz" not in out
    assert info["sources"]["app_key"] == "profile"


def test_configure_prompts_for_secret_on_a_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr(cmd_config.getpass, "getpass", lambda prompt: "typed-secret")
    assert run(["configure", "--app-key", "A"]) == 0
    assert Settings.load().secret_key == "typed-secret"


def test_usage_errors_exit_2() -> None:
    assert run(["resources"]) == 2
    assert run(["configure", "--region", "mars"]) == 2
    assert run(["models", "show"]) == 2


def test_missing_credentials_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["resources", "list", "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"]["type"] == "ConfigError"
    assert "DJI_APP_KEY" in captured.err


@responses.activate
def test_resources_and_files_commands(creds: None, capsys: pytest.CaptureFixture[str]) -> None:
    res = {"uuid": "r-1", "name": "site", "type": "map", "fileCount": 2, "totalSize": 3 << 20}
    responses.add("GET", f"{US}/v2/resources", json=ok({"list": [res], "total": 1}))
    responses.add("GET", f"{US}/v2/resources/r-1",
                  json=ok({"summary": res, "fileUuids": ["f-1"], "outputJobUuids": ["j-1"]}))
    responses.add("POST", f"{US}/v2/resources", json=ok(res))
    responses.add("DELETE", f"{US}/v2/resources/r-1", json={"result": {"code": 0}})
    responses.add("GET", f"{US}/v2/files", json=ok({"list": [{"uuid": "f-1", "name": "a.JPG",
                                                              "size": 10}], "total": 1}))
    responses.add("GET", f"{US}/v2/files/f-1", json=ok({"uuid": "f-1", "name": "a.JPG",
                                                         "url": "https://x/a?b=1\u0026c=2"}))
    responses.add("DELETE", f"{US}/v2/files/f-1", json={"result": {"code": 0}})
    assert run(["resources", "list", "--type", "map"]) == 0
    assert "r-1  map" in capsys.readouterr().out
    assert run(["resources", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed[0]["uuid"] == "r-1" and listed[0]["file_count"] == 2 and "raw" not in listed[0]
    assert run(["resources", "show", "r-1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["file_uuids"] == ["f-1"]
    assert run(["resources", "create", "site"]) == 0
    assert capsys.readouterr().out.strip() == "r-1"
    assert run(["resources", "delete", "r-1", "--delete-files"]) == 0
    assert responses.calls[-1].request.url.endswith("deleteMode=1")
    assert run(["files", "list", "--resource", "r-1"]) == 0
    assert "a.JPG" in capsys.readouterr().out
    assert run(["files", "show", "f-1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["url"] == "https://x/a?b=1&c=2"
    assert run(["files", "delete", "f-1"]) == 0


@responses.activate
def test_service_error_exit_1(creds: None, capsys: pytest.CaptureFixture[str]) -> None:
    responses.add("GET", f"{US}/v2/files/nope", status=404,
                  json={"result": {"code": 102002, "msg": "can not find resource"}})
    assert run(["files", "show", "nope"]) == 1
    err = capsys.readouterr().err
    assert "can not find resource" in err and "sk-cli-secret" not in err


@responses.activate
def test_models_commands(creds: None, capsys: pytest.CaptureFixture[str]) -> None:
    model = {"model_uuid": "m-1", "model_type": 1, "model_status": 14,
             "reconstruction_progress": 50, "zip_status": 0}
    responses.add("GET", f"{FH}/models/m-1", json={"code": 0, "data": model})
    responses.add("POST", f"{FH}/models/m-1/reconstruction/stop", json={"code": 0, "data": {}})
    responses.add("DELETE", f"{FH}/models/m-1", json={"code": 0, "data": {}})
    responses.add("GET", f"{FH}/models/running", json={"code": 0, "data": {"list": [model]}})
    assert run(["models", "show", "m-1"]) == 0
    assert "MAP_2D" in capsys.readouterr().out
    assert run(["models", "running", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["model_status"] == 14
    assert run(["models", "stop", "m-1"]) == 0
    assert run(["models", "delete", "m-1"]) == 0
    assert [c.request.method for c in responses.calls] == ["GET", "GET", "POST", "DELETE"]


@responses.activate
def test_media_list(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TERRANB_CLOUDAPI_PASSWORD", "pw")
    base = "http://ca.test"
    responses.add("POST", f"{base}/manage/api/v1/login", json={"code": 0, "data": {
        "user_id": "u", "workspace_id": "ws", "access_token": "t"}})
    responses.add("GET", f"{base}/media/api/v1/files/ws/files", json={"code": 0, "data": {
        "list": [{"file_id": "mf", "file_name": "DJI_1.JPG", "drone": "SN1"}],
        "pagination": {"page": 1, "page_size": 10, "total": 1}}})
    assert run(["media", "list", "--base-url", base, "--username", "adminPC"]) == 0
    assert "DJI_1.JPG" in capsys.readouterr().out


def test_registered_in_the_real_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    from terranb.cli.main import main

    assert main(["configure", "--show", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["settings"]["region"] == "us"
    assert main(["media"]) == 2

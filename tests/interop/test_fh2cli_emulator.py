"""flighthub2-cli (a live-verified third-party FlightHub 2 client) against ``terranb emulator``.

The emulator runs as a subprocess on 127.0.0.1 (``conftest.emulator_process``).

* Open modeling: every ``fh2 openmodel`` command runs through flighthub2-cli's own
  CLI, end to end (token -> upload with the token's keys -> callback with the
  resource uuid flighthub2-cli reads out of ``store_path`` -> start -> get ->
  running -> stop -> delete), and must succeed.
* The dock mission (projects, devices, flight tasks, media, map models) through
  flighthub2-cli's CLI, in a user's order, must succeed end to end.
* Every other operation of flighthub2-cli's catalogue (``flighthub2.spec``: projects,
  devices, flight tasks, map models, waylines ...) is called through the catalogue's
  dispatcher, like ``fh2 call``. Each either succeeds, with an answer that
  flighthub2-cli's pydantic models accept, or gets FlightHub's envelope with a code
  the emulator documents: HTTP 404 + 200501 for a route it does not serve (yet),
  HTTP 200 + a business code otherwise. The parametrisation lists them all, and
  ``SUCCEED_NOW`` states which succeed since the emulator serves the dock routes.

Assertion messages name the side that deviates ("emulator" for an answer,
"flighthub2-cli" for a request the emulator refused) and the field.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

fh2 = pytest.importorskip("flighthub2", reason="flighthub2-cli is a test dependency")
pydantic = pytest.importorskip("pydantic")

from flighthub2 import errors as fh2_errors  # noqa: E402
from flighthub2.client import FlightHub2Client  # noqa: E402
from flighthub2.config import Settings  # noqa: E402
from flighthub2.dispatch import invoke  # noqa: E402
from flighthub2.models import OpenModelUploadToken  # noqa: E402
from flighthub2.spec import OPERATIONS  # noqa: E402

from terranb.emulator import errors_wire as E  # noqa: E402

# The parametrised calls build on each other (ids seen earlier) and the last test reads
# their outcomes: keep the file on one worker under xdist (`-n 2 --dist loadgroup`).
pytestmark = [pytest.mark.served, pytest.mark.xdist_group("fh2cli_catalogue")]

# Every FlightHub 2 code the emulator documents (app description, docs/flighthub2-notes.md).
DOCUMENTED = {v for k, v in vars(E).items() if k.startswith("FH2_") and isinstance(v, int)}
OPEN_MODEL = sorted(op.name for op in OPERATIONS if op.group == "openmodel"
                    or op.name.startswith("openmodel."))
OTHERS = [op for op in OPERATIONS if op.name not in OPEN_MODEL]
# What flighthub2-cli's non-open-modeling operations get from the emulator now that it
# serves the dock routes (issue 13): "ok" = success, answer accepted by flighthub2-cli's
# models; "no-route" = HTTP 404 + FlightHub's envelope, code 200501 (the emulator does not
# serve it); an int = HTTP 200 with that documented business code.
SUCCEED_NOW = {"system.status", "project.list", "project.find", "device.list",
               "project.sts-token", "task.list", "task.get", "task.media", "task.track",
               "model.list",
               "model.get", "model.create"}
OUTCOMES: dict[str, Any] = {}
WKT_4326 = ('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563]],'
            'PRIMEM["Greenwich",0],UNIT["degree",0.0174532925199433]]')


def _settings(info: dict[str, Any]) -> Settings:
    return Settings(token=info["user_token"], project_uuid=info["project_uuid"],
                    base_url=info["base_url"], max_retries=0, timeout=30)


@pytest.fixture(scope="module")
def client(emulator_process: dict[str, Any]) -> Any:
    c = FlightHub2Client(settings=_settings(emulator_process))
    yield c
    c.close()


@pytest.fixture(scope="module")
def seen() -> dict[str, Any]:
    """Values earlier list calls returned, used as arguments of later calls."""
    return {}


def _cli(info: dict[str, Any], *args: str) -> Any:
    """``fh2 --base-url ... -o json --yes ARGS`` in-process (flighthub2-cli's Typer app)."""
    from flighthub2.cli.main import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [
        "--base-url", info["base_url"], "--token", info["user_token"],
        "--project", info["project_uuid"], "-o", "json", "--yes", *args])
    assert result.exit_code == 0, (
        f"flighthub2-cli `fh2 {' '.join(args)}` failed against the emulator "
        f"(exit {result.exit_code}): {result.output}")
    return json.loads(result.stdout) if result.stdout.strip() else None


def _upload(token: dict[str, Any], photos: list[Path]) -> list[dict[str, str]]:
    """Put the photos where the token says, with its STS keys, as a FH2 user would."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=token["end_point"], region_name=token["region"],
                      aws_access_key_id=token["access_key_id"],
                      aws_secret_access_key=token["secret_access_key"],
                      aws_session_token=token["session_token"])
    model = OpenModelUploadToken.model_validate(token)
    out = []
    for p in photos:
        put = s3.put_object(Bucket=token["cloud_bucket_name"], Key=model.object_key(p.name),
                            Body=p.read_bytes())
        out.append({"name": p.name, "etag": put["ETag"].strip('"')})
    return out


def test_every_openmodel_command_succeeds(emulator_process, six_photos, tmp_path) -> None:
    info = emulator_process
    ran: set[str] = set()

    def fh2_cli(*args: str) -> Any:
        ran.add(f"openmodel.{args[1]}")
        return _cli(info, *args)

    token = fh2_cli("openmodel", "obtain-token")
    model = OpenModelUploadToken.model_validate(token)
    assert model.resource_uuid, f"emulator: store_path {token.get('store_path')!r} has no batch"
    files = _upload(token, six_photos)
    listing = tmp_path / "files.json"
    listing.write_text(json.dumps(files))
    bound = fh2_cli("openmodel", "upload-callback", "--resource-uuid", model.resource_uuid,
                    "--callback-param", token["callback_param"], "--files", f"@{listing}",
                    "--resource-name", "interop")
    assert bound["resource_uuid"] == model.resource_uuid, (
        f"emulator: upload_callback answered resource_uuid {bound['resource_uuid']!r}, "
        f"flighthub2-cli sent the batch id {model.resource_uuid!r}")
    assert bound["upload_count"] == 6 and sorted(bound["file_name_list"]) == sorted(
        p.name for p in six_photos), f"emulator: upload_callback answer {bound}"
    res = fh2_cli("openmodel", "resource-get", model.resource_uuid)
    assert sorted(res["file_names"]) == sorted(p.name for p in six_photos), (
        f"emulator: resource file_names {res['file_names']}")
    assert res["status"] == 1 and res["resource_size"] == sum(p.stat().st_size
                                                              for p in six_photos)
    params = json.dumps({"parameter": {"map_mode": 1, "quality_level": 3}})
    started = fh2_cli("openmodel", "start", "--resource-uuid", model.resource_uuid,
                      "--2d", params)
    assert started["model_2d"]["status"] == 12 and started["model_3d"] is None, (
        f"emulator: start answered {started}")
    model_uuid = started["model_2d"]["uuid"]
    got = fh2_cli("openmodel", "get", model_uuid)
    assert got["model_uuid"] == model_uuid and got["model_type"] == 1
    assert got["resource_uuid"] == model.resource_uuid
    running = fh2_cli("openmodel", "running")
    assert model_uuid in [m["model_uuid"] for m in running], f"emulator: running {running}"
    stopped = fh2_cli("openmodel", "stop", model_uuid)
    assert stopped["code"] == 0, f"emulator: stop answered {stopped}"
    assert fh2_cli("openmodel", "get", model_uuid)["model_status"] == 16
    assert fh2_cli("openmodel", "delete", model_uuid)["code"] == 0
    assert fh2_cli("openmodel", "resource-delete", model.resource_uuid)["code"] == 0
    assert ran == set(OPEN_MODEL), f"not exercised: {sorted(set(OPEN_MODEL) - ran)}"


def test_the_fh2_console_script_over_the_socket(emulator_process) -> None:
    """The installed ``fh2`` entry point itself, as a user runs it."""
    info = emulator_process
    env = {**os.environ, "FLIGHTHUB2_TOKEN": info["user_token"],
           "FLIGHTHUB2_PROJECT_UUID": info["project_uuid"],
           "FLIGHTHUB2_BASE_URL": info["base_url"], "FLIGHTHUB2_CONFIG": os.devnull}
    proc = subprocess.run([sys.executable, "-m", "flighthub2", "-o", "json", "openmodel",
                           "running"], capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [] or isinstance(json.loads(proc.stdout), list)


def test_a_made_up_resource_uuid_is_a_business_error(client) -> None:
    token = client.open_model.obtain_token()
    with pytest.raises(fh2_errors.BusinessError) as info:
        client.open_model.upload_callback(resource_uuid=str(uuid.uuid4()),
                                          callback_param=token.callback_param,
                                          files=[{"name": "a.JPG", "etag": "0" * 32}])
    assert info.value.code == E.FH2_NOT_BATCH and token.resource_uuid in info.value.message


def test_dock_mission_commands_succeed_through_the_cli(emulator_process, seen) -> None:
    """flighthub2-cli's own commands over the dock mission, in the order a user runs them:
    project list, device list, task list -> get -> media, model create -> list -> get."""
    info = emulator_process
    projects = _cli(info, "project", "list")
    assert [p["uuid"] for p in projects] == [info["project_uuid"]], f"emulator: {projects}"
    assert _cli(info, "project", "find", projects[0]["name"])["uuid"] == info["project_uuid"]
    devices = _cli(info, "project", "devices")
    sn = devices[0]["gateway"]["sn"]
    tasks = _cli(info, "task", "list", "--sn", sn)
    assert len(tasks) == 1 and tasks[0]["folder_id"], f"emulator: task list {tasks}"
    task = _cli(info, "task", "get", tasks[0]["uuid"])
    assert task["folder_info"]["folder_id"] == tasks[0]["folder_id"], (
        f"emulator: task detail folder_info {task.get('folder_info')} vs list folder_id")
    media = _cli(info, "task", "media", tasks[0]["uuid"])
    assert len(media) == 16 and all(m["original_url"].startswith("http") for m in media)
    track = _cli(info, "task", "track", tasks[0]["uuid"])["track"]
    points = track["points"]
    assert len(points) == 16 and track["flight_distance"] > 0, f"emulator: track {track}"
    assert all(-90 <= p["latitude"] <= 90 and -180 <= p["longitude"] <= 180 for p in points)
    assert [p["timestamp"] for p in points] == sorted(p["timestamp"] for p in points)
    created = _cli(info, "model", "create", "--name", "interop map", "--task-folder-id",
                   str(tasks[0]["folder_id"]), "--type", "2d",
                   "--format", "mesh", "--wkt", WKT_4326, "--quality", "low")
    model_id = created["id"]
    assert isinstance(model_id, int), f"emulator: model/create answered {created}"
    assert model_id in [m["id"] for m in _cli(info, "model", "list")]
    deadline = time.time() + 90
    detail = _cli(info, "model", "get", str(model_id))
    while not detail.get("url") and time.time() < deadline:
        time.sleep(0.5)
        detail = _cli(info, "model", "get", str(model_id))
    assert detail["url"].startswith("http") and detail["size"] > 0, (
        f"emulator: model detail without a download url after 90 s: {detail}")
    seen.update(sn=sn, task_uuid=tasks[0]["uuid"], folder_id=tasks[0]["folder_id"],
                model_id=str(model_id))


def _cli_exit(info: dict[str, Any], *args: str, **over: str) -> tuple[int, str]:
    """``fh2 ARGS`` expected to fail: (exit code, everything it printed)."""
    from flighthub2.cli.main import app
    from typer.testing import CliRunner

    opts = {"token": info["user_token"], "project": info["project_uuid"], **over}
    result = CliRunner().invoke(app, [
        "--base-url", info["base_url"], "--token", opts["token"], "--project",
        opts["project"], "-o", "json", "--yes", *args])
    return result.exit_code, " ".join(result.output.split())


def test_error_paths_as_flighthub2_cli_reports_them(emulator_process, client) -> None:
    """A user's mistakes through flighthub2-cli's CLI: each gets the exit code and hint
    flighthub2-cli has for what the live service answers (its README, errors.py)."""
    info = emulator_process
    # Wrong organisation key: live gateways answer HTTP 401 -> exit 4 "auth".
    code, out = _cli_exit(info, "project", "list", token="not-this-organisations-key")
    assert code == 4 and "HTTP 401" in out and "region" in out, (
        f"emulator: a wrong X-User-Token should be HTTP 401 (flighthub2-cli exit 4), "
        f"got exit {code}: {out}")
    # Wrong project: a business code (HTTP 200) -> exit 6.
    code, out = _cli_exit(info, "openmodel", "running", project=str(uuid.uuid4()))
    assert code == 6 and "200403" in out, f"emulator: wrong project -> exit {code}: {out}"
    # A resource uuid that is not the token's batch.
    token = client.open_model.obtain_token()
    code, out = _cli_exit(info, "openmodel", "upload-callback", "--resource-uuid",
                          str(uuid.uuid4()), "--callback-param", token.callback_param,
                          "--files", '[{"name": "a.JPG", "etag": "x"}]')
    assert code == 6 and str(E.FH2_NOT_BATCH) in out and token.resource_uuid in out, out
    # Unknown model / resource: business code 200404, not an HTTP 404.
    code, out = _cli_exit(info, "openmodel", "get", str(uuid.uuid4()))
    assert code == 6 and str(E.FH2_NOT_FOUND) in out, out
    # A route the emulator does not serve: HTTP 404 + envelope, and flighthub2-cli's
    # "not served by your deployment" hint (it looks for "404 page not found").
    code, out = _cli_exit(info, "wayline", "list")
    assert code == 5 and "not served by your FlightHub 2 deployment" in out, out
    # More than 100 files: flighthub2-cli refuses before sending (exit 2) ...
    many = json.dumps([{"name": f"p{i}.JPG", "etag": "x"} for i in range(101)])
    code, out = _cli_exit(info, "openmodel", "upload-callback", "--resource-uuid",
                          token.resource_uuid, "--callback-param", token.callback_param,
                          "--files", many)
    assert code == 2 and "at most 100" in out, out
    # ... and the emulator refuses the same body sent past flighthub2-cli's check.
    with pytest.raises(fh2_errors.BusinessError) as too_many:
        client._transport.request("POST", "/openapi/v0.1/open_model/stores/upload_callback",
                                  require_project=True,
                                  json_body={"resource_uuid": token.resource_uuid,
                                             "callback_param": token.callback_param,
                                             "files": json.loads(many)})
    assert too_many.value.code == E.FH2_TOO_MANY_FILES, too_many.value


def _args(op: Any, seen: dict[str, Any]) -> dict[str, Any]:
    """Arguments for an operation: values seen in earlier answers, else placeholders."""
    now = int(time.time())
    known = {
        "sn": seen.get("sn", "DOCK-SN-0001"), "device_sn": seen.get("sn", "DOCK-SN-0001"),
        "task_uuid": seen.get("task_uuid", str(uuid.uuid4())),
        "model_id": seen.get("model_id", "1"), "task_folder_id": seen.get("folder_id", 1),
        "begin_at": now - 7 * 86400, "end_at": now + 86400, "wkt": WKT_4326,
        "reconstruction_type": ["2d"], "generate_model_formats": ["mesh"],
        "name": "interop", "wayline_id": str(uuid.uuid4()),
        "annotation_type": 0, "coordinates": [113.94, 22.57],  # a point
    }
    out: dict[str, Any] = {}
    for p in op.params:
        if not p.required:
            continue
        if p.name in known:
            out[p.name] = known[p.name]
        elif p.enum:
            out[p.name] = p.enum[0]
        else:
            out[p.name] = {"integer": 1, "number": 1.0, "boolean": False, "array": ["x"],
                           "object": {}}.get(p.type, "x")
    return out


def _remember(op_name: str, result: Any, seen: dict[str, Any]) -> None:
    items = result if isinstance(result, list) else [result]
    for item in items:
        if not isinstance(item, dict):
            continue
        if op_name == "device.list" and item.get("gateway"):
            seen.setdefault("sn", item["gateway"].get("sn"))
        if op_name == "task.list" and item.get("uuid"):
            seen.setdefault("task_uuid", item["uuid"])
            if item.get("folder_id") is not None:
                seen.setdefault("folder_id", item["folder_id"])
        if op_name == "task.get" and (item.get("folder_info") or {}).get("folder_id"):
            seen.setdefault("folder_id", item["folder_info"]["folder_id"])
        if op_name == "model.list" and item.get("id") is not None:
            seen.setdefault("model_id", str(item["id"]))


@pytest.mark.parametrize("op", OTHERS, ids=[op.name for op in OTHERS])
def test_every_other_operation_succeeds_or_gets_the_envelope(op, client, seen) -> None:
    route = f"{op.http_method} {op.http_path}"
    if op.name == "model.get" and "model_id" not in seen:
        # model ids come from model.list; xdist may run this one first
        _remember("model.list", invoke(client, "model.list", {}, allow_dangerous=True), seen)
        if "model_id" not in seen:
            pytest.skip("no map model yet: run the file in order (model.create first)")
    args = _args(op, seen)
    try:
        result = invoke(client, op.name, args, allow_dangerous=True)
    except pydantic.ValidationError as exc:
        fields = ", ".join(".".join(str(x) for x in e["loc"]) for e in exc.errors())
        pytest.fail(f"emulator: the answer to {route} deviates from flighthub2-cli's model "
                    f"in field(s) {fields}: {exc}")
    except fh2_errors.APIStatusError as exc:
        body = exc.body
        assert isinstance(body, dict) and {"code", "message", "data"} <= set(body), (
            f"emulator: {route} answered HTTP {exc.status_code} without FlightHub's "
            f"{{code, message, data}} envelope: {body!r}")
        assert exc.status_code in (404, 405) and body["code"] == E.FH2_NO_ROUTE, (
            f"emulator: {route} answered HTTP {exc.status_code}, field code={body['code']!r}; "
            f"expected HTTP 404 with code {E.FH2_NO_ROUTE} for a route it does not serve")
        assert body["message"], f"emulator: {route} envelope has an empty message"
        OUTCOMES[op.name] = "no-route"
        assert op.name not in SUCCEED_NOW, f"emulator: {route} is not served, it should be"
        return
    except fh2_errors.BusinessError as exc:
        assert exc.code in DOCUMENTED, (
            f"emulator: {route} answered field code={exc.code}, not a documented code "
            f"({sorted(DOCUMENTED)})")
        assert exc.message, f"emulator: {route} business error without a message"
        OUTCOMES[op.name] = exc.code
        assert op.name not in SUCCEED_NOW, (
            f"emulator: {route} refused flighthub2-cli's request {args} with code {exc.code}: "
            f"{exc.message}")
        return
    except TypeError as exc:  # flighthub2-cli refused our arguments before sending
        pytest.fail(f"test: arguments {args} for {op.name} are wrong: {exc}")
    last = client.history[-1]
    assert last.status_code == 200 and isinstance(last.response_body, dict), (
        f"emulator: {route} answered HTTP {last.status_code}: {last.response_body!r}")
    assert last.response_body.get("code") == 0 and "data" in last.response_body, (
        f"emulator: {route} success envelope fields: {sorted(last.response_body)}")
    _remember(op.name, result, seen)
    OUTCOMES[op.name] = "ok"


def test_the_catalogue_is_what_this_file_covers() -> None:
    """A new flighthub2-cli operation shows up here instead of going untested."""
    assert len(OPERATIONS) == len(OPEN_MODEL) + len(OTHERS)
    assert OPEN_MODEL == sorted(
        ["openmodel.obtain-token", "openmodel.upload-callback", "openmodel.resource-get",
         "openmodel.resource-delete", "openmodel.start", "openmodel.stop", "openmodel.get",
         "openmodel.running", "openmodel.delete"])
    assert {op.name for op in OTHERS} >= {"model.list", "model.get", "model.create",
                                          "task.list", "task.get", "task.media"}


def test_zz_outcomes_are_as_stated() -> None:
    """Runs after the parametrised calls (file order): prints and checks the table."""
    if len(OUTCOMES) < len(OTHERS):
        pytest.skip("run the whole file: the outcomes come from the parametrised test")
    for name in sorted(OUTCOMES):
        print(f"{name:<24} {OUTCOMES[name]}")
    assert {n for n, o in OUTCOMES.items() if o == "ok"} == SUCCEED_NOW
    # everything else is a route the emulator does not serve (none is refused as a request)
    assert {n for n, o in OUTCOMES.items() if o != "ok"} == {
        op.name for op in OTHERS} - SUCCEED_NOW
    assert all(o == "no-route" for n, o in OUTCOMES.items() if n not in SUCCEED_NOW)

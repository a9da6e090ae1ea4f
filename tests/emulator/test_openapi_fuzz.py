"""The OpenAPI document lists every route, and a schemathesis fuzz run finds no 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from terranb.api.signing import sign
from terranb.emulator.app import create_app
from terranb.emulator.auth import issue_cloudapi_token
from terranb.emulator.config import CLOUDAPI_USERS

EXPECTED_TERRA = {
    ("POST", "/store/obtain_token"),
    ("POST", "/store/upload_callback"),
    ("POST", "/resources"),
    ("GET", "/resources"),
    ("GET", "/resources/{uuid}"),
    ("PUT", "/resources/{uuid}"),
    ("DELETE", "/resources/{uuid}"),
    ("POST", "/resources/{uuid}/copy"),
    ("GET", "/files"),
    ("GET", "/files/{uuid}"),
    ("DELETE", "/files/{uuid}"),
    ("POST", "/jobs"),
    ("GET", "/jobs"),
    ("GET", "/jobs/{uuid}"),
    ("PUT", "/jobs/{uuid}"),
    ("DELETE", "/jobs/{uuid}"),
    ("POST", "/jobs/{uuid}/start"),
    ("POST", "/jobs/{uuid}/stop"),
    ("POST", "/jobs/{uuid}/copy"),
}
EXPECTED_FH2 = {
    ("POST", "/stores/obtain_token"),
    ("POST", "/stores/upload_callback"),
    ("GET", "/resource/{resource_uuid}"),
    ("DELETE", "/resource/{resource_uuid}"),
    ("POST", "/models/reconstruction/start"),
    ("POST", "/models/{model_uuid}/reconstruction/stop"),
    ("GET", "/models/{model_uuid}"),
    ("DELETE", "/models/{model_uuid}"),
    ("GET", "/models/running"),
}
EXPECTED_CLOUD = {
    ("POST", "/manage/api/v1/login"),
    ("POST", "/manage/api/v1/token/refresh"),
    ("POST", "/media/api/v1/workspaces/{workspace_id}/fast-upload"),
    ("POST", "/media/api/v1/workspaces/{workspace_id}/upload-callback"),
    ("POST", "/media/api/v1/workspaces/{workspace_id}/files/tiny-fingerprints"),
    ("POST", "/media/api/v1/workspaces/{workspace_id}/group-upload-callback"),
    ("GET", "/media/api/v1/files/{workspace_id}/files"),
    ("GET", "/media/api/v1/files/{workspace_id}/file/{file_id}/url"),
    ("POST", "/storage/api/v1/workspaces/{workspace_id}/sts"),
}


def _documented(served) -> set[tuple[str, str]]:
    doc = requests.get(served.base_url + "/openapi.json", timeout=10).json()
    return {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}


def test_openapi_lists_every_route(served):
    documented = _documented(served)
    expected = (
        {(m, "/terra-rescon-be/v2" + p) for m, p in EXPECTED_TERRA}
        | {(m, f"/openapi/{v}/open_model{p}") for m, p in EXPECTED_FH2 for v in ("v0.1", "v2.0")}
        | EXPECTED_CLOUD
    )
    assert expected <= documented, expected - documented
    # and every route the app serves is documented
    import terranb.emulator.routes_cloudapi as routes_cloudapi
    import terranb.emulator.routes_fh2_dock as routes_fh2_dock
    import terranb.emulator.routes_flighthub as routes_flighthub
    import terranb.emulator.routes_terra as routes_terra

    routers = [routes_terra.router, *routes_flighthub.routers(), routes_fh2_dock.router,
               *routes_cloudapi.routers()]
    served_routes = {(m, r.path) for router in routers for r in router.routes for m in r.methods}
    assert served_routes == documented
    # TerraAPI, open modeling under both versions, FH2 dock routes, Cloud API
    assert len(documented) == 19 + 2 * 9 + len(routes_fh2_dock.router.routes) + 9


def test_openapi_description_says_how_outputs_are_computed(served):
    text = requests.get(served.base_url + "/openapi.json", timeout=10).json()["info"]["description"]
    for phrase in ("stand-ins", "direct georeferencing", "map/result.tif", "BlockR.obj",
                   "cloud_merged.copc.laz",
                   "sample_distance", "output of job: <uuid>", "pixel-centre"):
        assert phrase in text, phrase


class SigningApp:
    """ASGI wrapper that authenticates every fuzzed request the way each API wants."""

    def __init__(self, app: Any, served) -> None:
        self.app = app
        self.terra = served.terra()
        self.info = served.info
        self.cloud_token = issue_cloudapi_token(CLOUDAPI_USERS["adminPC"])

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        path = scope["path"]
        drop = {
            b"authorization",
            b"date",
            b"digest",
            b"x-date",
            b"x-user-token",
            b"x-project-uuid",
            b"x-auth-token",
        }
        headers = [(k, v) for k, v in scope["headers"] if k.lower() not in drop]
        extra: dict[str, str] = {}
        if path.startswith("/terra-rescon-be/"):
            raw = (scope.get("raw_path") or path.encode()).decode("latin-1")
            query = scope.get("query_string", b"").decode("latin-1")
            target = f"{raw}?{query}" if query else raw
            extra = sign(scope["method"], target, body, self.terra.app_key, self.terra.secret_key)
        elif path.startswith("/openapi/"):
            extra = {"X-User-Token": self.info.user_token, "X-Project-Uuid": self.info.project_uuid}
        elif path.startswith(("/media/", "/storage/")):
            extra = {"x-auth-token": self.cloud_token}
        headers += [(k.lower().encode(), v.encode()) for k, v in extra.items()]
        done = False

        async def replay():
            nonlocal done
            if not done:
                done = True
                return {"type": "http.request", "body": body, "more_body": False}
            return {"type": "http.disconnect"}

        await self.app(dict(scope, headers=headers), replay, send)


@pytest.mark.slow
def test_fuzz_no_server_errors(served):
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    app = SigningApp(create_app(served.emulator.ctx), served)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    failures: list[str] = []
    count = 0
    statuses: dict[tuple[str, int], int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=8,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case) -> None:
            nonlocal count
            count += 1
            response = case.call()
            api = case.operation.path.split("/")[1]
            statuses[(api, response.status_code)] = statuses.get((api, response.status_code), 0) + 1
            if response.status_code >= 500:
                failures.append(
                    f"{case.method} {case.formatted_path}: {response.status_code} "
                    f"{response.text[:200]}"
                )

        run()
    assert count > 200
    # the fuzz got past authentication on every API (not just 401s)
    for api in ("terra-rescon-be", "openapi", "media", "storage"):
        assert statuses.get((api, 200), 0) > 0, statuses
    assert not failures, "\n".join(failures[:20])

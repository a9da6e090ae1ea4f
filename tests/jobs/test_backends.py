"""TerraBackend and FlightHubBackend over fake clients: payloads and lost-answer recovery."""

from __future__ import annotations

import types
from typing import Any

import pytest

from terranb.errors import (
    ApiError,
    InvalidOperationError,
    NotFoundError,
    ServerError,
    ValidationError,
)
from terranb.jobs.flighthub_backend import FlightHubBackend
from terranb.jobs.terra_backend import TerraBackend
from terranb.transfer.journal import FileRow


def _row(name: str) -> FileRow:
    return FileRow(name, 10, 0, "s", "m", f"p/{name}", None, "etag-" + name, True, None, 0)


class FakeTerra:
    def __init__(self) -> None:
        self.base_url = "http://terra"
        self.app_key = "AK"
        self.calls: list[tuple[str, Any]] = []
        self.status = 0
        self.fail_create = 0
        self.fail_start = 0
        self.start_went_through = False
        self.store = types.SimpleNamespace(upload_callback=self._callback)
        self.jobs = types.SimpleNamespace(create=self._create, start=self._start,
                                          get=self._get, list=self._list, stop=lambda u: None)

    def _callback(self, resource, cb, entries, batch_size):
        self.calls.append(("bind", (resource, cb, entries, batch_size)))

    def _create(self, name):
        self.calls.append(("create", name))
        if self.fail_create:
            self.fail_create -= 1
            raise ServerError("lost answer", status_code=502)  # but the job exists
        return types.SimpleNamespace(uuid="job-1")

    def _list(self, search=None, limit=None):
        return [types.SimpleNamespace(uuid="job-1", name=search, status=0)]

    def _start(self, uuid, type, resource, parameters):
        self.calls.append(("start", (uuid, type, resource, parameters)))
        if self.start_went_through:
            raise InvalidOperationError("already started", status_code=409, code=102003)
        if self.fail_start:
            self.fail_start -= 1
            self.status = 1  # the service started it; the answer was lost
            raise ApiError("gateway timeout", status_code=504)

    def _get(self, uuid):
        return types.SimpleNamespace(uuid=uuid, status=self.status)


def test_terra_bind_payload():
    client = FakeTerra()
    TerraBackend(client).bind("res", "cbp", [_row("a.JPG"), _row("sub/b.JPG")])
    (_kind, (resource, cb, entries, batch)), = client.calls
    assert (resource, cb, batch) == ("res", "cbp", 2)
    assert entries[1] == {"name": "sub/b.JPG", "etag": "etag-sub/b.JPG",
                          "checksum": "etag-sub/b.JPG"}


def test_terra_lost_create_answer_adopts_the_job_instead_of_duplicating():
    client = FakeTerra()
    client.fail_create = 1
    backend = TerraBackend(client, sleep=lambda s: None)
    assert backend.start("res", 14, "{}", "survey") == "job-1"
    assert [c[0] for c in client.calls] == ["create", "start"]


def test_terra_lost_start_answer_is_not_started_twice():
    client = FakeTerra()
    client.fail_start = 1
    backend = TerraBackend(client, sleep=lambda s: None)
    assert backend.start("res", 14, "{}", "survey") == "job-1"
    assert [c[0] for c in client.calls] == ["create", "start"]  # status 1 seen: no 2nd start


def test_terra_start_refused_because_it_already_started():
    client = FakeTerra()
    client.start_went_through = True
    client.status = 2
    assert TerraBackend(client).start("res", 14, "{}", "x") == "job-1"
    client.status = 0
    with pytest.raises(InvalidOperationError):
        TerraBackend(client).start("res", 14, "{}", "x")


class FakeFH2:
    def __init__(self) -> None:
        self.base_url = "http://fh2"
        self.project_uuid = "proj"
        self.calls: list[tuple[str, Any]] = []
        self.fail_start = 0
        self.running: list[Any] = []

    def upload_callback(self, resource, cb, entries, resource_name=None, batch_size=50):
        self.calls.append(("bind", (resource, cb, entries, resource_name)))

    def get_resource(self, uuid):
        raise NotFoundError("no such resource", status_code=404)

    def start_reconstruction(self, resource, **params):
        self.calls.append(("start", (resource, params)))
        if self.fail_start:
            self.fail_start -= 1
            self.running.append(types.SimpleNamespace(resource_uuid=resource, model_uuid="m-9"))
            raise ServerError("lost", status_code=500)
        return {"model_2d": types.SimpleNamespace(uuid="m-1")}

    def running_models(self):
        return self.running


def test_flighthub_resource_bind_and_start():
    client = FakeFH2()
    backend = FlightHubBackend(client)
    batch = "5a3e7c1e-0b7e-4d7a-9a51-2f6f0b7d9c11"
    rid = backend.new_resource(
        "survey", store_path=f"fh/organizations/o-1/open_reconstruction/tmp/{batch}/{{fileName}}")
    assert rid == batch and backend.bound_names(rid) == set()  # the batch id, not a new uuid
    with pytest.raises(ValidationError, match="store_path"):
        backend.new_resource("survey")
    backend.bind(rid, "cbp", [_row("a.JPG")])
    assert client.calls[0] == ("bind", (rid, "cbp", [{"name": "a.JPG", "etag": "etag-a.JPG"}],
                                        "survey"))
    assert backend.start(rid, 14, '{"parameter":{}}', "survey", kind="2d") == "m-1"
    assert client.calls[1] == ("start", (rid, {"parameter_2d": '{"parameter":{}}'}))


def test_flighthub_lost_start_answer_adopts_the_running_model():
    client = FakeFH2()
    client.fail_start = 1
    backend = FlightHubBackend(client, sleep=lambda s: None)
    assert backend.start("r1", 15, "{}", "x", kind="3d") == "m-9"
    assert [c[0] for c in client.calls] == ["start"]

"""terranb's own FlightHub 2 client against an independent stand-in (not the emulator).

The stand-in (``standin_fh2.py``) answers in the shapes flighthub2-cli's models
accept and refuses requests that break the live-verified rules, naming the field.
Here terranb's parsing of each answer is compared field by field with what the
stand-in sent; a mismatch names the field and says "terranb parsed".
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("flighthub2", reason="flighthub2-cli is a test dependency")

from standin_fh2 import PROJECT, TOKEN, FH2Standin

from terranb.api.flighthub import MAX_CALLBACK_FILES, FlightHubClient, batch_uuid
from terranb.errors import ApiError, NotFoundError, UnsupportedRouteError
from terranb.jobs.flighthub_backend import FlightHubBackend
from terranb.jobs.states import JobState
from terranb.params import Params2D
from terranb.transfer.journal import FileRow


@pytest.fixture
def standin():
    with FH2Standin() as s:
        yield s


@pytest.fixture
def fh(standin) -> FlightHubClient:
    return FlightHubClient(TOKEN, PROJECT, base_url=standin.url, api_version="v0.1",
                           language="en")


def _same(side: str, what: str, got: Any, sent: Any) -> None:
    assert got == sent, f"terranb parsed {what} = {got!r}; the {side} sent {sent!r}"


def _row(name: str) -> FileRow:
    return FileRow(name, 10, 0, "sha", "md5", f"k/{name}", None, f"etag-{name}", True, None, 0)


def test_token_batch_and_callbacks_follow_the_live_rules(standin, fh) -> None:
    creds = fh.obtain_token()
    raw = creds.raw
    _same("stand-in", "bucket", creds.bucket, raw["cloud_bucket_name"])
    _same("stand-in", "store_path", creds.store_path, raw["store_path"])
    _same("stand-in", "callback_param", creds.callback_param, raw["callback_param"])
    _same("stand-in", "endpoint_url", creds.endpoint_url, raw["end_point"])
    _same("stand-in", "expire_time", creds.expire_time, raw["expire_time"])
    _same("stand-in", "provider", creds.provider, "ali_oss")

    from flighthub2.models import OpenModelUploadToken

    their_batch = OpenModelUploadToken.model_validate(raw).resource_uuid
    _same("flighthub2-cli", "the batch id of store_path", batch_uuid(creds.store_path),
          their_batch)

    backend = FlightHubBackend(fh)
    rid = backend.new_resource("survey", store_path=creds.store_path)
    _same("flighthub2-cli", "resource uuid", rid, their_batch)
    assert backend.bound_names(rid) == set()  # 200404 before the first callback
    rows = [_row(f"DJI_{i:04d}.JPG") for i in range(250)]
    backend.bind(rid, creds.callback_param, rows, resource_name="survey")
    sizes = [len(c["files"]) for c in standin.state.callbacks]
    assert sizes == [100, 100, 50], f"terranb sent upload_callback batches of {sizes}"
    assert max(sizes) <= MAX_CALLBACK_FILES
    assert {c["resource_uuid"] for c in standin.state.callbacks} == {their_batch}
    assert backend.bound_names(rid) == {r.rel for r in rows}
    res = fh.get_resource(rid)
    _same("stand-in", "resource_size", res.resource_size, 250 * 1000)

    # The client derives the batch itself when given the token.
    standin.state.callbacks.clear()
    fh.upload_callback("", creds, [{"name": "extra.JPG", "etag": '"abc"'}])
    assert standin.state.callbacks[0]["resource_uuid"] == their_batch
    assert standin.state.callbacks[0]["files"] == [{"name": "extra.JPG", "etag": "abc"}]
    # Every call had its own X-Request-Id (the stand-in refuses a reused one).
    assert len(set(standin.state.request_ids)) == len(standin.state.request_ids) >= 7


def test_model_lifecycle_through_the_backend(standin, fh) -> None:
    creds = fh.obtain_token()
    backend = FlightHubBackend(fh, sleep=lambda s: None)
    rid = backend.new_resource("survey", store_path=creds.store_path)
    backend.bind(rid, creds.callback_param, [_row(f"P{i}.JPG") for i in range(6)])
    model_uuid = backend.start(rid, 14, Params2D(map_mode=1).to_json(), "survey", kind="2d")
    sent = standin.state.models[model_uuid]
    _same("stand-in", "resource_uuid of the model", sent["resource_uuid"], rid)
    running = fh.running_models()
    assert [m.model_uuid for m in running] == [model_uuid]
    first = backend.status(model_uuid)
    assert first.state is JobState.RUNNING, f"terranb parsed {first.describe()} for status 14"
    done = backend.status(model_uuid)
    assert done.state is JobState.SUCCEEDED, f"terranb parsed {done.describe()} for 15 + zip 2"
    _same("stand-in", "zip_file_key (output_ref)", done.output_ref,
          standin.state.models[model_uuid]["zip_file_key"])
    assert fh.running_models() == []  # "list": null is an empty list
    with pytest.raises(ApiError) as info:  # stopping a finished model: business code
        fh.stop_model(model_uuid)
    assert info.value.code == 200409 and info.value.status_code == 200
    fh.delete_model(model_uuid)
    with pytest.raises(NotFoundError):
        fh.get_model(model_uuid)
    fh.delete_resource(rid)


def test_unknown_route_is_unsupported_not_missing(fh) -> None:
    with pytest.raises(UnsupportedRouteError) as info:
        fh.call("GET", "/project")
    assert info.value.route == "GET /openapi/v0.1/project" and "does not offer" in str(info.value)
    assert not isinstance(info.value, NotFoundError)


def test_a_deviating_request_names_the_field(standin, fh) -> None:
    """The stand-in's check works: a made-up resource uuid is refused, naming the field."""
    import uuid

    creds = fh.obtain_token()
    with pytest.raises(ApiError, match=r"deviates: field resource_uuid"):
        fh.upload_callback(str(uuid.uuid4()), creds, [{"name": "a.JPG", "etag": "e"}])

"""The emulator's dock mission through terranb's FlightHub 2 client over a real socket:
system status, projects + STS, flight tasks and media, map models built by the real
engine from the mission's photos (POST /model/create)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from terranb.api.flighthub import FlightHubClient
from terranb.errors import ApiError

pytestmark = [pytest.mark.served, pytest.mark.slow]
pytest.importorskip("fastapi")


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    from terranb.emulator import serve

    with serve(job_seconds=2, seed=3) as info:
        yield info


@pytest.fixture()
def fh(emu: Any) -> FlightHubClient:
    return FlightHubClient(emu.user_token, emu.project_uuid, base_url=emu.base_url)


def test_projects_tasks_media(fh: FlightHubClient, emu: Any) -> None:
    assert fh.system.status().code == 0
    projects = fh.projects.list()
    assert [p.uuid for p in projects] == [emu.project_uuid]
    sts = fh.projects.sts_token()
    assert sts.bucket and "secret" not in repr(sts).lower().replace("secret_", "")
    sn = fh.projects.dock_serials()[0]
    tasks = fh.flight_tasks.list(sn, 0, int(time.time()) + 60)
    assert len(tasks) == 1 and tasks[0].folder_id
    task = fh.flight_tasks.get(tasks[0].uuid)
    assert task.folder_id == tasks[0].folder_id
    media = fh.flight_tasks.media(task.uuid)
    assert len(media) == 16 and all(m.name.lower().endswith(".jpg") for m in media)
    import urllib.request

    with urllib.request.urlopen(media[0].original_url) as r:  # presigned, real JPEG bytes
        assert r.read(3) == b"\xff\xd8\xff"
    with pytest.raises(ApiError):
        fh.flight_tasks.get("00000000-0000-4000-8000-000000000000")


def test_model_create_runs_engine(fh: FlightHubClient) -> None:
    sn = fh.projects.dock_serials()[0]
    task = fh.flight_tasks.list(sn, 0, int(time.time()) + 60)[0]
    assert task.folder_id is not None
    with pytest.raises(ApiError):  # bad CRS named, nothing created
        fh.map_models.create(name="bad", task_folder_id=task.folder_id, wkt="NOT A CRS",
                             reconstruction_type=["2d"])
    before = len(fh.map_models.list())
    mid = fh.map_models.create(name="ortho", task_folder_id=task.folder_id, wkt="EPSG:32615",
                               reconstruction_type=["2d"], quality_level="low")
    assert len(fh.map_models.list()) == before + 1
    deadline = time.time() + 90
    while True:
        m = fh.map_models.get(mid)
        if m.state in ("succeeded", "failed") or time.time() > deadline:
            break
        time.sleep(0.5)
    assert m.state == "succeeded", m.message
    assert m.url.startswith("http") and m.preview_url.startswith("http") and m.size > 0
    import io
    import urllib.request
    import zipfile

    with urllib.request.urlopen(m.url) as r:
        archive = zipfile.ZipFile(io.BytesIO(r.read()))
    names = archive.namelist()
    assert any(n.endswith(".tif") for n in names), names
    # preview_url is a picture (the ortho's screennail), not the archive again.
    with urllib.request.urlopen(m.preview_url) as r:
        preview = r.read()
    assert preview[:8] == b"\x89PNG\r\n\x1a\n", preview[:16]
    assert preview == archive.read("map/report/dom_screennail.png")

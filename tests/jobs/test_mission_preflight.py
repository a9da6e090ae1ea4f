"""Preflight of a flight task's photos by HTTP Range: the same metadata as reading the files
locally, a small fraction of their bytes, and named errors when the links cannot be read by
range. Real DJI photos (by path, skipped when absent) behind a small Range server."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from terranb.api.models_fh2_dock import FlightTask, TaskMedia
from terranb.dataset.exif import read_photo_meta
from terranb.jobs.mission_preflight import preflight_flight_task, task_crs
from terranb.transfer.rangeio import RangeNotSupportedError

_spec = importlib.util.spec_from_file_location(
    "_terranb_rangeserver", Path(__file__).resolve().parents[1] / "results" / "_rangeserver.py")
assert _spec is not None and _spec.loader is not None
rangeserver = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = rangeserver  # dataclasses look their module up there
_spec.loader.exec_module(rangeserver)

pytest.importorskip("requests")


class _Tasks:
    def __init__(self, base: str, files: list[Path]) -> None:
        self.items = [TaskMedia.from_api({"uuid": f"m{i}", "name": p.name, "size": p.stat().st_size,
                                          "suffix": p.suffix.lstrip("."),
                                          "original_url": f"{base}/{p.name}?X-Amz-Signature=s"})
                      for i, p in enumerate(files)]

    def get(self, task_uuid: str) -> FlightTask:
        return FlightTask.from_api({"uuid": task_uuid, "name": "t", "folder_id": 7})

    def media(self, task_uuid: str) -> list[TaskMedia]:
        return self.items


class _Client:
    def __init__(self, base: str, files: list[Path]) -> None:
        self.flight_tasks = _Tasks(base, files)


@pytest.fixture()
def flight(tmp_path: Path) -> list[Path]:
    synthetic = pytest.importorskip("terranb.dataset.synthetic")
    f = synthetic.make_sample_flight(tmp_path / "f", seed=2, photos=8, image_size=(600, 400),
                                     lidar=False)
    return sorted(f.photos)


def test_same_metadata_as_local_and_few_bytes(flight: list[Path]) -> None:
    with rangeserver.serve(flight[0].parent) as srv:
        pre = preflight_flight_task("t1", client=_Client(srv.base, flight), job_type="2d")
        served = srv.served
        crs = task_crs("t1", client=_Client(srv.base, flight))
    assert pre.ok and len(pre.report.photos) == 8
    local = {p.name: read_photo_meta(p) for p in flight}
    for m in pre.report.photos:
        ref = local[m.name]
        assert (m.latitude, m.longitude, m.relative_altitude, m.gimbal_pitch, m.width,
                m.focal_length_mm, m.capture_time) == \
            (ref.latitude, ref.longitude, ref.relative_altitude, ref.gimbal_pitch, ref.width,
             ref.focal_length_mm, ref.capture_time)
        assert m.size_bytes == ref.size_bytes and not m.truncated
    assert pre.bytes_total == sum(p.stat().st_size for p in flight)
    assert pre.bytes_read == served  # counted, not estimated
    assert pre.fraction_read < 0.35, pre.read_line()
    assert pre.footprints is not None and len(pre.footprints) == 8
    assert crs.startswith("EPSG:326")
    assert "no photo was downloaded" in pre.headline() and "X-Amz" not in pre.to_text()


def test_truncated_photo_found_by_its_tail(flight: list[Path], tmp_path: Path) -> None:
    cut = tmp_path / "cut"
    shutil.copytree(flight[0].parent, cut)
    victim = cut / flight[3].name
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size * 2 // 3])
    with rangeserver.serve(cut) as srv:
        pre = preflight_flight_task("t1", client=_Client(srv.base, sorted(cut.glob("*.JPG"))),
                                    job_type="2d")
    assert [f.code for f in pre.report.errors if f.path and f.path.name == victim.name] == \
        ["truncated"]


def test_server_without_range_is_named(flight: list[Path]) -> None:
    with rangeserver.serve(flight[0].parent, honour_range=False) as srv, \
            pytest.raises(RangeNotSupportedError, match="ignored the HTTP Range"):
        preflight_flight_task("t1", client=_Client(srv.base, flight), max_header_bytes=4096)


def test_real_dji_photos_by_range(real_data: Any) -> None:
    folder = Path(real_data) / "dji_jpeg" / "brighton_beach"
    photos = sorted(folder.glob("*.JPG"))
    if not photos:
        pytest.skip("real DJI photos absent")
    with rangeserver.serve(folder) as srv:
        pre = preflight_flight_task("t1", client=_Client(srv.base, photos), job_type="2d")
    for m in pre.report.photos:
        ref = read_photo_meta(folder / m.name)
        assert (m.latitude, m.longitude, m.gimbal_yaw, m.model, m.truncated) == \
            (ref.latitude, ref.longitude, ref.gimbal_yaw, ref.model, ref.truncated)
    print(pre.read_line())
    assert pre.fraction_read < 0.05  # ~40 KiB of 3 MB photos

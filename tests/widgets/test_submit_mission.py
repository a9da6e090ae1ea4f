"""The submit widget's "photos of a dock mission" source: pick project -> flight task, Check
by range read (findings, footprint map, bytes read), Submit via Job.from_flight_task; against
the embedded emulator's dock mission, and the gating with a stand-in."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ipywidgets")

from terranb.api.models_fh2_dock import FlightTask
from terranb.widgets.submit import SubmitOps, SubmitWidget


@dataclass
class _P:
    uuid: str
    name: str


def _T(uuid: str) -> FlightTask:
    return FlightTask(uuid, name="mission", status="success",
                      begin_at=datetime(2026, 12, 4, 10, 0))


@dataclass
class FakeMissionOps:
    preflights: list[tuple[str, str, str]] = field(default_factory=list)

    def projects(self) -> list[_P]:
        return [_P("p1", "Farm"), _P("p2", "Quarry")]

    def tasks(self, project_uuid: str) -> list[FlightTask]:
        return [_T(f"{project_uuid}-t1"), _T(f"{project_uuid}-t2")]

    def preflight(self, project: str, task: str, job_type: str) -> Any:
        self.preflights.append((project, task, job_type))
        raise AssertionError("not reached in the gating test")


def test_mission_source_lists_projects_and_tasks_and_gates(tmp_path: Path) -> None:
    ops = FakeMissionOps()
    w = SubmitWidget(tmp_path, ops=SubmitOps(), mission_ops=ops)
    assert w.mission.widget.layout.display == "none" and w.folder_box.layout.display == ""
    w.source.value = "mission"
    assert w.folder_box.layout.display == "none" and w.backend.layout.display == "none"
    assert [v for _l, v in w.mission.project.options] == ["p1", "p2"]
    assert w.mission.key() == ("p1", "p1-t1")
    w.mission.project.value = "p2"
    assert w.mission.key() == ("p2", "p2-t1") and "2 flight task(s)" in w.mission.info.value
    assert w.mission.task.options[0][0] == "mission · 2026-12-04 10:00 · success"
    w.job_type.value = "lidar"
    w.check_button.click()
    assert "2D or 3D" in w.errors[-1] and w.submit_button.disabled and not ops.preflights
    w.submit()
    assert "Check" in w.errors[-1]


@pytest.mark.slow
@pytest.mark.served
def test_dock_mission_check_and_submit_on_the_emulator(tmp_path: Path) -> None:
    pytest.importorskip("moto")
    from terranb.emulator import serve
    from terranb.jobs.ledger import Ledger
    from terranb.widgets import backends_for

    with serve(job_seconds=1, seed=4) as emu:
        factory = backends_for(emu)
        ledger = Ledger(tmp_path / "state")
        w = SubmitWidget(tmp_path, ops=SubmitOps(factory, ledger), source="mission",
                         job_type="2d")
        assert w.mission.key()[0] == emu.project_uuid and w.mission.key()[1], w.errors
        w.check_button.click()
        assert w.report is not None and not w.report.errors, (w.errors, w.findings.value)
        assert len(w.report.photos) == 16
        pre = w.mission_preflight
        assert 0 < pre.bytes_read < pre.bytes_total / 2
        assert "by HTTP Range" in w.summary.value and "<iframe" in w.map.value
        assert not w.submit_button.disabled
        w.job_type.value = "3d"  # a changed input asks for a new check
        assert w.submit_button.disabled
        w.job_type.value = "2d"
        w.check_button.click()
        w.quality.value = "low"
        w.submit_button.click()
        assert w.job is not None, w.errors
        assert w.job.backend.kind == "flighthub-map" and w.job.id in w.status.value
        assert "EPSG:32615" in w.status.value  # CRS chosen from the photos' position
        deadline = time.time() + 120
        status = w.job.wait(interval=0.3, timeout=max(1.0, deadline - time.time()))
        assert status.state.value == "succeeded"
        rec = ledger.get(w.job.id)
        assert rec is not None and rec.dataset.startswith("flight-task:")
        ledger.close()

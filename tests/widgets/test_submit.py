"""Headless tests of the submit widget: Check gates Submit, progress bars, the file browser."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ipywidgets")

from terranb.transfer.progress import ProgressEvent
from terranb.widgets.submit import SubmitWidget, count_errors


@dataclass
class Finding:
    severity: str
    code: str
    message: str


@dataclass
class Report:
    findings: list[Finding]
    photos: list[Path] = field(default_factory=list)
    total_bytes: int = 0

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def _repr_html_(self) -> str:
        return "<ul>" + "".join(f"<li>{f.code}: {f.message}</li>" for f in self.findings) + "</ul>"


@dataclass
class FakeJob:
    uuid: str


@dataclass
class FakeOps:
    bad: bool = False
    checks: list[tuple[Path, str, str]] = field(default_factory=list)
    submits: list[dict[str, Any]] = field(default_factory=list)

    def preflight(self, path: Path, backend: str, job_type: str) -> Report:
        self.checks.append((path, backend, job_type))
        photos = sorted(path.glob("*.JPG"))
        findings = [Finding("warning", "low_side_overlap", "side overlap 65 % < 70 %")]
        if self.bad:
            findings.append(Finding("error", "no_gps", "DJI_0003.JPG has no GPS: re-export it"))
        return Report(findings, photos, 3000)

    def params(self, job_type: str, crs: str, quality: str) -> dict[str, Any]:
        return {"job_type": job_type, "crs": crs, "quality": quality}

    def submit(self, path: Path, backend: str, job_type: str, params: Any, name: str,
               on_progress: Any) -> FakeJob:
        for i in range(3):
            on_progress(ProgressEvent("upload", f"DJI_000{i}.JPG", 1000, 1000, 1000 * (i + 1),
                                      3000, i + 1, 3, True))
        self.submits.append({"path": path, "backend": backend, "job_type": job_type,
                             "params": params, "name": name})
        return FakeJob("3f2b9c1e-0000-4000-8000-000000000001")


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "flight"
    (d / "sub").mkdir(parents=True)
    for i in range(3):
        (d / f"DJI_000{i}.JPG").write_bytes(b"\xff\xd8" + b"0" * 998)
    return d


def test_submit_is_disabled_until_a_clean_check(folder: Path) -> None:
    ops = FakeOps()
    w = SubmitWidget(folder, ops=ops)
    assert w.submit_button.disabled
    w.submit()  # direct call is refused too
    assert ops.submits == [] and "Check" in w.errors[-1]
    w.check_button.click()
    assert ops.checks == [(folder, "terra", "2d")]
    assert "ready to submit" in w.summary.value and "3 photos" in w.summary.value
    assert "low_side_overlap" in w.findings.value
    assert not w.submit_button.disabled


def test_errors_block_submit(folder: Path) -> None:
    ops = FakeOps(bad=True)
    w = SubmitWidget(folder, ops=ops)
    w.check_button.click()
    assert count_errors(w.report) == 1
    assert "1 error(s)" in w.summary.value and "no_gps" in w.findings.value
    assert w.submit_button.disabled
    w.submit()
    assert ops.submits == [] and "preflight found errors" in w.errors[-1]


def test_changing_inputs_requires_a_new_check(folder: Path) -> None:
    w = SubmitWidget(folder, ops=FakeOps())
    w.check_button.click()
    assert not w.submit_button.disabled
    w.job_type.value = "3d"
    assert w.submit_button.disabled and "Check again" in w.summary.value
    w.check_button.click()
    assert not w.submit_button.disabled


def test_submit_uploads_with_progress_and_starts(folder: Path) -> None:
    ops = FakeOps()
    w = SubmitWidget(folder, ops=ops, backend="flighthub", job_type="3d", crs="EPSG:32650")
    w.quality.value = "medium"
    w.check_button.click()
    w.submit_button.click()
    assert len(ops.submits) == 1
    sub = ops.submits[0]
    assert sub["backend"] == "flighthub" and sub["job_type"] == "3d"
    assert sub["params"] == {"job_type": "3d", "crs": "EPSG:32650", "quality": "medium"}
    assert sub["name"] == "flight 3d"
    assert w.total_bar.value == 1.0 and w.file_bar.value == 1.0
    assert "3/3 files" in w.total_label.value
    assert "3f2b9c1e-0000-4000-8000-000000000001" in w.status.value
    assert w.submit_button.disabled  # one job per check: no double submit


def test_missing_folder_is_explained(tmp_path: Path) -> None:
    w = SubmitWidget(tmp_path / "nope", ops=FakeOps())
    w.check_button.click()
    assert "does not exist" in w.errors[-1] and w.submit_button.disabled


def test_folder_browser_navigates(folder: Path) -> None:
    w = SubmitWidget(folder, ops=FakeOps())
    w.browse_toggle.value = True
    values = [v for _label, v in w.browser.select.options]
    assert values[0] == ".." and "sub" in values and "file:DJI_0000.JPG" in values
    w.browser.select.value = "sub"
    assert w.path.value == str(folder / "sub")
    w.browser.select.value = ".."
    assert w.path.value == str(folder)


def test_preflight_failure_is_reported(folder: Path) -> None:
    ops = FakeOps()

    def boom(*_a: Any) -> None:
        raise OSError("disk on fire")

    ops.preflight = boom  # type: ignore[method-assign]
    w = SubmitWidget(folder, ops=ops)
    w.check_button.click()
    assert "disk on fire" in w.status.value
    assert not w.check_button.disabled and w.submit_button.disabled

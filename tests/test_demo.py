"""``terranb demo``: the whole offline pipeline ends in a survey report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("moto")
pytest.importorskip("rasterio")
pytest.importorskip("folium")


@pytest.mark.slow
@pytest.mark.served
def test_demo_runs_three_jobs_and_writes_the_report(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from terranb.cli.main import main

    out = tmp_path / "demo"
    code = main(["demo", "--out", str(out), "--photos", "12", "--job-seconds", "1", "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert set(summary["job_ids"]) == {"2d", "3d", "lidar"}
    report = out / "report.html"
    assert Path(summary["report"]) == report and report.is_file()
    text = report.read_text(encoding="utf-8")
    for job_id in summary["job_ids"].values():
        assert job_id in text  # the run card names every job
    card = json.loads((out / "results" / "runcard.json").read_text(encoding="utf-8"))
    assert card["backend"] == "terra"
    assert len(card["inputs"]) >= 12  # every photo (and the LiDAR files) checksummed
    assert any(o["path"].startswith("2d/map/result.tif") for o in card["outputs"])
    assert any(o["path"].endswith(".las") for o in card["outputs"])
    assert any(o["path"].endswith(".obj") for o in card["outputs"])
    assert all(j["status"] == "succeeded" for j in card["jobs"])
    assert "processing" in card["jobs"][0]["timings"]
    # the result trees open and the report is self-contained
    for kind in ("2d", "3d", "lidar"):
        assert (out / "results" / kind / "mission.json").is_file()
    assert report.stat().st_size < 20_000_000


def test_demo_rejects_unknown_job_types(tmp_path: Path) -> None:
    from terranb.demo import run_demo
    from terranb.errors import ValidationError

    with pytest.raises(ValidationError, match="2d, 3d, lidar"):
        run_demo(tmp_path, types=("2d", "4d"), progress=False)

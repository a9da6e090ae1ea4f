"""The survey report: sections, statistics, run card, self-containment, CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("rasterio")
pytest.importorskip("folium")

from terranb.report import RunCard, build_report, find_results, report_html
from terranb.report.runcard import JobRecord, file_checksums, sha256_file


def _external_refs(text: str) -> list[str]:
    """Every src/href/url() that would leave the page (anything but data:, #, about:, blob:)."""
    refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"'#][^"']*)["']""", text)
    refs += re.findall(r"""url\(\s*["']?([^"')]+)""", text)
    return [r for r in refs if not r.startswith(("data:", "about:", "blob:", "#"))]


def test_find_results_walks_folders(result_trees: Path) -> None:
    found = find_results(result_trees)
    assert [p.name for p in found] == ["2d", "3d", "lidar"]
    assert find_results(result_trees / "2d") == [result_trees / "2d"]


def test_report_has_every_section_and_figure(result_trees: Path, tmp_path: Path) -> None:
    card = RunCard(backend="terra", service_url="http://127.0.0.1:1234")
    card.jobs.append(JobRecord(uuid="1b4e28ba-2fa1-11d2-883f-0016d3cca427", job_type="2d",
                               backend="terra", name="demo 2d", status="succeeded",
                               parameters='{"parameter": {"quality_level": 1}}',
                               started_at="2026-01-01T00:00:00+00:00",
                               finished_at="2026-01-01T00:00:12+00:00", results_dir="2d"))
    card.inputs = file_checksums(result_trees / "2d" / "map")  # any files will do
    card.add_timing("total", 42.5)
    card.write(result_trees)
    out = build_report(result_trees, tmp_path / "report.html")
    text = out.read_text(encoding="utf-8")
    for anchor in ("overview", "map", "statistics", "findings", "runcard"):
        assert f'id="{anchor}"' in text
    # statistics of each product
    assert "EPSG:32650" in text
    assert "GSD (cm/px)" in text and ">5<" in text          # 0.05 m
    assert "2,000" in text                                    # LiDAR points
    assert "2 Ground: " in text and "6 Building: " in text   # ASPRS class names
    assert "triangles" in text
    # run card
    assert "1b4e28ba-2fa1-11d2-883f-0016d3cca427" in text
    assert "quality_level" in text and "12.0 s" in text and "42.5" in text
    digest = sha256_file(result_trees / "2d" / "map" / "result.tif")
    assert digest in text                                     # output checksum
    assert "lidar/lidars/terra_las/cloud_merged.las" in text
    # self-contained: nothing leaves the page
    assert _external_refs(text) == []
    assert "Content-Security-Policy" in text
    assert out.stat().st_size < 15_000_000
    # the density grid suits the 2,000-point sample (16 cells across, not 128 cells of noise)
    assert "grid 16 cells across the cloud (from a 2,000-point sample)" in text


def test_density_grid_keeps_about_25_points_a_cell() -> None:
    from terranb.report.survey import density_bins

    assert density_bins(62_766) == 50     # the demo's cloud: ~40 points per occupied cell
    assert density_bins(100_000) == 63    # the report's sample cap
    assert density_bins(10_000_000) == 128 and density_bins(0) == 16


def test_report_without_runcard_computes_output_checksums(result_trees: Path) -> None:
    text = report_html(result_trees / "lidar")
    assert "No job records" in text
    assert sha256_file(result_trees / "lidar" / "lidars" / "terra_las" / "cloud_merged.las") in text


def test_report_of_an_empty_folder_says_what_to_do(tmp_path: Path) -> None:
    from terranb.errors import ResultFormatError

    with pytest.raises(ResultFormatError, match="download"):
        report_html(tmp_path)


def test_runcard_round_trip_and_find(tmp_path: Path) -> None:
    card = RunCard(backend="flighthub")
    card.jobs.append(JobRecord(uuid="u", parameters={"a": 1}, timings={"upload": 1.5}))
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f.bin").write_bytes(b"abc")
    card.outputs = file_checksums(tmp_path / "x")
    card.write(tmp_path)
    back = RunCard.find(tmp_path / "x")  # found in the parent
    assert back is not None and back.to_dict() == card.to_dict()
    assert back.outputs[0].sha256 == \
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert json.loads((tmp_path / "runcard.json").read_text())["backend"] == "flighthub"


def test_cli_report(result_trees: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from terranb.cli.main import main

    out = tmp_path / "r.html"
    assert main(["report", str(result_trees), "--out", str(out)]) == 0
    assert out.is_file() and "Survey report" in out.read_text(encoding="utf-8")
    assert str(out) in capsys.readouterr().out
    assert main(["report", str(tmp_path / "missing"), "--out", str(out)]) == 1


def test_report_of_one_tree_finds_its_job_in_the_parent_runcard(result_trees: Path) -> None:
    card = RunCard(backend="terra")
    card.jobs.append(JobRecord(uuid="job-of-the-lidar-tree", job_type="lidar", results_dir="lidar"))
    card.write(result_trees)
    text = report_html(result_trees / "lidar")
    # the overview row of the lidar result names its job
    assert "<td>lidar</td><td>lidar</td>" in text
    assert text.count("job-of-the-lidar-tree") >= 2  # overview and run card

"""`terranb info` and `terranb stac` (run through the real sub-command handlers)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from terranb.cli import cmd_results
from terranb.cli._common import run_handler
from terranb.results.samples import write_sample_tree


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="terranb")
    cmd_results.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return run_handler(args.func, args)


def test_info_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_sample_tree(tmp_path / "r", "3d")
    assert run(["info", str(root), "--scan", "--mesh-stats"]) == 0
    out = capsys.readouterr().out
    assert ": 3d" in out and "EPSG:32650" in out and "3,000 points" in out
    assert "800 faces" in out and "classes 1:" in out and "findings: none" in out


def test_info_prints_full_coordinates(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # northings in the millions must not collapse to 5.18815e+06 (a 10 m error on screen)
    root = write_sample_tree(tmp_path / "r", "2d")
    assert run(["info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "e+0" not in out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("bounds"))
    native, wgs84 = line.split("; WGS 84 ")
    assert all(len(v.split(".")[1]) == 3 for v in native.split("(")[1].rstrip(")").split(", "))
    assert all(len(v.split(".")[1]) == 7 for v in wgs84.strip("()").split(", "))


def test_info_json_and_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_sample_tree(tmp_path / "r", "2d")
    (root / "map" / "result.tfw").unlink()
    assert run(["info", str(root), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["kind"] == "2d" and data["rasters"]["map/result.tif"]["crs"]["epsg"] == 32650
    assert "tree.no_tfw" in {f["code"] for f in data["findings"]}


def test_info_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["info", str(tmp_path / "missing"), "--json"]) == 1
    captured = capsys.readouterr()
    assert json.loads(captured.out)["error"]["type"] == "ResultFormatError"
    assert "does not exist" in captured.err


def test_stac_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = write_sample_tree(tmp_path / "r", "lidar")
    out = tmp_path / "items" / "item.json"
    out.parent.mkdir()
    assert run(["stac", str(root), "--out", str(out), "--id", "lidar-1"]) == 0
    item = json.loads(out.read_text())
    assert item["id"] == "lidar-1" and item["bbox"] and "lidar_report" in item["assets"]
    assert item["assets"]["point_cloud"]["href"].startswith("../r/")
    assert "wrote" in capsys.readouterr().out

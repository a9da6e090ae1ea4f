"""The dataset commands through argparse and the shared error handling."""

from __future__ import annotations

import argparse
import json

import pytest

from terranb.cli import cmd_dataset
from terranb.cli._common import run_handler


def _run(argv, capsys):
    parser = argparse.ArgumentParser(prog="terranb")
    sub = parser.add_subparsers(dest="command")
    cmd_dataset.register(sub)
    args = parser.parse_args(argv)
    code = run_handler(args.func, args)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_sample_data_preflight_mosaic(tmp_path, capsys):
    d = tmp_path / "demo"
    code, out, _ = _run(["sample-data", str(d), "--rows", "3", "--cols", "3", "--size", "300x200",
                         "--overlap", "80", "--no-lidar", "--json"], capsys)
    assert code == 0
    info = json.loads(out)
    assert info["photos"] == 9 and info["lidar_las"] is None
    code, out, _ = _run(["preflight", str(d / "images"), "--backend", "terra", "--type", "2d"],
                        capsys)
    assert code == 1 and "too_few_photos" in out and "NOT READY" in out
    code, out, _ = _run(["preflight", str(d / "images"), "--backend", "flighthub", "--type",
                         "2d", "--json"], capsys)
    rep = json.loads(out)
    assert code == 0 and rep["ok"] is True and rep["overlap"]["forward_median"] > 0.75
    code, out, _ = _run(["mosaic", str(d / "images"), str(tmp_path / "m.tif"), "--json"], capsys)
    res = json.loads(out)
    assert code == 0 and res["photos_used"] == 9 and (tmp_path / "m.tfw").exists()
    code, out, _ = _run(["mosaic", str(d / "images"), str(tmp_path / "g.tif"), "--crs",
                         "EPSG:4326"], capsys)
    assert code == 0 and "degree/pixel" in out and "EPSG:4326" in out
    code, out, _ = _run(["mosaic", str(d / "images"), str(tmp_path / "m.tif")], capsys)
    assert code == 0 and " m/pixel" in out and "from 9 photos" in out


def test_errors_map_to_exit_1(tmp_path, capsys):
    code, _out, err = _run(["mosaic", str(tmp_path / "missing"), str(tmp_path / "m.tif")], capsys)
    assert code == 1 and "does not exist" in err
    code, _out, err = _run(["sample-data", str(tmp_path / "x"), "--size", "big"], capsys)
    assert code == 1 and "--size" in err
    with pytest.raises(SystemExit):
        _run(["sample-data", str(tmp_path / "x"), "--overlap", "120"], capsys)

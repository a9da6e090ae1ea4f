"""World files: pixel-centre convention, checked against GDAL's own reading of the same file."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from terranb.errors import ResultFormatError
from terranb.results.worldfile import (
    find_world_file,
    read_world_file,
    world_file_suffixes,
    write_world_file,
)

TRANSFORMS = [
    Affine(0.05, 0.0, 202000.0, 0.0, -0.05, 2500000.0),
    Affine(2.5, 0.0, -120.25, 0.0, -2.5, 45.5),
    Affine(0.3, 0.1, 5000.0, 0.05, -0.3, 7000.0),  # rotated
]


@pytest.mark.parametrize("t", TRANSFORMS)
def test_round_trip(tmp_path: Path, t: Affine) -> None:
    p = write_world_file(tmp_path / "a.tfw", t)
    back = read_world_file(p)
    assert back.almost_equals(t, precision=1e-9)
    lines = p.read_text().splitlines()
    assert len(lines) == 6
    # Lines 5-6 are the centre of the upper-left pixel, not its corner.
    cx, cy = t.a * 0.5 + t.b * 0.5 + t.c, t.d * 0.5 + t.e * 0.5 + t.f
    assert float(lines[4]) == pytest.approx(cx) and float(lines[5]) == pytest.approx(cy)
    assert not list(tmp_path.glob("*.part"))


@pytest.mark.parametrize("t", TRANSFORMS)
def test_gdal_reads_our_world_file_the_same(tmp_path: Path, t: Affine) -> None:
    tif = tmp_path / "img.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(tif, "w", driver="GTiff", width=8, height=6, count=1,
                           dtype="uint8") as ds:
            ds.write(np.zeros((1, 6, 8), dtype=np.uint8))
    write_world_file(tmp_path / "img.tfw", t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(tif) as ds:
            assert ds.transform.almost_equals(t, precision=1e-9)
            assert ds.transform.almost_equals(read_world_file(tmp_path / "img.tfw"), 1e-9)


def test_real_world_file_matches_gdal(real_data: Path) -> None:
    jpg = real_data / "geotiff" / "pdal_autzen" / "autzen.jpg"
    t = read_world_file(jpg.with_suffix(".wld"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with rasterio.open(jpg) as ds:
            assert ds.transform.almost_equals(t, precision=1e-9)
    # The file's last lines are the pixel centre: corner + half a pixel.
    assert t.c == pytest.approx(635615.9278659122 - 0.5)
    assert t.f == pytest.approx(853362.1430851521 + 0.5)


def test_lenient_parsing(tmp_path: Path) -> None:
    p = tmp_path / "x.wld"
    p.write_text("\n 1,5 \n0\n\n0\n-1,5\n100,75\n200,75\n")
    t = read_world_file(p)
    assert (t.a, t.e) == (1.5, -1.5)
    assert t.c == pytest.approx(100.0) and t.f == pytest.approx(201.5)


@pytest.mark.parametrize("text", ["1\n0\n0\n-1\n5\n", "1\n0\n0\nabc\n5\n6\n",
                                  "0\n0\n0\n-1\n5\n6\n"])
def test_bad_world_files(tmp_path: Path, text: str) -> None:
    p = tmp_path / "bad.tfw"
    p.write_text(text)
    with pytest.raises(ResultFormatError):
        read_world_file(p)


def test_missing_world_file(tmp_path: Path) -> None:
    with pytest.raises(ResultFormatError, match="cannot read"):
        read_world_file(tmp_path / "nope.tfw")


def test_find_world_file(tmp_path: Path) -> None:
    assert world_file_suffixes(".tif")[:2] == [".tfw", ".tifw"]
    assert world_file_suffixes(".jpg")[0] == ".jgw"
    tif = tmp_path / "result.tif"
    tif.write_bytes(b"")
    assert find_world_file(tif) is None
    (tmp_path / "result.wld").write_text("")
    assert find_world_file(tif) == tmp_path / "result.wld"
    (tmp_path / "RESULT.TFW").write_text("")
    assert find_world_file(tif) == tmp_path / "RESULT.TFW"  # more specific, any case

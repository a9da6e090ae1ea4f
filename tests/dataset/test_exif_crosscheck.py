"""terranb's header-only EXIF reader against an independent one (exifread), photo by photo.

exifread is a test dependency only: terranb's reader stays dependency-free and never
raises, while this test makes sure it reads the same numbers as a mature library on
real DJI photos (``../shared/data/real/dji_jpeg``) and on the synthetic flight.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from terranb.dataset.exif import read_photo_meta

exifread = pytest.importorskip("exifread")


def _ratio(v: Any) -> float:
    return float(v.num) / float(v.den) if hasattr(v, "num") else float(v)


def _dms(tag: Any, ref: Any) -> float:
    d, m, s = (_ratio(x) for x in tag.values)
    value = d + m / 60 + s / 3600
    return -value if str(ref) in ("S", "W") else value


def _independent(path: Path) -> dict[str, Any]:
    with open(path, "rb") as fh:
        tags = exifread.process_file(fh, details=False)
    out: dict[str, Any] = {}
    if "Image Make" in tags:
        out["make"] = str(tags["Image Make"]).strip()
    if "Image Model" in tags:
        out["model"] = str(tags["Image Model"]).strip()
    if "EXIF FocalLength" in tags:
        out["focal_length_mm"] = _ratio(tags["EXIF FocalLength"].values[0])
    if "GPS GPSLatitude" in tags and "GPS GPSLatitudeRef" in tags:
        out["latitude"] = _dms(tags["GPS GPSLatitude"], tags["GPS GPSLatitudeRef"])
        out["longitude"] = _dms(tags["GPS GPSLongitude"], tags["GPS GPSLongitudeRef"])
    if "EXIF DateTimeOriginal" in tags:
        out["capture_time"] = datetime.strptime(str(tags["EXIF DateTimeOriginal"]),
                                                "%Y:%m:%d %H:%M:%S")
    return out


def _photos(real_data: Path) -> list[Path]:
    return sorted(p for p in (real_data / "dji_jpeg").rglob("*") if p.suffix.lower() == ".jpg")


def _compare(path: Path) -> int:
    ours = read_photo_meta(path)
    theirs = _independent(path)
    for key, value in theirs.items():
        mine = getattr(ours, key)
        if key == "capture_time":
            assert mine is not None and mine.replace(tzinfo=None, microsecond=0) == value, (
                path.name, key, mine, value)
        elif isinstance(value, float):
            assert mine == pytest.approx(value, abs=1e-7), (path.name, key, mine, value)
        else:
            assert mine == value, (path.name, key, mine, value)
    return len(theirs)


def test_real_dji_photos_agree_with_exifread(real_data: Path) -> None:
    photos = _photos(real_data)
    assert len(photos) >= 5
    compared = sum(_compare(p) for p in photos)
    assert compared >= 30  # make, model, focal length, position, time on most photos


def test_synthetic_photos_agree_with_exifread(tmp_path: Path) -> None:
    from terranb.dataset.synthetic import make_sample_flight

    flight = make_sample_flight(tmp_path / "f", rows=2, cols=3, lidar=False,
                                image_size=(300, 200))
    assert flight.photos
    # make, model, focal length, latitude, longitude, time: six facts a photo.
    assert sum(_compare(Path(p)) for p in flight.photos) == 6 * len(flight.photos)

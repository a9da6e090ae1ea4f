"""Preflight: a folder with one of each planted problem gets exactly the expected findings."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from terranb.dataset.exif import read_photo_meta
from terranb.dataset.preflight import preflight
from terranb.dataset.synthetic import make_lidar_folder, make_sample_flight
from terranb.errors import PreflightError, ValidationError


def _resave(src: Path, dst: Path, edit) -> None:
    """Copy a photo, letting ``edit(exif, xmp) -> xmp`` change its metadata."""
    im = Image.open(src)
    exif = im.getexif()
    xmp = im.info.get("xmp", b"")
    xmp = edit(exif, xmp) or xmp
    im.save(dst, exif=exif, xmp=xmp, quality=85)


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("planted")
    flight = make_sample_flight(root / "flight", seed=5, rows=4, cols=3, image_size=(360, 240),
                                lidar=False)
    data = root / "data"
    shutil.copytree(flight.out_dir / "images", data)
    good = sorted(data.glob("*.JPG"))
    src = good[4]

    def drop_gps(exif, xmp):
        del exif[0x8825]

    def other_camera(exif, xmp):
        exif[0x0110] = "FC3411"
        return xmp.replace(b'tiff:Model="FC6310"', b'tiff:Model="FC3411"')

    def zoomed(exif, xmp):
        exif.get_ifd(0x8769)[0xA404] = 2.0

    def next_day(exif, xmp):
        ifd = exif.get_ifd(0x8769)
        t = read_photo_meta(src).capture_time + timedelta(days=1)
        ifd[0x9003] = t.strftime("%Y:%m:%d %H:%M:%S")

    def thermal(exif, xmp):
        return xmp.replace(b"drone-dji:AbsoluteAltitude",
                           b'drone-dji:ImageSource="InfraredCamera"\n   drone-dji:AbsoluteAltitude')

    _resave(src, data / "no_gps.JPG", drop_gps)
    _resave(src, data / "other_cam.JPG", other_camera)
    _resave(src, data / "zoom.JPG", zoomed)
    _resave(src, data / "later.JPG", next_day)
    _resave(src, data / "thermal.JPG", thermal)
    raw = src.read_bytes()
    (data / "truncated.JPG").write_bytes(raw[: int(len(raw) * 0.6)])
    (data / "corrupt.JPG").write_bytes(b"\x00garbage, not a JPEG" * 50)
    (data / "notes.txt").write_text("flight notes\n")
    (data / "sub").mkdir()
    shutil.copyfile(good[2], data / "sub" / good[2].name)
    (data / ".hidden").write_text("ignored: hidden files are skipped\n")
    return data


def test_planted_problems_exactly(planted):
    rep = preflight(planted, backend="terra", job_type="2d")
    got = sorted((f.code, f.path.name if f.path else None) for f in rep.findings)
    assert got == sorted([
        ("no_gps", "no_gps.JPG"),
        ("not_an_image", "notes.txt"),
        ("truncated", "truncated.JPG"),
        ("unreadable", "corrupt.JPG"),
        ("duplicate_name", "DJI_0003.JPG"),
        ("mixed_cameras", "other_cam.JPG"),
        ("zoom_lens", "zoom.JPG"),
        ("mixed_flights", "later.JPG"),
        ("thermal_image", "thermal.JPG"),
        ("summary", None),
    ])
    sev = {f.code: f.severity for f in rep.findings}
    assert {c for c, s in sev.items() if s == "error"} == {
        "no_gps", "truncated", "unreadable", "duplicate_name"}
    assert sev["summary"] == "info" and sev["zoom_lens"] == "warning"
    assert not rep.ok and len(rep.errors) == 4
    for f in rep.findings:
        if f.path is not None:
            assert f.path.name in f.message
    assert rep.overlap is not None and rep.overlap.forward_median == pytest.approx(0.75, abs=0.03)
    assert rep.total_bytes == sum(p.stat().st_size for p in rep.files)
    with pytest.raises(PreflightError) as ei:
        rep.raise_for_errors()
    assert ei.value.findings is rep and "4 error(s)" in str(ei.value)
    assert "force=True" in str(ei.value)  # the message names the override
    text = rep.to_text()
    assert "NOT READY" in text and "corrupt.JPG" in text
    # reprs stay one line however many photos there are
    assert repr(rep).startswith("<PreflightReport preflight NOT READY") and "\n" not in repr(rep)
    assert repr(rep.footprints).startswith("FootprintSet(") and len(repr(rep.footprints)) < 100
    html = rep._repr_html_()
    assert "<table>" in html and "duplicate_name" in html
    d = rep.to_dict()
    assert d["ok"] is False and d["counts"]["error"] == 4 and len(d["findings"]) == 10


def test_clean_flight_low_overlap_and_limits(tmp_path):
    flight = make_sample_flight(tmp_path / "f", seed=2, rows=3, cols=3, image_size=(300, 200),
                                overlap=0.5, sidelap=0.4, lidar=False)
    rep = preflight(flight.out_dir / "images", backend="terra", job_type="3d",
                    bandwidth_bps=8_000_000)
    assert sorted(f.code for f in rep.findings) == [
        "low_forward_overlap", "low_side_overlap", "summary", "too_few_photos"]
    assert rep.overlap.forward_median == pytest.approx(0.5, abs=0.03)
    assert rep.overlap.side_median == pytest.approx(0.4, abs=0.03)
    assert rep.upload_seconds == pytest.approx(rep.total_bytes / 1e6)
    summary = next(f.message for f in rep.findings if f.code == "summary")
    assert "estimated upload time under 1 s at 8 Mbit/s" in summary, summary
    from terranb.dataset.preflight import _fmt_duration
    assert [_fmt_duration(s) for s in (12.4, 600, 7200)] == [
        "about 12 s", "about 10 min", "about 2 h 0 min"]
    # FlightHub 2 takes 5 photos and up for 3D: no count error there.
    rep2 = preflight(flight.photos, backend="flighthub", job_type="3d")
    assert "too_few_photos" not in rep2.codes() and rep2.ok
    rep3 = preflight(flight.photos, backend="flighthub", job_type="3dgs")
    assert rep3.codes()["too_few_photos"] == 1
    with pytest.raises(ValidationError, match="3dgs"):
        preflight(flight.photos, backend="terra", job_type="3dgs")
    with pytest.raises(ValidationError, match="backend"):
        preflight(flight.photos, backend="pix4d", job_type="2d")
    with pytest.raises(ValidationError, match="does not exist"):
        preflight(tmp_path / "nope")


def test_too_many_photos(tmp_path, monkeypatch):
    import terranb.dataset.preflight as pf

    flight = make_sample_flight(tmp_path / "f", seed=2, rows=2, cols=3, image_size=(300, 200),
                                lidar=False)
    monkeypatch.setitem(pf.LIMITS, ("terra", "2d"), (1, 4))
    rep = preflight(flight.photos, backend="terra", job_type="2d")
    assert rep.codes()["too_many_photos"] == 1


def test_lidar_folder(tmp_path, monkeypatch):
    import terranb.dataset.preflight as pf

    folder = make_lidar_folder(tmp_path / "lidar", seed=1)
    assert len(list(folder.glob("*.JPG"))) == 9
    rep = preflight(folder, backend="terra", job_type="lidar")
    assert [f.code for f in rep.findings] == ["summary"], rep.to_text()
    names = sorted(p.name for p in folder.iterdir())
    assert "DJI_202405141000_001.RTK" in names and "DJI_202405141000_001.CLC" in names
    assert "NOT A DJI FILE" in next(folder.glob("*.IMU")).read_text()
    next(folder.glob("*.RTK")).unlink()
    (folder / "stray.docx").write_bytes(b"x")
    rep = preflight(folder, backend="flighthub", job_type="lidar")
    assert sorted(f.code for f in rep.findings) == [
        "lidar_missing_files", "summary", "unexpected_file"]
    assert "RTK" in rep.errors[0].message
    monkeypatch.setattr(pf, "LIDAR_MAX_BYTES", 1000)
    rep = preflight(folder, backend="terra", job_type="lidar")
    assert rep.codes()["too_large"] == 1


def test_real_folder_findings(real_data):
    d = real_data / "dji_jpeg"
    if not d.is_dir():
        pytest.skip("dji_jpeg absent")
    rep = preflight(d, backend="flighthub", job_type="3d")
    by = {(f.code, f.path.name if f.path else None) for f in rep.findings}
    assert ("no_gps", "M3T_DJI_0001_R.JPG") in by
    assert ("truncated", "DJI_XTS.jpg") in by
    assert ("zoom_lens", "H20N_DJI_0006_R.JPG") in by  # digital zoom 8x
    assert ("thermal_image", "H20N_DJI_0006_R.JPG") in by
    assert ("zoom_lens", "DJI_H20T.jpg") in by  # 58 mm equivalent
    assert ("not_an_image", "SOURCES.md") in by
    assert not any(c == "zoom_lens" and n and n.startswith("DJI_002") for c, n in by)


def test_without_the_geo_extra_everything_but_overlap_is_checked(tmp_path, monkeypatch):
    import sys

    flight = make_sample_flight(tmp_path / "f", seed=2, rows=2, cols=3, image_size=(300, 200),
                                lidar=False)
    (flight.out_dir / "images" / "notes.txt").write_text("x")
    for mod in ("numpy", "pyproj"):  # as on `pip install terranb` without [geo]
        monkeypatch.setitem(sys.modules, mod, None)
    rep = preflight(flight.out_dir / "images", backend="terra", job_type="2d")
    assert sorted(f.code for f in rep.findings) == [
        "not_an_image", "overlap_unknown", "summary", "too_few_photos"]
    assert "terranb[geo]" in next(f.message for f in rep.findings if f.code == "overlap_unknown")
    assert rep.overlap is None and rep.footprints is None and len(rep.photos) == 6

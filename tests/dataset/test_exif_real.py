"""Every real DJI JPEG in ../shared/data/real/dji_jpeg is read with the right values.

Expectations were written from a full tag dump of each file (Pillow's EXIF
reader plus the raw XMP packet), not from this reader's output.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from terranb.dataset.exif import read_photo_meta

# name -> expected fields; latitude/longitude from the EXIF GPS DMS rationals.
EXPECTED = {
    "brighton_beach/DJI_0024.JPG": dict(
        width=4000, height=2250, make="DJI", model="FC300S", focal_length_mm=3.61,
        focal_length_35mm=20.0, latitude=46 + 50 / 60 + 34.3126 / 3600,
        longitude=-(91 + 59 / 60 + 37.308 / 3600), absolute_altitude=198.409,
        relative_altitude=39.9, gimbal_yaw=-140.0, gimbal_pitch=-89.9, gimbal_roll=0.0,
        flight_yaw=-138.7, flight_pitch=-0.1, flight_roll=-4.0,
        capture_time=datetime(2016, 6, 23, 16, 32, 43), xmp_namespace="drone-dji",
        attitude_source="xmp", truncated=False, codes=set()),
    "brighton_beach/DJI_0025.JPG": dict(
        width=4000, height=2250, model="FC300S", latitude=46 + 50 / 60 + 33.9859 / 3600,
        longitude=-(91 + 59 / 60 + 37.7734 / 3600), absolute_altitude=198.509,
        relative_altitude=40.0, gimbal_yaw=-132.0, gimbal_pitch=-89.9, flight_yaw=-129.9,
        flight_pitch=-1.6, flight_roll=0.9, capture_time=datetime(2016, 6, 23, 16, 32, 50),
        xmp_namespace="drone-dji", codes=set()),
    "brighton_beach/DJI_0026.JPG": dict(
        width=4000, height=2250, model="FC300S", latitude=46 + 50 / 60 + 33.6849 / 3600,
        longitude=-(91 + 59 / 60 + 38.2358 / 3600), absolute_altitude=198.609,
        relative_altitude=40.1, gimbal_yaw=-132.0, flight_yaw=-129.9, flight_pitch=-1.8,
        flight_roll=0.4, capture_time=datetime(2016, 6, 23, 16, 32, 57), codes=set()),
    # No XMP at all: attitude comes from the DJI maker notes; EXIF size says 1800x2400
    # but the (downscaled) frame is 2400x1800.
    "odm_toledo_2015/DJI_0061.JPG": dict(
        width=2400, height=1800, exif_width=1800, exif_height=2400, make="DJI", model="FC350",
        focal_length_mm=3.61, focal_length_35mm=20.0, latitude=41 + 32 / 60 + 54.9462 / 3600,
        longitude=-(83 + 41 / 60 + 55.1356 / 3600), absolute_altitude=119.7,
        relative_altitude=None, xmp_namespace=None, attitude_source="makernote",
        gimbal_yaw=103.0, gimbal_pitch=-89.9, gimbal_roll=168.8, flight_yaw=-87.9,
        flight_pitch=20.2, flight_roll=3.2, software="v01.19.3422",
        capture_time=datetime(2015, 10, 16, 13, 23, 16), codes={"no_dji_xmp", "size_mismatch"}),
    "odm_toledo_2015/1JI_0064.JPG": dict(
        width=2400, height=1800, model="FC300X", latitude=41 + 32 / 60 + 57.8681 / 3600,
        longitude=-(83 + 41 / 60 + 56.1111 / 3600), absolute_altitude=122.3,
        relative_altitude=None, xmp_namespace=None, attitude_source="makernote",
        gimbal_yaw=3.8, gimbal_pitch=-89.9, gimbal_roll=0.0, flight_yaw=3.1,
        capture_time=datetime(2015, 10, 16, 12, 59, 14), codes={"no_dji_xmp", "size_mismatch"}),
    "thermal_parser/DJI_H20T.jpg": dict(
        width=640, height=512, model="ZH20T", focal_length_mm=13.5, focal_length_35mm=58.0,
        latitude=40 + 33 / 60 + 49.6119 / 3600, longitude=-(79 + 45 / 60 + 53.8661 / 3600),
        absolute_altitude=221.404, relative_altitude=16.508, gimbal_yaw=32.5,
        gimbal_pitch=-10.5, flight_yaw=30.3, flight_pitch=-0.5, xmp_namespace="drone-dji",
        camera_serial="1W9DH8R000003K", digital_zoom=1.0, image_source=None,
        capture_time=datetime(2021, 5, 28, 10, 33, 46), codes=set()),
    "thermal_parser/H20N_DJI_0006_R.JPG": dict(
        width=640, height=512, model="ZH20N", focal_length_mm=6.0, focal_length_35mm=29.0,
        latitude=22 + 35 / 60 + 46.3068 / 3600, longitude=114 + 0 / 60 + 26.1648 / 3600,
        absolute_altitude=90.337, relative_altitude=42.602, gimbal_yaw=-106.6,
        gimbal_pitch=-32.9, flight_yaw=-86.0, flight_pitch=2.2, flight_roll=1.8,
        image_source="InfraredCamera", drone_model="Matrice 300 RTK",
        drone_serial="1ZNBJC400C0029", camera_serial="4WZAJCF02AA00Y", digital_zoom=8.0,
        capture_time=datetime(2022, 3, 24, 17, 37, 59), codes=set()),
    # Plain unsigned floats in XMP; no 35 mm equivalent; sub-second time.
    "thermal_parser/DJI_XT2.jpg": dict(
        width=640, height=512, make="DJI", model="FLIR", focal_length_mm=19.0,
        focal_length_35mm=None, latitude=9 + 58 / 60 + 19.7665 / 3600,
        longitude=76 + 22 / 60 + 40.0291 / 3600, absolute_altitude=39.1, relative_altitude=1.9,
        gimbal_yaw=82.400002, gimbal_pitch=0.0, flight_yaw=81.900002, flight_pitch=1.2,
        flight_roll=-0.9, xmp_namespace="drone-dji",
        capture_time=datetime(2018, 7, 27, 14, 51, 54, 481000), codes=set()),
    # DJI: prefix (http://www.dji.com, declared twice), altitude below sea level (ref 1).
    # Its JPEG stream has no EOI marker (Pillow: "image file is truncated"), so the
    # reader reports it truncated.
    "thermal_parser/DJI_XTS.jpg": dict(
        width=640, height=512, model="XT S", latitude=36 + 43 / 60 + 46.8985 / 3600,
        longitude=119 + 50 / 60 + 36.0295 / 3600, absolute_altitude=-29.4,
        relative_altitude=37.7, gimbal_yaw=91.3, gimbal_pitch=19.9, flight_yaw=86.2,
        flight_roll=-2.9, xmp_namespace="DJI", camera_serial="0190415185",
        capture_time=datetime(2019, 12, 25, 16, 10, 22, 657000), truncated=True,
        codes={"truncated"}),
    # GPS and XMP stripped by the uploader.
    "thermal_parser/M3T_DJI_0001_R.JPG": dict(
        width=640, height=512, make="DJI", model="M3T", focal_length_mm=9.1,
        focal_length_35mm=40.0, latitude=None, longitude=None, absolute_altitude=None,
        relative_altitude=None, gimbal_yaw=None, xmp_namespace=None,
        capture_time=datetime(2022, 7, 23, 15, 12, 19), codes={"no_gps", "no_dji_xmp"}),
}


@pytest.fixture(scope="module")
def jpeg_dir(real_data):
    d = real_data / "dji_jpeg"
    if not d.is_dir():
        pytest.skip("dji_jpeg sample folder absent")
    return d


def test_every_real_jpeg_is_covered(jpeg_dir):
    on_disk = {p.relative_to(jpeg_dir).as_posix() for p in jpeg_dir.rglob("*")
               if p.suffix.lower() in (".jpg", ".jpeg")}
    assert on_disk == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_jpeg_values(jpeg_dir, name):
    expected = dict(EXPECTED[name])
    codes = expected.pop("codes")
    meta = read_photo_meta(jpeg_dir / name)
    assert meta.size_bytes == (jpeg_dir / name).stat().st_size
    for field, value in expected.items():
        got = getattr(meta, field)
        if isinstance(value, float):
            assert got == pytest.approx(value, abs=1e-6), field
        else:
            assert got == value, field
    assert {f.code for f in meta.findings} == codes
    for f in meta.findings:
        assert meta.name in f.message and f.path == meta.path


def test_dji_xmp_variants():
    from terranb.dataset.xmp import parse_dji_xmp

    element_form = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
                    b'xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/">'
                    b"<drone-dji:RelativeAltitude>+12.30</drone-dji:RelativeAltitude>"
                    b"<drone-dji:GimbalYawDegree> -45.5 </drone-dji:GimbalYawDegree>"
                    b"<drone-dji:GimbalPitchDegree>bogus</drone-dji:GimbalPitchDegree>"
                    b"</rdf:Description></rdf:RDF></x:xmpmeta>")
    x = parse_dji_xmp(element_form)
    assert x.namespace == "drone-dji"
    assert x.number("RelativeAltitude") == pytest.approx(12.3)
    assert x.number("GimbalYawDegree") == pytest.approx(-45.5)
    assert x.number("GimbalPitchDegree") is None and x.bad == ["GimbalPitchDegree"]
    # A custom prefix bound to the drone-dji URI still counts.
    custom = b'<x:xmpmeta xmlns:dd="http://www.dji.com/drone-dji/1.0/" dd:FlightYawDegree=\'7\'/>'
    assert parse_dji_xmp(custom).number("FlightYawDegree") == 7.0
    assert parse_dji_xmp(b"<x:xmpmeta/>").namespace is None


def test_capture_time_offset(tmp_path):
    from PIL import Image

    ex = Image.Exif()
    e = ex.get_ifd(0x8769)
    e[0x9003] = "2023:01:02 03:04:05"
    e[0x9011] = "+08:00"
    e[0x9291] = "25"
    p = tmp_path / "t.jpg"
    Image.new("RGB", (16, 16)).save(p, exif=ex)
    meta = read_photo_meta(p)
    assert meta.capture_time == datetime(2023, 1, 2, 3, 4, 5, 250000,
                                         tzinfo=timezone(timedelta(hours=8)))
    assert {f.code for f in meta.findings} == {"no_gps", "no_dji_xmp", "no_focal_length"}

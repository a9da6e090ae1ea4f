"""Small geotagged JPEGs for emulator tests (EXIF GPS + DJI XMP), made with Pillow.

Uses ``terranb.dataset.synthetic.make_sample_flight`` when the dataset module
provides it; otherwise writes a grid of nadir photos itself.
"""

from __future__ import annotations

import math
from pathlib import Path

LAT0, LON0 = 22.6000, 114.1000  # UTM zone 50N, the zone of the quick start's EPSG:32650
ALT = 60.0


def _dms(value: float) -> tuple:
    from PIL.TiffImagePlugin import IFDRational

    value = abs(value)
    d = int(value)
    m = int((value - d) * 60)
    s = (value - d - m / 60) * 3600
    return (IFDRational(d, 1), IFDRational(m, 1), IFDRational(round(s * 10000), 10000))


def _xmp(rel_alt: float, abs_alt: float) -> bytes:
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:drone-dji="http://www.dji.com/drone-dji/1.0/" '
        f'drone-dji:AbsoluteAltitude="+{abs_alt:.3f}" drone-dji:RelativeAltitude="+{rel_alt:.3f}" '
        'drone-dji:GimbalRollDegree="+0.00" drone-dji:GimbalYawDegree="+0.00" '
        'drone-dji:GimbalPitchDegree="-90.00" drone-dji:FlightRollDegree="+0.00" '
        'drone-dji:FlightYawDegree="+0.00" drone-dji:FlightPitchDegree="+0.00" '
        'drone-dji:RtkFlag="50"/></rdf:RDF></x:xmpmeta>'
    ).encode()


def _own_photos(out_dir: Path, n: int) -> list[Path]:
    import numpy as np
    from PIL import Image
    from PIL.TiffImagePlugin import IFDRational

    out_dir.mkdir(parents=True, exist_ok=True)
    cols = max(2, math.ceil(math.sqrt(n)))
    paths = []
    rng = np.random.default_rng(0)
    for i in range(n):
        r, c = divmod(i, cols)
        lat = LAT0 + r * 0.00018  # ~20 m
        lon = LON0 + c * 0.00020
        img = np.zeros((240, 320, 3), np.uint8)
        yy, xx = np.mgrid[0:240, 0:320]
        img[..., 0] = (xx + c * 97) % 256
        img[..., 1] = (yy + r * 53) % 256
        img[..., 2] = rng.integers(0, 255, (240, 320), dtype=np.uint8)
        im = Image.fromarray(img)
        exif = Image.Exif()
        exif[0x010F] = "DJI"
        exif[0x0110] = "FC6310"
        exif[0x0132] = f"2024:01:01 10:00:{i % 60:02d}"
        ex = exif.get_ifd(0x8769)
        ex[0x9003] = f"2024:01:01 10:00:{i % 60:02d}"
        ex[0x920A] = IFDRational(88, 10)  # focal length 8.8 mm
        ex[0xA405] = 24  # 35 mm equivalent
        gps = exif.get_ifd(0x8825)
        gps[1] = "N"
        gps[2] = _dms(lat)
        gps[3] = "E"
        gps[4] = _dms(lon)
        gps[5] = b"\x00"
        gps[6] = IFDRational(round((ALT + 10) * 1000), 1000)
        path = out_dir / f"DJI_{i + 1:04d}.JPG"
        im.save(path, "JPEG", quality=80, exif=exif.tobytes(), xmp=_xmp(ALT, ALT + 10))
        paths.append(path)
    return paths


def make_photos(out_dir: Path, n: int = 12) -> list[Path]:
    """``n`` geotagged JPEGs in ``out_dir`` (sorted by name)."""
    try:
        from terranb.dataset.synthetic import make_sample_flight  # type: ignore[attr-defined]
    except ImportError:
        return _own_photos(out_dir, n)
    try:
        flight = make_sample_flight(
            out_dir, seed=0, photos=n, image_size=(480, 320), origin=(LAT0, LON0), lidar=False
        )
        photos = sorted(Path(p) for p in flight.photos)
        if len(photos) >= n:
            return photos
    except TypeError:  # an older signature: fall back to our own photos
        pass
    return _own_photos(out_dir / "own", n)

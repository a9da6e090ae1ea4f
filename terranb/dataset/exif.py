"""Read a drone photo's position, attitude and camera from its headers only.

:func:`read_photo_meta` walks the JPEG marker segments up to the start of the
compressed image data (SOS), parses the EXIF TIFF structure (IFD0, Exif IFD,
GPS IFD and DJI maker notes) and the DJI XMP itself, and never decodes pixels,
so reading thousands of 10 MB photos takes seconds. It then looks at the last
bytes of the file to tell a complete JPEG from a truncated one.

Nothing here raises on bad data: a missing or odd tag becomes a
:class:`~terranb.dataset.findings.Finding` in ``PhotoMeta.findings``; only a
file that cannot be opened at all gives an ``unreadable`` finding with every
other field ``None``.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from terranb.dataset.findings import Finding
from terranb.dataset.xmp import DjiXmp, find_xmp_packet, parse_dji_xmp
from terranb.errors import TerranbError

__all__ = ["IMAGE_SUFFIXES", "PhotoMeta", "read_photo_meta", "read_photo_meta_from"]

#: File suffixes treated as photos (lower case).
IMAGE_SUFFIXES = (".jpg", ".jpeg")

_TAIL_BYTES = 64 * 1024


@dataclass(frozen=True)
class PhotoMeta:
    """What a photo's headers say about where, when and with what it was taken.

    Angles are degrees: yaw clockwise from true north, pitch up-positive
    (-90 = looking straight down), roll right-positive. Altitudes are metres:
    ``absolute_altitude`` above the ellipsoid/sea level as the drone reports it,
    ``relative_altitude`` above the take-off point (DJI XMP only).
    """

    path: Path
    size_bytes: int
    width: int | None = None
    height: int | None = None
    make: str | None = None
    model: str | None = None
    focal_length_mm: float | None = None
    focal_length_35mm: float | None = None
    latitude: float | None = None
    longitude: float | None = None
    absolute_altitude: float | None = None
    relative_altitude: float | None = None
    gimbal_yaw: float | None = None
    gimbal_pitch: float | None = None
    gimbal_roll: float | None = None
    flight_yaw: float | None = None
    flight_pitch: float | None = None
    flight_roll: float | None = None
    capture_time: datetime | None = None
    xmp_namespace: str | None = None
    #: where the attitude came from: "xmp", "makernote" or None
    attitude_source: str | None = None
    software: str | None = None
    camera_serial: str | None = None
    drone_serial: str | None = None
    drone_model: str | None = None
    #: drone-dji:ImageSource on newer firmware ("WideCamera", "ZoomCamera", "InfraredCamera", ...)
    image_source: str | None = None
    digital_zoom: float | None = None
    #: sensor size from EXIF FocalPlaneX/YResolution, when the camera writes it
    sensor_width_mm: float | None = None
    sensor_height_mm: float | None = None
    #: dimensions stated in the Exif IFD (may disagree with the real frame size)
    exif_width: int | None = None
    exif_height: int | None = None
    #: DJI XMP positioning quality (RTK aircraft): RtkFlag (0 none, 16 single, 34 float,
    #: 50 fixed), RtkStdLon/Lat/Hgt (1-sigma metres), GpsStatus, AltitudeType
    rtk_flag: int | None = None
    rtk_std_lon: float | None = None
    rtk_std_lat: float | None = None
    rtk_std_hgt: float | None = None
    gps_status: str | None = None
    altitude_type: str | None = None
    #: True when the file ends in the middle of compressed image data
    truncated: bool = False
    findings: tuple[Finding, ...] = ()

    @property
    def name(self) -> str:
        """The file name."""
        return self.path.name

    @property
    def has_gps(self) -> bool:
        """Whether latitude and longitude are known."""
        return self.latitude is not None and self.longitude is not None

    @property
    def readable(self) -> bool:
        """Whether the file was a parseable JPEG (it may still lack tags)."""
        return self.width is not None and not any(f.code == "unreadable" for f in self.findings)

    @property
    def camera_key(self) -> tuple[str, str, int, int, float]:
        """What must be the same for photos to count as one camera."""
        return (self.make or "?", self.model or "?", self.width or 0, self.height or 0,
                round(self.focal_length_mm or 0.0, 2))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out: dict[str, Any] = {}
        for k in self.__dataclass_fields__:
            v = getattr(self, k)
            if isinstance(v, Path):
                v = str(v)
            elif isinstance(v, datetime):
                v = v.isoformat()
            elif k == "findings":
                v = [f.to_dict() for f in v]
            out[k] = v
        return out


# --------------------------------------------------------------------------- TIFF / EXIF

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}

TAG_EXIF_IFD = 0x8769
TAG_GPS_IFD = 0x8825
TAG_MAKERNOTE = 0x927C


class _Tiff:
    """A bounds-checked reader for the TIFF structure inside an EXIF segment."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 8 or data[:2] not in (b"II", b"MM"):
            raise ValueError("EXIF block does not start with a TIFF header")
        self.data = data
        self.endian = "<" if data[:2] == b"II" else ">"
        (magic,) = struct.unpack(self.endian + "H", data[2:4])
        if magic != 42:
            raise ValueError(f"TIFF magic is {magic}, not 42")
        (self.first_ifd,) = struct.unpack(self.endian + "I", data[4:8])
        self.odd: list[str] = []

    def ifd(self, offset: int, base: int = 0) -> dict[int, Any]:
        """Read the IFD at ``offset`` (tag -> decoded value); bad entries are skipped."""
        d, e = self.data, self.endian
        out: dict[int, Any] = {}
        if offset <= 0 or offset + 2 > len(d):
            self.odd.append(f"IFD offset {offset} outside the EXIF block")
            return out
        (count,) = struct.unpack(e + "H", d[offset:offset + 2])
        if count > 1000:
            self.odd.append(f"IFD at {offset} claims {count} entries")
            return out
        for i in range(count):
            pos = offset + 2 + 12 * i
            if pos + 12 > len(d):
                self.odd.append("IFD runs past the end of the EXIF block")
                break
            tag, typ, n = struct.unpack(e + "HHI", d[pos:pos + 8])
            size = _TYPE_SIZES.get(typ)
            if size is None or n > 1_000_000:
                continue
            total = size * n
            if total <= 4:
                raw = d[pos + 8:pos + 8 + total]
            else:
                (voff,) = struct.unpack(e + "I", d[pos + 8:pos + 12])
                voff += base
                if voff + total > len(d):
                    self.odd.append(f"tag 0x{tag:04x} points outside the EXIF block")
                    continue
                raw = d[voff:voff + total]
            try:
                out[tag] = self._decode(typ, n, raw)
            except (struct.error, ValueError):
                self.odd.append(f"tag 0x{tag:04x} could not be decoded")
        return out

    def _decode(self, typ: int, n: int, raw: bytes) -> Any:
        e = self.endian
        if typ == 2:
            return raw.split(b"\x00", 1)[0].decode("utf-8", "replace").strip()
        if typ in (1, 7):
            return raw
        if typ in (5, 10):
            fmt = "I" if typ == 5 else "i"
            vals = struct.unpack(e + fmt * (2 * n), raw)
            out = [vals[i] / vals[i + 1] if vals[i + 1] else math.nan for i in range(0, 2 * n, 2)]
            return out[0] if n == 1 else tuple(out)
        fmt = {3: "H", 4: "I", 6: "b", 8: "h", 9: "i", 11: "f", 12: "d", 13: "I"}[typ]
        vals = struct.unpack(e + fmt * n, raw)
        if typ == 11:  # float32: keep the decimal the camera meant (-89.9, not -89.9000015)
            vals = tuple(float(f"{v:.7g}") for v in vals)
        return vals[0] if n == 1 else tuple(vals)


@dataclass
class _Headers:
    width: int | None = None
    height: int | None = None
    exif: bytes | None = None
    xmp: bytes | None = None
    sos_offset: int | None = None
    problems: list[str] = field(default_factory=list)


_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _walk_jpeg(fh: Any, file_size: int) -> _Headers:
    """Read marker segments from SOI to SOS; raise ValueError if it is not a JPEG."""
    h = _Headers()
    if fh.read(2) != b"\xff\xd8":
        raise ValueError("does not start with a JPEG SOI marker")
    while True:
        b = fh.read(1)
        if not b:
            raise EOFError("file ends inside the JPEG headers")
        if b != b"\xff":
            raise ValueError(f"corrupt JPEG header near byte {fh.tell() - 1}")
        marker = fh.read(1)
        while marker == b"\xff":  # fill bytes
            marker = fh.read(1)
        if not marker:
            raise EOFError("file ends inside the JPEG headers")
        m = marker[0]
        if m in (0x01, *range(0xD0, 0xD8)):
            continue  # markers without a length
        raw_len = fh.read(2)
        if len(raw_len) < 2:
            raise EOFError("file ends inside the JPEG headers")
        (length,) = struct.unpack(">H", raw_len)
        if length < 2:
            raise ValueError(f"bad JPEG segment length {length}")
        start = fh.tell()
        if start + length - 2 > file_size:
            raise EOFError("file ends inside the JPEG headers")
        if m == 0xDA:
            h.sos_offset = start + length - 2  # first byte of entropy-coded data
            return h
        if m == 0xD9:
            raise ValueError("JPEG ends before any image data")
        if m in _SOF_MARKERS and h.width is None:
            body = fh.read(min(length - 2, 6))
            if len(body) >= 5:
                h.height, h.width = struct.unpack(">HH", body[1:5])
        elif m == 0xE1:
            body = fh.read(length - 2)
            if body.startswith(b"Exif\x00") and h.exif is None:
                h.exif = body[6:]
            elif b"<x:xmpmeta" in body[:4096] or body.startswith(b"http://ns.adobe.com/xap/1.0/"):
                packet = find_xmp_packet(body)
                if packet is not None and h.xmp is None:
                    h.xmp = packet
        fh.seek(start + length - 2)


def _looks_truncated(fh: Any, file_size: int, sos: int, tail_bytes: int = _TAIL_BYTES) -> bool:
    """True when the file ends inside entropy-coded data (no EOI and no trailer).

    Many DJI files carry data after the image (MPO previews end with their own EOI;
    thermal R-JPEGs append raw sensor data). Entropy-coded JPEG data never holds
    ``FF`` followed by anything but ``00``, ``D0``-``D7`` or ``D9``, so a tail with
    any other ``FF xx`` pair is a trailer, not a cut-off image.
    """
    start = max(sos, file_size - max(2, tail_bytes))
    fh.seek(start)
    tail = fh.read(file_size - start)
    if b"\xff\xd9" in tail:
        return False
    tail = tail[-4096:]  # progressive JPEGs have markers between scans; look at the very end
    for i in range(len(tail) - 1):
        if tail[i] == 0xFF:
            nxt = tail[i + 1]
            if nxt not in (0x00, 0xFF) and not (0xD0 <= nxt <= 0xD7):
                return False
    return True


def _gps_coord(value: Any, ref: Any, positive: str) -> float | None:
    if isinstance(value, (int, float)):
        parts: tuple[float, ...] = (float(value),)
    elif isinstance(value, tuple) and 1 <= len(value) <= 3:
        parts = tuple(float(v) for v in value)
    else:
        return None
    if any(math.isnan(p) for p in parts):
        return None
    deg = parts[0] + (parts[1] / 60 if len(parts) > 1 else 0)
    deg += parts[2] / 3600 if len(parts) > 2 else 0
    ref_s = ref.decode("ascii", "replace") if isinstance(ref, bytes) else str(ref or positive)
    ref_s = ref_s.strip("\x00 ").upper()[:1] or positive
    return -deg if ref_s != positive else deg


def _parse_time(value: Any, subsec: Any, offset: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 19:
        return None
    try:
        t = datetime.strptime(value[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if isinstance(subsec, str) and subsec.strip().isdigit():
        frac = subsec.strip()
        t = t.replace(microsecond=int((frac + "000000")[:6]))
    if isinstance(offset, str) and len(offset) >= 6 and offset[0] in "+-":
        try:
            hh, mm = int(offset[1:3]), int(offset[4:6])
            sign = 1 if offset[0] == "+" else -1
            t = t.replace(tzinfo=timezone(sign * timedelta(hours=hh, minutes=mm)))
        except ValueError:
            pass
    return t


def _num(v: Any) -> float | None:
    if isinstance(v, tuple):
        v = v[0] if v else None
    if isinstance(v, (int, float)) and math.isfinite(v):
        return float(v)
    return None


def _text(v: Any) -> str | None:
    if isinstance(v, bytes):
        v = v.split(b"\x00", 1)[0].decode("utf-8", "replace")
    if isinstance(v, str):
        v = v.strip("\x00 ").strip()
        return v or None
    return None


# DJI maker-note tags (an IFD whose offsets are relative to the TIFF header), as
# documented by ExifTool's DJI tag table: Pitch/Yaw/Roll of the aircraft and of the camera.
_DJI_MN = {0x06: "pitch", 0x07: "yaw", 0x08: "roll",
           0x09: "camera_pitch", 0x0A: "camera_yaw", 0x0B: "camera_roll"}


def _makernote(tiff: _Tiff, exif_ifd_offset: int) -> dict[str, float]:
    """Attitude from DJI maker notes (old firmware without XMP), best effort."""
    e = tiff.endian
    d = tiff.data
    if exif_ifd_offset + 2 > len(d):
        return {}
    (count,) = struct.unpack(e + "H", d[exif_ifd_offset:exif_ifd_offset + 2])
    for i in range(min(count, 1000)):
        pos = exif_ifd_offset + 2 + 12 * i
        if pos + 12 > len(d):
            break
        tag, _typ, n = struct.unpack(e + "HHI", d[pos:pos + 8])
        if tag != TAG_MAKERNOTE or n < 14:
            continue
        (off,) = struct.unpack(e + "I", d[pos + 8:pos + 12])
        sub = _Tiff.__new__(_Tiff)
        sub.data, sub.endian, sub.odd = d, e, []
        raw = sub.ifd(off)
        out: dict[str, float] = {}
        for t, name in _DJI_MN.items():
            v = _num(raw.get(t))
            if v is not None and abs(v) <= 360:
                out[name] = v
        return out
    return {}


def read_photo_meta(path: str | os.PathLike[str]) -> PhotoMeta:
    """Read a photo's metadata from its headers (never its pixels).

    Args:
        path: a JPEG file.

    Returns:
        A :class:`PhotoMeta`; problems are in ``.findings`` (codes ``unreadable``,
        ``truncated``, ``no_exif``, ``no_gps``, ``no_dji_xmp``, ``no_focal_length``,
        ``no_capture_time``, ``size_mismatch``, ``odd_tag``).
    """
    p = Path(path)
    try:
        size = p.stat().st_size
        with open(p, "rb") as fh:
            return read_photo_meta_from(fh, p, size)
    except OSError as exc:
        return PhotoMeta(path=p, size_bytes=0, findings=(Finding(
            "error", "unreadable", f"{p.name}: cannot be read ({exc.strerror or exc}); "
            "check the path and permissions.", p),))


def read_photo_meta_from(fh: Any, path: str | os.PathLike[str], size: int, *,
                         tail_bytes: int = _TAIL_BYTES) -> PhotoMeta:
    """:func:`read_photo_meta` on an open binary file object of ``size`` bytes.

    The object only needs ``read``/``seek``/``tell``: a local file, or a file read
    by HTTP ranges from a layer that may do HTTP (``terranb.jobs.mission_preflight``
    reads a dock mission's photos this way without downloading them). ``path`` only
    names the photo in findings. ``tail_bytes`` caps the read at the end of the file
    that tells a complete JPEG from a truncated one (remote readers pass a few KiB).
    Errors of terranb's own byte layer (an expired URL, a server without Range
    support) are raised, not turned into ``unreadable`` findings: they are not the
    photo's fault.
    """
    p = Path(path)
    findings: list[Finding] = []
    try:
        h = _walk_jpeg(fh, size)
        truncated = _looks_truncated(fh, size, h.sos_offset or 0, tail_bytes)
    except TerranbError:
        raise
    except EOFError as exc:
        return PhotoMeta(path=p, size_bytes=size, truncated=True, findings=(Finding(
            "error", "truncated", f"{p.name}: {exc}; the file is incomplete (interrupted "
            "copy?) -- copy it again from the drone's SD card.", p),))
    except (OSError, ValueError, struct.error) as exc:
        return PhotoMeta(path=p, size_bytes=size, findings=(Finding(
            "error", "unreadable", f"{p.name}: not a readable JPEG ({exc}); remove it from "
            "the folder or replace it with the original photo.", p),))
    if truncated:
        findings.append(Finding(
            "error", "truncated", f"{p.name}: the file ends in the middle of the image data; "
            "it is incomplete (interrupted copy?) -- copy it again from the SD card.", p))
    if h.width is None or h.height is None:
        findings.append(Finding("error", "unreadable", f"{p.name}: no JPEG frame header; "
                                "remove the file or replace it with the original photo.", p))

    ifd0: dict[int, Any] = {}
    exif: dict[int, Any] = {}
    gps: dict[int, Any] = {}
    mn: dict[str, float] = {}
    odd: list[str] = []
    if h.exif is None:
        findings.append(Finding("warning", "no_exif", f"{p.name}: no EXIF block (position, camera "
                                "and time unknown); use the original, unedited photo.", p))
    else:
        try:
            tiff = _Tiff(h.exif)
            ifd0 = tiff.ifd(tiff.first_ifd)
            exif_off = ifd0.get(TAG_EXIF_IFD)
            if isinstance(exif_off, int):
                exif = tiff.ifd(exif_off)
                mn = _makernote(tiff, exif_off)
            gps_off = ifd0.get(TAG_GPS_IFD)
            if isinstance(gps_off, int):
                gps = tiff.ifd(gps_off)
            odd = tiff.odd
        except (ValueError, struct.error) as exc:
            odd = [str(exc)]

    xmp = parse_dji_xmp(h.xmp) if h.xmp else DjiXmp()

    make = _text(ifd0.get(0x010F))
    model = _text(ifd0.get(0x0110))
    software = _text(ifd0.get(0x0131))
    focal = _num(exif.get(0x920A))
    if focal is not None and focal <= 0:
        odd.append(f"FocalLength is {focal}")
        focal = None
    f35 = _num(exif.get(0xA405))
    if f35 is not None and f35 <= 0:
        f35 = None
    zoom = _num(exif.get(0xA404))
    exif_w = exif.get(0xA002) if isinstance(exif.get(0xA002), int) else None
    exif_h = exif.get(0xA003) if isinstance(exif.get(0xA003), int) else None
    sensor_w = sensor_h = None
    fpx, fpy, unit = _num(exif.get(0xA20E)), _num(exif.get(0xA20F)), exif.get(0xA210)
    unit_mm = {2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}.get(unit if isinstance(unit, int) else 2)
    ref_w = exif_w or h.width
    ref_h = exif_h or h.height
    if fpx and fpy and unit_mm and ref_w and ref_h and fpx > 0 and fpy > 0:
        sensor_w = ref_w / fpx * unit_mm
        sensor_h = ref_h / fpy * unit_mm
        if not (0.5 < sensor_w < 60):  # not a plausible sensor: ignore it
            sensor_w = sensor_h = None
    capture = _parse_time(exif.get(0x9003), exif.get(0x9291), exif.get(0x9011))
    if capture is None:
        capture = _parse_time(ifd0.get(0x0132), None, None)

    lat = _gps_coord(gps.get(2), gps.get(1), "N") if gps else None
    lon = _gps_coord(gps.get(4), gps.get(3), "E") if gps else None
    alt = _num(gps.get(6)) if gps else None
    if alt is not None:
        ref = gps.get(5)
        if (ref == b"\x01") or ref == 1:
            alt = -alt
    if lat is None or lon is None:
        # Some firmware puts the position only in XMP (GpsLatitude / GpsLongitude).
        xlat, xlon = xmp.number("GpsLatitude") or xmp.number("Latitude"), \
            xmp.number("GpsLongitude") or xmp.number("Longitude")
        if xlat is not None and xlon is not None:
            lat, lon = xlat, xlon
    if lat is not None and lon is not None:
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            odd.append(f"GPS position {lat}, {lon} is out of range")
            lat = lon = None
        elif lat == 0 and lon == 0:
            lat = lon = None  # "no fix" written as zeros
    x_abs = xmp.number("AbsoluteAltitude")
    if alt is None:
        alt = x_abs

    attitude_source = None
    g_yaw, g_pitch, g_roll = (xmp.number("GimbalYawDegree"), xmp.number("GimbalPitchDegree"),
                              xmp.number("GimbalRollDegree"))
    f_yaw, f_pitch, f_roll = (xmp.number("FlightYawDegree"), xmp.number("FlightPitchDegree"),
                              xmp.number("FlightRollDegree"))
    if g_yaw is not None or g_pitch is not None:
        attitude_source = "xmp"
    elif mn:
        g_yaw, g_pitch, g_roll = mn.get("camera_yaw"), mn.get("camera_pitch"), mn.get("camera_roll")
        f_yaw, f_pitch, f_roll = mn.get("yaw"), mn.get("pitch"), mn.get("roll")
        attitude_source = "makernote" if g_yaw is not None or g_pitch is not None else None
    xmp_zoom = xmp.number("DigitalZoomRatio")
    if zoom is None and xmp_zoom is not None:
        zoom = xmp_zoom

    if h.exif is not None and not (lat is not None and lon is not None):
        findings.append(Finding("error", "no_gps", f"{p.name}: no GPS position; the cloud "
                                "cannot place it -- fly with GPS lock or remove the photo.", p))
    if xmp.namespace is None and h.width is not None:
        findings.append(Finding(
            "info", "no_dji_xmp",
            f"{p.name}: no DJI XMP (relative altitude and gimbal angles)"
            + ("; attitude taken from the DJI maker notes" if attitude_source else "")
            + "; footprints need the ground height above sea level (ground_elevation=, "
            "CLI: --ground-elevation).", p))
    if h.exif is not None and focal is None and f35 is None:
        findings.append(Finding("warning", "no_focal_length", f"{p.name}: no focal length in "
                                "EXIF; the footprint and mosaic cannot be computed.", p))
    if h.exif is not None and capture is None:
        findings.append(Finding("info", "no_capture_time", f"{p.name}: no DateTimeOriginal; "
                                "photos are ordered by name instead.", p))
    if exif_w and exif_h and h.width and h.height and (exif_w, exif_h) != (h.width, h.height):
        findings.append(Finding(
            "info", "size_mismatch", f"{p.name}: EXIF says {exif_w}x{exif_h} but the image is "
            f"{h.width}x{h.height} (resized after capture?); the real size is used.", p))
    bad = list(xmp.bad) + odd
    if bad:
        findings.append(Finding("warning", "odd_tag", f"{p.name}: odd metadata ignored: "
                                + "; ".join(bad[:5]), p))

    return PhotoMeta(
        path=p, size_bytes=size, width=h.width, height=h.height, make=make, model=model,
        focal_length_mm=focal, focal_length_35mm=f35, latitude=lat, longitude=lon,
        absolute_altitude=alt, relative_altitude=xmp.number("RelativeAltitude"),
        gimbal_yaw=g_yaw, gimbal_pitch=g_pitch, gimbal_roll=g_roll,
        flight_yaw=f_yaw, flight_pitch=f_pitch, flight_roll=f_roll,
        capture_time=capture, xmp_namespace=xmp.namespace, attitude_source=attitude_source,
        software=software,
        camera_serial=xmp.text("CameraSerialNumber") or _text(exif.get(0xA431)),
        drone_serial=xmp.text("DroneSerialNumber"), drone_model=xmp.text("DroneModel"),
        image_source=xmp.text("ImageSource"), digital_zoom=zoom,
        sensor_width_mm=sensor_w, sensor_height_mm=sensor_h,
        exif_width=exif_w, exif_height=exif_h,
        rtk_flag=None if xmp.number("RtkFlag") is None else int(xmp.number("RtkFlag") or 0),
        rtk_std_lon=xmp.number("RtkStdLon"), rtk_std_lat=xmp.number("RtkStdLat"),
        rtk_std_hgt=xmp.number("RtkStdHgt"), gps_status=xmp.text("GpsStatus"),
        altitude_type=xmp.text("AltitudeType"), truncated=truncated or False,
        findings=tuple(findings),
    )

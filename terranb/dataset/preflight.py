"""Preflight: check a data set against a cloud service's rules before uploading it.

:func:`preflight` scans a folder (recursively) or a list of files, reads every
photo's headers (never its pixels) and reports :class:`Finding` objects:

errors (the job would fail or be refused)
    ``too_few_photos`` / ``too_many_photos`` (or ``_files`` for LiDAR) against the
    service's limits, ``no_gps``, ``unreadable``, ``truncated``, ``duplicate_name``,
    ``lidar_missing_files``, ``too_large`` (LiDAR over 48 GB on TerraAPI)
warnings (it may fail or give a poor result)
    ``not_an_image`` / ``unexpected_file``, ``mixed_cameras``, ``mixed_flights``,
    ``zoom_lens``, ``thermal_image``, ``not_dji``, ``low_forward_overlap``,
    ``low_side_overlap``, ``no_exif``, ``no_focal_length``, ``odd_tag``
info
    ``summary`` (count, size, overlap, upload-time estimate), ``overlap_unknown``,
    ``no_dji_xmp``, ``no_capture_time``, ``size_mismatch``

Limits (DJI TerraAPI FAQ; FlightHub 2 open-modeling docs): TerraAPI 2D 10-4,000
and 3D 10-20,000 photos, LiDAR at most 48 GB; FlightHub 2 2D, 3D and LiDAR
5-20,000 files and 3DGS 10-4,000. The FAQ's "more than 2 minutes of L1/L2 data"
cannot be checked from DJI's proprietary raw files and is not.
"""

from __future__ import annotations

import itertools
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from terranb.dataset.exif import IMAGE_SUFFIXES, PhotoMeta, read_photo_meta
from terranb.dataset.findings import Finding, findings_html, findings_table
from terranb.dataset.footprint import FootprintSet, OverlapStats, footprints
from terranb.errors import PreflightError, ValidationError

__all__ = ["DEFAULT_BANDWIDTH_BPS", "LIDAR_SUFFIXES", "LIMITS", "PreflightReport", "preflight"]

#: (backend, job type) -> (min, max) number of photos (files for LiDAR); None = no limit.
LIMITS: dict[tuple[str, str], tuple[int, int] | None] = {
    ("terra", "2d"): (10, 4_000),
    ("terra", "3d"): (10, 20_000),
    ("terra", "lidar"): None,
    ("flighthub", "2d"): (5, 20_000),
    ("flighthub", "3d"): (5, 20_000),
    ("flighthub", "lidar"): (5, 20_000),
    ("flighthub", "3dgs"): (10, 4_000),
}
#: Raw file types a DJI L1/L2 LiDAR folder must hold (TerraAPI FAQ).
LIDAR_SUFFIXES = ("IMU", "RTK", "RTB", "RTL", "RTS", "LDR", "CLC", "CLI")
LIDAR_MAX_BYTES = 48 * 1024 ** 3
MIN_OVERLAP = 0.70
#: Upload speed assumed for the time estimate when none is given (50 Mbit/s).
DEFAULT_BANDWIDTH_BPS = 50_000_000
#: A gap longer than this between capture times starts another flight.
FLIGHT_GAP_SECONDS = 30 * 60
#: Makes accepted as DJI cameras (Mavic 3 photos say Hasselblad).
DJI_MAKES = ("dji", "hasselblad")
_POINTCLOUD_SUFFIXES = (".las", ".laz")
_ALIASES = {"terraapi": "terra", "terra": "terra", "flighthub": "flighthub", "fh2": "flighthub",
            "flighthub2": "flighthub"}


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def _fmt_duration(seconds: float) -> str:
    if seconds < 1:
        return "under 1 s"
    s = round(seconds)
    if s < 90:
        return f"about {s} s"
    if s < 5400:
        return f"about {round(s / 60)} min"
    return f"about {s // 3600} h {round((s % 3600) / 60)} min"


@dataclass
class PreflightReport:
    """The result of :func:`preflight`.

    Attributes:
        source: what was scanned.
        backend: ``"terra"`` or ``"flighthub"``.
        job_type: ``"2d"``, ``"3d"``, ``"lidar"`` or ``"3dgs"``.
        findings: every finding, worst first.
        photos: metadata of every JPEG found.
        files: every file found (photos included).
        total_bytes: size of all files.
        overlap: overlap estimate (photo jobs with located photos), else ``None``.
        footprints: the footprints used for it.
        upload_seconds: estimated upload time at ``bandwidth_bps``.
    """

    source: str
    backend: str
    job_type: str
    findings: list[Finding] = field(default_factory=list)
    photos: list[PhotoMeta] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    total_bytes: int = 0
    overlap: OverlapStats | None = None
    footprints: FootprintSet | None = None
    bandwidth_bps: float = DEFAULT_BANDWIDTH_BPS
    upload_seconds: float = 0.0

    @property
    def errors(self) -> list[Finding]:
        """Findings of severity ``error``."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """Findings of severity ``warning``."""
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def codes(self) -> Counter[str]:
        """How many findings of each code."""
        return Counter(f.code for f in self.findings)

    def raise_for_errors(self) -> None:
        """Raise :class:`~terranb.errors.PreflightError` (carrying this report) if any error."""
        errs = self.errors
        if errs:
            first = "; ".join(f.message for f in errs[:3])
            more = f" (and {len(errs) - 3} more)" if len(errs) > 3 else ""
            raise PreflightError(
                f"preflight found {len(errs)} error(s) for a {self.backend} {self.job_type} job: "
                f"{first}{more}. Fix them, or, if you are sure, submit anyway with "
                "Job.submit(..., force=True) / `terranb submit --force`.",
                findings=self)

    def headline(self) -> str:
        """One line: verdict and counts."""
        c = Counter(f.severity for f in self.findings)
        verdict = "OK" if self.ok else "NOT READY"
        return (f"preflight {verdict} for {self.backend} {self.job_type}: "
                f"{len(self.photos)} photos, "
                f"{len(self.files)} files, {_fmt_bytes(self.total_bytes)}; {c['error']} error(s), "
                f"{c['warning']} warning(s), {c['info']} note(s)")

    def to_text(self) -> str:
        """Headline plus a findings table."""
        return self.headline() + "\n" + findings_table(self.findings)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        # Short on purpose: the default dataclass repr lists every photo's metadata.
        return f"<PreflightReport {self.headline()} (source {self.source!r})>"

    def _repr_html_(self) -> str:
        colour = "#1b7f3b" if self.ok else "#b00020"
        import html

        return (f"<div><p style='font-weight:bold;color:{colour}'>{html.escape(self.headline())}"
                f"</p>{findings_html(self.findings)}</div>")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (photos summarised by count)."""
        return {
            "source": self.source, "backend": self.backend, "job_type": self.job_type,
            "ok": self.ok, "photos": len(self.photos), "files": len(self.files),
            "total_bytes": self.total_bytes, "upload_seconds": round(self.upload_seconds, 1),
            "bandwidth_bps": self.bandwidth_bps,
            "overlap": self.overlap.to_dict() if self.overlap else None,
            "counts": dict(Counter(f.severity for f in self.findings)),
            "findings": [f.to_dict() for f in self.findings],
        }


def _gather(source: Any, recursive: bool) -> tuple[str, list[Path]]:
    if isinstance(source, (str, os.PathLike)):
        root = Path(source)
        if root.is_dir():
            it = root.rglob("*") if recursive else root.iterdir()
            files = sorted(p for p in it if p.is_file() and not any(
                part.startswith(".") for part in p.relative_to(root).parts)
                and not p.name.endswith(".part"))
            return str(root), files
        if root.is_file():
            return str(root), [root]
        raise ValidationError(f"{root} does not exist; give a folder of photos or a list of files")
    files = [Path(p) for p in source]
    return f"{len(files)} files", files


def preflight(
    source: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
    *,
    backend: str = "terra",
    job_type: str = "2d",
    bandwidth_bps: float | None = None,
    ground_elevation: float | None = None,
    recursive: bool = True,
    reader: Callable[[Path], PhotoMeta] | None = None,
    sizes: Mapping[Path, int] | None = None,
    label: str | None = None,
) -> PreflightReport:
    """Check a data set for a cloud job before uploading it.

    Args:
        source: a folder (scanned recursively, hidden files skipped) or a list of files.
        backend: ``"terra"`` (TerraAPI) or ``"flighthub"`` (FlightHub 2).
        job_type: ``"2d"``, ``"3d"``, ``"lidar"`` or ``"3dgs"`` (3DGS: FlightHub 2 only).
        bandwidth_bps: upload speed in bits per second for the time estimate
            (default 50 Mbit/s).
        ground_elevation: ground height for photos without RelativeAltitude (footprints).
        recursive: scan sub-folders.
        reader: reads one photo's metadata (default :func:`read_photo_meta` on the
            local file); photos that are not local (a dock mission's media read by
            HTTP range) come with their own reader, ``sizes`` and ``label``.
        sizes: file sizes in bytes by path (default: from the file system).
        label: what the report says was scanned (default: the folder, or "N files").

    Returns:
        A :class:`PreflightReport`; call ``.raise_for_errors()`` to refuse a bad set.

    Raises:
        ValidationError: unknown backend or job type, or a source that does not exist.
    """
    be = _ALIASES.get(str(backend).lower().replace(" ", "").replace("-", "").replace("_", ""))
    jt = str(job_type).lower()
    if be is None:
        raise ValidationError(f"unknown backend {backend!r}; use 'terra' or 'flighthub'")
    if (be, jt) not in LIMITS:
        known = sorted({t for b, t in LIMITS if b == be})
        raise ValidationError(f"{backend} has no {job_type!r} jobs; use one of {known}")
    found, files = _gather(source, recursive)
    label = label or found
    bps = float(bandwidth_bps or DEFAULT_BANDWIDTH_BPS)
    rep = PreflightReport(source=label, backend=be, job_type=jt, files=files, bandwidth_bps=bps)
    out: list[Finding] = []
    lidar = jt == "lidar"

    file_sizes: dict[Path, int] = {}
    for p in files:
        if sizes is not None:
            file_sizes[p] = int(sizes.get(p, 0))
            continue
        try:
            file_sizes[p] = p.stat().st_size
        except OSError:
            file_sizes[p] = 0
    rep.total_bytes = sum(file_sizes.values())

    photo_paths = [p for p in files if p.suffix.lower() in IMAGE_SUFFIXES]
    for p in files:
        suffix = p.suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            continue
        if lidar:
            if suffix.lstrip(".").upper() in LIDAR_SUFFIXES or suffix in _POINTCLOUD_SUFFIXES:
                continue
            if p.name.lower() in ("readme.txt",):
                continue
            out.append(Finding("warning", "unexpected_file", f"{p.name}: not part of a DJI LiDAR "
                               "data set (IMU/RTK/RTB/RTL/RTS/LDR/CLC/CLI files and photos); "
                               "move it out of the folder.", p))
        else:
            out.append(Finding("warning", "not_an_image", f"{p.name}: not a JPEG photo; "
                               f"{jt.upper()} jobs use photos only -- move it out of the "
                               "folder.", p))

    metas = [(reader or read_photo_meta)(p) for p in photo_paths]
    rep.photos = metas
    for m in metas:
        out.extend(m.findings)
        if m.readable and not m.has_gps and not any(f.code == "no_gps" for f in m.findings):
            out.append(Finding("error", "no_gps", f"{m.name}: no GPS position; the cloud cannot "
                               "place it -- fly with GPS lock or remove the photo.", m.path))
    good = [m for m in metas if m.readable and not m.truncated]

    # Counts against the service limits.
    limits = LIMITS[(be, jt)]
    service = "TerraAPI" if be == "terra" else "FlightHub 2"
    if limits is not None:
        lo, hi = limits
        n = len(files) if lidar else len(good)
        what = "files" if lidar else "photos"
        if n < lo:
            out.append(Finding("error", f"too_few_{what}", f"{n} usable {what}; {service} "
                               f"{jt.upper()} jobs need at least {lo} -- add {what}.", None))
        elif n > hi:
            out.append(Finding("error", f"too_many_{what}", f"{n} {what}; {service} "
                               f"{jt.upper()} jobs take at most {hi:,} -- split the area into "
                               "several jobs.", None))

    # Duplicate file names (object keys would collide after upload).
    by_name: dict[str, list[Path]] = {}
    for p in files:
        by_name.setdefault(p.name.casefold(), []).append(p)
    for group in by_name.values():
        if len(group) > 1:
            others = ", ".join(str(q) for q in group[:-1])
            out.append(Finding("error", "duplicate_name", f"{group[-1].name}: the same file name "
                               f"appears {len(group)} times ({others}, {group[-1]}); uploads are "
                               "flat, so rename or remove the duplicates.", group[-1]))

    # Mixed cameras.
    if good:
        keys = Counter(m.camera_key for m in good)
        main_key, main_n = max(keys.items(), key=lambda kv: (kv[1], str(kv[0])))
        if len(keys) > 1:
            for m in good:
                if m.camera_key != main_key:
                    _mk, md, w, h, f = m.camera_key
                    out.append(Finding(
                        "warning", "mixed_cameras",
                        f"{m.name}: camera {md} {w}x{h} {f} mm differs from the other "
                        f"{main_n} photos ({main_key[1]} {main_key[2]}x{main_key[3]} "
                        f"{main_key[4]} mm); process each camera separately or remove it.",
                        m.path))

    # Mixed flights: long capture-time gaps or different drones.
    timed = sorted((m for m in good if m.capture_time is not None),
                   key=lambda m: (_naive(m.capture_time), str(m.path)))
    if timed:
        flights: list[list[PhotoMeta]] = [[timed[0]]]
        for a, b in itertools.pairwise(timed):
            gap = (_naive(b.capture_time) - _naive(a.capture_time)).total_seconds()
            if gap > FLIGHT_GAP_SECONDS or (a.drone_serial and b.drone_serial
                                            and a.drone_serial != b.drone_serial):
                flights.append([b])
            else:
                flights[-1].append(b)
        if len(flights) > 1:
            main = max(flights, key=len)
            for fl in flights:
                if fl is main:
                    continue
                first = fl[0]
                who = ("taken at" if len(fl) == 1 else
                       f"this and {len(fl) - 1} later photo(s) were taken from")
                out.append(Finding(
                    "warning", "mixed_flights",
                    f"{first.name}: {who} {_naive(first.capture_time):%Y-%m-%d %H:%M}"
                    f"{' by another drone' if _other_drone(first, main) else ''}, apart "
                    "from the main flight "
                    f"({len(main)} photos from {_naive(main[0].capture_time):%Y-%m-%d %H:%M}); "
                    "mixing flights is fine for the same area and light, otherwise split them.",
                    first.path))

    # Lens: the FAQ asks for wide-angle photos.
    for m in good:
        src = (m.image_source or "").lower()
        if "zoom" in src or (m.digital_zoom or 1.0) > 1.01 or (m.focal_length_35mm or 0) > 35:
            why = []
            if "zoom" in src:
                why.append(f"taken with the {m.image_source}")
            if (m.digital_zoom or 1.0) > 1.01:
                why.append(f"digital zoom {m.digital_zoom:g}x")
            if (m.focal_length_35mm or 0) > 35:
                why.append(f"{m.focal_length_35mm:g} mm equivalent lens")
            out.append(Finding("warning", "zoom_lens", f"{m.name}: {', '.join(why)}; "
                               "reconstruction needs wide-angle photos -- use the wide camera "
                               "without zoom.", m.path))
        if "infrared" in src or "thermal" in src:
            out.append(Finding("warning", "thermal_image",
                               f"{m.name}: a thermal ({m.image_source}) "
                               "image; reconstruction expects visible-light photos -- leave "
                               "thermal images out.", m.path))
        if m.make and m.make.strip().lower() not in DJI_MAKES:
            out.append(Finding("warning", "not_dji", f"{m.name}: camera make {m.make!r}; "
                               f"{service} expects photos from supported DJI drones.", m.path))

    # Overlap from footprints (photo jobs).
    overlap_txt = ""
    if not lidar:
        try:
            fs: FootprintSet | None = footprints([m for m in good if m.has_gps],
                                                 ground_elevation=ground_elevation)
        except ImportError:
            # numpy/pyproj (the geo extra) are missing: every other check still holds,
            # so report what could not be done instead of failing the whole preflight.
            fs = None
            out.append(Finding("info", "overlap_unknown", "overlap was not estimated: photo "
                               "footprints need numpy and pyproj -- pip install "
                               "'terranb[geo]'.", None))
        rep.footprints = fs
        ov = fs.overlap() if fs is not None else OverlapStats()
        rep.overlap = ov if fs is not None else None
        fwd, side = ov.forward_median, ov.side_median
        if fs is not None and fwd is None and side is None:
            out.append(Finding("info", "overlap_unknown", "overlap could not be estimated (needs "
                               "at least two located photos with height and focal length in one "
                               "flight line).", None))
        if fwd is not None:
            overlap_txt += f", forward overlap ~{fwd:.0%}"
            if fwd < MIN_OVERLAP:
                low = sum(1 for v in ov.forward if v < MIN_OVERLAP)
                out.append(Finding(
                    "warning", "low_forward_overlap",
                    f"estimated forward overlap {fwd:.0%} (median of {len(ov.forward)} pairs, "
                    f"{low} under 70 %) is below the 70 % the services ask for; fly again with "
                    "75-80 % forward overlap.", None))
        if side is not None:
            overlap_txt += f", side overlap ~{side:.0%}"
            if side < MIN_OVERLAP:
                out.append(Finding(
                    "warning", "low_side_overlap",
                    f"estimated side overlap {side:.0%} (median of {len(ov.side)} line pairs) is "
                    "below the 70 % the services ask for; fly again with closer flight lines "
                    "(70-75 % side overlap).", None))

    # LiDAR folder completeness and size.
    if lidar:
        present = {p.suffix.lstrip(".").upper() for p in files}
        missing = [s for s in LIDAR_SUFFIXES if s not in present]
        if missing:
            out.append(Finding(
                "error", "lidar_missing_files",
                f"the LiDAR folder has no {', '.join(missing)} file(s); copy the complete L1/L2 "
                "mission folder (IMU, RTK, RTB, RTL, RTS, LDR, CLC, CLI) from the SD card.", None))
        if be == "terra" and rep.total_bytes > LIDAR_MAX_BYTES:
            out.append(Finding(
                "error", "too_large", f"the LiDAR data set is {_fmt_bytes(rep.total_bytes)}, over "
                "TerraAPI's 48 GB limit; split the mission into several jobs.", None))

    rep.upload_seconds = rep.total_bytes * 8 / bps
    out.append(Finding(
        "info", "summary",
        f"{len(good)} usable photos, {len(files)} files, {_fmt_bytes(rep.total_bytes)}"
        f"{overlap_txt}; estimated upload time {_fmt_duration(rep.upload_seconds)} at "
        f"{bps / 1e6:g} Mbit/s.", None))
    order = {"error": 0, "warning": 1, "info": 2}
    out.sort(key=lambda f: (order[f.severity], f.code, str(f.path or "")))
    rep.findings = out
    return rep


def _other_drone(photo: PhotoMeta, flight: list[PhotoMeta]) -> bool:
    """True when ``photo`` names a drone serial and the main flight names another."""
    serials = {m.drone_serial for m in flight if m.drone_serial}
    return bool(photo.drone_serial and serials and photo.drone_serial not in serials)


def _naive(t: datetime | None) -> datetime:
    assert t is not None
    return t.replace(tzinfo=None)

"""What the input photos say about the survey: when, with what, and how well positioned.

:func:`summarize_photos` reads every photo's headers (never its pixels) and
gives the capture date and time span, aircraft and camera, photo count, the
photo centres and footprints for the map, and the GNSS/RTK status from DJI's
XMP: ``RtkFlag`` (0 = no position, 16 = single point, 34 = RTK float, 50 = RTK
fixed, as DJI's RTK aircraft write it), ``RtkStdLon/Lat/Hgt`` (the receiver's
1-sigma standard deviations in metres) and ``GpsStatus``. Photos without these
tags are counted as "not recorded": the report never guesses a fix.
"""

from __future__ import annotations

import os
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RTK_FLAGS", "PhotoSummary", "find_photos", "summarize_photos"]

RTK_FLAGS = {0: "no position", 16: "single point (no RTK)", 34: "RTK float", 50: "RTK fixed"}


@dataclass
class PhotoSummary:
    """The survey figures of a photo set (see the module text)."""

    count: int = 0
    files: int = 0
    first: str | None = None
    last: str | None = None
    span_s: float | None = None
    aircraft: dict[str, int] = field(default_factory=dict)
    cameras: dict[str, int] = field(default_factory=dict)
    rtk: dict[str, int] = field(default_factory=dict)
    rtk_std_m: dict[str, float] = field(default_factory=dict)
    gps_status: dict[str, int] = field(default_factory=dict)
    centres: list[tuple[str, float, float]] = field(default_factory=list)
    footprints: dict[str, Any] | None = None
    folder: str = ""

    def rows(self) -> dict[str, Any]:
        """Readable key/value rows for the report."""
        def counts(d: dict[str, int]) -> str:
            return "; ".join(f"{k} ({v})" for k, v in d.items()) or "not recorded"

        span = "-"
        if self.span_s is not None:
            m, s = divmod(round(self.span_s), 60)
            span = f"{m} min {s} s" if m else f"{s} s"
        std = ", ".join(f"{k} {v * 100:.1f} cm" for k, v in self.rtk_std_m.items())
        photos: Any = self.count
        if self.files > self.count:
            photos = (f"{self.count:,} ({self.files:,} files: {self.files - self.count:,} are "
                      "copies of the same photos in another folder, counted once)")
        return {
            "photos": photos,
            "capture date (first photo)": (self.first or "-")[:10],
            "capture time span": f"{self.first or '-'} to {self.last or '-'} ({span})",
            "aircraft": counts(self.aircraft),
            "camera": counts(self.cameras),
            "GNSS / RTK fix (photos)": counts(self.rtk),
            "RTK positioning accuracy (median 1-sigma)": std or
            "not recorded in the photos (no RtkStdLon/Lat/Hgt in XMP)",
            "GPS status (photos)": counts(self.gps_status) if self.gps_status else "not recorded",
            "photo folder": self.folder or "-",
        }


def find_photos(source: str | os.PathLike[str]) -> list[Path]:
    """JPEGs in a folder (recursively) or the one file named."""
    from terranb.dataset.exif import IMAGE_SUFFIXES

    p = Path(source).expanduser()
    if p.is_file():
        return [p]
    return sorted(f for f in p.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())


def summarize_photos(photos: list[Path], *, footprints: bool = True) -> PhotoSummary:
    """Read the photos' headers into a :class:`PhotoSummary`."""
    from terranb.dataset.exif import read_photo_meta

    metas = _distinct([(p, read_photo_meta(p)) for p in photos])
    out = PhotoSummary(count=len(metas), files=len(photos))
    if photos:
        out.folder = str(Path(os.path.commonpath([str(p.parent) for p in photos])))
    times = sorted(m.capture_time for m in metas if m.capture_time is not None)
    if times:
        out.first, out.last = times[0].isoformat(), times[-1].isoformat()
        out.span_s = (times[-1] - times[0]).total_seconds()
    out.aircraft = dict(Counter(m.drone_model or f"{m.make or '?'} (model not in XMP)"
                                for m in metas if m.readable))
    out.cameras = dict(Counter(
        " ".join(x for x in (m.make, m.model) if x) + (f", {m.focal_length_mm:g} mm"
                                                       if m.focal_length_mm else "")
        + (f", {m.width}x{m.height}" if m.width else "") for m in metas if m.readable))
    out.rtk = dict(Counter(
        "not recorded (no RtkFlag)" if m.rtk_flag is None
        else f"{RTK_FLAGS.get(m.rtk_flag, 'unknown')} (RtkFlag {m.rtk_flag})" for m in metas))
    for label, attr in (("lon", "rtk_std_lon"), ("lat", "rtk_std_lat"), ("height", "rtk_std_hgt")):
        vals = [getattr(m, attr) for m in metas if getattr(m, attr) is not None]
        if vals:
            out.rtk_std_m[label] = float(statistics.median(vals))
    out.gps_status = dict(Counter(m.gps_status for m in metas if m.gps_status))
    out.centres = [(m.name, float(m.longitude), float(m.latitude)) for m in metas
                   if m.longitude is not None and m.latitude is not None]
    if footprints and out.centres:
        from terranb.dataset.footprint import footprints as fps

        try:
            out.footprints = fps(metas).to_geojson()
        except Exception:  # a photo set without heights still has centres
            out.footprints = None
    return out


def _distinct(pairs: list[tuple[Path, Any]]) -> list[Any]:
    """The photos' metadata with copies counted once.

    One flight's photos uploaded for two jobs (the demo's 2D/3D set and its LiDAR set)
    are the same photos: same capture time, position and size. Counting them twice
    would double the photo count, the map's centres and its footprints.
    """
    seen: set[Any] = set()
    out = []
    for path, m in pairs:
        key: Any = path
        if m.capture_time is not None and m.latitude is not None:
            try:
                size = path.stat().st_size
            except OSError:
                size = None
            key = (m.capture_time, m.latitude, m.longitude, m.absolute_altitude, size)
        if key not in seen:
            seen.add(key)
            out.append(m)
    return out


def photos_for(option: Any, card: Any, card_dir: Path) -> list[Path]:
    """The input photos: ``option`` (folder, file or list) else the run card's inputs.

    Run-card input paths are relative to the folder the photos were checksummed
    in, which the card does not record; they are looked up under the card's
    folder, its parent and the parent's sub-folders (the demo's ``flight/``).
    """
    from terranb.dataset.exif import IMAGE_SUFFIXES

    if option:
        items = option if isinstance(option, (list, tuple)) else [option]
        return [p for item in items for p in find_photos(item)]
    if card is None:
        return []
    rels = [f.path for f in card.inputs if Path(f.path).suffix.lower() in IMAGE_SUFFIXES]
    if not rels:
        return []
    roots = [card_dir, card_dir.parent]
    try:
        roots += sorted(d for d in card_dir.parent.iterdir() if d.is_dir() and d != card_dir)
    except OSError:
        pass
    for base in roots:
        if (base / rels[0]).is_file():
            return [base / r for r in rels if (base / r).is_file()]
    return []

"""Ground footprints of photos, coverage and overlap statistics, GeoJSON.

A footprint is the polygon of flat ground a photo sees, from its position,
height above ground (RelativeAltitude, or absolute altitude minus a given
ground elevation), gimbal attitude and intrinsics (see
:mod:`terranb.dataset.camera`). Oblique photos work as long as the image
border looks down; rays at the horizon are clamped to 5 degrees below it and
the footprint is marked ``clipped``.

Overlap is estimated the way flight planners state it: photos are put in
capture order and cut into flight lines; forward overlap of two consecutive
photos is ``1 - spacing / footprint length`` along the line, side overlap of two
neighbouring parallel lines is ``1 - line distance / footprint width`` across
it. This is meant for grid (lawnmower) missions; orbits and free flights give
rough numbers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from terranb.dataset.camera import NoGeometryError, camera_for, transformer, utm_epsg_for
from terranb.dataset.exif import PhotoMeta, read_photo_meta

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Footprint", "FootprintSet", "OverlapStats", "footprint", "footprints", "to_geojson"]

Point = tuple[float, float]


@dataclass(frozen=True)
class Footprint:
    """The ground polygon of one photo.

    Attributes:
        path: the photo.
        epsg: the projected CRS of ``utm`` (a UTM zone).
        utm: polygon ring (not closed) in ``epsg``, metres.
        wgs84: the same ring as (longitude, latitude).
        camera: camera position (east, north) in ``epsg``.
        centre: ground point of the image centre (east, north).
        height: camera height above the ground (m).
        gsd: ground sample distance at the image centre (m/pixel).
        clipped: the image border reaches the horizon; the far edge was clamped.
    """

    path: Path
    epsg: int
    utm: tuple[Point, ...]
    wgs84: tuple[Point, ...]
    camera: Point
    centre: Point
    height: float
    gsd: float
    clipped: bool = False

    @property
    def area_m2(self) -> float:
        """Polygon area in square metres (shoelace)."""
        pts = self.utm
        s = 0.0
        for i in range(len(pts)):
            x0, y0 = pts[i]
            x1, y1 = pts[(i + 1) % len(pts)]
            s += x0 * y1 - x1 * y0
        return abs(s) / 2.0

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in ``epsg``."""
        xs = [p[0] for p in self.utm]
        ys = [p[1] for p in self.utm]
        return (min(xs), min(ys), max(xs), max(ys))

    def to_geojson(self) -> dict[str, Any]:
        """A GeoJSON Feature (WGS84, closed ring) with the photo's name and numbers."""
        ring = [list(p) for p in self.wgs84]
        ring.append(ring[0])
        return {"type": "Feature",
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": {"name": self.path.name, "path": str(self.path),
                               "height_m": round(self.height, 3), "gsd_m": round(self.gsd, 5),
                               "area_m2": round(self.area_m2, 2), "clipped": self.clipped}}


def footprint(meta: PhotoMeta | str | Path, *, epsg: int | None = None,
              ground_elevation: float | None = None, edge_points: int = 4) -> Footprint:
    """The ground footprint of one photo.

    Args:
        meta: a :class:`PhotoMeta` or a photo path.
        epsg: projected CRS for the polygon; default the photo's UTM zone.
        ground_elevation: ground height for photos without RelativeAltitude.
        edge_points: points per image edge (more follow a clamped far edge better).

    Raises:
        NoGeometryError: no GPS, no height above ground or no focal length.
    """
    import numpy as np

    if not isinstance(meta, PhotoMeta):
        meta = read_photo_meta(meta)
    cam = camera_for(meta, epsg=epsg, ground_elevation=ground_elevation)
    k = cam.intr
    n = max(1, edge_points)
    t = np.arange(n) / n
    w, h = k.width - 0.5, k.height - 0.5
    u = np.concatenate([-0.5 + t * k.width, np.full(n, w), w - t * k.width, np.full(n, -0.5)])
    v = np.concatenate([np.full(n, -0.5), -0.5 + t * k.height, np.full(n, h), h - t * k.height])
    ge, gn, ok = cam.pixel_to_ground(u, v, min_depression_deg=5.0)
    ce, cn, _ = cam.pixel_to_ground(np.array([k.cx]), np.array([k.cy]), min_depression_deg=5.0)
    lon, lat = transformer(cam.epsg, 4326).transform(ge, gn)
    d = cam.rays(np.array([k.cx]), np.array([k.cy]))[0]
    slant = cam.height / max(1e-9, -d[2]) * float(np.linalg.norm(d))
    return Footprint(
        path=meta.path, epsg=cam.epsg,
        utm=tuple((float(a), float(b)) for a, b in zip(ge, gn, strict=False)),
        wgs84=tuple((float(a), float(b)) for a, b in zip(lon, lat, strict=False)),
        camera=(cam.east, cam.north), centre=(float(ce[0]), float(cn[0])), height=cam.height,
        gsd=slant / k.fx, clipped=not bool(ok.all()))


@dataclass
class OverlapStats:
    """Forward and side overlap estimates (fractions 0-1) of a grid flight.

    ``forward``/``side`` hold one value per consecutive pair / neighbouring line pair;
    the medians are ``None`` when there was nothing to measure.
    """

    forward: list[float] = field(default_factory=list)
    side: list[float] = field(default_factory=list)
    lines: int = 0

    @property
    def forward_median(self) -> float | None:
        """Median forward overlap."""
        return _median(self.forward)

    @property
    def side_median(self) -> float | None:
        """Median side overlap."""
        return _median(self.side)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"forward_median": self.forward_median, "side_median": self.side_median,
                "forward_pairs": len(self.forward), "side_pairs": len(self.side),
                "lines": self.lines}


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    s = sorted(values)
    m = len(s) // 2
    return s[m] if len(s) % 2 else (s[m - 1] + s[m]) / 2


@dataclass
class FootprintSet:
    """Footprints of many photos in one UTM zone, plus those that had none."""

    footprints: list[Footprint]
    epsg: int | None
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    order: list[int] = field(default_factory=list)  # capture order (indices into footprints)

    def __len__(self) -> int:
        return len(self.footprints)

    def __iter__(self) -> Any:
        return iter(self.footprints)

    def __repr__(self) -> str:
        # Short on purpose: thousands of polygons would flood a console.
        return (f"FootprintSet({len(self.footprints)} footprints, EPSG:{self.epsg}, "
                f"{len(self.skipped)} skipped)")

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        """Extent of all footprints in ``epsg``."""
        if not self.footprints:
            return None
        b = [f.bounds for f in self.footprints]
        return (min(x[0] for x in b), min(x[1] for x in b), max(x[2] for x in b),
                max(x[3] for x in b))

    def coverage(self, cell: float | None = None) -> dict[str, float]:
        """Union area and how many photos see each point, on a raster of ``cell`` metres.

        Returns:
            ``area_m2`` (union), ``mean_photos`` (mean count over covered ground),
            ``share_ge2`` / ``share_ge5`` (share of covered ground seen by at least
            2 / 5 photos), ``cell_m``.
        """
        import numpy as np

        if not self.footprints:
            return {"area_m2": 0.0, "mean_photos": 0.0, "share_ge2": 0.0, "share_ge5": 0.0,
                    "cell_m": 0.0}
        west, south, east, north = self.bounds  # type: ignore[misc]
        if cell is None:
            cell = max(0.05, math.sqrt((east - west) * (north - south) / 1_000_000))
        nx = max(1, math.ceil((east - west) / cell))
        ny = max(1, math.ceil((north - south) / cell))
        count = np.zeros((ny, nx), np.uint16)
        for f in self.footprints:
            fw, fs, fe, fn = f.bounds
            c0, c1 = int((fw - west) // cell), min(nx, int((fe - west) // cell) + 1)
            r0, r1 = int((north - fn) // cell), min(ny, int((north - fs) // cell) + 1)
            xs = west + (np.arange(c0, c1) + 0.5) * cell
            ys = north - (np.arange(r0, r1) + 0.5) * cell
            gx, gy = np.meshgrid(xs, ys)
            count[r0:r1, c0:c1] += _inside(f.utm, gx, gy)
        covered = count > 0
        n_cov = int(covered.sum())
        return {"area_m2": n_cov * cell * cell,
                "mean_photos": float(count[covered].mean()) if n_cov else 0.0,
                "share_ge2": float((count >= 2).sum() / n_cov) if n_cov else 0.0,
                "share_ge5": float((count >= 5).sum() / n_cov) if n_cov else 0.0,
                "cell_m": cell}

    def overlap(self) -> OverlapStats:
        """Forward and side overlap estimated from footprints in capture order."""
        return _overlap([self.footprints[i] for i in (self.order or range(len(self.footprints)))])

    def to_geojson(self) -> dict[str, Any]:
        """A GeoJSON FeatureCollection of the footprints (WGS84)."""
        return to_geojson(self.footprints)


def _inside(ring: Sequence[Point], gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test for grids of points."""
    import numpy as np

    inside = np.zeros(gx.shape, bool)
    n = len(ring)
    for i in range(n):
        x0, y0 = ring[i]
        x1, y1 = ring[(i + 1) % n]
        if y0 == y1:
            continue
        cross = (y0 > gy) != (y1 > gy)
        xint = x0 + (gy - y0) * (x1 - x0) / (y1 - y0)
        inside ^= cross & (gx < xint)
    return inside


def _extent_along(f: Footprint, ux: float, uy: float) -> float:
    proj = [p[0] * ux + p[1] * uy for p in f.utm]
    return max(proj) - min(proj)


def _overlap(seq: list[Footprint]) -> OverlapStats:
    stats = OverlapStats()
    if len(seq) < 2:
        return stats
    steps = [(seq[i + 1].camera[0] - seq[i].camera[0], seq[i + 1].camera[1] - seq[i].camera[1])
             for i in range(len(seq) - 1)]
    dists = [math.hypot(*s) for s in steps]
    moving = sorted(d for d in dists if d > 1e-3)
    if not moving:
        return stats
    med = moving[len(moving) // 2]
    # Cut into lines: a jump much longer than usual or a turn starts a new line.
    lines: list[list[int]] = [[0]]
    line_dir: list[tuple[float, float] | None] = [None]
    for i, (s, d) in enumerate(zip(steps, dists, strict=False)):
        cur = line_dir[-1]
        if d < 1e-3:  # hovering shot: same place, same line
            lines[-1].append(i + 1)
            continue
        u = (s[0] / d, s[1] / d)
        turn = cur is not None and (u[0] * cur[0] + u[1] * cur[1]) < math.cos(math.radians(25))
        if d > 2.5 * med or turn:
            lines.append([i + 1])
            line_dir.append(None)
            continue
        lines[-1].append(i + 1)
        if cur is None:
            line_dir[-1] = u
    for idx, dirn in zip(lines, line_dir, strict=True):
        if dirn is None or len(idx) < 2:
            continue
        u = dirn
        for a, b in itertools.pairwise(idx):
            fa, fb = seq[a], seq[b]
            d = abs((fb.camera[0] - fa.camera[0]) * u[0] + (fb.camera[1] - fa.camera[1]) * u[1])
            length = (_extent_along(fa, *u) + _extent_along(fb, *u)) / 2
            if length > 0:
                stats.forward.append(max(0.0, min(1.0, 1 - d / length)))
    real = [(idx, u) for idx, u in zip(lines, line_dir, strict=True)
            if u is not None and len(idx) >= 2]
    stats.lines = len(real)
    for li, (idx, u) in enumerate(real):
        nrm = (-u[1], u[0])
        cx = sum(seq[i].centre[0] for i in idx) / len(idx)
        cy = sum(seq[i].centre[1] for i in idx) / len(idx)
        width = sum(_extent_along(seq[i], *nrm) for i in idx) / len(idx)
        along = [seq[i].centre[0] * u[0] + seq[i].centre[1] * u[1] for i in idx]
        best: float | None = None
        for lj, (jdx, v) in enumerate(real):
            if lj == li or abs(u[0] * v[0] + u[1] * v[1]) < math.cos(math.radians(25)):
                continue
            ox = sum(seq[j].centre[0] for j in jdx) / len(jdx)
            oy = sum(seq[j].centre[1] for j in jdx) / len(jdx)
            other_along = [seq[j].centre[0] * u[0] + seq[j].centre[1] * u[1] for j in jdx]
            if max(other_along) < min(along) or min(other_along) > max(along):
                continue  # parallel but not side by side
            c = abs((ox - cx) * nrm[0] + (oy - cy) * nrm[1])
            if c < 0.05 * width:
                continue  # the same line flown twice
            if best is None or c < best:
                best = c
        if best is not None and width > 0:
            stats.side.append(max(0.0, min(1.0, 1 - best / width)))
    return stats


def footprints(photos: Iterable[PhotoMeta | str | Path], *, epsg: int | None = None,
               ground_elevation: float | None = None) -> FootprintSet:
    """Footprints of many photos in one common UTM zone (the zone of their median position).

    Photos without the needed metadata are listed in ``skipped`` with the reason.
    """
    metas = [p if isinstance(p, PhotoMeta) else read_photo_meta(p) for p in photos]
    located = [m for m in metas if m.has_gps]
    if epsg is None and located:
        lons = sorted(m.longitude for m in located if m.longitude is not None)
        lats = sorted(m.latitude for m in located if m.latitude is not None)
        epsg = utm_epsg_for(lons[len(lons) // 2], lats[len(lats) // 2])
    out: list[Footprint] = []
    kept: list[PhotoMeta] = []
    skipped: list[tuple[Path, str]] = []
    for m in metas:
        try:
            out.append(footprint(m, epsg=epsg, ground_elevation=ground_elevation))
            kept.append(m)
        except NoGeometryError as exc:
            skipped.append((m.path, str(exc)))
    def when(i: int) -> tuple[bool, str, str]:
        t = kept[i].capture_time
        return (t is None, t.replace(tzinfo=None).isoformat() if t else "", str(kept[i].path))

    order = sorted(range(len(kept)), key=when)
    return FootprintSet(out, epsg, skipped, order)


def to_geojson(fps: Iterable[Footprint]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (WGS84 lon/lat) of footprints."""
    return {"type": "FeatureCollection", "features": [f.to_geojson() for f in fps]}

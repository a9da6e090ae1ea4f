"""Coordinate reference systems: parse them from the many places results keep them.

DJI Terra and the tools around it name a CRS in several ways: GeoTIFF tags, an
ESRI ``.prj`` file, a name such as ``"WGS 84 / UTM zone 31N"`` in a report, a job's
``geo_desc`` (``{"geo_cs": "EPSG:32650", "geo_cs_wkt": ""}``), LAS VLRs, or a
``metadata.xml`` ``<SRS>`` (``EPSG:4547``, ``ENU:22.5,113.9`` or WKT). This module
turns each into a :class:`pyproj.CRS` and does the few transformations the readers
need (bounds to WGS 84, metres per CRS unit).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from terranb.errors import require

if TYPE_CHECKING:
    from pyproj import CRS

__all__ = [
    "bounds_to_wgs84",
    "crs_from_geo_desc",
    "crs_from_text",
    "crs_to_json",
    "linear_unit_m",
    "ring_to_wgs84",
]


def crs_from_text(text: str | None) -> CRS | None:
    """Parse ``"EPSG:32650"``, ``"32650"``, a CRS name, WKT1/WKT2, ESRI WKT or PROJ text.

    Returns ``None`` for empty text or text pyproj does not understand.
    """
    if text is None:
        return None
    t = str(text).strip()
    if not t:
        return None
    pyproj = require("pyproj", "geo")
    if t.isdigit():
        t = f"EPSG:{t}"
    try:
        return pyproj.CRS.from_user_input(t)
    except Exception:
        return None


def _walk(obj: Any) -> Iterator[dict[str, Any]]:
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from _walk(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _walk(v)


def crs_from_geo_desc(parameters: Any) -> CRS | None:
    """The CRS named by a job's ``geo_desc`` (protocol.md §2.6), found anywhere in ``parameters``.

    Args:
        parameters: the job ``parameters`` as a dict or as its JSON string; the first
            object holding ``geo_cs_wkt`` (non-empty) or ``geo_cs`` wins.
    """
    if isinstance(parameters, str):
        try:
            parameters = json.loads(parameters)
        except ValueError:
            return None
    for obj in _walk(parameters):
        wkt = obj.get("geo_cs_wkt")
        if isinstance(wkt, str) and wkt.strip():
            crs = crs_from_text(wkt)
            if crs is not None:
                return crs
        code = obj.get("geo_cs")
        if isinstance(code, (str, int)) and str(code).strip():
            crs = crs_from_text(str(code))
            if crs is not None:
                return crs
    return None


def linear_unit_m(crs: CRS | None) -> float | None:
    """Metres per horizontal CRS unit (1.0 for metres, 0.3048006 for US feet).

    ``None`` for angular or unknown units.
    """
    if crs is None or crs.is_geographic:
        return None
    try:
        horizontal = crs.sub_crs_list[0] if crs.is_compound else crs
        axis = horizontal.axis_info[0]
        factor = float(axis.unit_conversion_factor)
    except Exception:
        return None
    return factor if factor > 0 else None


def crs_to_json(crs: CRS | None) -> dict[str, Any] | None:
    """A small JSON-ready summary: ``{"epsg", "name", "wkt2"}``."""
    if crs is None:
        return None
    try:
        epsg = crs.to_epsg()
    except Exception:
        epsg = None
    return {"epsg": epsg, "name": crs.name, "wkt2": crs.to_wkt("WKT2_2019")}


def _horizontal(crs: CRS) -> CRS:
    """The horizontal part of a compound CRS (transforming bounds needs only x, y)."""
    if crs.is_compound and crs.sub_crs_list:
        return crs.sub_crs_list[0]
    return crs


def bounds_to_wgs84(crs: CRS | None,
                    bounds: Sequence[float]) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) in WGS 84 degrees of ``bounds`` (minx, miny, maxx, maxy).

    Edges are densified so curved projections are covered. ``None`` without a CRS
    or when the transformation fails (e.g. coordinates outside the CRS's domain).
    """
    if crs is None:
        return None
    pyproj = require("pyproj", "geo")
    try:
        tr = pyproj.Transformer.from_crs(_horizontal(crs), "EPSG:4326", always_xy=True)
        w, s, e, n = tr.transform_bounds(*bounds[:4], densify_pts=21)
    except Exception:
        return None
    vals = (float(w), float(s), float(e), float(n))
    if not all(math.isfinite(v) for v in vals):
        return None
    return vals


def ring_to_wgs84(crs: CRS | None, ring: Sequence[tuple[float, float]],
                  densify: int = 10) -> list[list[float]] | None:
    """A closed polygon ring (x, y in ``crs``) as [[lon, lat], ...] in WGS 84, edges densified."""
    if crs is None or len(ring) < 3:
        return None
    pyproj = require("pyproj", "geo")
    pts: list[tuple[float, float]] = []
    closed = [*ring, ring[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(closed):
        for i in range(densify):
            t = i / densify
            pts.append((x0 + (x1 - x0) * t, y0 + (y1 - y0) * t))
    try:
        tr = pyproj.Transformer.from_crs(_horizontal(crs), "EPSG:4326", always_xy=True)
        xs, ys = tr.transform([p[0] for p in pts], [p[1] for p in pts])
    except Exception:
        return None
    out = [[float(x), float(y)] for x, y in zip(xs, ys, strict=True)]
    if not all(math.isfinite(v) for p in out for v in p):
        return None
    out.append(out[0])
    return out

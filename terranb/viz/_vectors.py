"""GeoJSON footprints and WGS84 boxes for the result map: parsed, rounded, size-capped.

Split from :mod:`terranb.viz.maps` (which keeps the rasters and the map itself) so that
each module stays one responsibility.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from terranb.errors import ValidationError

Bounds = tuple[float, float, float, float]  # west, south, east, north (degrees)

def _round_coords(obj: Any, ndigits: int) -> Any:
    if isinstance(obj, float):
        return round(obj, ndigits)
    if isinstance(obj, (list, tuple)):
        return [_round_coords(v, ndigits) for v in obj]
    return obj


def _as_features(item: Any) -> list[dict[str, Any]]:
    if hasattr(item, "__geo_interface__"):
        item = item.__geo_interface__
    elif hasattr(item, "to_geojson") and callable(item.to_geojson):
        item = item.to_geojson()
        if isinstance(item, str):
            item = json.loads(item)
    if isinstance(item, (str, os.PathLike)) and Path(item).suffix.lower() in (".json", ".geojson"):
        item = json.loads(Path(item).read_text(encoding="utf-8"))
    if isinstance(item, Mapping):
        kind = item.get("type")
        if kind == "FeatureCollection":
            return [f for sub in item.get("features", []) for f in _as_features(sub)]
        if kind == "Feature":
            return [dict(item)]
        if kind in ("Polygon", "MultiPolygon", "LineString", "MultiLineString", "Point",
                    "MultiPoint", "GeometryCollection"):
            return [{"type": "Feature", "properties": {}, "geometry": dict(item)}]
    if isinstance(item, Iterable) and not isinstance(item, (str, bytes, Mapping)):
        return [f for sub in item for f in _as_features(sub)]
    raise ValidationError(
        f"cannot read footprints from {type(item).__name__}; pass GeoJSON (dict, list of "
        "features, .geojson path) or objects with __geo_interface__"
    )


def footprint_collection(footprints: Any, *, max_bytes: int = 2_000_000,
                         ndigits: int = 7) -> dict[str, Any]:
    """Footprints as one GeoJSON FeatureCollection, rounded and capped at ``max_bytes``.

    Coordinates are rounded to ``ndigits`` decimals (7 = about 1 cm). Features past
    the byte budget are dropped with a warning rather than growing the page.
    """
    feats = _as_features(footprints)
    kept: list[dict[str, Any]] = []
    total = 40
    for f in feats:
        geom = f.get("geometry") or {}
        clean = {
            "type": "Feature",
            "properties": {k: v for k, v in (f.get("properties") or {}).items()
                           if isinstance(v, (str, int, float, bool)) or v is None},
            "geometry": {"type": geom.get("type"),
                         "coordinates": _round_coords(geom.get("coordinates"), ndigits)},
        }
        size = len(json.dumps(clean, separators=(",", ":"))) + 1
        if total + size > max_bytes:
            warnings.warn(
                f"footprints: kept {len(kept)} of {len(feats)} features to stay within "
                f"{max_bytes} bytes; raise max_vector_bytes to show all",
                stacklevel=3,
            )
            break
        kept.append(clean)
        total += size
    return {"type": "FeatureCollection", "features": kept}


def _bbox_items(bboxes: Any) -> list[tuple[str, Bounds]]:
    if isinstance(bboxes, Mapping):
        return [(str(k), _as_bbox(v)) for k, v in bboxes.items()]
    if _is_bbox(bboxes) or hasattr(bboxes, "bounds_wgs84"):
        return [("bounds", _as_bbox(bboxes))]
    return [(getattr(b, "name", f"bbox {i + 1}"), _as_bbox(b)) for i, b in enumerate(bboxes)]


def _is_bbox(value: Any) -> bool:
    return (isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 4
            and all(isinstance(v, (int, float)) for v in value))


def _as_bbox(value: Any) -> Bounds:
    for attr in ("bounds_wgs84", "bbox_wgs84", "wgs84_bounds"):
        v = getattr(value, attr, None)
        if v is not None:
            value = v() if callable(v) else v
            break
    if not _is_bbox(value):
        raise ValidationError(
            f"a bounding box must be (west, south, east, north) in degrees, got {value!r}"
        )
    w, s, e, n = (float(v) for v in value)
    if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= 90 and -90 <= n <= 90):
        raise ValidationError(
            f"bounding box {value!r} is not in WGS84 degrees (west, south, east, north); "
            "transform it first (rasterio.warp.transform_bounds)"
        )
    return (w, s, e, n)


def _geojson_bounds(fc: Mapping[str, Any]) -> list[Bounds]:
    xs: list[float] = []
    ys: list[float] = []

    def walk(c: Any) -> None:
        if isinstance(c, list) and c and isinstance(c[0], (int, float)):
            xs.append(float(c[0]))
            ys.append(float(c[1]))
        elif isinstance(c, list):
            for sub in c:
                walk(sub)

    for f in fc["features"]:
        walk((f.get("geometry") or {}).get("coordinates"))
    return [(min(xs), min(ys), max(xs), max(ys))] if xs else []

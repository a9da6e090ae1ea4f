"""Readable figures: ASPRS class names, flattened report values, the vertical datum.

Tables of the report hold words and numbers, never a raw JSON dict: nested
values of DJI's reports are flattened to ``key: value; ...`` text with units
where the key names them, and booleans become yes/no.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["ASPRS_CLASSES", "class_name", "readable", "report_rows", "vertical_datum"]

#: ASPRS LAS 1.4 (R15) standard point classes, Table 17.
ASPRS_CLASSES = {
    0: "Created, never classified", 1: "Unclassified", 2: "Ground", 3: "Low Vegetation",
    4: "Medium Vegetation", 5: "High Vegetation", 6: "Building", 7: "Low Point (noise)",
    8: "Reserved", 9: "Water", 10: "Rail", 11: "Road Surface", 12: "Reserved",
    13: "Wire - Guard (Shield)", 14: "Wire - Conductor (Phase)", 15: "Transmission Tower",
    16: "Wire-structure Connector (Insulator)", 17: "Bridge Deck", 18: "High Noise",
}


def class_name(code: int) -> str:
    """ASPRS name of a classification code (19-63 reserved, 64-255 user definable)."""
    if code in ASPRS_CLASSES:
        return ASPRS_CLASSES[code]
    return f"Reserved ({code})" if code < 64 else f"User defined ({code})"


def readable(value: Any, depth: int = 0) -> Any:
    """A table-cell form of ``value``: numbers stay numbers, the rest becomes text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)) or value is None:
        return value
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        if not value:
            return "-"
        if depth > 2:
            return json.dumps(value, ensure_ascii=False)[:200]
        return "; ".join(f"{k}: {_short(readable(v, depth + 1))}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        if not value:
            return "-"
        return ", ".join(str(_short(readable(v, depth + 1))) for v in value)
    return str(value)


def _short(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:.6g}"
    return v


# keys of DJI's reports that are accuracy figures, in the order a surveyor reads them
_ACCURACY_KEYS = ("georeferencing rmse", "reprojection error", "mean reprojection error",
                  "rms reprojection error", "tie points", "tie point number", "images number",
                  "images reconstructed", "gcp rmse", "check point rmse", "rtk flag",
                  "pos status", "bad pose time", "good pose time", "point cloud density",
                  "average ground sampling distance(GSD)", "TDOM GSD", "sample distance")


# units of DJI's report keys that name none (protocol.md: GSD in m; the LiDAR report's
# sample distance is the point spacing in m, its density in points/m²)
_KEY_UNITS = {"tdom gsd": "m", "average ground sampling distance(gsd)": "m",
              "sample distance": "m"}


def density_text(value: Any) -> Any:
    """DJI's ``point cloud density`` block as a sentence a surveyor reads.

    ``{"average density": 653.9, "scale 1 to 500": {"density standard": 16, "grid size":
    0.25, "proportion not satisfied": 0.0068, "total grid num": 518408}, ...}`` becomes
    ``average 653.9 points/m²; 1:500: standard 16 points/m² in 0.25 m cells, 0.68 % of
    518,408 cells below``. Anything else is left to :func:`readable`.
    """
    if not isinstance(value, dict) or "average density" not in value:
        return readable(value)
    parts = [f"average {_short(value['average density'])} points/m²"]
    scales = sorted((k for k in value if str(k).startswith("scale 1 to ")),
                    key=lambda k: float(str(k)[11:]) if str(k)[11:].isdigit() else 0.0)
    for k in scales:
        v = value[k]
        if not isinstance(v, dict):
            parts.append(f"{k}: {readable(v)}")
            continue
        bits = [f"1:{str(k)[11:]}: standard {_short(v.get('density standard'))} points/m²"]
        if v.get("grid size") is not None:
            bits.append(f"in {_short(v['grid size'])} m cells")
        below = v.get("proportion not satisfied")
        if isinstance(below, (int, float)):
            total = v.get("total grid num")
            of = f" of {int(total):,} cells" if isinstance(total, (int, float)) else ""
            bits.append(f"{below * 100:.2f} %{of} below")
        parts.append(", ".join(bits))
    rest = {k: v for k, v in value.items() if k != "average density" and k not in scales}
    if rest:
        parts.append(str(readable(rest)))
    return "; ".join(parts)


def _figure(key: str, value: Any) -> tuple[str, Any]:
    """(label, readable value) of one DJI report figure, with its unit in the label."""
    kl = key.lower()
    if kl == "point cloud density":
        return key, density_text(value)
    if kl == "sample distance" and isinstance(value, (int, float)) and value <= 0:
        # 0 means no voxel thinning was asked for (protocol.md §2.5: sample_distance and
        # quality_level are alternatives); "0 m" would read as a point spacing of zero
        return key, "not used (thinned by quality level)"
    unit = _KEY_UNITS.get(kl)
    return (f"{key} ({unit})" if unit else key), readable(value)


def report_rows(rep: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(accuracy figures, other figures) of a DJI report, both readable.

    Accuracy figures are DJI's own (reprojection error, GCP/georeferencing RMSE,
    tie points, images reconstructed, RTK/pose status, density): whatever the
    report holds, under DJI's key names, flattened.
    """
    raw = getattr(rep, "raw", None) or {}
    acc: dict[str, Any] = {}
    taken: set[Any] = set()
    lowered = {str(k).lower(): k for k in raw}
    for key in _ACCURACY_KEYS:
        real = lowered.get(key.lower())
        if real is not None and raw[real] not in (None, "", {}, []):
            label, value = _figure(str(real), raw[real])
            acc[label] = value
            taken.add(real)
    for k in raw:  # anything else DJI calls an error / rmse / accuracy
        kl = str(k).lower()
        if k not in taken and any(w in kl for w in ("rmse", "error", "accuracy", "residual")):
            label, value = _figure(str(k), raw[k])
            acc[label] = value
    other: dict[str, Any] = {}
    try:
        data = rep.to_dict()
    except Exception:
        data = {}
    for k, v in data.items():
        if k in ("raw", "extra", "path", "kind") or v in (None, {}, []):
            continue
        other[k.replace("_", " ")] = readable(v)
    return acc, other


def vertical_datum(parameters: Any, reports: dict[str, Any], crs: Any = None) -> tuple[str, str]:
    """(what the heights are, where that comes from).

    Order: the job's ``output_geo_desc.override_vertical_cs``; a compound output CRS;
    the reports' ``output vertical coordinate``; else the default, which is
    ellipsoidal height (``override_vertical_cs`` empty, protocol.md section 2.6).
    """
    params = parameters
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except ValueError:
            params = None
    if isinstance(params, dict) and isinstance(params.get("parameter"), dict):
        params = params["parameter"]
    desc = params.get("output_geo_desc") if isinstance(params, dict) else None
    override = str(desc.get("override_vertical_cs") or "") if isinstance(desc, dict) else ""
    if override:
        try:
            from pyproj import CRS

            name = CRS.from_user_input(override).name
        except Exception:
            name = override
        return (f"{override} ({name}): orthometric heights above the geoid",
                "job parameter output_geo_desc.override_vertical_cs")
    if crs is not None:
        try:
            subs = list(getattr(crs, "sub_crs_list", []) or [])
            vert = next((c for c in subs if getattr(c, "is_vertical", False)), None)
        except Exception:
            vert = None
        if vert is not None:
            return f"{vert.name} (from the compound output CRS)", "output CRS"
    for rep in reports.values():
        text = getattr(rep, "output_vertical_coordinate", None)
        if text and "not converted" not in text and "as input" not in text:
            kind = "orthometric heights above the geoid" if "geoid" in text.lower() \
                else "heights"
            return f"{text}: {kind}", f"{getattr(rep, 'kind', 'report')} 'output vertical " \
                "coordinate'"
    return ("ellipsoidal heights (WGS 84 ellipsoid, as the aircraft's GNSS records them); "
            "no geoid model applied",
            "default: the job set no override_vertical_cs")

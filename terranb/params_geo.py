"""Where a job's outputs go: output coordinate systems (geo-desc), AOI, export options.

Part of the parameters of :mod:`terranb.params` (protocol.md §2): :class:`GeoDesc`
(``output_geo_desc``: EPSG or WKT, vertical CS override), :class:`PredefineAOI` and
:class:`ExportParameter`, each validated when built and serialised like DJI's examples.
EPSG codes are checked with pyproj when it is installed.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from terranb.errors import ValidationError

__all__ = ["CS_TYPES", "ExportParameter", "GeoDesc", "PredefineAOI"]

CS_TYPES = ("GEO_CS", "LOCAL_CS", "LOCAL_ENU_CS")


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


@functools.lru_cache(maxsize=256)
def _epsg_known(code: int) -> bool | None:
    """True/False when pyproj can tell, None when pyproj is not installed."""
    try:
        from pyproj import CRS
        from pyproj.exceptions import CRSError
    except ImportError:
        return None
    try:
        CRS.from_epsg(code)
    except CRSError:
        return False
    return True


def _normalise_epsg(value: Any, what: str) -> str:
    """``"EPSG:32650"`` from ``32650``, ``"epsg:32650"``, ``"32650"`` or a pyproj CRS."""
    if value is None or value == "":
        return ""
    if hasattr(value, "to_epsg") and callable(value.to_epsg):
        code = value.to_epsg()
        if code is None:
            raise ValidationError(
                f"{what}: this CRS has no EPSG code; pass its WKT as geo_cs_wkt instead")
        return _normalise_epsg(int(code), what)
    if isinstance(value, bool):
        raise ValidationError(f"{what}: {value!r} is not an EPSG code")
    if isinstance(value, int):
        code = value
    elif isinstance(value, str):
        text = value.strip()
        digits = text[5:] if text.upper().startswith("EPSG:") else text
        if not digits.isdigit():
            raise ValidationError(
                f"{what}: {value!r} is not an EPSG code; write it like 'EPSG:32650' or 32650")
        code = int(digits)
    else:
        raise ValidationError(f"{what}: {value!r} is not an EPSG code, int or pyproj CRS")
    if _epsg_known(code) is False:
        raise ValidationError(
            f"{what}: EPSG:{code} is not a known coordinate system (pyproj has no such code); "
            "check the number, e.g. EPSG:32650 for WGS 84 / UTM zone 50N")
    return f"EPSG:{code}"


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValidationError(f"{what} must be a finite number, not {value!r}")
    return value


@dataclass(frozen=True)
class GeoDesc:
    """A geo-desc object (``output_geo_desc``, ``predefine_AOI.geo_desc`` ...).

    ``GeoDesc("EPSG:32650")`` / ``GeoDesc(32650)`` / ``GeoDesc(pyproj.CRS(...))`` give
    ``{"cs_type":"GEO_CS","geo_cs":"EPSG:32650","geo_cs_wkt":"","override_vertical_cs":""}``.
    ``GeoDesc.auto()`` gives ``{}`` (the service picks the output system).
    ``LOCAL_CS`` takes ``geo_cs_wkt`` and ``offset``; ``LOCAL_ENU_CS`` takes
    ``offset`` and ``ref_gps`` (``{altitude, latitude, longitude}``).
    """

    geo_cs: Any = ""
    cs_type: str = "GEO_CS"
    geo_cs_wkt: str = ""
    override_vertical_cs: Any = ""
    offset: tuple[float, float, float] | None = None
    ref_gps: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        if self.cs_type == "":
            if self.geo_cs or self.geo_cs_wkt or self.offset or self.ref_gps:
                raise ValidationError("an automatic geo-desc (cs_type='') cannot carry values")
            return
        if self.cs_type not in CS_TYPES:
            raise ValidationError(f"cs_type must be one of {CS_TYPES}, not {self.cs_type!r}")
        geo_cs = self.geo_cs
        wkt = self.geo_cs_wkt
        if hasattr(geo_cs, "to_epsg") and callable(geo_cs.to_epsg) and geo_cs.to_epsg() is None:
            wkt, geo_cs = geo_cs.to_wkt(), ""
        object.__setattr__(self, "geo_cs", _normalise_epsg(geo_cs, "geo_cs"))
        object.__setattr__(self, "geo_cs_wkt", str(wkt or ""))
        vert = self.override_vertical_cs
        object.__setattr__(self, "override_vertical_cs",
                           _normalise_epsg(vert, "override_vertical_cs") if vert else "")
        if self.cs_type == "GEO_CS" and not (self.geo_cs or self.geo_cs_wkt):
            raise ValidationError(
                "GEO_CS needs geo_cs (e.g. 'EPSG:32650') or geo_cs_wkt; use GeoDesc.auto() to "
                "let the service choose")
        if self.cs_type != "GEO_CS" and self.geo_cs:
            raise ValidationError(f"{self.cs_type} takes no geo_cs EPSG code; use GEO_CS")
        if self.offset is not None:
            off = tuple(self.offset)
            if len(off) != 3:
                raise ValidationError("offset must be [x, y, z]")
            object.__setattr__(self, "offset",
                               tuple(_number(v, "offset value") for v in off))
        if self.ref_gps is not None:
            if self.cs_type != "LOCAL_ENU_CS":
                raise ValidationError("ref_GPS applies only to cs_type LOCAL_ENU_CS")
            ref = dict(self.ref_gps)
            missing = {"altitude", "latitude", "longitude"} - set(ref)
            if missing:
                raise ValidationError(f"ref_GPS needs altitude, latitude, longitude; missing "
                                      f"{sorted(missing)}")
            if not -90 <= _number(ref["latitude"], "ref_GPS.latitude") <= 90:
                raise ValidationError("ref_GPS.latitude must be within [-90, 90]")
            if not -180 <= _number(ref["longitude"], "ref_GPS.longitude") <= 180:
                raise ValidationError("ref_GPS.longitude must be within [-180, 180]")
            _number(ref["altitude"], "ref_GPS.altitude")
            object.__setattr__(self, "ref_gps", ref)

    @classmethod
    def auto(cls) -> GeoDesc:
        """The empty geo-desc ``{}``: the service picks the coordinate system."""
        return cls(cs_type="")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GeoDesc:
        """Parse a geo-desc object; ``{}`` gives :meth:`auto`."""
        if not isinstance(data, Mapping):
            raise ValidationError(f"a geo-desc must be a JSON object, not {data!r}")
        if not data:
            return cls.auto()
        known = {"cs_type", "geo_cs", "geo_cs_wkt", "override_vertical_cs", "offset", "ref_GPS"}
        unknown = set(data) - known
        if unknown:
            raise ValidationError(f"unknown geo-desc key(s) {sorted(unknown)}; known: "
                                  f"{sorted(known)}")
        offset = data.get("offset")
        return cls(geo_cs=data.get("geo_cs", ""), cs_type=data.get("cs_type", "GEO_CS"),
                   geo_cs_wkt=data.get("geo_cs_wkt", "") or "",
                   override_vertical_cs=data.get("override_vertical_cs", "") or "",
                   offset=tuple(offset) if offset is not None else None,
                   ref_gps=data.get("ref_GPS"))

    def to_dict(self) -> dict[str, Any]:
        """The wire object, keys in the documented order."""
        if self.cs_type == "":
            return {}
        out: dict[str, Any] = {"cs_type": self.cs_type}
        if self.cs_type == "GEO_CS":
            out.update(geo_cs=self.geo_cs, geo_cs_wkt=self.geo_cs_wkt,
                       override_vertical_cs=self.override_vertical_cs)
        elif self.geo_cs_wkt:
            out["geo_cs_wkt"] = self.geo_cs_wkt
        if self.offset is not None:
            out["offset"] = list(self.offset)
        if self.ref_gps is not None:
            out["ref_GPS"] = {k: self.ref_gps[k] for k in ("altitude", "latitude", "longitude")}
        return out


def _geo(value: Any, what: str) -> GeoDesc:
    if isinstance(value, GeoDesc):
        return value
    if isinstance(value, Mapping):
        return GeoDesc.from_dict(value)
    if isinstance(value, (str, int)) or hasattr(value, "to_epsg"):
        return GeoDesc(value)
    raise ValidationError(f"{what} must be a GeoDesc, a dict, an EPSG code or a pyproj CRS")


@dataclass(frozen=True)
class PredefineAOI:
    """``predefine_AOI`` (2D and 3D only): a polygon and an altitude range."""

    polygon_points: tuple[tuple[float, ...], ...] | None = None
    max_altitude: float | None = None
    min_altitude: float | None = None
    geo_desc: GeoDesc | None = None

    def __post_init__(self) -> None:
        if self.polygon_points is not None:
            pts = []
            for p in self.polygon_points:
                p = tuple(p)
                if len(p) != 3:
                    raise ValidationError(
                        f"predefine_AOI polygon points are [x, y, z]; got {list(p)!r}")
                pts.append(tuple(_number(v, "polygon point coordinate") for v in p))
            if len(pts) < 3:
                raise ValidationError("predefine_AOI polygon needs at least 3 points")
            object.__setattr__(self, "polygon_points", tuple(pts))
        for name in ("max_altitude", "min_altitude"):
            v = getattr(self, name)
            if v is not None:
                _number(v, name)
        if (self.max_altitude is not None and self.min_altitude is not None
                and self.min_altitude > self.max_altitude):
            raise ValidationError("predefine_AOI min_altitude is above max_altitude")
        if self.geo_desc is not None:
            object.__setattr__(self, "geo_desc", _geo(self.geo_desc, "predefine_AOI.geo_desc"))
        if self.polygon_points is None and self.max_altitude is None and self.min_altitude is None:
            raise ValidationError("predefine_AOI needs polygon_points and/or an altitude range")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PredefineAOI:
        """Parse a ``predefine_AOI`` object."""
        if not isinstance(data, Mapping):
            raise ValidationError("predefine_AOI must be a JSON object")
        unknown = set(data) - {"max_altitude", "min_altitude", "polygon_points", "geo_desc"}
        if unknown:
            raise ValidationError(f"unknown predefine_AOI key(s) {sorted(unknown)}")
        pts = data.get("polygon_points")
        geo = data.get("geo_desc")
        return cls(polygon_points=tuple(tuple(p) for p in pts) if pts is not None else None,
                   max_altitude=data.get("max_altitude"), min_altitude=data.get("min_altitude"),
                   geo_desc=_geo(geo, "predefine_AOI.geo_desc") if geo is not None else None)

    def to_dict(self) -> dict[str, Any]:
        """The wire object (only set keys)."""
        out: dict[str, Any] = {}
        if self.max_altitude is not None:
            out["max_altitude"] = self.max_altitude
        if self.min_altitude is not None:
            out["min_altitude"] = self.min_altitude
        if self.polygon_points is not None:
            out["polygon_points"] = [list(p) for p in self.polygon_points]
        if self.geo_desc is not None:
            out["geo_desc"] = self.geo_desc.to_dict()
        return out


@dataclass(frozen=True)
class ExportParameter:
    """``export_parameter``: output layout and extra outputs (only set keys are sent).

    Attributes:
        pc_dir_structure: lay the output out like desktop DJI Terra (importable zip).
        undistort_images: also export undistorted photos (not for LiDAR).
        temp_result_files: also export intermediate files (large).
    """

    pc_dir_structure: bool | None = None
    undistort_images: bool | None = None
    temp_result_files: bool | None = None

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if v is not None and not isinstance(v, bool):
                raise ValidationError(f"export_parameter.{f.name} must be true or false")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExportParameter:
        """Parse an ``export_parameter`` object."""
        if not isinstance(data, Mapping):
            raise ValidationError("export_parameter must be a JSON object")
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValidationError(f"unknown export_parameter key(s) {sorted(unknown)}")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        """The wire object (only set keys)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) is not None}

"""DJI Terra reports: map_report.json, sfm_report.json, model_report.json, LiDAR report.json.

Keys contain spaces (``"TDOM GSD"``, ``"gps corner"``) and change between Terra
versions, so each parser picks out the fields terranb uses into typed attributes
and keeps everything else: ``extra`` holds the keys it did not interpret and
``raw`` the whole document. Units follow the matching report.md (protocol.md
§2.9): GSD in metres, areas in km², 2D/3D times in seconds, LiDAR times in
milliseconds (``"total process time": 19479014`` is the report.md's 324.65 min).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

from terranb.errors import ResultFormatError

__all__ = [
    "GeoReport",
    "GpsCorner",
    "LidarReport",
    "MapReport",
    "ModelReport",
    "Report",
    "SfmReport",
    "load_report",
    "parse_report",
]


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(value: Any) -> int | None:
    n = _num(value)
    return None if n is None else int(n)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


@dataclass(frozen=True)
class GpsCorner:
    """The ``"gps corner"`` block: WGS 84 corners of the result (degrees)."""

    top_left_lat: float
    top_left_lon: float
    bottom_right_lat: float
    bottom_right_lon: float

    @classmethod
    def parse(cls, value: Any) -> GpsCorner | None:
        """From the report's dict, or ``None`` when a corner is missing."""
        if not isinstance(value, dict):
            return None
        vals = [_num(value.get(k)) for k in
                ("top left lat", "top left lon", "bottom right lat", "bottom right lon")]
        if any(v is None for v in vals):
            return None
        return cls(*(float(v) for v in vals if v is not None))

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) in degrees."""
        lons = (self.top_left_lon, self.bottom_right_lon)
        lats = (self.top_left_lat, self.bottom_right_lat)
        return (min(lons), min(lats), max(lons), max(lats))


@dataclass
class Report:
    """Base of every report: the source path, the whole document and the keys not interpreted."""

    path: Path | None
    raw: dict[str, Any] = field(repr=False)
    extra: dict[str, Any] = field(default_factory=dict, repr=False)

    kind: ClassVar[str] = "report"
    _known: ClassVar[tuple[str, ...]] = ()

    def _fill_extra(self, known: tuple[str, ...] = ()) -> None:
        skip = set(self._known) | set(known)
        self.extra = {k: v for k, v in self.raw.items() if k not in skip}

    def to_dict(self) -> dict[str, Any]:
        """Typed fields plus ``extra`` (``raw`` is left out: it repeats everything)."""
        out: dict[str, Any] = {"kind": self.kind, "path": str(self.path) if self.path else None}
        for name, value in vars(self).items():
            if name in ("path", "raw", "extra") or name.startswith("_"):
                continue
            out[name] = value.__dict__ if isinstance(value, GpsCorner) else value
        out["extra"] = self.extra
        return out


@dataclass
class GeoReport(Report):
    """A report of a georeferenced result (2D, 3D, LiDAR): where the result lies.

    ``output_coordinate`` is the horizontal CRS as Terra names it (``"WGS 84 / UTM zone
    50N"``, sometimes an ``EPSG:`` code), ``output_vertical_coordinate`` what the heights
    are, ``gps_corner`` the WGS 84 corners of the result; all three are read here, for
    every kind, and ``None`` when absent (DJI documents the corners for 2D and LiDAR).
    """

    output_coordinate: str | None = None
    output_vertical_coordinate: str | None = None
    gps_corner: GpsCorner | None = None

    @classmethod
    def _read(cls, data: dict[str, Any], path: Path | None, known: tuple[str, ...] = (),
              **fields: Any) -> Self:
        """The report with its CRS and corners read from ``data`` beside the ``fields`` the
        kind read itself; ``extra`` keeps the keys neither read (``known`` names the kind's)."""
        rep = cls(path=path, raw=data, output_coordinate=_str(data.get("output coordinate")),
                  output_vertical_coordinate=_str(data.get("output vertical coordinate")),
                  gps_corner=GpsCorner.parse(data.get("gps corner")), **fields)
        rep._fill_extra(("output coordinate", "output vertical coordinate", "gps corner",
                         *known))
        return rep


@dataclass
class MapReport(GeoReport):
    """``map/report/map_report.json`` (2D). ``gsd_m`` is ``"TDOM GSD"``."""

    gsd_m: float | None = None
    covered_area_km2: float | None = None
    fly_altitude_m: float | None = None
    map_tile_levels: tuple[int, int] | None = None
    quality_level: int | None = None
    generate_time_s: float | None = None

    kind = "map_report"
    _known = ("TDOM GSD", "covered area", "fly altitude", "map tile",
              "quality level", "TDOM generate time")

    @classmethod
    def parse(cls, data: dict[str, Any], path: Path | None = None) -> MapReport:
        """Interpret a decoded map_report.json."""
        tiles = data.get("map tile")
        levels = None
        if isinstance(tiles, dict):
            lo, hi = _int(tiles.get("minimum level")), _int(tiles.get("maximum level"))
            if lo is not None and hi is not None:
                levels = (lo, hi)
        return cls._read(data, path, gsd_m=_num(data.get("TDOM GSD")),
                         covered_area_km2=_num(data.get("covered area")),
                         fly_altitude_m=_num(data.get("fly altitude")), map_tile_levels=levels,
                         quality_level=_int(data.get("quality level")),
                         generate_time_s=_num(data.get("TDOM generate time")))


@dataclass
class SfmReport(Report):
    """``AT/sfm_report.json``: aerial triangulation figures."""

    images_number: int | None = None
    images_reconstructed: int | None = None
    georeferencing_rmse: Any = None
    gsd_m: float | None = None
    flying_altitude_m: float | None = None
    coverage_area_km2: float | None = None
    rtk_flag: dict[str, Any] | None = None
    camera_models: list[str] = field(default_factory=list)

    kind = "sfm_report"
    _known = ("images number", "images reconstructed", "georeferencing rmse",
              "average ground sampling distance(GSD)", "flying altitude", "coverage area",
              "rtk flag", "cameras")

    @classmethod
    def parse(cls, data: dict[str, Any], path: Path | None = None) -> SfmReport:
        """Interpret a decoded sfm_report.json."""
        cams = data.get("cameras")
        cams = cams if isinstance(cams, list) else []
        models = [str(c.get("camera model")) for c in cams
                  if isinstance(c, dict) and c.get("camera model")]
        rtk = data.get("rtk flag")
        rep = cls(path=path, raw=data, images_number=_int(data.get("images number")),
                  images_reconstructed=_int(data.get("images reconstructed")),
                  georeferencing_rmse=data.get("georeferencing rmse"),
                  gsd_m=_num(data.get("average ground sampling distance(GSD)")),
                  flying_altitude_m=_num(data.get("flying altitude")),
                  coverage_area_km2=_num(data.get("coverage area")),
                  rtk_flag=rtk if isinstance(rtk, dict) else None, camera_models=models)
        rep._fill_extra()
        return rep


def _generate_flags(data: dict[str, Any]) -> dict[str, bool]:
    return {k[len("generate "):]: bool(v) for k, v in data.items()
            if k.startswith("generate ") and isinstance(v, bool)}


@dataclass
class ModelReport(GeoReport):
    """``report/model_report.json`` (3D); ``outputs`` maps ``"ply"`` to ``"generate ply"`` etc."""

    outputs: dict[str, bool] = field(default_factory=dict)

    kind = "model_report"

    @classmethod
    def parse(cls, data: dict[str, Any], path: Path | None = None) -> ModelReport:
        """Interpret a decoded model_report.json."""
        flags = _generate_flags(data)
        return cls._read(data, path, tuple(f"generate {k}" for k in flags), outputs=flags)


@dataclass
class LidarReport(GeoReport):
    """The LiDAR processing ``report.json``. Times (``*_s``) are converted from milliseconds."""

    is_geographic: bool | None = None
    average_density_per_m2: float | None = None
    sample_distance_m: float | None = None
    outputs: dict[str, bool] = field(default_factory=dict)
    lidar_names: list[str] = field(default_factory=list)
    aircraft_names: list[str] = field(default_factory=list)
    total_process_time_s: float | None = None
    times_s: dict[str, float] = field(default_factory=dict)
    tdom_gsd_m: float | None = None
    dem_resolution_m: float | None = None

    kind = "lidar_report"

    @classmethod
    def parse(cls, data: dict[str, Any], path: Path | None = None) -> LidarReport:
        """Interpret a decoded LiDAR report.json."""
        flights = data.get("flight param")
        flights = flights if isinstance(flights, list) else []
        density = data.get("point cloud density")
        maps2d = data.get("maps 2d generation")
        dem = data.get("dem generation")
        times_keys = [k for k in data if k.endswith(" time")]
        times = {k[: -len(" time")]: float(data[k]) / 1000.0 for k in times_keys
                 if _num(data[k]) is not None}
        flags = _generate_flags(data)
        known = ("isGeographic", "sample distance",
                 *(f"generate {k}" for k in flags), *times_keys)
        return cls._read(
            data, path, known,
            is_geographic=data.get("isGeographic") if isinstance(data.get("isGeographic"), bool)
            else None,
            average_density_per_m2=_num(density.get("average density"))
            if isinstance(density, dict) else None,
            sample_distance_m=_num(data.get("sample distance")),
            outputs=flags,
            lidar_names=[str(f["lidar name"]) for f in flights
                         if isinstance(f, dict) and f.get("lidar name")],
            aircraft_names=[str(f["uav name"]) for f in flights
                            if isinstance(f, dict) and f.get("uav name")],
            total_process_time_s=times.get("total process"),
            times_s=times,
            tdom_gsd_m=_num(maps2d.get("TDOM GSD")) if isinstance(maps2d, dict) else None,
            dem_resolution_m=_num(dem.get("dem resolution")) if isinstance(dem, dict) else None,
        )


_BY_KIND: dict[str, type[Report]] = {
    "map_report": MapReport, "sfm_report": SfmReport,
    "model_report": ModelReport, "lidar_report": LidarReport,
}


def _guess_kind(data: dict[str, Any], name: str) -> str:
    n = name.lower()
    for kind in ("map_report", "sfm_report", "model_report"):
        if n.startswith(kind):
            return kind
    # A LiDAR report.json is recognised by keys only LiDAR processing writes.
    if any(k in data for k in ("flight param", "lpp time", "lidar point max distance",
                               "point cloud density")):
        return "lidar_report"
    if "images number" in data or "georeferencing rmse" in data:
        return "sfm_report"
    if "TDOM GSD" in data or "map tile" in data:
        return "map_report"
    if "output coordinate" in data:
        return "model_report"
    return "report"


def parse_report(data: dict[str, Any], *, kind: str | None = None,
                 path: Path | None = None) -> Report:
    """Interpret an already decoded report; ``kind`` is guessed from the name and keys when omitted.

    Args:
        data: the JSON object.
        kind: ``"map_report"``, ``"sfm_report"``, ``"model_report"`` or ``"lidar_report"``.
        path: where it came from (kept for messages and listings).
    """
    if not isinstance(data, dict):
        raise ResultFormatError(f"report {path or ''} is not a JSON object".replace("  ", " "))
    k = kind or _guess_kind(data, path.name if path else "")
    cls = _BY_KIND.get(k)
    if cls is None:
        rep = Report(path=path, raw=data)
        rep.extra = dict(data)
        return rep
    return cls.parse(data, path)  # type: ignore[attr-defined,no-any-return]


def load_report(path: str | os.PathLike[str], *, kind: str | None = None) -> Report:
    """Read and interpret a report file.

    Raises:
        ResultFormatError: the file cannot be read or is not a JSON object.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise ResultFormatError(f"cannot read report {p}: {exc}; re-download the result") from exc
    return parse_report(data, kind=kind, path=p)

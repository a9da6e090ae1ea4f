"""Typed algorithm parameters for TerraAPI / FlightHub 2 jobs (protocol.md §2).

A job's ``parameters`` is a JSON *string* holding
``{"parameter": {...}, "predefine_AOI": {...}, "export_parameter": {...}}``.
:class:`Params2D`, :class:`Params3D` and :class:`ParamsLidar` hold the
documented settings as typed fields (``None`` = not set, so the service's own
default applies), validate impossible combinations when built, and serialise
with :meth:`~_JobParams.to_json` exactly like DJI's quick-start examples:
compact separators, only the keys that were set, in the documented order (a
type's own keys, then the common aerotriangulation / point-cloud keys, then
``output_geo_desc``). Keys terranb does not know go into ``extra`` and are sent
after the known ones. :class:`Params3DGS` is a checked passthrough, because the
3DGS schema is not published.

Example:
    >>> Params2D(map_mode=1, quality_level=1, output_geo_desc=GeoDesc("EPSG:32650")).to_json()
    '{"parameter":{"map_mode":1,"quality_level":1,"output_geo_desc":{"cs_type":"GEO_CS","geo_cs":"EPSG:32650","geo_cs_wkt":"","override_vertical_cs":""}}}'
    >>> job_type_code("lidar")
    13
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from terranb.errors import ValidationError
from terranb.params_geo import (
    CS_TYPES,
    ExportParameter,
    GeoDesc,
    PredefineAOI,
    _geo,
    _number,
)

__all__ = [
    "CS_TYPES",
    "ExportParameter",
    "GeoDesc",
    "Params2D",
    "Params3D",
    "Params3DGS",
    "ParamsLidar",
    "PredefineAOI",
    "job_type_code",
    "parameters_from_json",
    "params_class",
]

_JOB_TYPES = {"lidar": 13, "2d": 14, "map": 14, "3d": 15, "model": 15, "mesh": 15}


def job_type_code(kind: Any) -> int:
    """TerraAPI job ``type`` code for ``"2d"`` (14), ``"3d"`` (15) or ``"lidar"`` (13).

    Also accepts the codes themselves, numeric strings and :class:`~terranb.api.models.JobType`.

    Example:
        >>> job_type_code("2D"), job_type_code(15)
        (14, 15)
    """
    if isinstance(kind, bool):
        raise ValidationError(f"invalid job type {kind!r}; use '2d', '3d' or 'lidar'")
    if isinstance(kind, int):
        code = int(kind)
    elif isinstance(kind, str):
        key = kind.strip().lower()
        if key in _JOB_TYPES:
            return _JOB_TYPES[key]
        if key.isdigit():
            code = int(key)
        else:
            raise ValidationError(
                f"unknown job type {kind!r}; use '2d' (14), '3d' (15) or 'lidar' (13)")
    else:
        raise ValidationError(f"invalid job type {kind!r}; use '2d', '3d' or 'lidar'")
    if code not in (13, 14, 15):
        raise ValidationError(
            f"unknown job type code {code}; TerraAPI documents 13 (LiDAR), 14 (2D), 15 (3D)")
    return code


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


# --------------------------------------------------------------------------- parameter sets


def _p(kind: str, *, wire: str | None = None, **spec: Any) -> Any:
    """A parameter field of ``kind``: ``None`` by default; its JSON name is the attribute's
    unless ``wire`` names another (DJI spells a few with capitals: ``SfM_method``)."""
    return field(default=None, metadata={"kind": kind, **({"wire": wire} if wire else {}),
                                         **spec})


_COMMON_ORDER = (
    "sfm_method", "sfm_feature_quantity_level", "use_image_position",
    "generate_blocks_exchange_xml", "blocks_exchange_xml_geo_desc", "output_pointcloud",
    "generate_pnts", "generate_las", "generate_point_s3mb", "generate_point_ply",
    "generate_pcd", "merge_point",
)
_POINTCLOUD_FLAGS = ("generate_pnts", "generate_las", "generate_point_s3mb",
                     "generate_point_ply", "generate_pcd", "merge_point")


@dataclass(frozen=True, kw_only=True)
class _JobParams:
    """Shared machinery and the common section (protocol.md §2.2)."""

    job_type: ClassVar[int] = 0
    _own_order: ClassVar[tuple[str, ...]] = ()
    _tail_order: ClassVar[tuple[str, ...]] = ()

    sfm_method: str | None = _p("choice", wire="SfM_method", choices=("GLOBAL", "INCREMENTAL"))
    sfm_feature_quantity_level: int | None = _p("enum", choices=(1, 2, 3))
    use_image_position: bool | None = _p("bool")
    generate_blocks_exchange_xml: bool | None = _p("bool")
    blocks_exchange_xml_geo_desc: GeoDesc | None = _p("geo")  # noqa: RUF009
    output_pointcloud: bool | None = _p("bool")
    generate_pnts: bool | None = _p("bool")
    generate_las: bool | None = _p("bool")
    generate_point_s3mb: bool | None = _p("bool")
    generate_point_ply: bool | None = _p("bool")
    generate_pcd: bool | None = _p("bool")
    merge_point: bool | None = _p("bool")
    output_geo_desc: GeoDesc | None = _p("geo")  # noqa: RUF009
    predefine_aoi: PredefineAOI | None = None
    export: ExportParameter | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            kind = f.metadata.get("kind")
            if kind is None:
                continue
            value = getattr(self, f.name)
            if value is None:
                continue
            wire = f.metadata.get("wire", f.name)
            if kind == "bool":
                if not isinstance(value, bool):
                    raise ValidationError(f"{wire} must be true or false, not {value!r}")
            elif kind == "enum":
                choices = f.metadata["choices"]
                if isinstance(value, bool) or not isinstance(value, int) or value not in choices:
                    raise ValidationError(f"{wire} must be one of {list(choices)}, not {value!r}")
            elif kind == "choice":
                choices = f.metadata["choices"]
                if value not in choices:
                    raise ValidationError(f"{wire} must be one of {list(choices)}, not {value!r}")
            elif kind == "int":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValidationError(f"{wire} must be an integer, not {value!r}")
            elif kind == "number":
                _number(value, wire)
                lo, hi = f.metadata.get("min"), f.metadata.get("max")
                if f.metadata.get("positive") and value <= 0:
                    raise ValidationError(f"{wire} must be greater than 0, not {value!r}")
                if (lo is not None and value < lo) or (hi is not None and value > hi):
                    raise ValidationError(f"{wire} must be within [{lo}, {hi}], not {value!r}")
            elif kind == "geo":
                object.__setattr__(self, f.name, _geo(value, wire))
        if self.predefine_aoi is not None and not isinstance(self.predefine_aoi, PredefineAOI):
            object.__setattr__(self, "predefine_aoi", PredefineAOI.from_dict(self.predefine_aoi))
        if self.export is not None and not isinstance(self.export, ExportParameter):
            object.__setattr__(self, "export", ExportParameter.from_dict(self.export))
        if not isinstance(self.extra, Mapping):
            raise ValidationError("extra must be a mapping of parameter names to values")
        clash = set(self.extra) & set(self._wire_names().values())
        if clash:
            raise ValidationError(f"extra repeats typed parameter(s) {sorted(clash)}; set the "
                                  "typed field instead")
        on = [self._wire(n) for n in _POINTCLOUD_FLAGS if getattr(self, n) is True]
        if on and self.output_pointcloud is not True:
            raise ValidationError(
                f"{', '.join(on)} {'has' if len(on) == 1 else 'have'} effect only with "
                "output_pointcloud=True; set output_pointcloud=True or drop "
                f"{'it' if len(on) == 1 else 'them'}")
        self._check()

    def _check(self) -> None:
        """Type-specific combination checks."""

    @classmethod
    def _wire_names(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("wire", f.name) for f in dataclasses.fields(cls)
                if "kind" in f.metadata}

    @classmethod
    def _wire(cls, name: str) -> str:
        return cls._wire_names()[name]

    @classmethod
    def _order(cls) -> tuple[str, ...]:
        return (*cls._own_order, *_COMMON_ORDER, "output_geo_desc", *cls._tail_order)

    def parameter_dict(self) -> dict[str, Any]:
        """The ``parameter`` object: set keys in documented order, then ``extra``."""
        out: dict[str, Any] = {}
        wire = self._wire_names()
        for name in self._order():
            value = getattr(self, name)
            if value is None:
                continue
            out[wire[name]] = value.to_dict() if isinstance(value, GeoDesc) else value
        out.update(self.extra)
        return out

    def to_dict(self) -> dict[str, Any]:
        """``{"parameter": ..., "predefine_AOI": ..., "export_parameter": ...}``."""
        out: dict[str, Any] = {"parameter": self.parameter_dict()}
        if self.predefine_aoi is not None:
            out["predefine_AOI"] = self.predefine_aoi.to_dict()
        if self.export is not None and self.export.to_dict():
            out["export_parameter"] = self.export.to_dict()
        return out

    def to_json(self) -> str:
        """The ``parameters`` string for start (compact JSON, as in the quick start)."""
        return _dumps(self.to_dict())

    def __str__(self) -> str:
        return self.to_json()

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any]) -> Any:
        """Parse a ``parameters`` string (or its decoded dict); unknown keys go to ``extra``.

        Raises:
            ValidationError: not JSON, not the documented structure, or invalid values.
        """
        data = _load_object(text, "parameters")
        unknown_top = set(data) - {"parameter", "predefine_AOI", "export_parameter"}
        if unknown_top:
            raise ValidationError(
                f"unknown top-level key(s) {sorted(unknown_top)} in parameters; expected "
                "parameter, predefine_AOI, export_parameter")
        param = data.get("parameter")
        if not isinstance(param, Mapping):
            raise ValidationError('parameters must contain a "parameter" object')
        by_wire = {w: n for n, w in cls._wire_names().items()}
        kwargs: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        for key, value in param.items():
            if key in by_wire:
                kwargs[by_wire[key]] = value
            else:
                extra[key] = value
        aoi = data.get("predefine_AOI")
        exp = data.get("export_parameter")
        return cls(**kwargs, extra=extra,
                   predefine_aoi=PredefineAOI.from_dict(aoi) if aoi is not None else None,
                   export=ExportParameter.from_dict(exp) if exp is not None else None)


def _load_object(text: str | Mapping[str, Any], what: str) -> dict[str, Any]:
    if isinstance(text, Mapping):
        return dict(text)
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValidationError(f"{what} must be a JSON object, not {type(data).__name__}")
    return data


@dataclass(frozen=True, kw_only=True)
class Params2D(_JobParams):
    """2D (orthomosaic) parameters, job type 14 (protocol.md §2.3).

    Example:
        >>> Params2D(map_mode=1, dom_tile_size=3)
        Traceback (most recent call last):
        ...
        terranb.errors.ValidationError: dom_tile_size must be a positive multiple of 2, not 3
    """

    job_type: ClassVar[int] = 14
    _own_order: ClassVar[tuple[str, ...]] = (
        "map_mode", "quality_level", "use_wallis", "use_dehaze", "use_gcj02", "dom_tile_size")

    map_mode: int | None = _p("enum", choices=(0, 1, 2))
    quality_level: int | None = _p("enum", choices=(1, 2, 3))
    use_wallis: bool | None = _p("bool", wire="use_Wallis")
    use_dehaze: bool | None = _p("bool", wire="use_Dehaze")
    use_gcj02: bool | None = _p("bool")
    dom_tile_size: int | None = _p("int")

    def _check(self) -> None:
        size = self.dom_tile_size
        if size is not None and (size <= 0 or size % 2):
            raise ValidationError(
                f"dom_tile_size must be a positive multiple of 2, not {size}")


_MESH_FLAGS = ("generate_ply", "generate_obj", "generate_b3dm", "generate_osgb",
               "generate_s3mb", "generate_i3s")


@dataclass(frozen=True, kw_only=True)
class Params3D(_JobParams):
    """3D (mesh / point cloud) parameters, job type 15 (protocol.md §2.4).

    ``global_min_depth``, ``output_ply_with_normals``, ``ply_with_normals_level``,
    ``stereo_mode`` and ``usable_memory_gb`` appear in DJI's FlightHub 2 example;
    their meaning is not documented, so they are passed through as given.
    """

    job_type: ClassVar[int] = 15
    _own_order: ClassVar[tuple[str, ...]] = (
        "output_mesh", *_MESH_FLAGS, "water_refine", "model_simplify", "cut_aoi",
        "quality_level", "global_min_depth", "output_ply_with_normals",
        "ply_with_normals_level", "stereo_mode", "usable_memory_gb")

    output_mesh: bool | None = _p("bool")
    generate_ply: bool | None = _p("bool")
    generate_obj: bool | None = _p("bool")
    generate_b3dm: bool | None = _p("bool")
    generate_osgb: bool | None = _p("bool")
    generate_s3mb: bool | None = _p("bool")
    generate_i3s: bool | None = _p("bool")
    water_refine: bool | None = _p("bool")
    model_simplify: float | None = _p("number", min=0.05, max=1.0)
    cut_aoi: bool | None = _p("bool", wire="cut_AOI")
    quality_level: int | None = _p("enum", choices=(1, 2, 3))
    global_min_depth: float | None = _p("number")
    output_ply_with_normals: bool | None = _p("bool")
    ply_with_normals_level: int | None = _p("int")
    stereo_mode: bool | None = _p("bool")
    usable_memory_gb: float | None = _p("number", wire="usable_memory_GB", positive=True)

    def _check(self) -> None:
        on = [self._wire(n) for n in _MESH_FLAGS if getattr(self, n) is True]
        if on and self.output_mesh is not True:
            raise ValidationError(
                f"{', '.join(on)} {'has' if len(on) == 1 else 'have'} effect only with "
                "output_mesh=True; set output_mesh=True or drop "
                f"{'it' if len(on) == 1 else 'them'}")


_GROUND_PARAMS = ("scene_type", "max_size_building", "iter_dist", "iter_angle")


@dataclass(frozen=True, kw_only=True)
class ParamsLidar(_JobParams):
    """LiDAR point-cloud parameters, job type 13 (protocol.md §2.5).

    ``quality_level`` (temporal downsampling) and ``sample_distance`` (voxel
    downsampling) exclude each other. ``predefine_AOI`` and
    ``export_parameter.undistort_images`` do not apply to LiDAR.
    ``lidar_files`` is passed through as given (its format is not documented).
    """

    job_type: ClassVar[int] = 13
    _own_order: ClassVar[tuple[str, ...]] = (
        "colorize_point", "lpp_optimise", "refine_calibrate", "lidar_point_max_distance",
        "smooth_point", "sample_distance", "output_height_offset", "quality_level")
    _tail_order: ClassVar[tuple[str, ...]] = (
        "ground_extract", *_GROUND_PARAMS, "generate_dem", "dem_resolution", "lidar_files")

    colorize_point: bool | None = _p("bool")
    lpp_optimise: bool | None = _p("bool")
    refine_calibrate: float | None = _p("number")
    lidar_point_max_distance: float | None = _p("number", positive=True)
    smooth_point: bool | None = _p("bool")
    sample_distance: float | None = _p("number", positive=True)
    output_height_offset: float | None = _p("number")
    quality_level: int | None = _p("enum", choices=(1, 2, 3))
    ground_extract: bool | None = _p("bool")
    scene_type: int | None = _p("enum", choices=(0, 1, 2))
    max_size_building: float | None = _p("number", positive=True)
    iter_dist: float | None = _p("number", positive=True)
    iter_angle: float | None = _p("number", positive=True)
    generate_dem: bool | None = _p("bool")
    dem_resolution: float | None = _p("number", positive=True)
    lidar_files: Any = _p("any")  # noqa: RUF009

    def _check(self) -> None:
        if self.quality_level is not None and self.sample_distance is not None:
            raise ValidationError(
                "LiDAR quality_level (temporal downsampling) and sample_distance (voxel "
                "downsampling) exclude each other; set only one")
        on = [n for n in _GROUND_PARAMS if getattr(self, n) is not None]
        if on and self.ground_extract is not True:
            raise ValidationError(f"{', '.join(on)} only apply with ground_extract=True")
        if self.dem_resolution is not None and self.generate_dem is not True:
            raise ValidationError("dem_resolution only applies with generate_dem=True")
        if self.predefine_aoi is not None:
            raise ValidationError("predefine_AOI applies only to 2D and 3D jobs, not LiDAR")
        if self.export is not None and self.export.undistort_images is not None:
            raise ValidationError("export_parameter.undistort_images does not apply to LiDAR")


@dataclass(frozen=True)
class Params3DGS:
    """3D Gaussian splatting parameters (FlightHub 2 ``parameter_3dgs``): a checked
    passthrough, because DJI has not published the schema. Must be a JSON object."""

    value: Mapping[str, Any] | str

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _load_object(self.value, "3DGS parameters")
                           if isinstance(self.value, (str, bytes)) else self._obj(self.value))

    @staticmethod
    def _obj(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValidationError(
                f"3DGS parameters must be a JSON object, not {type(value).__name__}")
        return dict(value)

    @classmethod
    def from_json(cls, text: str | Mapping[str, Any]) -> Params3DGS:
        """Parse (and check) a 3DGS parameters string."""
        return cls(dict(_load_object(text, "3DGS parameters")))

    def to_dict(self) -> dict[str, Any]:
        """The object as given."""
        return self._obj(self.value)

    def to_json(self) -> str:
        """Compact JSON string."""
        return _dumps(self.to_dict())

    def __str__(self) -> str:
        return self.to_json()


_BY_TYPE: dict[int, type[_JobParams]] = {14: Params2D, 15: Params3D, 13: ParamsLidar}


def params_class(kind: Any) -> type[_JobParams]:
    """The parameter class for a job type (``"2d"``, 14, ``JobType.LIDAR`` ...)."""
    return _BY_TYPE[job_type_code(kind)]


def parameters_from_json(kind: Any, text: str | Mapping[str, Any]) -> _JobParams:
    """Parse and validate a ``parameters`` string for the given job type."""
    cls = params_class(kind)
    result: _JobParams = cls.from_json(text)
    return result

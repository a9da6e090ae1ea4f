"""Typed, frozen views of what the three DJI APIs return.

Every model has a ``from_api(dict)`` classmethod that maps the wire names
(camelCase for TerraAPI, snake_case for FlightHub 2 and the Cloud API) to
Python attributes, keeps fields it does not know in ``extra`` (so a newer server
does not break an older client) and keeps the decoded dict in ``raw``.
TerraAPI keys are matched case-insensitively, as the Go backend itself does
(protocol.md §1.9).

Enums are ``IntEnum`` with an ``UNKNOWN`` member that absorbs any value the
server may add later; the original number stays available in ``raw``.

Example:
    >>> job = Job.from_api({"uuid": "j1", "name": "n", "status": 3, "type": 14,
    ...                     "percentage": 0.42})
    >>> job
    Job('j1', 'n', EXECUTING, MAP_2D, 42%)
    >>> job.status.is_terminal
    False
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

__all__ = [
    "File",
    "Job",
    "JobType",
    "ModelStatus",
    "ModelType",
    "Page",
    "Resource",
    "ResourceDetail",
    "ResourceStatus",
    "TerraJobStatus",
    "ZipStatus",
    "parse_time",
]

_E = TypeVar("_E", bound="_UnknownIntEnum")


class _UnknownIntEnum(enum.IntEnum):
    """IntEnum whose unknown values map to ``UNKNOWN`` (-1) instead of raising."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        return cls.__members__["UNKNOWN"]

    @classmethod
    def parse(cls: type[_E], value: Any) -> _E:
        """Convert a wire value (int, numeric string, None) to a member; never raises."""
        try:
            return cls(int(value))
        except (TypeError, ValueError):
            return cls(-1)


class TerraJobStatus(_UnknownIntEnum):
    """TerraAPI job status (protocol.md §1.7). Terminal: STOPPED, FINISHED, FAILED."""

    UNKNOWN = -1
    WAITING_FOR_START = 0
    WAITING = 1
    PREPARING = 2
    EXECUTING = 3
    RESULT_PROCESSING = 4
    STOPPED = 5
    FINISHED = 6
    FAILED = 7

    @property
    def is_terminal(self) -> bool:
        """True once the job can no longer change (stopped, finished or failed)."""
        return self in (TerraJobStatus.STOPPED, TerraJobStatus.FINISHED, TerraJobStatus.FAILED)

    @property
    def is_success(self) -> bool:
        """True when the job finished and its outputs can be downloaded."""
        return self is TerraJobStatus.FINISHED

    @property
    def can_stop(self) -> bool:
        """The service allows ``stop`` only while 0 < status < 4 (protocol.md §1.5.6)."""
        return 0 < int(self) < 4


class JobType(_UnknownIntEnum):
    """TerraAPI job ``type``: 13 LiDAR, 14 2D, 15 3D (``NONE`` = 0 before start)."""

    UNKNOWN = -1
    NONE = 0
    LIDAR = 13
    MAP_2D = 14
    MODEL_3D = 15


class ModelType(_UnknownIntEnum):
    """FlightHub 2 open-model ``model_type`` (protocol.md §3.5)."""

    UNKNOWN = -1
    MAP_2D = 1
    MODEL_3D = 2
    GAUSSIAN_SPLATTING = 3
    LIDAR = 4


class ModelStatus(_UnknownIntEnum):
    """FlightHub 2 ``model_status`` / start ``status`` (protocol.md §3.5).

    ``MAP_SUCCEEDED`` (9) is treated as a successful end state for 2D models.
    """

    UNKNOWN = -1
    FAILED = 8
    MAP_SUCCEEDED = 9
    REQUESTING_RESOURCE = 12
    REQUEST_RESOURCE_FAILED = 13
    EXECUTING = 14
    SUCCEEDED = 15
    CANCELED = 16

    @property
    def is_terminal(self) -> bool:
        """True when the model will not change any more."""
        return self in (ModelStatus.FAILED, ModelStatus.MAP_SUCCEEDED,
                        ModelStatus.REQUEST_RESOURCE_FAILED, ModelStatus.SUCCEEDED,
                        ModelStatus.CANCELED)

    @property
    def is_success(self) -> bool:
        """True for the two "reconstruction succeeded" states."""
        return self in (ModelStatus.MAP_SUCCEEDED, ModelStatus.SUCCEEDED)


class ZipStatus(_UnknownIntEnum):
    """FlightHub 2 ``zip_status`` of a finished model's download archive."""

    UNKNOWN = -1
    INITIAL = 0
    RUNNING = 1
    FINISHED = 2
    FAILED = 3

    @property
    def is_terminal(self) -> bool:
        """True when zipping finished or failed."""
        return self in (ZipStatus.FINISHED, ZipStatus.FAILED)


class ResourceStatus(_UnknownIntEnum):
    """FlightHub 2 resource ``status``."""

    UNKNOWN = -1
    IMPORT_SUCCESS = 1
    WAITING_DELETE = 2
    DELETED = 3


# --------------------------------------------------------------------------- helpers


def parse_time(value: Any) -> datetime | None:
    """Parse an RFC 3339 time (``2024-01-01T00:00:00Z``, any fraction) or a
    ``yyyy-MM-dd HH:mm:ss`` Cloud API time; ``None`` for empty or unparseable values.

    Example:
        >>> parse_time("2024-03-01T10:00:00.123456789+08:00").isoformat()
        '2024-03-01T10:00:00.123456+08:00'
    """
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), timezone.utc)
    text = str(value).strip().replace(" ", "T", 1) if "T" not in str(value) else str(value).strip()
    tz: timezone | None = None
    if text.endswith(("Z", "z")):
        text, tz = text[:-1], timezone.utc
    elif len(text) > 6 and text[-6] in "+-" and text[-3] == ":":
        sign = 1 if text[-6] == "+" else -1
        try:
            hours, minutes = int(text[-5:-3]), int(text[-2:])
        except ValueError:
            return None
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
        text = text[:-6]
    if "." in text:
        # Go writes up to 9 fraction digits; Python 3.10 accepts exactly 3 or 6.
        head, frac = text.split(".", 1)
        text = f"{head}.{(frac + '000000')[:6]}"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt.replace(tzinfo=tz) if tz is not None else dt


class _Fields:
    """Case-insensitive view of a wire dict that remembers which keys were used."""

    def __init__(self, data: Mapping[str, Any] | None, case_insensitive: bool = True) -> None:
        self.data = dict(data or {})
        self.ci = case_insensitive
        self._index = {(k.lower() if case_insensitive else k): k for k in self.data}
        self.used: set[str] = set()

    def get(self, name: str, default: Any = None) -> Any:
        key = self._index.get(name.lower() if self.ci else name)
        if key is None:
            return default
        self.used.add(key)
        value = self.data[key]
        return default if value is None else value

    def extra(self) -> dict[str, Any]:
        return {k: v for k, v in self.data.items() if k not in self.used}


def _str(value: Any) -> str:
    return "" if value is None else str(value)


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _float(value: Any, default: float = 0.0) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _str_tuple(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def _short(uuid: str) -> str:
    return uuid if len(uuid) <= 13 else uuid[:8] + "…"


# --------------------------------------------------------------------------- TerraAPI


@dataclass(frozen=True)
class Page:
    """One page of a TerraAPI list: ``{list, page, rows, total}``."""

    items: tuple[Any, ...]
    page: int
    rows: int
    total: int

    def __repr__(self) -> str:
        return f"Page(page={self.page}, rows={self.rows}, total={self.total}, n={len(self.items)})"


@dataclass(frozen=True)
class Resource:
    """A TerraAPI resource: a set of files (an upload, or a job's output)."""

    uuid: str
    name: str = ""
    type: str = ""
    meta: str = ""
    file_count: int = 0
    total_size: int = 0
    scope: dict[str, float] | None = None
    revisable: bool | None = None
    download_used_time: float | None = None
    upload_used_time: float | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Resource:
        """Build from a TerraAPI Resource object."""
        f = _Fields(data)
        scope = f.get("scope")
        dut, uut = f.get("downloadUsedTime"), f.get("uploadUsedTime")
        rev = f.get("revisable")
        return cls(
            uuid=_str(f.get("uuid")),
            name=_str(f.get("name")),
            type=_str(f.get("type")),
            meta=_str(f.get("meta")),
            file_count=_int(f.get("fileCount")),
            total_size=_int(f.get("totalSize")),
            scope=dict(scope) if isinstance(scope, Mapping) else None,
            revisable=None if rev is None else bool(rev),
            download_used_time=None if dut is None else _float(dut),
            upload_used_time=None if uut is None else _float(uut),
            created_at=parse_time(f.get("createdAt")),
            updated_at=parse_time(f.get("updatedAt")),
            extra=f.extra(),
            raw=dict(data),
        )

    def __repr__(self) -> str:
        return (f"Resource({_short(self.uuid)!r}, {self.name!r}, type={self.type!r}, "
                f"files={self.file_count}, bytes={self.total_size})")


@dataclass(frozen=True)
class ResourceDetail:
    """``GET /v2/resources/{uuid}``: the resource plus its file and job uuids."""

    summary: Resource
    file_uuids: tuple[str, ...] = ()
    input_job_uuids: tuple[str, ...] = ()
    output_job_uuids: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def uuid(self) -> str:
        """The resource uuid."""
        return self.summary.uuid

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ResourceDetail:
        """Build from ``{summary, fileUuids, inputJobUuids, outputJobUuids}``."""
        f = _Fields(data)
        summary = f.get("summary")
        return cls(
            summary=Resource.from_api(summary if isinstance(summary, Mapping) else {}),
            file_uuids=_str_tuple(f.get("fileUuids")),
            input_job_uuids=_str_tuple(f.get("inputJobUuids")),
            output_job_uuids=_str_tuple(f.get("outputJobUuids")),
            extra=f.extra(),
            raw=dict(data),
        )

    def __repr__(self) -> str:
        return (f"ResourceDetail({_short(self.uuid)!r}, {self.summary.name!r}, "
                f"files={len(self.file_uuids)})")


@dataclass(frozen=True)
class File:
    """A TerraAPI file; ``name`` is its relative path, ``url`` a presigned GET URL."""

    uuid: str
    name: str = ""
    checksum: str = ""
    size: int = 0
    url: str = ""
    meta: str = ""
    position: dict[str, float] | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> File:
        """Build from a TerraAPI File object (the JSON already decoded, so ``\\u0026`` is ``&``)."""
        f = _Fields(data)
        pos = f.get("position")
        return cls(
            uuid=_str(f.get("uuid")),
            name=_str(f.get("name")),
            checksum=_str(f.get("checksum")),
            size=_int(f.get("size")),
            url=_str(f.get("url")),
            meta=_str(f.get("meta")),
            position=dict(pos) if isinstance(pos, Mapping) else None,
            created_at=parse_time(f.get("createdAt")),
            updated_at=parse_time(f.get("updatedAt")),
            extra=f.extra(),
            raw=dict(data),
        )

    def __repr__(self) -> str:
        # The url is a presigned credential-bearing link: never shown.
        return (f"File({_short(self.uuid)!r}, {self.name!r}, size={self.size}, "
                f"url={'yes' if self.url else 'no'})")


@dataclass(frozen=True)
class Job:
    """A TerraAPI reconstruction job (protocol.md §1.6)."""

    uuid: str
    name: str = ""
    status: TerraJobStatus = TerraJobStatus.UNKNOWN
    type: JobType = JobType.NONE
    percentage: float = 0.0
    remain_seconds: int | None = None
    message: str = ""
    origin_resource_uuid: str = ""
    output_resource_uuid: str = ""
    started_at: datetime | None = None
    completed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    parameters: str = ""
    meta: str = ""
    pixels: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        """True when the job stopped, finished or failed."""
        return self.status.is_terminal

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Job:
        """Build from a TerraAPI Job object."""
        f = _Fields(data)
        rs, px = f.get("remainSeconds"), f.get("pixels")
        return cls(
            uuid=_str(f.get("uuid")),
            name=_str(f.get("name")),
            status=TerraJobStatus.parse(f.get("status")),
            type=JobType.parse(f.get("type", 0)),
            percentage=_float(f.get("percentage")),
            remain_seconds=None if rs is None else _int(rs),
            message=_str(f.get("message")),
            origin_resource_uuid=_str(f.get("originResourceUuid")),
            output_resource_uuid=_str(f.get("outputResourceUuid")),
            started_at=parse_time(f.get("startedAt")),
            completed_at=parse_time(f.get("completedAt")),
            created_at=parse_time(f.get("createdAt")),
            updated_at=parse_time(f.get("updatedAt")),
            parameters=_str(f.get("parameters")),
            meta=_str(f.get("meta")),
            pixels=None if px is None else _float(px),
            extra=f.extra(),
            raw=dict(data),
        )

    def __repr__(self) -> str:
        return (f"Job({_short(self.uuid)!r}, {self.name!r}, {self.status.name}, "
                f"{self.type.name}, {self.percentage * 100:.0f}%)")

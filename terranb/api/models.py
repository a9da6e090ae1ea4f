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
    Job('j1', name='n', status=EXECUTING, type=MAP_2D, percentage=0.42)
    >>> job.status.is_terminal
    False
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from terranb.api.wire_fields import RawWireModel, WireFields, parse_time

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


class _LifecycleEnum(_UnknownIntEnum):
    """A status enum whose end states are listed once, in ``_ENDS`` below the enums."""

    @property
    def is_terminal(self) -> bool:
        """True once the value can no longer change."""
        return self in _ENDS[type(self)][0]

    @property
    def is_success(self) -> bool:
        """True for an end that succeeded (what it made can be downloaded)."""
        return self in _ENDS[type(self)][1]


class TerraJobStatus(_LifecycleEnum):
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


class ModelStatus(_LifecycleEnum):
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


class ZipStatus(_LifecycleEnum):
    """FlightHub 2 ``zip_status`` of a finished model's download archive."""

    UNKNOWN = -1
    INITIAL = 0
    RUNNING = 1
    FINISHED = 2
    FAILED = 3


# (terminal members, successful members) of each status enum. Two FlightHub 2 states
# count as success: MAP_SUCCEEDED ends a 2D model, SUCCEEDED any other.
_ENDS: dict[type[_LifecycleEnum], tuple[frozenset[Any], frozenset[Any]]] = {
    TerraJobStatus: (frozenset({TerraJobStatus.STOPPED, TerraJobStatus.FINISHED,
                                TerraJobStatus.FAILED}),
                     frozenset({TerraJobStatus.FINISHED})),
    ModelStatus: (frozenset({ModelStatus.FAILED, ModelStatus.MAP_SUCCEEDED,
                             ModelStatus.REQUEST_RESOURCE_FAILED, ModelStatus.SUCCEEDED,
                             ModelStatus.CANCELED}),
                  frozenset({ModelStatus.MAP_SUCCEEDED, ModelStatus.SUCCEEDED})),
    ZipStatus: (frozenset({ZipStatus.FINISHED, ZipStatus.FAILED}), frozenset({ZipStatus.FINISHED})),
}


class ResourceStatus(_UnknownIntEnum):
    """FlightHub 2 resource ``status``."""

    UNKNOWN = -1
    IMPORT_SUCCESS = 1
    WAITING_DELETE = 2
    DELETED = 3


# --------------------------------------------------------------------------- TerraAPI


@dataclass(frozen=True)
class _TerraRecord(RawWireModel):
    """What every TerraAPI object shares: camelCase keys and its creation / update times."""

    _camel = True

    created_at: datetime | None = field(default=None, kw_only=True)
    updated_at: datetime | None = field(default=None, kw_only=True)


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
class Resource(_TerraRecord):
    """A TerraAPI resource: a set of files (an upload, or a job's output)."""

    _repr_fields = ("uuid", "name", "type", "file_count", "total_size")

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


@dataclass(frozen=True)
class ResourceDetail(RawWireModel):
    """``GET /v2/resources/{uuid}``: the resource plus its file and job uuids."""

    _camel = True
    _repr_fields = ("summary", "file_uuids")

    summary: Resource
    file_uuids: tuple[str, ...] = ()
    input_job_uuids: tuple[str, ...] = ()
    output_job_uuids: tuple[str, ...] = ()

    @property
    def uuid(self) -> str:
        """The resource uuid."""
        return self.summary.uuid

    @classmethod
    def _given(cls, fields: WireFields) -> dict[str, Any]:
        return {"summary": Resource.from_api(fields.mapping("summary"))}


@dataclass(frozen=True)
class File(_TerraRecord):
    """A TerraAPI file; ``name`` is its relative path, ``url`` a presigned GET URL."""

    _repr_fields = ("uuid", "name", "size", "url")

    uuid: str
    name: str = ""
    checksum: str = ""
    size: int = 0
    url: str = field(default="", repr=False)  # presigned, credential-bearing: never shown
    meta: str = ""
    position: dict[str, float] | None = None


@dataclass(frozen=True)
class Job(_TerraRecord):
    """A TerraAPI reconstruction job (protocol.md §1.6)."""

    _repr_fields = ("uuid", "name", "status", "type", "percentage")

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
    parameters: str = ""
    meta: str = ""
    pixels: float | None = None

    @property
    def is_terminal(self) -> bool:
        """True when the job stopped, finished or failed."""
        return self.status.is_terminal

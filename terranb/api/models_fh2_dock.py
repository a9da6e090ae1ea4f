"""Typed views of FlightHub 2 beyond open modeling: projects, flight tasks, media, map models.

Field names follow what the live-verified third-party client flighthub2-cli 0.1.2
reads (protocol.md §3.7); DJI's seed 004 names these endpoints only in its table of
contents. Every model keeps unknown keys in ``extra`` and the decoded dict in
``raw`` so a newer server does not break an older client, and treats ``null``
lists as empty (FlightHub 2 sends ``{"list": null}`` for an empty collection).

Example:
    >>> m = MapModel.from_api({"id": 7, "name": "roof", "url": "https://x/y.zip"})
    >>> m.state
    'succeeded'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from terranb.api.wire_fields import RawWireModel, WireFields, number, text

__all__ = ["FlightTask", "MapModel", "Project", "SystemStatus", "TaskMedia", "items_of",
           "newest_first"]


def items_of(data: Any, key: str = "list") -> list[Mapping[str, Any]]:
    """The objects of a list answer: ``data.list`` (``null`` = empty) or a bare array."""
    if isinstance(data, list):
        items = data
    elif isinstance(data, Mapping):
        items = data.get(key) or []
    else:
        items = []
    return [i for i in items if isinstance(i, Mapping)]


@dataclass(frozen=True)
class SystemStatus:
    """``GET /system_status``: the whole envelope (``code == 0`` means healthy)."""

    code: int = 0
    message: str = ""

    @property
    def healthy(self) -> bool:
        """True when FlightHub 2 says it operates normally."""
        return self.code == 0


@dataclass(frozen=True)
class Project(RawWireModel):
    """A project of the organization (``GET /project``)."""

    _repr_fields = ("uuid", "name")

    uuid: str
    name: str = ""
    introduction: str = ""
    created_at: int = 0
    updated_at: int = 0
    latitude: float | None = None
    longitude: float | None = None

    @classmethod
    def _given(cls, fields: WireFields) -> dict[str, Any]:
        centre = fields.mapping("project_work_center_point")
        return {"latitude": number(centre.get("latitude")),
                "longitude": number(centre.get("longitude"))}


@dataclass(frozen=True)
class FlightTask(RawWireModel):
    """A flight task: an item of ``/flight-task/list`` or ``/flight-task/{uuid}``.

    ``folder_id`` is the media folder ``POST /model/create`` takes as
    ``task_folder_id``: the list item carries it as ``folder_id``, the detail as
    ``folder_info.folder_id`` (both read here). ``begin_at`` and ``end_at`` come as ISO
    text or unix seconds on the wire and are read as times either way.
    """

    _repr_fields = ("uuid", "name", "status", "task_type", "began")

    uuid: str
    name: str = ""
    status: str = ""
    task_type: str = ""
    sn: str = ""
    begin_at: datetime | None = None
    end_at: datetime | None = None
    folder_id: int | None = None
    expected_file_count: int | None = None
    uploaded_file_count: int | None = None
    media_upload_status: str = ""

    @classmethod
    def _given(cls, fields: WireFields) -> dict[str, Any]:
        info = fields.mapping("folder_info")
        folder = fields.get("folder_id")
        if folder is None:
            folder = info.get("folder_id")
        return {"uuid": text(fields.get("uuid") or fields.get("task_uuid")),
                "folder_id": None if folder == "" else number(folder, int),
                "expected_file_count": number(info.get("expected_file_count"), int),
                "uploaded_file_count": number(info.get("uploaded_file_count"), int)}

    @property
    def began(self) -> str:
        """``begin_at`` as local ``YYYY-MM-DD HH:MM`` for a listing (``-`` when unknown)."""
        when = self.begin_at
        if when is None:
            return "-"
        # unix seconds and Z times are aware (shown in local time); naive ISO text as given
        return (when.astimezone() if when.tzinfo else when).strftime("%Y-%m-%d %H:%M")


def newest_first(tasks: Iterable[FlightTask]) -> list[FlightTask]:
    """Flight tasks by ``begin_at``, newest first; tasks without a time last."""
    # timestamp() compares aware and naive times alike (a naive one is local time)
    return sorted(tasks, key=lambda t: t.begin_at.timestamp() if t.begin_at else float("-inf"),
                  reverse=True)


@dataclass(frozen=True)
class MapModel(RawWireModel):
    """A model on the project map (``/model``, ``/model/{id}``).

    Attributes:
        id: the map model id (an integer on the wire).
        url: presigned download URL of the result (detail only).
        preview_url: presigned URL of a preview image (detail only).
        status, progress, message: emulator / future fields, see :attr:`state`.
    """

    _repr_fields = ("id", "name", "state", "size", "url")

    id: int
    name: str = ""
    file_type: str = ""
    size: int = 0
    show_on_map: bool | None = None
    create_at: int = 0
    update_at: int = 0
    user_name: str = ""
    url: str = field(default="", repr=False)
    preview_url: str = field(default="", repr=False)
    status: str = ""
    progress: float = 0.0
    message: str = ""

    @property
    def state(self) -> str:
        """``queued``, ``running``, ``succeeded``, ``failed`` or ``cancelled``."""
        if self.status:
            return _STATES.get(self.status.lower(), "running")
        return "succeeded" if self.url else "running"


@dataclass(frozen=True)
class TaskMedia(RawWireModel):
    """One media file a flight task produced (``/flight-task/{uuid}/media``).

    ``original_url`` is a presigned GET of the full file (it supports HTTP Range
    reads, which is how terranb reads EXIF without downloading the photo).
    """

    _repr_fields = ("uuid", "name", "size", "original_url")

    uuid: str
    name: str = ""
    file_type: str = ""
    suffix: str = ""
    size: int = 0
    preview_url: str = field(default="", repr=False)
    original_url: str = field(default="", repr=False)
    create_at: str = ""

    @property
    def is_photo(self) -> bool:
        """True for a JPEG photo (what 2D/3D reconstruction uses)."""
        suffix = (self.suffix or self.name.rsplit(".", 1)[-1]).lower().lstrip(".")
        return suffix in ("jpg", "jpeg")


# Where DJI says nothing about a map model's progress: ``status`` is read when the
# server sends one (the emulator does: processing / succeeded / failed); else a
# model with a download ``url`` is taken as finished and one without as running.
_STATES = {"success": "succeeded", "succeeded": "succeeded", "finished": "succeeded",
           "done": "succeeded", "failed": "failed", "fail": "failed", "error": "failed",
           "processing": "running", "running": "running", "executing": "running",
           "waiting": "queued", "queued": "queued", "canceled": "cancelled",
           "cancelled": "cancelled"}

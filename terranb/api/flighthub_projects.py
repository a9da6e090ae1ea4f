"""FlightHub 2 beyond open modeling: system status, projects, flight tasks, media, map models.

Sub-clients of :class:`~terranb.api.flighthub.FlightHubClient`, reached as
``fh.system``, ``fh.projects``, ``fh.flight_tasks`` and ``fh.map_models``. They share
its session, headers and error decoding. Paths are the ones seed 004's table of
contents names and flighthub2-cli 0.1.2 verified live (protocol.md §3.7); they exist
under ``/openapi/v0.1`` only, whatever ``api_version`` open modeling uses.

Example (a dock mission to a cloud model):
    >>> fh = FlightHubClient(user_token="...", project_uuid="...")        # doctest: +SKIP
    >>> task = fh.flight_tasks.recent()[0]                                 # doctest: +SKIP
    >>> mid = fh.map_models.create(name="roof", task_folder_id=task.folder_id,
    ...                            reconstruction_type=["3d"], generate_model_formats=["mesh"],
    ...                            wkt=wkt)                                 # doctest: +SKIP
    >>> fh.map_models.get(mid).url                                         # doctest: +SKIP
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from terranb.api.models_fh2_dock import (
    FlightTask,
    MapModel,
    Project,
    SystemStatus,
    TaskMedia,
    items_of,
    newest_first,
)
from terranb.credentials import StorageCredentials
from terranb.errors import ApiError, ServerError, ValidationError

__all__ = [
    "DOCK_PREFIX",
    "MODEL_FORMATS",
    "QUALITY_LEVELS",
    "RECONSTRUCTION_MODES",
    "RECONSTRUCTION_TYPES",
    "FlightTasksApi",
    "MapModelsApi",
    "ProjectsApi",
    "SystemApi",
]

DOCK_PREFIX = "/openapi/v0.1"
QUALITY_LEVELS = ("high", "medium", "low")
RECONSTRUCTION_MODES = ("normal", "surround")
RECONSTRUCTION_TYPES = ("2d", "3d")
MODEL_FORMATS = ("mesh", "pointcloud")
DEFAULT_DAYS = 7  # flighthub2-cli: the task list covers the last 7 days by default


class _Caller(Protocol):
    def call(self, method: str, path: str, *, json_body: Any = None,
             idempotent: bool | None = None, prefix: str | None = None) -> Any: ...


def _path(path: str, params: Mapping[str, Any] | None = None) -> str:
    query = {k: v for k, v in (params or {}).items() if v is not None and v != ""}
    return f"{path}?{urlencode(query, doseq=True)}" if query else path


def _seg(value: Any, what: str) -> str:
    text = str(value).strip()
    if not text:
        raise ValidationError(f"{what} is empty; pass the id shown by the list call")
    return quote(text, safe="")


class _Area:
    def __init__(self, client: _Caller) -> None:
        self._client = client

    def _get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self._client.call("GET", _path(path, params), prefix=DOCK_PREFIX)


class SystemApi(_Area):
    """``GET /system_status``."""

    def status(self) -> SystemStatus:
        """Whether FlightHub 2 operates normally; a business error code is returned, not raised."""
        try:
            self._get("/system_status")
        except ApiError as exc:
            if exc.code is None:
                raise
            return SystemStatus(code=int(exc.code), message=str(exc))
        return SystemStatus()


class ProjectsApi(_Area):
    """Projects of the organization and a project's storage credentials."""

    def list(self, *, q: str | None = None, page: int | None = None,
             page_size: int | None = None, all_pages: bool = True) -> builtins.list[Project]:
        """``GET /project``; ``all_pages`` sends ``usage=simple`` (no pagination)."""
        data = self._get("/project", {"q": q, "page": page, "page_size": page_size,
                                      "usage": "simple" if all_pages else None})
        return [Project.from_api(i) for i in items_of(data)]

    def find(self, name_or_uuid: str) -> Project:
        """A project by exact uuid, then name (case-insensitive); ValidationError if none."""
        projects = self.list()
        for test in (lambda p: p.uuid == name_or_uuid, lambda p: p.name == name_or_uuid,
                     lambda p: p.name.casefold() == name_or_uuid.casefold()):
            for p in projects:
                if test(p):
                    return p
        names = ", ".join(repr(p.name) for p in projects[:5]) or "none"
        raise ValidationError(f"no project {name_or_uuid!r} in this organization "
                              f"(projects: {names})")

    def devices(self) -> builtins.list[dict[str, Any]]:
        """``GET /project/device``: ``{"gateway": {...}, "drone": {...}}`` pairs."""
        return [dict(i) for i in items_of(self._get("/project/device"))]

    def dock_serials(self) -> builtins.list[str]:
        """Serial numbers of the docks (gateways) bound to the project."""
        out = []
        for pair in self.devices():
            gw = pair.get("gateway")
            if isinstance(gw, Mapping) and gw.get("sn"):
                out.append(str(gw["sn"]))
        return out

    def sts_token(self) -> StorageCredentials:
        """``GET /project/sts-token``: the project's object-storage credentials.

        The answer has the Cloud API STS shape (``credentials``, ``bucket``,
        ``object_key_prefix``, ``endpoint``, ``provider``, ``region``).
        """
        data = self._get("/project/sts-token")
        if not isinstance(data, Mapping) or not isinstance(data.get("credentials"), Mapping):
            raise ServerError("project/sts-token answered without credentials")
        return StorageCredentials.from_cloudapi(dict(data))


class FlightTasksApi(_Area):
    """Flight tasks of the project and the media each produced."""

    def list(self, sn: str, begin_at: int, end_at: int, *, name: str | None = None,
             status: Sequence[str] | None = None) -> builtins.list[FlightTask]:
        """``GET /flight-task/list`` for one dock in a time window (unix seconds)."""
        if end_at < begin_at:
            raise ValidationError(f"end_at ({end_at}) is before begin_at ({begin_at})")
        data = self._get("/flight-task/list", {"sn": sn, "begin_at": int(begin_at),
                                               "end_at": int(end_at), "name": name,
                                               "status": list(status) if status else None})
        return [FlightTask.from_api(i) for i in items_of(data)]

    def recent(self, days: float = DEFAULT_DAYS, *, now: float | None = None,
               status: Sequence[str] | None = None) -> builtins.list[FlightTask]:
        """Tasks of every dock of the project in the last ``days`` days, newest first."""
        end = int(time.time() if now is None else now)
        begin = end - int(days * 86400)
        tasks: builtins.list[FlightTask] = []
        for sn in self._projects().dock_serials():
            tasks.extend(self.list(sn, begin, end, status=status))
        return newest_first(tasks)

    def _projects(self) -> ProjectsApi:
        return ProjectsApi(self._client)

    def get(self, task_uuid: str) -> FlightTask:
        """``GET /flight-task/{uuid}`` (with ``folder_info``)."""
        data = self._get(f"/flight-task/{_seg(task_uuid, 'task_uuid')}")
        task = FlightTask.from_api(data)
        return task if task.uuid else FlightTask.from_api({**task.raw, "uuid": task_uuid})

    def media(self, task_uuid: str) -> builtins.list[TaskMedia]:
        """``GET /flight-task/{uuid}/media``: files with presigned ``original_url``."""
        data = self._get(f"/flight-task/{_seg(task_uuid, 'task_uuid')}/media")
        return [TaskMedia.from_api(i) for i in items_of(data)]


class MapModelsApi(_Area):
    """Models on the project map and cloud reconstruction of a flight's media folder."""

    def list(self) -> builtins.list[MapModel]:
        """``GET /model``."""
        return [MapModel.from_api(i) for i in items_of(self._get("/model"))]

    def get(self, model_id: int | str) -> MapModel:
        """``GET /model/{id}`` with download ``url`` and ``preview_url``."""
        data = self._get(f"/model/{_seg(model_id, 'model_id')}")
        model = MapModel.from_api(data)
        return model if model.id else MapModel.from_api({**model.raw, "id": model_id})

    def create(self, *, name: str, task_folder_id: int, wkt: str,
               reconstruction_type: Sequence[str] = ("3d",),
               generate_model_formats: Sequence[str] = ("mesh",),
               quality_level: str = "medium", reconstruction_mode: str = "normal",
               simplified_factor: float = 0.2) -> int:
        """``POST /model/create``: reconstruct a flight's media folder in the cloud.

        Args:
            name: model name on the map.
            task_folder_id: the flight task's ``folder_id``.
            wkt: output coordinate system as WKT (required by the service).
            reconstruction_type: ``"2d"`` and/or ``"3d"``.
            generate_model_formats: ``"mesh"`` and/or ``"pointcloud"`` (3D).
            quality_level: ``"high"``, ``"medium"`` (default) or ``"low"``.
            reconstruction_mode: ``"normal"`` (default) or ``"surround"`` (oblique).
            simplified_factor: mesh simplification in (0, 1]; DJI recommends 0.2.

        Returns:
            the new map model's id.
        """
        types = [str(t).lower() for t in reconstruction_type]
        formats = [str(f).lower() for f in generate_model_formats]
        bad = [t for t in types if t not in RECONSTRUCTION_TYPES]
        if not types or bad:
            raise ValidationError(f"reconstruction_type must be a non-empty subset of "
                                  f"{RECONSTRUCTION_TYPES}, got {list(reconstruction_type)}")
        if [f for f in formats if f not in MODEL_FORMATS]:
            raise ValidationError(f"generate_model_formats must be a subset of {MODEL_FORMATS}, "
                                  f"got {list(generate_model_formats)}")
        if quality_level not in QUALITY_LEVELS:
            raise ValidationError(f"quality_level must be one of {QUALITY_LEVELS}")
        if reconstruction_mode not in RECONSTRUCTION_MODES:
            raise ValidationError(f"reconstruction_mode must be one of {RECONSTRUCTION_MODES}")
        if not 0 < float(simplified_factor) <= 1:
            raise ValidationError("simplified_factor must be in (0, 1]; 0.2 is recommended")
        if not str(wkt).strip():
            raise ValidationError("wkt is required: the output coordinate system as WKT")
        if not name.strip():
            raise ValidationError("name is required")
        payload = {"name": name, "task_folder_id": int(task_folder_id),
                   "reconstruction_type": types, "generate_model_formats": formats,
                   "wkt": wkt, "quality_level": quality_level,
                   "reconstruction_mode": reconstruction_mode,
                   "simplified_factor": float(simplified_factor)}
        # Not idempotent: a retried create would build (and bill) a second model.
        data = self._client.call("POST", "/model/create", json_body=payload, idempotent=False,
                                 prefix=DOCK_PREFIX)
        model_id = data.get("id") if isinstance(data, Mapping) else None
        if model_id in (None, ""):
            raise ServerError("model/create answered without a model id")
        return int(model_id)

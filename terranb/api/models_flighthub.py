"""FlightHub 2 open-modeling answers as frozen dataclasses (unknown fields kept)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from terranb.api.models import (
    ModelStatus,
    ModelType,
    ResourceStatus,
    ZipStatus,
    _Fields,
    _int,
    _short,
    _str,
    _str_tuple,
)

__all__ = ["FlightHubResource", "Model", "ModelRef", "UploadCallbackResult"]


@dataclass(frozen=True)
class ModelRef:
    """One entry of the start-reconstruction answer: ``{uuid, status, sub_error_code}``."""

    uuid: str
    status: ModelStatus = ModelStatus.UNKNOWN
    sub_error_code: int = 0
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> ModelRef:
        """Build from ``{"uuid", "status", "sub_error_code"}``."""
        f = _Fields(data, case_insensitive=False)
        return cls(uuid=_str(f.get("uuid")), status=ModelStatus.parse(f.get("status")),
                   sub_error_code=_int(f.get("sub_error_code")), extra=f.extra())

    def __repr__(self) -> str:
        return f"ModelRef({_short(self.uuid)!r}, {self.status.name})"


@dataclass(frozen=True)
class Model:
    """A FlightHub 2 open model (details, or an item of ``running``)."""

    model_uuid: str
    resource_uuid: str = ""
    model_type: ModelType = ModelType.UNKNOWN
    model_status: ModelStatus = ModelStatus.UNKNOWN
    model_size: int = 0
    reconstruction_progress: int = 0
    error_code: int = 0
    zip_status: ZipStatus = ZipStatus.UNKNOWN
    zip_progress: int = 0
    zip_file_key: str = ""
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def uuid(self) -> str:
        """Alias of ``model_uuid``."""
        return self.model_uuid

    @property
    def is_terminal(self) -> bool:
        """True when reconstruction ended (success, failure or cancel)."""
        return self.model_status.is_terminal

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> Model:
        """Build from a FlightHub 2 model object (snake_case)."""
        f = _Fields(data, case_insensitive=False)
        return cls(
            model_uuid=_str(f.get("model_uuid") or f.get("uuid")),
            resource_uuid=_str(f.get("resource_uuid")),
            model_type=ModelType.parse(f.get("model_type")),
            model_status=ModelStatus.parse(f.get("model_status")),
            model_size=_int(f.get("model_size")),
            reconstruction_progress=_int(f.get("reconstruction_progress")),
            error_code=_int(f.get("error_code")),
            zip_status=ZipStatus.parse(f.get("zip_status")),
            zip_progress=_int(f.get("zip_progress")),
            zip_file_key=_str(f.get("zip_file_key")),
            extra=f.extra(),
            raw=dict(data),
        )

    def __repr__(self) -> str:
        return (f"Model({_short(self.model_uuid)!r}, {self.model_type.name}, "
                f"{self.model_status.name}, {self.reconstruction_progress}%, "
                f"zip={self.zip_status.name})")


@dataclass(frozen=True)
class FlightHubResource:
    """A FlightHub 2 open-modeling resource (``GET /open_model/resource/{uuid}``)."""

    resource_uuid: str
    status: ResourceStatus = ResourceStatus.UNKNOWN
    resource_size: int = 0
    file_names: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def uuid(self) -> str:
        """Alias of ``resource_uuid``."""
        return self.resource_uuid

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> FlightHubResource:
        """Build from ``{resource_uuid, status, resource_size, file_names}``."""
        f = _Fields(data, case_insensitive=False)
        return cls(
            resource_uuid=_str(f.get("resource_uuid")),
            status=ResourceStatus.parse(f.get("status")),
            resource_size=_int(f.get("resource_size")),
            file_names=_str_tuple(f.get("file_names")),
            extra=f.extra(),
            raw=dict(data),
        )

    def __repr__(self) -> str:
        return (f"FlightHubResource({_short(self.resource_uuid)!r}, {self.status.name}, "
                f"files={len(self.file_names)}, bytes={self.resource_size})")


@dataclass(frozen=True)
class UploadCallbackResult:
    """FlightHub 2 upload_callback answer: ``{resource_uuid, upload_count, file_name_list}``."""

    resource_uuid: str
    upload_count: int = 0
    file_name_list: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> UploadCallbackResult:
        """Build from the ``data`` of FlightHub 2 upload_callback."""
        f = _Fields(data, case_insensitive=False)
        return cls(resource_uuid=_str(f.get("resource_uuid")),
                   upload_count=_int(f.get("upload_count")),
                   file_name_list=_str_tuple(f.get("file_name_list")),
                   extra=f.extra())

    @classmethod
    def merge(cls, parts: Iterable[UploadCallbackResult]) -> UploadCallbackResult:
        """Combine the answers of several batches of one resource."""
        parts = list(parts)
        if not parts:
            return cls(resource_uuid="")
        names: list[str] = []
        for p in parts:
            names.extend(p.file_name_list)
        return cls(resource_uuid=parts[0].resource_uuid,
                   upload_count=sum(p.upload_count for p in parts),
                   file_name_list=tuple(names), extra=parts[-1].extra)

    def __repr__(self) -> str:
        return f"UploadCallbackResult({_short(self.resource_uuid)!r}, n={self.upload_count})"



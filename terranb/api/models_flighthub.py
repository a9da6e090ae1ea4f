"""FlightHub 2 open-modeling answers as frozen dataclasses (unknown fields kept)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from terranb.api.models import ModelStatus, ModelType, ResourceStatus, ZipStatus
from terranb.api.wire_fields import RawWireModel, WireFields, WireModel, short_id, text

__all__ = ["FlightHubResource", "Model", "ModelRef", "UploadCallbackResult"]


@dataclass(frozen=True)
class ModelRef(WireModel):
    """One entry of the start-reconstruction answer: ``{uuid, status, sub_error_code}``."""

    uuid: str
    status: ModelStatus = ModelStatus.UNKNOWN
    sub_error_code: int = 0

    def __repr__(self) -> str:
        return f"ModelRef({short_id(self.uuid)!r}, {self.status.name})"


@dataclass(frozen=True)
class Model(RawWireModel):
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

    @property
    def uuid(self) -> str:
        """Alias of ``model_uuid``."""
        return self.model_uuid

    @property
    def is_terminal(self) -> bool:
        """True when reconstruction ended (success, failure or cancel)."""
        return self.model_status.is_terminal

    @classmethod
    def _given(cls, fields: WireFields) -> dict[str, Any]:
        # ``running`` items name the model ``uuid``, details ``model_uuid``.
        return {"model_uuid": text(fields.get("model_uuid") or fields.get("uuid"))}

    def __repr__(self) -> str:
        return (f"Model({short_id(self.model_uuid)!r}, {self.model_type.name}, "
                f"{self.model_status.name}, {self.reconstruction_progress}%, "
                f"zip={self.zip_status.name})")


@dataclass(frozen=True)
class FlightHubResource(RawWireModel):
    """A FlightHub 2 open-modeling resource (``GET /open_model/resource/{uuid}``)."""

    resource_uuid: str
    status: ResourceStatus = ResourceStatus.UNKNOWN
    resource_size: int = 0
    file_names: tuple[str, ...] = ()

    @property
    def uuid(self) -> str:
        """Alias of ``resource_uuid``."""
        return self.resource_uuid

    def __repr__(self) -> str:
        return (f"FlightHubResource({short_id(self.resource_uuid)!r}, {self.status.name}, "
                f"files={len(self.file_names)}, bytes={self.resource_size})")


@dataclass(frozen=True)
class UploadCallbackResult(WireModel):
    """FlightHub 2 upload_callback answer: ``{resource_uuid, upload_count, file_name_list}``."""

    resource_uuid: str
    upload_count: int = 0
    file_name_list: tuple[str, ...] = ()

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
        return f"UploadCallbackResult({short_id(self.resource_uuid)!r}, n={self.upload_count})"



"""FlightHub 2 open-modeling answers as frozen dataclasses (unknown fields kept)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from terranb.api.models import ModelStatus, ModelType, ResourceStatus, ZipStatus
from terranb.api.wire_fields import RawWireModel, WireFields, WireModel, text

__all__ = ["FlightHubResource", "Model", "ModelRef", "UploadCallbackResult"]


@dataclass(frozen=True)
class ModelRef(WireModel):
    """One entry of the start-reconstruction answer: ``{uuid, status, sub_error_code}``."""

    _repr_fields = ("uuid", "status")

    uuid: str
    status: ModelStatus = ModelStatus.UNKNOWN
    sub_error_code: int = 0


@dataclass(frozen=True)
class Model(RawWireModel):
    """A FlightHub 2 open model (details, or an item of ``running``)."""

    _repr_fields = ("model_uuid", "model_type", "model_status", "reconstruction_progress",
                    "zip_status")

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


@dataclass(frozen=True)
class FlightHubResource(RawWireModel):
    """A FlightHub 2 open-modeling resource (``GET /open_model/resource/{uuid}``)."""

    _repr_fields = ("resource_uuid", "status", "file_names", "resource_size")

    resource_uuid: str
    status: ResourceStatus = ResourceStatus.UNKNOWN
    resource_size: int = 0
    file_names: tuple[str, ...] = ()

    @property
    def uuid(self) -> str:
        """Alias of ``resource_uuid``."""
        return self.resource_uuid


@dataclass(frozen=True)
class UploadCallbackResult(WireModel):
    """FlightHub 2 upload_callback answer: ``{resource_uuid, upload_count, file_name_list}``."""

    _repr_fields = ("resource_uuid", "upload_count")

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



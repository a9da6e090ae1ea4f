"""DJI Cloud API answers (login user, media files) as frozen dataclasses; secrets never in repr."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from terranb.api.wire_fields import RawWireModel, WireModel, short_id

__all__ = ["CloudUser", "MediaFile"]


@dataclass(frozen=True)
class CloudUser(WireModel):
    """Cloud API login answer (UserDTO). ``access_token`` and ``mqtt_password`` are secret."""

    user_id: str
    username: str = ""
    workspace_id: str = ""
    user_type: int = 0
    mqtt_username: str = ""
    mqtt_password: str = field(default="", repr=False)
    access_token: str = field(default="", repr=False)
    mqtt_addr: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view without the secrets (used by the CLI)."""
        return {"user_id": self.user_id, "username": self.username,
                "workspace_id": self.workspace_id, "user_type": self.user_type,
                "mqtt_username": self.mqtt_username, "mqtt_addr": self.mqtt_addr}

    def __repr__(self) -> str:
        return (f"CloudUser({self.username!r}, workspace_id={self.workspace_id!r}, "
                f"access_token={'***' if self.access_token else ''!r})")

    __str__ = __repr__


@dataclass(frozen=True)
class MediaFile(RawWireModel):
    """One Cloud API media file (``MediaFileDTO``)."""

    file_id: str
    file_name: str = ""
    file_path: str = ""
    object_key: str = ""
    is_original: bool | None = None
    drone: str = ""
    payload: str = ""
    tinny_fingerprint: str = ""
    fingerprint: str = ""
    create_time: datetime | None = None
    job_id: str = ""

    def __repr__(self) -> str:
        return f"MediaFile({short_id(self.file_id)!r}, {self.file_name!r}, drone={self.drone!r})"

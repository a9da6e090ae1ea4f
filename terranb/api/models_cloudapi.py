"""DJI Cloud API answers (login user, media files) as frozen dataclasses; secrets never in repr."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from terranb.api.wire_fields import RawWireModel, WireModel

__all__ = ["CloudUser", "MediaFile"]


@dataclass(frozen=True)
class CloudUser(WireModel):
    """Cloud API login answer (UserDTO). ``access_token`` and ``mqtt_password`` are secret."""

    _repr_fields = ("user_id", "username", "workspace_id", "access_token")

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


@dataclass(frozen=True)
class MediaFile(RawWireModel):
    """One Cloud API media file (``MediaFileDTO``)."""

    _repr_fields = ("file_id", "file_name", "drone")

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

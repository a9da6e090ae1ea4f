"""DJI Cloud API answers (login user, media files) as frozen dataclasses; secrets never in repr."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from terranb.api.models import _Fields, _int, _short, _str, parse_time

__all__ = ["CloudUser", "MediaFile"]


@dataclass(frozen=True)
class CloudUser:
    """Cloud API login answer (UserDTO). ``access_token`` and ``mqtt_password`` are secret."""

    user_id: str
    username: str = ""
    workspace_id: str = ""
    user_type: int = 0
    mqtt_username: str = ""
    mqtt_password: str = field(default="", repr=False)
    access_token: str = field(default="", repr=False)
    mqtt_addr: str = ""
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> CloudUser:
        """Build from the login / refresh ``data``."""
        f = _Fields(data, case_insensitive=False)
        return cls(
            user_id=_str(f.get("user_id")),
            username=_str(f.get("username")),
            workspace_id=_str(f.get("workspace_id")),
            user_type=_int(f.get("user_type")),
            mqtt_username=_str(f.get("mqtt_username")),
            mqtt_password=_str(f.get("mqtt_password")),
            access_token=_str(f.get("access_token")),
            mqtt_addr=_str(f.get("mqtt_addr")),
            extra=f.extra(),
        )

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
class MediaFile:
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
    extra: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_api(cls, data: Mapping[str, Any]) -> MediaFile:
        """Build from a MediaFileDTO (snake_case)."""
        f = _Fields(data, case_insensitive=False)
        orig = f.get("is_original")
        return cls(
            file_id=_str(f.get("file_id")),
            file_name=_str(f.get("file_name")),
            file_path=_str(f.get("file_path")),
            object_key=_str(f.get("object_key")),
            is_original=None if orig is None else bool(orig),
            drone=_str(f.get("drone")),
            payload=_str(f.get("payload")),
            tinny_fingerprint=_str(f.get("tinny_fingerprint")),
            fingerprint=_str(f.get("fingerprint")),
            create_time=parse_time(f.get("create_time")),
            job_id=_str(f.get("job_id")),
            extra=f.extra(),
            raw=dict(data),
        )

    def __repr__(self) -> str:
        return f"MediaFile({_short(self.file_id)!r}, {self.file_name!r}, drone={self.drone!r})"

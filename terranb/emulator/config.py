"""Options of the local DJI cloud emulator and the facts it prints at start-up.

:class:`EmulatorOptions` is what ``terranb emulator [...]`` and
:func:`terranb.emulator.serve` accept; :class:`EmulatorInfo` is what they hand
back (the CLI prints it as its first stdout line). Defaults follow DJI's own
examples where DJI has any: the quick start's bucket ``vg-terra-be-dev`` in
``us-east-1`` and the Cloud API demo's users and workspace.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "CLOUDAPI_USERS",
    "CLOUDAPI_WORKSPACE_ID",
    "FH2_BUCKET",
    "TERRA_BUCKET",
    "TERRA_REGION",
    "CloudApiUser",
    "EmulatorInfo",
    "EmulatorOptions",
    "model_preview_key",
]

# The quick start hard-codes these (protocol.md §1.1); NOTES.md decision.
TERRA_BUCKET = "vg-terra-be-dev"
TERRA_REGION = "us-east-1"
TERRA_CLOUD_NAME = "aws_s3"
FH2_BUCKET = "fh2-open-model"
FH2_REGION = "us-east-1"
# A finished model's preview image (a 2D model's dom_screennail.png) lies beside its zip:
# a map model's preview_url is a picture, its url the archive.
MODEL_PREVIEW_SOURCE = "map/report/dom_screennail.png"


def model_preview_key(zip_key: str) -> str:
    """Bucket key of the preview image of the model zipped at ``zip_key``."""
    return zip_key.removesuffix(".zip") + "_preview.png"


CLOUDAPI_BUCKET = "cloudapi-bucket"
CLOUDAPI_REGION = "us-east-1"
CLOUDAPI_OBJECT_PREFIX = "media"

# Cloud API demo seed data (sql/cloud_sample.sql, protocol.md §4.2).
CLOUDAPI_WORKSPACE_ID = "e3dea0f5-37f2-4d79-ae58-490af3228069"
CLOUDAPI_WORKSPACE_NAME = "Test Group One"
CLOUDAPI_JWT_SECRET = "CloudApiSample"
CLOUDAPI_TOKEN_LIFETIME = 86400


@dataclass(frozen=True)
class CloudApiUser:
    """One user of the Cloud API demo's seed data."""

    user_id: str
    username: str
    password: str
    user_type: int  # 1 web, 2 pilot
    mqtt_username: str
    mqtt_password: str
    workspace_id: str = CLOUDAPI_WORKSPACE_ID


CLOUDAPI_USERS: dict[str, CloudApiUser] = {
    "adminPC": CloudApiUser(
        "a1559e7c-8dd8-4780-b952-100cc4797da2", "adminPC", "adminPC", 1, "admin", "admin"
    ),
    "pilot": CloudApiUser(
        "be7c6c3d-afe9-4be4-b9eb-c55066c0914e", "pilot", "pilot123", 2, "pilot", "pilot123"
    ),
}


@dataclass
class EmulatorOptions:
    """Everything that configures one emulator run.

    Attributes:
        host: interface to listen on (loopback by default; the emulator is not a
            service for other machines).
        port: TCP port, 0 = pick a free one.
        app_key, secret_key: the TerraAPI AK/SK the emulator accepts. ``None``
            reuses the ones stored in ``data_dir`` or makes random ones.
        user_token, project_uuid: FlightHub 2 organisation key and project uuid
            (same rule as the AK/SK).
        data_dir: where SQLite and the object store live; ``None`` = a fresh
            temporary folder removed at exit.
        seed: makes fault injection, uuids of outputs and engine content repeatable.
        latency_ms: added to every API request (and S3 request, by the storage).
        bandwidth: bytes per second per S3 connection (0 = unlimited).
        bandwidth_total: bytes per second over all S3 connections (0 = unlimited).
        fail_rate: probability in [0, 1] that an API or S3 request fails with an
            injected 500/503 or a dropped connection.
        token_ttl: lifetime of issued STS credentials in seconds (DJI: 600).
        job_seconds: the least time a job takes from start to finish.
        clock_skew: largest accepted |now - Date| of a signed request, seconds.
    """

    host: str = "127.0.0.1"
    port: int = 0
    app_key: str | None = None
    # Secrets stay out of repr() (notebooks and logs print options).
    secret_key: str | None = field(default=None, repr=False)
    user_token: str | None = field(default=None, repr=False)
    project_uuid: str | None = None
    data_dir: Path | str | None = None
    seed: int | None = None
    latency_ms: float = 0.0
    bandwidth: float = 0.0
    bandwidth_total: float = 0.0
    fail_rate: float = 0.0
    token_ttl: float = 600.0
    job_seconds: float = 20.0
    clock_skew: float = 300.0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first option that is out of range."""
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port must be 0..65535, got {self.port}")
        if not 0.0 <= self.fail_rate <= 1.0:
            raise ValueError(f"--fail-rate must be between 0 and 1, got {self.fail_rate}")
        for name in ("latency_ms", "bandwidth", "bandwidth_total", "job_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must not be negative")
        if self.token_ttl <= 0:
            raise ValueError(f"--token-ttl must be positive, got {self.token_ttl}")
        if self.clock_skew <= 0:
            raise ValueError(f"--clock-skew must be positive, got {self.clock_skew}")


def _mask(value: str) -> str:
    return "***" if value else "''"


@dataclass(frozen=True)
class EmulatorInfo:
    """Where a running emulator listens and the credentials it accepts.

    These credentials are for the local emulator only; ``repr`` masks them
    anyway so they do not end up in logs by accident.
    """

    base_url: str
    s3_endpoint_url: str
    app_key: str
    secret_key: str
    user_token: str
    project_uuid: str
    workspace_id: str
    cloudapi_username: str
    cloudapi_password: str
    data_dir: str
    terra_bucket: str = TERRA_BUCKET
    terra_region: str = TERRA_REGION

    def to_dict(self) -> dict[str, Any]:
        """All fields, secrets included (this is what the CLI prints)."""
        return asdict(self)

    def __repr__(self) -> str:
        return (
            f"EmulatorInfo(base_url={self.base_url!r}, s3_endpoint_url={self.s3_endpoint_url!r}, "
            f"app_key={self.app_key!r}, secret_key={_mask(self.secret_key)}, "
            f"user_token={_mask(self.user_token)}, project_uuid={self.project_uuid!r}, "
            f"workspace_id={self.workspace_id!r}, cloudapi_username={self.cloudapi_username!r}, "
            f"cloudapi_password={_mask(self.cloudapi_password)}, data_dir={self.data_dir!r})"
        )

    __str__ = __repr__

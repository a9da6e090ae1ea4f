"""Temporary storage credentials, the one object every upload path shares.

TerraAPI's ``obtain_token`` (camelCase), FlightHub 2's ``obtain_token``
(snake_case) and the Cloud API's ``sts`` answer with the same idea: STS keys, a
bucket, a region, a key template and an expiry. :class:`StorageCredentials`
normalises the three so ``transfer`` never needs to know which API issued them
(``transfer`` does not import ``api``; it receives this object).

Where the object store lives (``endpoint_url``) is a choice documented in the
README, because DJI's TerraAPI token carries no endpoint (protocol.md §6, 8):

1. the token's own endpoint (FlightHub 2 ``end_point``, Cloud API ``endpoint``);
2. an explicit ``s3_endpoint_url`` setting (kwarg, ``TERRANB_S3_ENDPOINT_URL``,
   profile), applied by the client that obtained the token;
3. ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` (boto3 reads these itself);
4. the provider default: AWS for ``aws*``, ``https://<region>.aliyuncs.com`` for
   Ali OSS (what the public TypeScript SDK does).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from terranb.redact import register

__all__ = ["StorageCredentials"]

# The STS answer's keys, TerraAPI (matched lower-cased) and FlightHub 2: the same
# fields under two spellings. attribute -> (TerraAPI key, FlightHub 2 key).
_STS_KEYS = {
    "access_key_id": ("accesskeyid", "access_key_id"),
    "secret_access_key": ("secretaccesskey", "secret_access_key"),
    "session_token": ("sessiontoken", "session_token"),
    "region": ("region", "region"),
    "bucket": ("cloudbucketname", "cloud_bucket_name"),
    "callback_param": ("callbackparam", "callback_param"),
    "store_path": ("storepath", "store_path"),
    "expire_time": ("expiretime", "expire_time"),
    "endpoint_url": ("endpoint", "end_point"),
}


def _mask(value: str) -> str:
    return "***" if value else "''"


@dataclass(frozen=True)
class StorageCredentials:
    """STS credentials plus where and how to store objects.

    Attributes:
        provider: ``"aws_s3"``, ``"ali_oss"``, ``"minio"`` ... (lower case, as
            given by the service; ``is_oss`` tells Ali OSS apart).
        access_key_id, secret_access_key, session_token: the STS keys.
        region: e.g. ``us-east-1`` or ``oss-cn-hangzhou``.
        bucket: bucket name.
        store_path: key template containing ``{fileName}``.
        callback_param: opaque value to pass back when binding files.
        expire_time: Unix seconds when the keys stop working (0 = unknown).
        endpoint_url: object-store endpoint, or ``None`` for the provider default.
        raw: the decoded token as the service sent it (secrets included; never
            printed: ``repr`` masks it).
    """

    provider: str
    access_key_id: str
    secret_access_key: str
    session_token: str
    region: str
    bucket: str
    store_path: str = "{fileName}"
    callback_param: str = ""
    expire_time: float = 0.0
    endpoint_url: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False)

    def __repr__(self) -> str:
        return (
            f"StorageCredentials(provider={self.provider!r}, bucket={self.bucket!r}, "
            f"region={self.region!r}, store_path={self.store_path!r}, "
            f"access_key_id={_mask(self.access_key_id)}, "
            f"secret_access_key={_mask(self.secret_access_key)}, "
            f"session_token={_mask(self.session_token)}, "
            f"callback_param={_mask(self.callback_param)}, "
            f"expire_time={self.expire_time!r}, endpoint_url={self.endpoint_url!r})"
        )

    __str__ = __repr__

    def __post_init__(self) -> None:
        # Every STS key pair that reaches terranb is known to the log filter from here
        # on (botocore prints the session token in its DEBUG canonical requests).
        register(self.access_key_id, self.secret_access_key, self.session_token)

    @property
    def is_oss(self) -> bool:
        """True for Alibaba Cloud OSS."""
        return self.provider.lower().replace("-", "_") in {"ali_oss", "ali", "oss", "aliyun"}

    def key_for(self, relative_path: str) -> str:
        """Object key of a file: ``store_path`` with ``{fileName}`` = its relative path.

        Example:
            >>> StorageCredentials("aws_s3", "a", "b", "c", "r", "bk",
            ...                    store_path="p/tmp/x/{fileName}").key_for("sub\\\\a.JPG")
            'p/tmp/x/sub/a.JPG'
        """
        rel = relative_path.replace("\\", "/").lstrip("/")
        if "{fileName}" in self.store_path:
            return self.store_path.replace("{fileName}", rel)
        return f"{self.store_path.rstrip('/')}/{rel}" if self.store_path else rel

    def seconds_left(self, now: float | None = None) -> float:
        """Seconds until expiry (``inf`` when the expiry is unknown)."""
        if not self.expire_time:
            return float("inf")
        return self.expire_time - (time.time() if now is None else now)

    def expires_within(self, seconds: float, now: float | None = None) -> bool:
        """True when the keys expire in less than ``seconds``."""
        return self.seconds_left(now) < seconds

    def resolved_endpoint(self) -> str | None:
        """The endpoint to give boto3 (``None`` lets boto3 use env vars or AWS)."""
        if self.endpoint_url:
            return self.endpoint_url
        import os

        env = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if env:
            return env
        if self.is_oss and self.region:
            region = self.region if self.region.startswith("oss-") else f"oss-{self.region}"
            return f"https://{region}.aliyuncs.com"
        return None

    def with_endpoint(self, endpoint_url: str | None) -> StorageCredentials:
        """A copy with ``endpoint_url`` set (when the token itself had none)."""
        if endpoint_url is None or self.endpoint_url:
            return self
        return replace(self, endpoint_url=endpoint_url)

    @classmethod
    def from_terra(cls, data: dict[str, Any]) -> StorageCredentials:
        """From TerraAPI ``obtain_token`` ``data`` (camelCase, ``accessKeyID``)."""
        lower = {k.lower(): v for k, v in data.items()}
        return cls._from_sts(lower, 0, str(lower.get("cloudname") or "aws_s3").lower(), data)

    @classmethod
    def from_flighthub(cls, data: dict[str, Any]) -> StorageCredentials:
        """From FlightHub 2 ``obtain_token`` ``data`` (snake_case, ``end_point``)."""
        name = str(data.get("cloud_name") or "ali").lower()
        provider = "ali_oss" if name in {"ali", "ali_oss", "aliyun"} else name
        return cls._from_sts(data, 1, provider, data)

    @classmethod
    def _from_sts(cls, data: dict[str, Any], spelling: int, provider: str,
                  raw: dict[str, Any]) -> StorageCredentials:
        """Read an ``obtain_token`` answer whose keys are spelled ``_STS_KEYS[...][spelling]``."""
        key = {attr: keys[spelling] for attr, keys in _STS_KEYS.items()}
        text = {attr: str(data.get(key[attr], "")) for attr in
                ("access_key_id", "secret_access_key", "session_token", "region", "bucket",
                 "callback_param")}
        return cls(provider=provider, **text,
                   store_path=str(data.get(key["store_path"], "{fileName}")),
                   expire_time=float(data.get(key["expire_time"]) or 0),
                   endpoint_url=data.get(key["endpoint_url"]) or None, raw=dict(raw))

    @classmethod
    def from_cloudapi(cls, data: dict[str, Any], now: float | None = None) -> StorageCredentials:
        """From Cloud API ``POST /storage/api/v1/workspaces/{id}/sts`` ``data``."""
        creds = data.get("credentials") or {}
        expire = float(creds.get("expire") or 0)
        now = time.time() if now is None else now
        prefix = str(data.get("object_key_prefix") or "").rstrip("/")
        provider = str(data.get("provider") or "aws").lower()
        provider = {"ali": "ali_oss", "aws": "aws_s3"}.get(provider, provider)
        return cls(
            provider=provider,
            access_key_id=str(creds.get("access_key_id", "")),
            secret_access_key=str(creds.get("access_key_secret", "")),
            session_token=str(creds.get("security_token", "")),
            region=str(data.get("region", "")),
            bucket=str(data.get("bucket", "")),
            store_path=f"{prefix}/{{fileName}}" if prefix else "{fileName}",
            expire_time=now + expire if expire else 0.0,
            endpoint_url=data.get("endpoint") or None,
            raw=dict(data),
        )

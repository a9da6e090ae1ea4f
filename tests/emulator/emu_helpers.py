"""Helpers for the emulator tests: signed TerraAPI calls, S3 uploads, a served emulator handle."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import requests

from terranb.api.signing import sign
from terranb.emulator.context import account_prefix


class Terra:
    """Minimal signed TerraAPI caller (requests + terranb.api.signing)."""

    def __init__(self, base_url: str, app_key: str, secret_key: str) -> None:
        self.base_url = base_url
        self.app_key = app_key
        self.secret_key = secret_key

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: str = "",
        headers: dict[str, str] | None = None,
        sign_kw: dict[str, Any] | None = None,
    ) -> requests.Response:
        full = f"/terra-rescon-be/v2{path}"
        target = f"{full}?{query}" if query else full
        if body is None:
            raw = b""
        elif isinstance(body, bytes):
            raw = body
        else:
            raw = json.dumps(body).encode()
        h = sign(method, target, raw, self.app_key, self.secret_key, **(sign_kw or {}))
        h["Content-Type"] = "application/json;charset=UTF-8"
        h.update(headers or {})
        return requests.request(method, self.base_url + target, data=raw, headers=h, timeout=30)

    def ok(self, method: str, path: str, body: Any = None, query: str = "") -> Any:
        r = self.call(method, path, body, query)
        assert r.status_code == 200, r.text
        doc = r.json()
        assert doc["result"]["code"] == 0, doc
        return doc["data"]

    def err(
        self, method: str, path: str, body: Any = None, query: str = ""
    ) -> tuple[int, int, str]:
        r = self.call(method, path, body, query)
        doc = r.json()
        assert doc["result"]["code"] != 0, doc
        return r.status_code, doc["result"]["code"], doc["result"]["desc"]


def s3_client(endpoint: str, creds: dict[str, Any]) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=creds.get("accessKeyID") or creds.get("access_key_id"),
        aws_secret_access_key=creds.get("secretAccessKey") or creds.get("secret_access_key"),
        aws_session_token=creds.get("sessionToken") or creds.get("session_token"),
        region_name=creds.get("region") or "us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def upload_files(
    endpoint: str, token: dict[str, Any], files: dict[str, bytes]
) -> list[dict[str, str]]:
    """Put objects under the token's storePath; return upload_callback file entries."""
    client = s3_client(endpoint, token)
    bucket = token.get("cloudBucketName") or token.get("cloud_bucket_name")
    store = token.get("storePath") or token.get("store_path")
    out = []
    for name, data in files.items():
        put = client.put_object(Bucket=bucket, Key=store.replace("{fileName}", name), Body=data)
        etag = put["ETag"].strip('"')
        out.append({"name": name, "etag": etag, "checksum": etag})
    return out


class Served:
    """A running emulator plus handles the tests need."""

    def __init__(self, emulator: Any) -> None:
        self.emulator = emulator
        assert emulator.info is not None
        self.info = emulator.info

    @property
    def base_url(self) -> str:
        return self.info.base_url

    def terra(self, fresh: bool = True) -> Terra:
        """A caller; ``fresh`` makes a new account so tests do not share the job limit."""
        if not fresh:
            return Terra(self.base_url, self.info.app_key, self.info.secret_key)
        ak, sk = secrets.token_hex(8), secrets.token_urlsafe(16)
        assert self.emulator.state is not None
        self.emulator.state.put_account(ak, sk, account_prefix(ak))
        return Terra(self.base_url, ak, sk)

    def fh2_headers(self) -> dict[str, str]:
        return {
            "X-User-Token": self.info.user_token,
            "X-Project-Uuid": self.info.project_uuid,
            "X-Request-Id": "",
            "X-Language": "en",
            "Content-Type": "application/json",
        }


def bound_resource(served: Served, terra: Terra, photos: list[Path]) -> str:
    """A resource with the photos uploaded and bound; returns its uuid."""
    token = terra.ok("POST", "/store/obtain_token")
    files = upload_files(
        served.info.s3_endpoint_url, token, {p.name: p.read_bytes() for p in photos}
    )
    res = terra.ok("POST", "/resources", {"name": "photos", "type": "map"})
    terra.ok(
        "POST",
        "/store/upload_callback",
        {"resourceUUID": res["uuid"], "callbackParam": token["callbackParam"], "files": files},
    )
    return str(res["uuid"])

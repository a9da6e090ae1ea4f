"""S3 wire pieces shared by the proxy modules: errors, addressing, small XML readers.

Nothing here does I/O: :class:`S3Error` and :func:`error_xml` are S3's error
answer, :func:`split_bucket_key` / :func:`vhost_bucket` the two addressing
styles, and the XML readers pull what the proxy must know from a request or
answer body (a new bucket's region, the keys a DeleteObjects removed).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import unquote
from xml.sax.saxutils import escape

__all__ = [
    "ChangeEvent",
    "S3Error",
    "bucket_region",
    "deleted_keys",
    "error_xml",
    "is_auth_param",
    "split_bucket_key",
    "vhost_bucket",
]


@dataclass(frozen=True)
class ChangeEvent:
    """A successful write seen by the proxy.

    ``kind`` is ``"put"`` (object created or replaced), ``"delete"`` (object
    removed), ``"bucket"`` (bucket created; ``region`` set) or
    ``"delete_bucket"``.
    """

    kind: str
    bucket: str
    key: str = ""
    region: str = ""


class S3Error(Exception):
    """An S3-style error answer."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def error_xml(code: str, message: str, resource: str = "") -> bytes:
    """S3 error document."""
    request_id = uuid.uuid4().hex[:16].upper()
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
        f"<Resource>{escape(resource)}</Resource><RequestId>{request_id}</RequestId></Error>"
    ).encode()


def split_bucket_key(raw_path: str) -> tuple[str, str]:
    """``(bucket, key)`` of a path-style request path (key URL-decoded)."""
    path = raw_path.lstrip("/")
    bucket, _, key = path.partition("/")
    return unquote(bucket), unquote(key)


def vhost_bucket(host_header: str) -> str:
    """The bucket of a virtual-hosted-style ``Host`` (``bucket.localhost:PORT``), else ``""``."""
    host = host_header.strip().lower()
    if host.startswith("["):  # IPv6 literal
        return ""
    host = host.rsplit(":", 1)[0] if ":" in host else host
    if host.endswith(".localhost"):
        return host_header.strip()[: len(host) - len(".localhost")]
    return ""


def is_auth_param(name: str) -> bool:
    """Query parameters that carry authentication, not an S3 sub-resource."""
    return name.lower().startswith("x-amz-") or name in ("AWSAccessKeyId", "Signature", "Expires")


def bucket_region(body: bytes) -> str:
    import xml.etree.ElementTree as ET

    if not body.strip():
        return "us-east-1"
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return "us-east-1"
    for el in root.iter():
        if el.tag.endswith("LocationConstraint") and el.text:
            return el.text.strip()
    return "us-east-1"


def deleted_keys(body: bytes) -> list[str]:
    import xml.etree.ElementTree as ET

    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return []
    keys = []
    for el in root.iter():
        if el.tag.endswith("Deleted"):
            for child in el:
                if child.tag.endswith("Key") and child.text is not None:
                    keys.append(child.text)
    return keys

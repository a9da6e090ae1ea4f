"""Checking a request body against the digests its headers promise, as S3 does.

A client can state what its body hashes to: ``Content-MD5`` (base64 MD5),
``x-amz-checksum-crc32`` / ``-sha1`` / ``-sha256`` (base64, the flexible
checksums), and ``x-amz-content-sha256`` (hex SHA-256, the signed payload hash;
``UNSIGNED-PAYLOAD`` and the ``STREAMING-...`` values promise nothing about the
bytes). moto stores whatever arrives, so the S3 proxy hashes the body while it
relays it (:class:`BodyDigests`) and checks before it lets the last bytes through:
a body that does not match never completes upstream, so nothing is stored, and the
client gets S3's answer (400 ``BadDigest``, ``InvalidDigest`` for a malformed
Content-MD5, ``XAmzContentSHA256Mismatch``).

Not checked (the emulator's choice): ``x-amz-checksum-crc32c`` and ``-crc64nvme``
(no implementation in the standard library; accepted as sent) and ``aws-chunked``
bodies, whose chunk framing and trailing checksums moto decodes itself.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Callable
from typing import Any

from terranb.emulator.s3wire import S3Error

__all__ = ["BodyDigests"]


class _Crc32:
    """``zlib.crc32`` behind the hashlib interface (digest: 4 bytes, big-endian)."""

    def __init__(self) -> None:
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = zlib.crc32(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(4, "big")


_FLEXIBLE: dict[str, tuple[str, Callable[[], Any]]] = {
    "x-amz-checksum-crc32": ("CRC32", _Crc32),
    "x-amz-checksum-sha1": ("SHA1", hashlib.sha1),
    "x-amz-checksum-sha256": ("SHA256", hashlib.sha256),
}


def _b64(value: str) -> bytes | None:
    try:
        return base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


class BodyDigests:
    """The digests a request's headers promise, computed over the body as it passes.

    Use :meth:`from_headers` (``None`` when there is nothing to check), feed every
    body chunk to :meth:`update`, and call :meth:`check` before the last bytes go on.
    """

    def __init__(self, expected: list[tuple[str, bytes, Any]]) -> None:
        # (what is checked, the promised digest, a running hash)
        self._expected = expected

    @classmethod
    def from_headers(cls, headers: dict[str, str]) -> BodyDigests | None:
        """Digests promised by ``headers`` (lower-case names).

        Raises:
            S3Error: ``InvalidDigest`` for a Content-MD5 that is not base64 of 16 bytes.
        """
        if "aws-chunked" in headers.get("content-encoding", "").lower():
            return None
        expected: list[tuple[str, bytes, Any]] = []
        if "content-md5" in headers:
            md5 = _b64(headers["content-md5"])
            if md5 is None or len(md5) != 16:
                raise S3Error(400, "InvalidDigest", "The Content-MD5 you specified was invalid.")
            expected.append(("Content-MD5", md5, hashlib.md5()))
        for name, (label, make) in _FLEXIBLE.items():
            if name in headers:
                value = _b64(headers[name])
                if value is None:
                    raise S3Error(400, "InvalidRequest",
                                  f"Value for {name} header is invalid.")
                expected.append((label, value, make()))
        sha = headers.get("x-amz-content-sha256", "").strip().lower()
        if len(sha) == 64 and all(c in "0123456789abcdef" for c in sha):
            expected.append(("x-amz-content-sha256", bytes.fromhex(sha), hashlib.sha256()))
        return cls(expected) if expected else None

    def update(self, data: bytes) -> None:
        for _, _, running in self._expected:
            running.update(data)

    def check(self) -> None:
        """Raise S3's error for the first promised digest the body does not have."""
        for label, want, running in self._expected:
            if running.digest() == want:
                continue
            if label == "Content-MD5":
                raise S3Error(400, "BadDigest",
                              "The Content-MD5 you specified did not match what we received.")
            if label == "x-amz-content-sha256":
                raise S3Error(400, "XAmzContentSHA256Mismatch",
                              "The provided 'x-amz-content-sha256' header does not match what "
                              "was computed.")
            raise S3Error(400, "BadDigest",
                          f"The {label} you specified did not match the calculated checksum.")

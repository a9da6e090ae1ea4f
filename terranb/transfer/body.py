"""Request bodies and checksums of uploads: a counting file window, ETag rules, range hashes."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from terranb.closing import Closable

__all__ = ["FileWindow", "hash_range", "hook_progress", "is_md5", "multipart_etag", "strip_etag"]


class FileWindow(Closable):
    """A seekable window on a file that counts sent bytes for progress.

    botocore reads the body once to sign it (over plain HTTP) and again to send
    it; like s3transfer we count only while "transferring" (signalled from the
    ``request-created`` event) and roll back on seek (a retry re-sends).
    """

    def __init__(self, path: Path, offset: int, length: int,
                 on_bytes: Callable[[int], None], sha256_hex: str | None = None) -> None:
        self.sha256_hex = sha256_hex  # lets botocore skip hashing the body again
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._offset = offset
        self._length = length
        self._pos = 0
        self._counted = 0
        self._on_bytes = on_bytes
        self._transferring = False
        self._fh.seek(offset)

    def signal_transferring(self) -> None:
        self._transferring = True

    def signal_not_transferring(self) -> None:
        self._transferring = False

    def __len__(self) -> int:
        return self._length

    def read(self, amt: int | None = -1) -> bytes:
        left = self._length - self._pos
        if left <= 0:
            return b""
        n = left if amt is None or amt < 0 else min(amt, left)
        data = self._fh.read(n)
        self._pos += len(data)
        if self._transferring and self._pos > self._counted:
            self._on_bytes(self._pos - self._counted)
            self._counted = self._pos
        return data

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 1:
            pos += self._pos
        elif whence == 2:
            pos += self._length
        pos = max(0, min(pos, self._length))
        if pos < self._counted:
            self._on_bytes(pos - self._counted)
            self._counted = pos
        self._pos = pos
        self._fh.seek(self._offset + pos)
        return pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._fh.close()


def _signal(name: str) -> Callable[..., None]:
    def handler(request: Any, **_: Any) -> None:
        body = getattr(request, "body", None)
        if hasattr(body, name):
            getattr(body, name)()
    return handler


_HOOKED: set[int] = set()
_HOOK_LOCK = threading.Lock()


def hook_progress(client: Any) -> None:
    """Make ``FileWindow`` bodies count only the bytes actually sent (once per client)."""
    with _HOOK_LOCK:
        if id(client) in _HOOKED:
            return
        _HOOKED.add(id(client))
    events = client.meta.events
    events.register_first("request-created.s3", _signal("signal_not_transferring"),
                          unique_id="terranb-not-transferring")
    events.register_last("request-created.s3", _signal("signal_transferring"),
                         unique_id="terranb-transferring")
    events.register("before-sign.s3", _known_payload_hash, unique_id="terranb-payload-hash")


def _known_payload_hash(request: Any, **_: Any) -> None:
    """Offer botocore the body's SHA-256 we already computed.

    Note (audit): botocore's ``S3SigV4Auth`` drops this header and hashes the body
    again while signing, over HTTP and over HTTPS alike (no checksum header is
    sent, see :mod:`~terranb.transfer.s3client`), so today this saves nothing;
    using the known hash needs a custom signer (kept for that).
    """
    sha = getattr(getattr(request, "body", None), "sha256_hex", None)
    url = str(getattr(request, "url", ""))
    if sha and not url.startswith("https") and "X-Amz-Content-SHA256" not in request.headers:
        request.headers["X-Amz-Content-SHA256"] = sha


def strip_etag(etag: str | None) -> str:
    return (etag or "").strip().strip('"').lower()


def is_md5(etag: str) -> bool:
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag)


def multipart_etag(part_md5s: Sequence[str]) -> str:
    """The ETag S3 and OSS give a multipart object: md5 of the parts' binary md5s, ``-N``."""
    joined = b"".join(bytes.fromhex(m) for m in part_md5s)
    return f"{hashlib.md5(joined).hexdigest()}-{len(part_md5s)}"




def hash_range(path: Path, offset: int, length: int) -> tuple[str, str]:
    """``(md5, sha256)`` hex of ``length`` bytes at ``offset``, read in 1 MiB chunks."""
    md5, sha = hashlib.md5(), hashlib.sha256()
    with open(path, "rb") as fh:
        fh.seek(offset)
        left = length
        while left > 0:
            block = fh.read(min(1 << 20, left))
            if not block:
                break
            md5.update(block)
            sha.update(block)
            left -= len(block)
    return md5.hexdigest(), sha.hexdigest()

"""Request bodies and checksums of uploads: a counting file window, ETag rules, range hashes."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from terranb.closing import Closable

__all__ = ["FileWindow", "content_md5", "hash_with_parts", "hook_progress", "is_md5", "md5_range",
           "multipart_etag", "strip_etag"]


class FileWindow(Closable):
    """A seekable window on a file that counts sent bytes for progress.

    Clients from :func:`~terranb.transfer.s3client.make_client` do not hash the
    body to sign it (``UNSIGNED-PAYLOAD``), so it is read once, to send it; like
    s3transfer we still count only while "transferring" (signalled from the
    ``request-created`` event, in case a signer reads it first) and roll back on
    seek (a retry re-sends).
    """

    def __init__(self, path: Path, offset: int, length: int,
                 on_bytes: Callable[[int], None]) -> None:
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


def strip_etag(etag: str | None) -> str:
    return (etag or "").strip().strip('"').lower()


def is_md5(etag: str) -> bool:
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag)


def multipart_etag(part_md5s: Sequence[str]) -> str:
    """The ETag S3 and OSS give a multipart object: md5 of the parts' binary md5s, ``-N``."""
    joined = b"".join(bytes.fromhex(m) for m in part_md5s)
    return f"{hashlib.md5(joined).hexdigest()}-{len(part_md5s)}"


def content_md5(md5_hex: str) -> str:
    """The ``Content-MD5`` header value (base64 of the binary digest) of an MD5 hex digest.

    Sent with every PUT and part: the store recomputes it and refuses a body that
    does not match (``BadDigest``) before storing anything, which is the integrity
    check the unsigned payload leaves to the transport (see :mod:`.s3client`).
    """
    return base64.b64encode(bytes.fromhex(md5_hex)).decode("ascii")


def hash_with_parts(path: Path, part_size: int, chunk: int = 1 << 20) -> tuple[str, str, list[str]]:
    """``(sha256, md5, part md5s)`` of a file read once: the journal's hashes and each part's.

    A multipart file's parts need their own MD5 (``Content-MD5`` and the ETag
    check); taking them in the same pass as the whole-file hashes saves reading
    and hashing every byte a second time.
    """
    sha, md5 = hashlib.sha256(), hashlib.md5()
    parts: list[str] = []
    part, in_part = hashlib.md5(), 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(min(chunk, part_size - in_part))
            if not block:
                break
            sha.update(block)
            md5.update(block)
            part.update(block)
            in_part += len(block)
            if in_part == part_size:
                parts.append(part.hexdigest())
                part, in_part = hashlib.md5(), 0
    if in_part or not parts:
        parts.append(part.hexdigest())
    return sha.hexdigest(), md5.hexdigest(), parts


def md5_range(path: Path, offset: int, length: int) -> str:
    """MD5 hex of ``length`` bytes at ``offset``, read in 1 MiB chunks (one part's ETag)."""
    md5 = hashlib.md5()
    with open(path, "rb") as fh:
        fh.seek(offset)
        left = length
        while left > 0:
            block = fh.read(min(1 << 20, left))
            if not block:
                break
            md5.update(block)
            left -= len(block)
    return md5.hexdigest()

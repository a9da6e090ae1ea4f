"""The storage's on-disk mirror: every completed write copied to ``data_dir/s3`` and reloaded.

moto is in-memory; :class:`MirrorMixin` (part of
:class:`~terranb.emulator.storage.EmbeddedStorage`) keeps a durable copy:

* ``objects/<bucket>/<key>``: the object bytes (keys that are not safe as
  paths, or that collide with a folder, go to ``objects/<bucket>/.escaped/<sha256 of key>``);
* ``meta/<bucket>/<sha256 of key>.json``: key, ETag, size, content type, user metadata.

The S3 proxy reports each successful write (:class:`~.s3wire.ChangeEvent`);
the object is read back from moto and written atomically (``.part`` then
``os.replace``) before the client gets its answer. :meth:`MirrorMixin._reseed`
loads everything into moto again on start and restores the original ETags.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from terranb.emulator.s3wire import ChangeEvent

__all__ = ["MirrorMixin", "atomic_write_bytes"]

log = logging.getLogger("terranb.emulator.storage")

# Objects larger than this are re-seeded with a multipart upload.
_MULTIPART_THRESHOLD = 64 * 1024 * 1024


def atomic_write_bytes(path: Path, data: bytes, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{secrets.token_hex(4)}.part")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    if mode is not None:
        os.chmod(tmp, mode)
    os.replace(tmp, path)


def _moto_key_info(fake: Any) -> dict[str, Any]:
    """What ``head_object`` would say about a moto key (the fields the mirror keeps)."""
    meta = {str(k).lower(): v for k, v in dict(fake.metadata).items()}
    return {
        "ETag": str(fake.etag),
        "ContentLength": int(fake.size),
        "ContentType": meta.get("content-type") or "binary/octet-stream",
        "Metadata": {k[len("x-amz-meta-"):]: v for k, v in meta.items()
                     if k.startswith("x-amz-meta-")},
    }


def _copy_moto_value(fake: Any, out: Any) -> None:
    """Write a moto key's bytes to ``out``, under the key's own lock.

    moto keeps an object below its spill size in a ``BytesIO``, whose ``getvalue()``
    hands out the stored bytes without copying them (copy-on-write), so they go to
    the file in one write instead of being copied out 1 MiB at a time first. A value
    moto spilled to a temporary file is copied in 1 MiB pieces.
    """
    with fake.lock:
        buf = fake._value_buffer
        inner = getattr(buf, "_file", None)
        if isinstance(inner, io.BytesIO):
            out.write(inner.getvalue())
            return
        buf.seek(0)
        while True:
            chunk = buf.read(1 << 20)
            if not chunk:
                break
            out.write(chunk)


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _safe_relpath(key: str) -> Path | None:
    """``key`` as a relative path when that is safe, else ``None``."""
    if not key or key.endswith("/") or "\x00" in key or "\\" in key:
        return None
    parts = key.split("/")
    if any(p in ("", ".", "..") or p.endswith(".part") or p == ".escaped" for p in parts):
        return None
    if any(len(p.encode()) > 200 for p in parts):
        return None
    return Path(*parts)


class MirrorMixin:
    """Disk mirroring for :class:`~terranb.emulator.storage.EmbeddedStorage`."""

    root: Path
    account_id: str
    _buckets: dict[str, str]
    _lock: threading.RLock
    _client: Any

    def _require_started(self) -> Any:
        raise NotImplementedError

    def ensure_bucket(self, bucket: str, region: str = "us-east-1") -> None:
        raise NotImplementedError

    def _buckets_file(self) -> Path:
        return self.root / "buckets.json"

    def _save_buckets(self) -> None:
        atomic_write_bytes(self._buckets_file(), json.dumps(self._buckets, indent=1).encode())

    # -- persistence ------------------------------------------------------------------
    def _meta_path(self, bucket: str, key: str) -> Path:
        return self.root / "meta" / bucket / f"{_key_hash(key)}.json"

    def _object_path(self, bucket: str, key: str) -> Path:
        base = self.root / "objects" / bucket
        rel = _safe_relpath(key)
        if rel is not None:
            candidate = base / rel
            # A key "a" next to a key "a/b" cannot both be files: escape the newcomer.
            clash = candidate.is_dir() or any(
                p.is_file() for p in list(candidate.parents)[: len(rel.parts) - 1]
            )
            if not clash:
                return candidate
        return base / ".escaped" / _key_hash(key)

    def _on_change(self, event: ChangeEvent) -> None:
        if event.kind == "put":
            self._mirror(event.bucket, event.key)
        elif event.kind == "delete":
            self._unmirror(event.bucket, event.key)
        elif event.kind == "bucket":
            with self._lock:
                self._buckets[event.bucket] = event.region or "us-east-1"
                self._save_buckets()
        elif event.kind == "delete_bucket":
            with self._lock:
                self._buckets.pop(event.bucket, None)
                self._save_buckets()

    def _mirror(self, bucket: str, key: str, source: Path | None = None) -> None:
        """Copy ``bucket/key`` to disk, atomically, with its metadata.

        The bytes come from ``source`` when the caller has the file that was just
        uploaded, else from moto.
        """
        client = self._require_started()
        meta_path = self._meta_path(bucket, key)
        old: dict[str, Any] = {}
        if meta_path.is_file():
            with contextlib.suppress(OSError, ValueError):
                old = json.loads(meta_path.read_text())
        target = self.root / old["file"] if old.get("file") else self._object_path(bucket, key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{target.name}.{secrets.token_hex(4)}.part")
        fake = None if source is not None else self._moto_key(bucket, key)
        if fake is not None:
            resp = _moto_key_info(fake)
        elif source is not None:
            resp = client.head_object(Bucket=bucket, Key=key)
        else:
            resp = client.get_object(Bucket=bucket, Key=key)
        try:
            with open(tmp, "wb") as fh:
                if fake is not None:
                    _copy_moto_value(fake, fh)
                elif source is not None:
                    with open(source, "rb") as src:
                        shutil.copyfileobj(src, fh, 1 << 20)
                else:
                    for chunk in resp["Body"].iter_chunks(1 << 20):
                        fh.write(chunk)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        meta = {
            "bucket": bucket,
            "key": key,
            "etag": resp["ETag"].strip('"'),
            "size": int(resp["ContentLength"]),
            "content_type": resp.get("ContentType") or "binary/octet-stream",
            "metadata": resp.get("Metadata") or {},
            "file": target.relative_to(self.root).as_posix(),
        }
        atomic_write_bytes(meta_path, json.dumps(meta).encode())
        with self._lock:
            if bucket not in self._buckets:
                self._buckets[bucket] = "us-east-1"
                self._save_buckets()

    def mirror_copy(self, bucket: str, key: str) -> tuple[Path, str, int] | None:
        """``(file, ETag, size)`` of the disk copy of ``bucket/key``; None if there is none.

        What the S3 proxy serves Range GETs from (:mod:`.s3mirror_read`; it checks the
        ETag and size against moto's before using the file). Never raises.
        """
        try:
            meta = json.loads(self._meta_path(bucket, key).read_text())
            if meta.get("bucket") != bucket or meta.get("key") != key:
                return None  # a hash collision or a hand-edited record: not this object
            return self.root / str(meta["file"]), str(meta["etag"]), int(meta["size"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _moto_key(self, bucket: str, key: str) -> Any:
        """moto's object for ``bucket/key`` in this instance's account, or ``None``.

        moto runs in this process, so the mirror reads the bytes moto just stored
        from moto's own buffer instead of asking moto for them over HTTP (a GET per
        write that costs more CPU than the write itself). Anything unexpected in
        moto's internals falls back to the GET.
        """
        try:
            from moto.s3.models import s3_backends

            fake = s3_backends[self.account_id]["global"].buckets[bucket].keys[key]
            return fake if not getattr(fake, "disposed", False) else None
        except Exception:
            return None

    def _unmirror(self, bucket: str, key: str) -> None:
        meta_path = self._meta_path(bucket, key)
        if not meta_path.is_file():
            return
        with contextlib.suppress(OSError, ValueError):
            meta = json.loads(meta_path.read_text())
            with contextlib.suppress(FileNotFoundError):
                (self.root / meta["file"]).unlink()
        with contextlib.suppress(FileNotFoundError):
            meta_path.unlink()

    def _iter_meta(self) -> Iterator[dict[str, Any]]:
        meta_root = self.root / "meta"
        if not meta_root.is_dir():
            return
        for path in sorted(meta_root.glob("*/*.json")):
            try:
                yield json.loads(path.read_text())
            except (OSError, ValueError):
                log.warning("skipping unreadable object record %s", path)

    def _reseed(self) -> None:
        """Load ``buckets.json`` and every mirrored object into moto."""
        client = self._client
        path = self._buckets_file()
        if path.is_file():
            try:
                self._buckets = {str(k): str(v) for k, v in json.loads(path.read_text()).items()}
            except (OSError, ValueError):
                log.warning("ignoring unreadable %s", path)
        for bucket, region in sorted(self._buckets.items()):
            self.ensure_bucket(bucket, region)
        from boto3.s3.transfer import TransferConfig

        config = TransferConfig(multipart_threshold=_MULTIPART_THRESHOLD, use_threads=False)
        for meta in self._iter_meta():
            bucket, key = meta["bucket"], meta["key"]
            file = self.root / meta["file"]
            if not file.is_file():
                log.warning("object file %s is missing; s3://%s/%s not restored", file, bucket, key)
                continue
            if bucket not in self._buckets:
                self.ensure_bucket(bucket, "us-east-1")
            extra: dict[str, Any] = {
                "ContentType": meta.get("content_type") or "binary/octet-stream"
            }
            if meta.get("metadata"):
                extra["Metadata"] = meta["metadata"]
            client.upload_file(str(file), bucket, key, ExtraArgs=extra, Config=config)
            self._restore_etag(bucket, key, str(meta.get("etag", "")))

    def _restore_etag(self, bucket: str, key: str, etag: str) -> None:
        # moto recomputes ETags on upload; a multipart ETag ("<md5>-<n>") cannot be
        # reproduced without the original part sizes, so set it on moto's key object.
        if not etag:
            return
        try:
            from moto.s3.models import s3_backends

            fake = s3_backends[self.account_id]["global"].buckets[bucket].keys[key]
            if fake.etag.strip('"') != etag:
                fake._etag = etag
        except Exception:
            log.debug("could not restore the ETag of s3://%s/%s", bucket, key, exc_info=True)

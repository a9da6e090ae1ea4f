"""The multipart side of an upload: per-file part state, resuming, completing, orphans.

:class:`MultipartSteps` is mixed into :class:`~terranb.transfer.upload.Uploader`; it
relies on the uploader's ``_call`` (credential renewal and retries), ``journal`` and
``_orphans_listed`` event, and keeps the rules of multipart uploads in one place:

* parts already in the journal, or in the store with an ETag that matches the local
  bytes, are not sent again;
* a new multipart upload waits until the orphan listing is taken, so every upload that
  listing shows predates this run and one the journal does not know is an orphan;
* the assembled object's ETag must be the one its parts give (S3's and OSS's rule).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import threading
from typing import Any

from terranb.errors import TransferError
from terranb.transfer.body import is_md5, multipart_etag, strip_etag
from terranb.transfer.journal import FileRow, Journal, PartRow, SessionRow
from terranb.transfer.progress import ProgressTracker
from terranb.transfer.scan import LocalFile

__all__ = ["MultipartSteps"]

log = logging.getLogger("terranb.transfer.upload")


class _FileState:
    """Per-file state shared by the workers sending its parts."""

    def __init__(self, local: LocalFile, row: FileRow, part_size: int) -> None:
        self.local = local
        self.row = row
        self.part_size = part_size
        self.lock = threading.Lock()
        self.upload_id: str | None = row.upload_id
        self.nparts = max(1, -(-local.size // part_size))
        self.done: dict[int, PartRow] = {}
        self.failed = False

    def part_range(self, number: int) -> tuple[int, int]:
        start = (number - 1) * self.part_size
        return start, min(self.part_size, self.local.size - start)


class _NoSuchUpload(Exception):
    pass


class MultipartSteps:
    """Multipart steps of :class:`~terranb.transfer.upload.Uploader` (a mixin)."""

    journal: Journal
    _orphans_listed: threading.Event

    def _call(self, what: str, fn: Any) -> Any:  # provided by Uploader
        raise NotImplementedError

    def _abort_orphans(self, session: SessionRow, listed: threading.Event) -> int:
        """Abort the multipart uploads under the session's prefix the journal does not know.

        Runs beside the transfers; ``listed`` is set once the listing is taken.
        New multipart uploads wait for it (:meth:`_ensure_upload_id`), so every
        listed upload predates this run and one unknown to the journal is an orphan.
        """
        aborted = 0
        try:
            known = self.journal.upload_ids(session.id)
            uploads: list[dict[str, Any]] = []

            def listing(client: Any) -> None:
                paginator = client.get_paginator("list_multipart_uploads")
                for page in paginator.paginate(Bucket=session.bucket, Prefix=session.prefix):
                    uploads.extend(page.get("Uploads") or [])
            self._call("list multipart uploads", listing)
        except (TransferError, _NoSuchUpload) as exc:
            log.info("cannot list multipart uploads (%s); orphans are left to the bucket's "
                     "lifecycle rules", exc)
            return 0
        finally:
            listed.set()
        for up in uploads:
            if up.get("UploadId") in known:
                continue
            try:
                self._call("abort orphan upload", functools.partial(
                    _abort, bucket=session.bucket, key=up["Key"], upload_id=up["UploadId"]))
                aborted += 1
            except (TransferError, _NoSuchUpload):
                pass
        if aborted:
            log.info("aborted %d orphan multipart upload(s) under %s", aborted, session.prefix)
        return aborted

    def _resume_parts(self, session: SessionRow, st: _FileState) -> None:
        """Take the journal's finished parts (and ones the store has that match locally)."""
        assert st.upload_id
        st.done = self.journal.parts(session.id, st.local.rel, st.upload_id)
        remote: dict[int, dict[str, Any]] = {}
        try:
            def listing(client: Any) -> None:
                paginator = client.get_paginator("list_parts")
                for page in paginator.paginate(Bucket=session.bucket, Key=st.row.key,
                                               UploadId=st.upload_id):
                    for p in page.get("Parts") or []:
                        remote[int(p["PartNumber"])] = p
            self._call("list parts", listing)
        except _NoSuchUpload:
            self.journal.set_upload_id(session.id, st.local.rel, None)
            st.upload_id = None
            st.done = {}
            return
        # Parts the journal has but the store lost are sent again.
        st.done = {n: p for n, p in st.done.items()
                   if n in remote and strip_etag(remote[n].get("ETag")) == p.etag}
        # Parts the store finished just before a crash, before the journal heard of
        # them: adopt those whose ETag is the MD5 of our bytes (nothing is sent again).
        for n, info in remote.items():
            if n in st.done or not 1 <= n <= st.nparts:
                continue
            offset, length = st.part_range(n)
            etag = strip_etag(info.get("ETag"))
            if int(info.get("Size", -1)) != length or not is_md5(etag):
                continue
            with open(st.local.path, "rb") as fh:
                fh.seek(offset)
                if hashlib.md5(fh.read(length)).hexdigest() != etag:
                    continue
            part = PartRow(n, etag, length)
            self.journal.adopt_part(session.id, st.local.rel, st.upload_id, part)
            st.done[n] = part

    def _ensure_upload_id(self, session: SessionRow, st: _FileState) -> str:
        with st.lock:
            if st.upload_id is None:
                # Not before the orphan listing is taken, or it could list this upload
                # before the journal knows it and abort it (see _abort_orphans).
                self._orphans_listed.wait()
                resp = self._call("create multipart upload", lambda c: c.create_multipart_upload(
                    Bucket=session.bucket, Key=st.row.key))
                st.upload_id = str(resp["UploadId"])
                self.journal.set_upload_id(session.id, st.local.rel, st.upload_id)
            return st.upload_id

    def _complete(self, session: SessionRow, run_id: int, st: _FileState,
                  tracker: ProgressTracker) -> None:
        assert st.upload_id
        upload_id = st.upload_id
        parts = [st.done[n] for n in sorted(st.done)]
        resp = self._call(f"complete {st.local.rel}", lambda c: c.complete_multipart_upload(
            Bucket=session.bucket, Key=st.row.key, UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": p.part_number, "ETag": f'"{p.etag}"'}
                                       for p in parts]}))
        etag = strip_etag(resp.get("ETag"))
        if all(is_md5(p.etag) for p in parts) and "-" in etag:
            expected = multipart_etag([p.etag for p in parts])
            if etag != expected:
                raise TransferError(f"{st.local.rel}: the assembled object's ETag {etag} is not "
                                    f"the one its parts give ({expected})")
        self.journal.finish_file(session.id, st.local.rel, etag, run_id)
        tracker.finish_file(st.local.rel)


def _abort(client: Any, *, bucket: str, key: str, upload_id: str) -> Any:
    return client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def _safe_text(exc: BaseException) -> str:
    """An exception's text without anything that looks like a credential."""
    text = str(exc)
    for marker in ("X-Amz-Security-Token", "x-amz-security-token", "Signature="):
        if marker in text:
            text = text.split(marker)[0] + "[redacted]"
    return text[:500]

"""Parallel, resumable uploads of a data set folder to the bucket of ``obtain_token``.

:class:`Uploader` sends every file of a folder to ``store_path`` with
``{fileName}`` = its relative path (``/`` separators), the way DJI's quick start
does, but:

* in parallel, streaming from disk (memory does not grow with the file count or
  size); by default the number of transfers in flight is found by measuring the
  link (:class:`~terranb.transfer.concurrency.ConcurrencyTuner`: start at 8,
  time each transfer, fourfold on a fast link or half as many on a slower one
  first, then double (fourfold while the gain is near-linear) while throughput
  grows, keep the best level, halve on throttling, at most ``MAX_WORKERS`` and the
  memory budget); ``workers=N`` fixes it;
* as multipart uploads above ``multipart_threshold`` (default = ``part_size``,
  8 MiB), so at most ``in-flight x part_size`` bytes are lost by a crash;
* with a journal (:mod:`terranb.transfer.journal`): a re-run skips finished
  files and parts, continues multipart uploads and aborts orphan ones;
* renewing STS credentials before they expire and when the store says they
  did, without re-sending what is done (:class:`~terranb.transfer.s3client.CredentialSource`);
* with end-to-end integrity: every PUT and part carries the ``Content-MD5``
  computed while hashing the file (the store refuses a body that does not match,
  ``BadDigest``, and the upload retries it), and every stored object's ETag is
  checked against it afterwards. Each byte is read and hashed once before it is
  sent: the payload is not hashed again for the signature (``UNSIGNED-PAYLOAD``,
  see :mod:`~terranb.transfer.s3client`), and a multipart file's part MD5s come
  from the same pass as its whole-file hashes;
* reporting byte progress per file and in total (``on_progress``).

Binding (``upload_callback``) is done by :meth:`Uploader.bind` through a callable
the job layer supplies (``transfer`` never imports ``api``): once per file, in
batches, only for objects confirmed in the bucket by ``head_object``.

Example:
    >>> up = Uploader(lambda: client.store.obtain_token(), label="terra")  # doctest: +SKIP
    >>> result = up.upload("flight-0412/")                                # doctest: +SKIP
    >>> up.bind(result, resource_uuid, bind_batch)                        # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from terranb.credentials import StorageCredentials
from terranb.errors import (
    CredentialsExpiredError,
    TerranbError,
    TransferError,
    ValidationError,
    is_transient_service_error,
)
from terranb.retry import TRANSFERS
from terranb.transfer.binding import BindBatch, Binder, BindResult
from terranb.transfer.body import (
    FileWindow,
    content_md5,
    hash_with_parts,
    hook_progress,
    is_md5,
    md5_range,
    multipart_etag,
    strip_etag,
)
from terranb.transfer.concurrency import ConcurrencyTuner, run_pool
from terranb.transfer.journal import FileRow, Journal, PartRow, RunStats, SessionRow, hash_file
from terranb.transfer.multipart import MultipartSteps, _FileState, _NoSuchUpload, _safe_text
from terranb.transfer.progress import ProgressCallback, ProgressTracker
from terranb.transfer.s3client import (
    CredentialProvider,
    CredentialSource,
    error_code,
    is_expired_error,
    is_transient_error,
    preload,
)
from terranb.transfer.scan import LocalFile, dataset_fingerprint, scan_folder

__all__ = [
    "DEFAULT_PART_SIZE",
    "DEFAULT_WORKERS",
    "MAX_WORKERS",
    "BindBatch",
    "BindResult",
    "LocalFile",
    "UploadResult",
    "Uploader",
    "dataset_fingerprint",
    "is_transient_service_error",
    "multipart_etag",
    "scan_folder",
]

log = logging.getLogger(__name__)

DEFAULT_WORKERS: int | None = None
"""``None``: the uploader finds its concurrency itself (:mod:`terranb.transfer.concurrency`)."""
MAX_WORKERS = 32
DEFAULT_PART_SIZE = 8 * 1024 * 1024
MAX_PARTS = 10_000
# Each transfer in flight holds a connection, its TLS buffers and botocore's read
# buffers (a few MiB); 256 MiB caps an adaptive upload at MAX_WORKERS either way.
MEMORY_BUDGET = 256 * 1024 * 1024
_PER_WORKER_BYTES = 8 * 1024 * 1024


@dataclass
class UploadResult:
    """What one :meth:`Uploader.upload` did."""

    session: SessionRow
    files: list[FileRow]
    run: RunStats
    fingerprint: str
    seconds: float
    journal: Journal = field(repr=False)

    @property
    def bytes_sent(self) -> int:
        """Bytes this run sent (finished parts and objects)."""
        return self.run.bytes_sent

    @property
    def bytes_skipped(self) -> int:
        """Bytes already in the bucket before this run."""
        return self.run.bytes_skipped

    @property
    def total_bytes(self) -> int:
        """Size of the data set."""
        return sum(f.size for f in self.files)


class Uploader(MultipartSteps):
    """Uploads data set folders with a journal, parallel workers and renewed credentials.

    Args:
        credentials: a provider callable returning :class:`StorageCredentials`
            (called again when they near expiry), fixed credentials, or a
            :class:`CredentialSource`.
        label: names the target (service and account) in the journal, so the same
            folder uploaded to two services keeps two sets of rows.
        journal: a :class:`Journal` or its path (default: the user data dir).
        workers: parallel transfers; ``None`` (default) finds the number by measuring
            throughput (see :mod:`terranb.transfer.concurrency`).
        max_workers: the most an adaptive upload opens (default: ``MAX_WORKERS``, and no
            more than ``memory_budget`` allows).
        memory_budget: bytes the transfers in flight may hold.
        part_size: multipart part size in bytes (S3 and OSS need >= 5 MiB).
        multipart_threshold: files larger than this use multipart (default ``part_size``).
        on_progress: called with :class:`~terranb.transfer.progress.ProgressEvent`.
        margin: renew credentials this many seconds before they expire.
        retries: attempts per request on transient errors (after botocore's own).
        sleep: injectable ``time.sleep`` for the retry backoff.
    """

    def __init__(self, credentials: CredentialProvider | StorageCredentials | CredentialSource, *,
                 label: str = "default", journal: Journal | str | os.PathLike[str] | None = None,
                 workers: int | None = DEFAULT_WORKERS, part_size: int = DEFAULT_PART_SIZE,
                 max_workers: int = MAX_WORKERS, memory_budget: int = MEMORY_BUDGET,
                 multipart_threshold: int | None = None,
                 on_progress: ProgressCallback | None = None, margin: float = 60.0,
                 retries: int = 6, sleep: Callable[[float], None] = time.sleep) -> None:
        if workers is not None and workers < 1:
            raise ValidationError(f"workers must be at least 1, not {workers!r}; leave it out "
                                  "to let the uploader find the number itself")
        if max_workers < 1:
            raise ValidationError(f"max_workers must be at least 1, not {max_workers!r}")
        if part_size < 1:
            raise ValidationError(f"part_size must be positive, not {part_size!r}")
        self.adaptive = workers is None
        # The most transfers in flight: fixed, or the tuner's ceiling.
        self.workers = workers if workers is not None else max(
            1, min(max_workers, memory_budget // _PER_WORKER_BYTES))
        self.source = (credentials if isinstance(credentials, CredentialSource)
                       else CredentialSource(credentials, margin=margin, pool=self.workers + 2))
        self.tuner: ConcurrencyTuner | None = None
        self.label = label
        self.journal = journal if isinstance(journal, Journal) else Journal(journal)
        self.part_size = part_size
        self.multipart_threshold = part_size if multipart_threshold is None else multipart_threshold
        self.on_progress = on_progress
        self.retries = retries
        self._sleep = sleep
        self._orphans_listed = threading.Event()
        self._orphans_listed.set()
        # Part MD5s taken in the whole-file hashing pass (rel -> one per part).
        self._part_md5s: dict[str, list[str]] = {}

    # -- helpers ---------------------------------------------------------------------------
    def _part_size(self, size: int) -> int:
        """The part size of a multipart file: ``part_size``, larger if it needs > MAX_PARTS."""
        return max(self.part_size, -(-size // MAX_PARTS))

    def _call(self, what: str, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(client)`` with credential renewal and transient-error retries."""
        attempt = 0
        # The body may have been read (partly or wholly) by a rejected attempt, e.g. when
        # an ExpiredToken answer arrives after botocore stopped waiting for 100-continue;
        # every attempt must start from its first byte or it announces N bytes and sends 0.
        body = getattr(fn, "keywords", {}).get("Body")
        while True:
            client, generation = self.source.client()
            hook_progress(client)
            if body is not None and hasattr(body, "seek"):
                body.seek(0)
            try:
                return fn(client)
            except Exception as exc:
                if error_code(exc) == "NoSuchUpload":
                    raise _NoSuchUpload(str(exc)) from exc
                if is_expired_error(exc):
                    log.info("%s: storage credentials expired, renewing", what)
                    self.source.invalidate(generation)
                    continue
                attempt += 1
                if self.tuner is not None and is_transient_error(exc):
                    self.tuner.throttled()  # 503 SlowDown, 5xx, resets: fewer in flight
                if not is_transient_error(exc) or attempt >= self.retries:
                    if isinstance(exc, TerranbError):
                        raise
                    raise TransferError(f"{what} failed: {type(exc).__name__}: "
                                        f"{_safe_text(exc)}") from exc
                delay = TRANSFERS.delay(attempt)
                log.info("%s: %s, retrying in %.1f s", what, error_code(exc) or type(exc).__name__,
                         delay)
                self._sleep(delay)

    def _session(self, root: str, creds: StorageCredentials, fresh: bool = False) -> SessionRow:
        old = None if fresh else self.journal.find_session(root, self.label)
        if old is not None and old.bucket == creds.bucket:
            return old
        return self.journal.new_session(
            root, self.label, provider=creds.provider, endpoint=creds.resolved_endpoint(),
            bucket=creds.bucket, store_path=creds.store_path, callback_param=creds.callback_param)

    def _hash_all(self, files: list[LocalFile]) -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        todo: list[LocalFile] = []
        for f in files:
            cached = self.journal.cached_hash(str(f.path), f.size, f.mtime_ns)
            if cached:
                out[f.rel] = cached
            else:
                todo.append(f)
        if todo:
            def hashed(f: LocalFile) -> tuple[str, str]:
                if f.size <= self.multipart_threshold:
                    return hash_file(f.path)
                sha, md5, parts = hash_with_parts(f.path, self._part_size(f.size))
                self._part_md5s[f.rel] = parts
                return sha, md5

            with ThreadPoolExecutor(max_workers=min(4, self.workers)) as pool:
                hashes = list(pool.map(hashed, todo))
            self.journal.store_hashes((str(f.path), f.size, f.mtime_ns, h[0], h[1])
                                      for f, h in zip(todo, hashes, strict=True))
            out.update({f.rel: h for f, h in zip(todo, hashes, strict=True)})
        return out

    # -- upload -----------------------------------------------------------------------------
    def upload(self, root: str | os.PathLike[str], *, files: Iterable[str] | None = None,
               max_passes: int = 3, _fresh: bool = False) -> UploadResult:
        """Upload the files of ``root`` that the bucket does not have yet.

        Args:
            root: the data set folder.
            files: only these relative paths (default: every non-hidden file).
            max_passes: files that failed after their retries are tried again in a
                new pass, this many passes at most.

        Returns:
            an :class:`UploadResult` (journal rows, bytes sent and skipped, fingerprint).

        Raises:
            TransferError: a file could not be uploaded; re-running resumes.
            CredentialsExpiredError: new credentials could not be obtained.
        """
        t0 = time.monotonic()
        local = scan_folder(root, files)
        root_s = str(Path(root).resolve())
        # Load boto3's S3 model while obtain_token is on the wire (both take 0.1-1 s).
        preloading = threading.Thread(target=preload, name="terranb-preload", daemon=True)
        preloading.start()
        creds = self.source.get()
        session = self._session(root_s, creds, fresh=_fresh)
        reused = session.store_path != creds.store_path
        # Files new to this session and sent in one PUT are hashed by the worker that
        # sends them, overlapping hashing with other transfers; the rest first.
        known = {r.rel for r in self.journal.files(session.id)}
        deferred = {f.rel for f in local if f.rel not in known
                    and f.size <= self.multipart_threshold
                    and self.journal.cached_hash(str(f.path), f.size, f.mtime_ns) is None}
        hashes = self._hash_all([f for f in local if f.rel not in deferred])
        rows: dict[str, FileRow] = {}
        for f in local:
            if f.rel in deferred:
                rows[f.rel] = FileRow(f.rel, f.size, f.mtime_ns, "", "", session.key_for(f.rel),
                                      None, None, False, None, 0)
                continue
            sha, md5 = hashes[f.rel]
            rows[f.rel] = self.journal.put_file(session.id, f.rel, size=f.size,
                                                mtime_ns=f.mtime_ns, sha256=sha, md5=md5,
                                                key=session.key_for(f.rel))
        run_id = self.journal.start_run(session.id)
        # Orphan multipart uploads are listed and aborted beside the transfers (a round
        # trip less before the first byte); only new multipart uploads wait for the list.
        self._orphans_listed = listed = threading.Event()
        orphans: list[int] = [0]

        def clean_orphans() -> None:
            try:
                orphans[0] = self._abort_orphans(session, listed)
            except Exception as exc:  # best effort, like a failed listing
                log.warning("orphan multipart uploads were not cleaned up: %s",
                            _safe_text(exc))
            finally:
                listed.set()

        cleaner = threading.Thread(target=clean_orphans, name="terranb-orphans", daemon=True)
        cleaner.start()
        try:
            tracker = ProgressTracker(self.on_progress, phase="upload",
                                      total_bytes=sum(f.size for f in local),
                                      files_total=len(local))
            skipped_bytes = skipped_files = 0
            pending: list[LocalFile] = []
            for f in local:
                if rows[f.rel].uploaded:
                    skipped_bytes += f.size
                    skipped_files += 1
                    tracker.start_file(f.rel, f.size, f.size)
                    tracker.finish_file(f.rel, skipped=True)
                else:
                    pending.append(f)
            errors: list[str] = []
            for _ in range(max_passes):
                if not pending:
                    break
                errors = []
                pending = self._pass(session, run_id, pending, tracker, errors, rows)
        finally:
            listed.set()  # never leave a worker waiting (the cleaner sets it too)
            cleaner.join()
        self.journal.finish_run(run_id, bytes_skipped=skipped_bytes, files_skipped=skipped_files,
                                orphans_aborted=orphans[0])
        if pending and reused and not _fresh and errors and all(
                "AccessDenied" in e for e in errors):
            # The new token may not write under the earlier token's key prefix (an STS
            # policy per prefix): start over under the new one; nothing else works.
            log.warning("the store refuses the earlier upload's key prefix for the new "
                        "credentials; uploading under the new prefix instead")
            return self.upload(root, files=files, max_passes=max_passes, _fresh=True)
        if pending:
            names = ", ".join(f.rel for f in pending[:5])
            more = f" and {len(pending) - 5} more" if len(pending) > 5 else ""
            raise TransferError(f"{len(pending)} file(s) could not be uploaded ({names}{more}): "
                                f"{errors[0] if errors else 'unknown error'}; run the upload "
                                "again to resume (finished files and parts are kept)")
        final = self.journal.files(session.id)
        wanted = {f.rel for f in local}
        final = [r for r in final if r.rel in wanted]
        run = next(r for r in self.journal.runs(session.id) if r.id == run_id)
        return UploadResult(session, final, run, dataset_fingerprint(final),
                            time.monotonic() - t0, self.journal)

    def _pass(self, session: SessionRow, run_id: int, files: list[LocalFile],
              tracker: ProgressTracker, errors: list[str],
              provisional: dict[str, FileRow]) -> list[LocalFile]:
        """One pass over ``files``; returns the files that failed."""
        states: list[_FileState] = []
        for f in files:
            row = self.journal.file(session.id, f.rel) or provisional[f.rel]
            state = _FileState(f, row, self._part_size(f.size)
                               if f.size > self.multipart_threshold else max(f.size, 1))
            if f.size > self.multipart_threshold and state.upload_id:
                self._resume_parts(session, state)
            states.append(state)
            tracker.start_file(f.rel, f.size, sum(p.size for p in state.done.values()))

        def tasks() -> Iterator[tuple[_FileState, int]]:
            for st in states:
                if st.local.size <= self.multipart_threshold:
                    yield st, 0
                else:
                    need = [n for n in range(1, st.nparts + 1) if n not in st.done]
                    if not need:
                        yield st, -1  # every part was already there: only complete
                    for n in need:
                        yield st, n

        failed: set[str] = set()
        lock = threading.Lock()

        def run(st: _FileState, number: int) -> int:
            """One PUT, part or completion; the bytes it sent (the tuner's measurement)."""
            if st.failed:
                return 0
            try:
                if number == 0:
                    self._put(session, run_id, st, tracker)
                    return st.local.size
                if number == -1:
                    self._complete(session, run_id, st, tracker)
                    return 0
                self._part(session, run_id, st, number, tracker)
                return st.part_range(number)[1]
            except CredentialsExpiredError:
                raise  # no new credentials: the whole upload stops (run_pool hands it back)
            except _NoSuchUpload:
                # The multipart upload vanished (aborted elsewhere or expired): start the
                # file over in the next pass.
                self.journal.set_upload_id(session.id, st.local.rel, None)
                st.failed = True
                with lock:
                    failed.add(st.local.rel)
                    errors.append(f"multipart upload of {st.local.rel} no longer exists")
            except (TransferError, OSError) as exc:
                st.failed = True
                code = error_code(exc.__cause__) if exc.__cause__ else ""
                with lock:
                    failed.add(st.local.rel)
                    errors.append(f"{exc} [{code}]" if code else str(exc))
            return 0

        tuner = self.tuner = (ConcurrencyTuner(start=min(8, self.workers), cap=self.workers)
                              if self.adaptive else None)
        error = run_pool((functools.partial(run, st, number) for st, number in tasks()),
                         limit=self.workers, tuner=tuner, name="terranb-upload",
                         stop_on_error=True)
        if error is not None:
            raise error
        return [st.local for st in states if st.local.rel in failed]

    def _put(self, session: SessionRow, run_id: int, st: _FileState,
             tracker: ProgressTracker) -> None:
        rel, size = st.local.rel, st.local.size
        if not st.row.sha256:  # deferred: hash now, in this worker
            sha, md5 = hash_file(st.local.path)
            self.journal.store_hashes([(str(st.local.path), size, st.local.mtime_ns, sha, md5)])
            st.row = self.journal.put_file(session.id, rel, size=size,
                                           mtime_ns=st.local.mtime_ns, sha256=sha, md5=md5,
                                           key=st.row.key)
        inflight = self.journal.begin_inflight(run_id, session.id, rel, 0, size)
        try:
            for _check in range(3):
                with FileWindow(st.local.path, 0, size,
                                lambda n: tracker.advance(rel, n)) as body:
                    resp = self._call(f"upload {rel}", functools.partial(
                        _put_object, Bucket=session.bucket, Key=st.row.key, Body=body,
                        ContentLength=size, ContentMD5=content_md5(st.row.md5)))
                etag = strip_etag(resp.get("ETag"))
                if not is_md5(etag) or etag == st.row.md5:
                    break
                log.warning("ETag of %s does not match its MD5; sending it again", rel)
                tracker.start_file(rel, size, 0)
            else:
                raise TransferError(f"{rel}: the store keeps returning an ETag that does not "
                                    "match the file's MD5; the connection may corrupt data")
        except BaseException:
            self.journal.end_inflight(inflight)
            raise
        self.journal.finish_file(session.id, rel, etag, run_id, size, inflight)
        tracker.finish_file(rel)

    def _part(self, session: SessionRow, run_id: int, st: _FileState, number: int,
              tracker: ProgressTracker) -> None:
        rel = st.local.rel
        upload_id = self._ensure_upload_id(session, st)
        offset, length = st.part_range(number)
        known = self._part_md5s.get(rel)
        md5 = (known[number - 1] if known is not None and len(known) == st.nparts
               else md5_range(st.local.path, offset, length))  # hashes cached from a past run
        inflight = self.journal.begin_inflight(run_id, session.id, rel, number, length)
        try:
            for _check in range(3):
                with FileWindow(st.local.path, offset, length,
                                lambda n: tracker.advance(rel, n)) as body:
                    resp = self._call(f"upload {rel} part {number}", functools.partial(
                        _upload_part, Bucket=session.bucket, Key=st.row.key,
                        UploadId=upload_id, PartNumber=number, Body=body,
                        ContentLength=length, ContentMD5=content_md5(md5)))
                etag = strip_etag(resp.get("ETag"))
                if not is_md5(etag) or etag == md5:
                    break
                log.warning("ETag of %s part %d does not match its MD5; sending it again",
                            rel, number)
                tracker.advance(rel, -length)
            else:
                raise TransferError(f"{rel} part {number}: ETag does not match the MD5")
        except BaseException:
            self.journal.end_inflight(inflight)
            raise
        part = PartRow(number, etag, length)
        self.journal.add_part(session.id, rel, upload_id, part, run_id, inflight)
        with st.lock:
            st.done[number] = part
            last = len(st.done) == st.nparts
        if last:
            self._complete(session, run_id, st, tracker)

    # -- binding (terranb.transfer.binding) -------------------------------------------------
    def _binder(self) -> Binder:
        return Binder(self._call, self.journal, workers=self.workers,
                      on_progress=self.on_progress, sleep=self._sleep)

    def confirm(self, session: SessionRow, rows: Sequence[FileRow]) -> list[str]:
        """``head_object`` each unconfirmed row (see :meth:`Binder.confirm`)."""
        return self._binder().confirm(session, rows)

    def bind(self, result: UploadResult | SessionRow, resource_uuid: str, bind_batch: BindBatch,
             *, batch_size: int = 50, bound_names: Callable[[], set[str]] | None = None,
             attempts: int = 6) -> BindResult:
        """Link the session's confirmed objects to ``resource_uuid`` (see :meth:`Binder.bind`)."""
        session = result.session if isinstance(result, UploadResult) else result
        wanted = ({r.rel for r in result.files} if isinstance(result, UploadResult) else None)
        return self._binder().bind(session, wanted, resource_uuid, bind_batch,
                                   batch_size=batch_size, bound_names=bound_names,
                                   attempts=attempts)


def _put_object(client: Any, **kwargs: Any) -> Any:
    return client.put_object(**kwargs)


def _upload_part(client: Any, **kwargs: Any) -> Any:
    return client.upload_part(**kwargs)

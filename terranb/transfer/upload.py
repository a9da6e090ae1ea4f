"""Parallel, resumable uploads of a data set folder to the bucket of ``obtain_token``.

:class:`Uploader` sends every file of a folder to ``store_path`` with
``{fileName}`` = its relative path (``/`` separators), the way DJI's quick start
does, but:

* in parallel (``workers``, default 8: enough to fill a home uplink, few enough
  for a notebook kernel), streaming from disk (memory does not grow with the
  file count or size);
* as multipart uploads above ``multipart_threshold`` (default = ``part_size``,
  8 MiB), so at most ``workers x part_size`` bytes are lost by a crash;
* with a journal (:mod:`terranb.transfer.journal`): a re-run skips finished
  files and parts, continues multipart uploads and aborts orphan ones;
* renewing STS credentials before they expire and when the store says they
  did, without re-sending what is done (:class:`~terranb.transfer.s3client.CredentialSource`);
* checking every stored object's ETag against the MD5 computed locally;
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
import hashlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from terranb.credentials import StorageCredentials
from terranb.errors import (
    ApiError,
    CredentialsExpiredError,
    JobLimitError,
    ServerError,
    TerranbError,
    TransferError,
    TransportError,
    ValidationError,
)
from terranb.transfer.journal import (
    BIND_DONE,
    BIND_PENDING,
    FileRow,
    Journal,
    PartRow,
    RunStats,
    SessionRow,
    hash_file,
)
from terranb.transfer.progress import ProgressCallback, ProgressTracker
from terranb.transfer.s3client import (
    CredentialProvider,
    CredentialSource,
    error_code,
    is_expired_error,
    is_transient_error,
    preload,
)

__all__ = [
    "DEFAULT_PART_SIZE",
    "DEFAULT_WORKERS",
    "BindBatch",
    "BindResult",
    "LocalFile",
    "UploadResult",
    "Uploader",
    "dataset_fingerprint",
    "is_transient_service_error",
    "scan_folder",
]

log = logging.getLogger(__name__)

DEFAULT_WORKERS = 8
DEFAULT_PART_SIZE = 8 * 1024 * 1024
MAX_PARTS = 10_000

BindBatch = Callable[[str, Sequence[FileRow]], None]
"""``bind_batch(callback_param, files)``: link these uploaded files to the resource."""


def is_transient_service_error(exc: BaseException) -> bool:
    """True for service failures worth retrying: transport errors, 5xx, gateway 5xx.

    A gateway 5xx whose body is not the service's envelope may arrive as a plain
    :class:`~terranb.errors.ApiError`; its HTTP status decides.
    """
    if isinstance(exc, (TransportError, ServerError)):
        return True
    if isinstance(exc, ApiError) and not isinstance(exc, JobLimitError):
        return exc.status_code is not None and (exc.status_code >= 500
                                                or exc.status_code == 429)
    return False


@dataclass(frozen=True)
class LocalFile:
    """A file of the data set folder."""

    rel: str
    path: Path
    size: int
    mtime_ns: int


def scan_folder(root: str | os.PathLike[str],
                files: Iterable[str] | None = None) -> list[LocalFile]:
    """Files under ``root`` (recursively, hidden ones skipped), sorted by relative path.

    Args:
        root: data set folder.
        files: only these relative paths (``/`` or ``os.sep`` separated).
    """
    base = Path(root).resolve()
    if not base.is_dir():
        raise TransferError(f"{base} is not a folder; give the folder that holds the photos")
    found: list[LocalFile] = []
    if files is not None:
        candidates = [base / f.replace("\\", "/") for f in files]
    else:
        candidates = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            candidates += [Path(dirpath) / n for n in filenames if not n.startswith(".")]
    for path in candidates:
        st = path.stat()
        rel = path.relative_to(base).as_posix()
        found.append(LocalFile(rel, path, st.st_size, st.st_mtime_ns))
    found.sort(key=lambda f: f.rel)
    return found


def dataset_fingerprint(rows: Iterable[FileRow | tuple[str, int, str]]) -> str:
    """SHA-256 over the sorted ``(path, size, sha256)`` of a data set's files."""
    items = sorted((r.rel, r.size, r.sha256) if isinstance(r, FileRow) else tuple(r)
                   for r in rows)
    digest = hashlib.sha256()
    for rel, size, sha in items:
        digest.update(f"{rel}\t{size}\t{sha}\n".encode())
    return digest.hexdigest()


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


@dataclass
class BindResult:
    """What one :meth:`Uploader.bind` did."""

    resource_uuid: str
    bound: list[str]
    already_bound: list[str]
    missing: list[str]
    calls: int


class _Reader:
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

    def __enter__(self) -> _Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _signal(name: str) -> Callable[..., None]:
    def handler(request: Any, **_: Any) -> None:
        body = getattr(request, "body", None)
        if hasattr(body, name):
            getattr(body, name)()
    return handler


_HOOKED: set[int] = set()
_HOOK_LOCK = threading.Lock()


def _hook_progress(client: Any) -> None:
    """Make ``_Reader`` bodies count only the bytes actually sent (once per client)."""
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


def _strip(etag: str | None) -> str:
    return (etag or "").strip().strip('"').lower()


def _is_md5(etag: str) -> bool:
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag)


def multipart_etag(part_md5s: Sequence[str]) -> str:
    """The ETag S3 and OSS give a multipart object: md5 of the parts' binary md5s, ``-N``."""
    joined = b"".join(bytes.fromhex(m) for m in part_md5s)
    return f"{hashlib.md5(joined).hexdigest()}-{len(part_md5s)}"


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


class Uploader:
    """Uploads data set folders with a journal, parallel workers and renewed credentials.

    Args:
        credentials: a provider callable returning :class:`StorageCredentials`
            (called again when they near expiry), fixed credentials, or a
            :class:`CredentialSource`.
        label: names the target (service and account) in the journal, so the same
            folder uploaded to two services keeps two sets of rows.
        journal: a :class:`Journal` or its path (default: the user data dir).
        workers: parallel transfers.
        part_size: multipart part size in bytes (S3 and OSS need >= 5 MiB).
        multipart_threshold: files larger than this use multipart (default ``part_size``).
        on_progress: called with :class:`~terranb.transfer.progress.ProgressEvent`.
        margin: renew credentials this many seconds before they expire.
        retries: attempts per request on transient errors (after botocore's own).
        sleep: injectable ``time.sleep`` for the retry backoff.
    """

    def __init__(self, credentials: CredentialProvider | StorageCredentials | CredentialSource, *,
                 label: str = "default", journal: Journal | str | os.PathLike[str] | None = None,
                 workers: int = DEFAULT_WORKERS, part_size: int = DEFAULT_PART_SIZE,
                 multipart_threshold: int | None = None,
                 on_progress: ProgressCallback | None = None, margin: float = 60.0,
                 retries: int = 6, sleep: Callable[[float], None] = time.sleep) -> None:
        if workers < 1:
            raise ValidationError(f"workers must be at least 1, not {workers!r}")
        if part_size < 1:
            raise ValidationError(f"part_size must be positive, not {part_size!r}")
        self.source = (credentials if isinstance(credentials, CredentialSource)
                       else CredentialSource(credentials, margin=margin, pool=workers + 2))
        self.label = label
        self.journal = journal if isinstance(journal, Journal) else Journal(journal)
        self.workers = workers
        self.part_size = part_size
        self.multipart_threshold = part_size if multipart_threshold is None else multipart_threshold
        self.on_progress = on_progress
        self.retries = retries
        self._sleep = sleep
        self._orphans_listed = threading.Event()
        self._orphans_listed.set()

    # -- helpers ---------------------------------------------------------------------------
    def _call(self, what: str, fn: Callable[[Any], Any]) -> Any:
        """Run ``fn(client)`` with credential renewal and transient-error retries."""
        attempt = 0
        # The body may have been read (partly or wholly) by a rejected attempt, e.g. when
        # an ExpiredToken answer arrives after botocore stopped waiting for 100-continue;
        # every attempt must start from its first byte or it announces N bytes and sends 0.
        body = getattr(fn, "keywords", {}).get("Body")
        while True:
            client, generation = self.source.client()
            _hook_progress(client)
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
                if not is_transient_error(exc) or attempt >= self.retries:
                    if isinstance(exc, TerranbError):
                        raise
                    raise TransferError(f"{what} failed: {type(exc).__name__}: "
                                        f"{_safe_text(exc)}") from exc
                delay = min(20.0, 0.25 * 2 ** attempt) * (0.5 + random.random() / 2)
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
            with ThreadPoolExecutor(max_workers=min(4, self.workers)) as pool:
                hashes = list(pool.map(lambda f: hash_file(f.path), todo))
            self.journal.store_hashes((str(f.path), f.size, f.mtime_ns, h[0], h[1])
                                      for f, h in zip(todo, hashes, strict=True))
            out.update({f.rel: h for f, h in zip(todo, hashes, strict=True)})
        return out

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
            state = _FileState(f, row, self.part_size if f.size > self.multipart_threshold
                               else max(f.size, 1))
            if f.size > self.multipart_threshold:
                if -(-f.size // self.part_size) > MAX_PARTS:
                    state.part_size = -(-f.size // MAX_PARTS)
                    state.nparts = -(-f.size // state.part_size)
                if state.upload_id:
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

        def run(st: _FileState, number: int) -> None:
            if st.failed:
                return
            try:
                if number == 0:
                    self._put(session, run_id, st, tracker)
                elif number == -1:
                    self._complete(session, run_id, st, tracker)
                else:
                    self._part(session, run_id, st, number, tracker)
            except CredentialsExpiredError:
                raise
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

        with ThreadPoolExecutor(max_workers=self.workers,
                                thread_name_prefix="terranb-upload") as pool:
            running: set[Future[None]] = set()
            for st, number in tasks():
                while len(running) >= self.workers * 2:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    for fut in done:
                        fut.result()
                running.add(pool.submit(run, st, number))
            for fut in running:
                fut.result()
        return [st.local for st in states if st.local.rel in failed]

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
                   if n in remote and _strip(remote[n].get("ETag")) == p.etag}
        # Parts the store finished just before a crash, before the journal heard of
        # them: adopt those whose ETag is the MD5 of our bytes (nothing is sent again).
        for n, info in remote.items():
            if n in st.done or not 1 <= n <= st.nparts:
                continue
            offset, length = st.part_range(n)
            etag = _strip(info.get("ETag"))
            if int(info.get("Size", -1)) != length or not _is_md5(etag):
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
                with _Reader(st.local.path, 0, size, lambda n: tracker.advance(rel, n),
                             st.row.sha256 or None) as body:
                    resp = self._call(f"upload {rel}", functools.partial(
                        _put_object, Bucket=session.bucket, Key=st.row.key, Body=body,
                        ContentLength=size))
                etag = _strip(resp.get("ETag"))
                if not _is_md5(etag) or etag == st.row.md5:
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
        md5, sha = _hash_range(st.local.path, offset, length)  # one extra read, page cache
        inflight = self.journal.begin_inflight(run_id, session.id, rel, number, length)
        try:
            for _check in range(3):
                with _Reader(st.local.path, offset, length,
                             lambda n: tracker.advance(rel, n), sha or None) as body:
                    resp = self._call(f"upload {rel} part {number}", functools.partial(
                        _upload_part, Bucket=session.bucket, Key=st.row.key,
                        UploadId=upload_id, PartNumber=number, Body=body,
                        ContentLength=length))
                etag = _strip(resp.get("ETag"))
                if not _is_md5(etag) or etag == md5:
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

    def _complete(self, session: SessionRow, run_id: int, st: _FileState,
                  tracker: ProgressTracker) -> None:
        assert st.upload_id
        upload_id = st.upload_id
        parts = [st.done[n] for n in sorted(st.done)]
        resp = self._call(f"complete {st.local.rel}", lambda c: c.complete_multipart_upload(
            Bucket=session.bucket, Key=st.row.key, UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": p.part_number, "ETag": f'"{p.etag}"'}
                                       for p in parts]}))
        etag = _strip(resp.get("ETag"))
        if all(_is_md5(p.etag) for p in parts) and "-" in etag:
            expected = multipart_etag([p.etag for p in parts])
            if etag != expected:
                raise TransferError(f"{st.local.rel}: the assembled object's ETag {etag} is not "
                                    f"the one its parts give ({expected})")
        self.journal.finish_file(session.id, st.local.rel, etag, run_id)
        tracker.finish_file(st.local.rel)

    # -- binding ------------------------------------------------------------------------------
    def confirm(self, session: SessionRow, rows: Sequence[FileRow]) -> list[str]:
        """``head_object`` each unconfirmed row; returns the paths missing or different.

        Missing or different objects are reset in the journal, so the next
        :meth:`upload` sends them again.
        """
        todo = [r for r in rows if r.uploaded and not r.confirmed]
        bad: list[str] = [r.rel for r in rows if not r.uploaded]
        ok: list[str] = []

        def head(row: FileRow) -> bool:
            try:
                resp = self._call(f"check {row.rel}", lambda c: c.head_object(
                    Bucket=session.bucket, Key=row.key))
            except TransferError as exc:
                if error_code(exc.__cause__ or exc) in {"404", "NoSuchKey", "NotFound"}:
                    return False
                raise
            return (int(resp.get("ContentLength", -1)) == row.size
                    and _strip(resp.get("ETag")) == _strip(row.etag))

        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            for row, good in zip(todo, pool.map(head, todo), strict=True):
                (ok if good else bad).append(row.rel)
        self.journal.set_confirmed(session.id, ok)
        for rel in bad:
            self.journal.reset_file(session.id, rel)
        return sorted(bad)

    def bind(self, result: UploadResult | SessionRow, resource_uuid: str, bind_batch: BindBatch,
             *, batch_size: int = 50, bound_names: Callable[[], set[str]] | None = None,
             attempts: int = 6) -> BindResult:
        """Link the session's confirmed objects to ``resource_uuid``, each file once.

        Args:
            result: the :class:`UploadResult` (or session) whose files to bind.
            resource_uuid: the resource (TerraAPI) or resource uuid (FlightHub 2).
            bind_batch: ``bind_batch(callback_param, rows)`` calls ``upload_callback``.
            batch_size: files per call (50 as in DJI's examples).
            bound_names: returns the names already bound to the resource; used to
                reconcile after a failed or interrupted call, so a retry never binds
                a file twice.
            attempts: tries per batch on transient errors (transport, 5xx).

        Returns:
            a :class:`BindResult`; ``missing`` lists files that were not in the
            bucket (reset in the journal: upload again, then bind again).
        """
        session = result.session if isinstance(result, UploadResult) else result
        wanted = ({r.rel for r in result.files} if isinstance(result, UploadResult) else None)
        rows = [r for r in self.journal.files(session.id) if wanted is None or r.rel in wanted]
        already = [r.rel for r in rows
                   if r.bind_state == BIND_DONE and r.bound_resource == resource_uuid]
        todo = [r for r in rows if r.rel not in set(already)]
        stale = [r for r in todo if r.bind_state == BIND_PENDING]
        calls = 0
        if stale and bound_names is not None:
            # A previous run died between sending a batch and recording it.
            present = bound_names()
            done_now = [r.rel for r in todo if r.rel in present]
            self.journal.set_bind_state(session.id, done_now, resource_uuid, BIND_DONE)
            already += done_now
            todo = [r for r in todo if r.rel not in present]
        missing = self.confirm(session, todo)
        todo = [r for r in todo if r.rel not in set(missing)]
        rows_now = {r.rel: r for r in self.journal.files(session.id)}
        todo = [rows_now[r.rel] for r in todo]
        bound: list[str] = []
        tracker = ProgressTracker(self.on_progress, phase="bind", total_bytes=len(todo),
                                  files_total=len(todo))
        for i in range(0, len(todo), batch_size):
            batch = todo[i:i + batch_size]
            for attempt in range(1, attempts + 1):
                names = [r.rel for r in batch]
                self.journal.set_bind_state(session.id, names, resource_uuid, BIND_PENDING)
                try:
                    calls += 1
                    bind_batch(session.callback_param, batch)
                    break
                except TerranbError as exc:
                    if not is_transient_service_error(exc):
                        raise
                    if attempt == attempts:
                        # Left pending: the next run asks the service what got bound.
                        raise TransferError(f"binding files to {resource_uuid} failed "
                                            f"{attempts} times: {exc}") from exc
                    self._sleep(min(10.0, 0.25 * 2 ** attempt))
                    if bound_names is not None:
                        present = bound_names()
                        done_now = [n for n in names if n in present]
                        self.journal.set_bind_state(session.id, done_now, resource_uuid,
                                                    BIND_DONE)
                        bound += done_now
                        batch = [r for r in batch if r.rel not in present]
                        if not batch:
                            break
            names = [r.rel for r in batch]
            self.journal.set_bind_state(session.id, names, resource_uuid, BIND_DONE)
            bound += names
            for name in names:
                tracker.start_file(name, 1)
                tracker.finish_file(name)
        return BindResult(resource_uuid, sorted(bound), sorted(already), missing, calls)


def _hash_range(path: Path, offset: int, length: int) -> tuple[str, str]:
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


def _abort(client: Any, *, bucket: str, key: str, upload_id: str) -> Any:
    return client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)


def _put_object(client: Any, **kwargs: Any) -> Any:
    return client.put_object(**kwargs)


def _upload_part(client: Any, **kwargs: Any) -> Any:
    return client.upload_part(**kwargs)


def _safe_text(exc: BaseException) -> str:
    """An exception's text without anything that looks like a credential."""
    text = str(exc)
    for marker in ("X-Amz-Security-Token", "x-amz-security-token", "Signature="):
        if marker in text:
            text = text.split(marker)[0] + "[redacted]"
    return text[:500]

"""Verified, resumable downloads of result files into a local tree.

:class:`Downloader` takes :class:`RemoteFile` entries (name = relative path in
the result tree, size, checksum, presigned URL) and for each one:

1. checks *every* name first and refuses unsafe ones (absolute, ``..``, drive
   letters, backslashes, NUL) with :class:`~terranb.errors.UnsafePathError`
   before anything is written;
2. refuses listings that name two different files the same, and never replaces a
   different local file unless ``overwrite=True`` (see
   :mod:`terranb.transfer.download_guard` for what counts as "the same file");
   identical files are skipped;
3. streams the body to ``<name>.part`` (never into memory), resuming a partial
   ``.part`` with an HTTP ``Range`` request; a file whose listed size is at least
   ``ranged_threshold`` (32 MiB) comes as parallel 8 MiB Range pieces instead,
   resumable piece by piece (:mod:`terranb.transfer.ranged`; one stream again when
   the server ignores ``Range``); pieces and whole files share one pool whose size
   a :class:`~terranb.transfer.concurrency.ConcurrencyTuner` finds (``workers=``
   fixes it);
4. on 403/400 "expired" asks ``renew(file)`` for a new presigned URL;
5. checks the size and the checksum (TerraAPI ``File.checksum`` is the MD5/ETag
   of single-part objects; multipart-style ``<md5>-<n>`` values are skipped),
   fsyncs and renames atomically.

:func:`download_object` (:mod:`terranb.transfer.object_download`, re-exported here)
fetches one object from the bucket of STS credentials (FlightHub 2's ``zip_file_key``)
the same way, with boto3.

Example:
    >>> dl = Downloader(renew=lambda f: client.files.get(f.ref).url)  # doctest: +SKIP
    >>> dl.download(files, "out/")  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from terranb.errors import TransferError, UnsafePathError
from terranb.retry import TRANSFERS
from terranb.transfer.concurrency import ConcurrencyTuner, Task, run_pool
from terranb.transfer.download_guard import (
    DownloadJournal,
    conflict_error,
    digests,
    existing_conflicts,
    resolve_duplicates,
)
from terranb.transfer.object_download import download_object
from terranb.transfer.progress import ProgressCallback, ProgressTracker
from terranb.transfer.ranged import (
    CHUNK,
    MAX_WORKERS,
    PIECE_SIZE,
    RANGED_THRESHOLD,
    PieceExpired,
    PieceFile,
    PieceTransient,
    RangeIgnored,
    check_ranged_options,
    expected_md5,
    fetch_piece,
)

__all__ = [
    "DownloadResult",
    "Downloader",
    "RemoteFile",
    "check_name",
    "download_object",
    "safe_target",
]

log = logging.getLogger(__name__)

_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True)
class RemoteFile:
    """One file to download.

    Attributes:
        name: relative path inside the result tree (``/`` separated).
        size: bytes, when the service says.
        checksum: the service's checksum (MD5 hex, quoted ETag, or ``<md5>-<n>``).
        url: presigned URL, or ``None`` to ask ``renew`` first.
        ref: the backend's handle for renewing the URL (e.g. a TerraAPI file uuid).
    """

    name: str
    size: int | None = None
    checksum: str | None = None
    url: str | None = field(default=None, repr=False)
    ref: Any = None


Renew = Callable[[RemoteFile], str]


@dataclass
class DownloadResult:
    """What one :meth:`Downloader.download` did."""

    dest: Path
    written: list[str]
    skipped: list[str]
    bytes_received: int
    renewed: int
    seconds: float

    @property
    def files(self) -> list[str]:
        """Every file of the tree (written and skipped)."""
        return sorted(self.written + self.skipped)


def check_name(name: str) -> str:
    """Validate a remote relative path; returns it, or raises :class:`UnsafePathError`.

    Example:
        >>> check_name("map/result.tif")
        'map/result.tif'
        >>> check_name("../../x")
        Traceback (most recent call last):
        ...
        terranb.errors.UnsafePathError: refusing to write '../../x': it contains '..' ...
    """
    why = ""
    if not name or not name.strip():
        why = "it is empty"
    elif "\x00" in name:
        why = "it contains a NUL byte"
    elif "\\" in name:
        why = "it contains a backslash"
    elif name.startswith("/"):
        why = "it is an absolute path"
    elif _DRIVE.match(name):
        why = "it starts with a drive letter"
    elif any(part == ".." for part in name.split("/")):
        why = "it contains '..'"
    elif any(part in ("", ".") for part in name.rstrip("/").split("/")):
        why = "it has an empty or '.' component"
    if why:
        raise UnsafePathError(f"refusing to write {name!r}: {why} and could escape the "
                              "destination folder; the service sent an unsafe file name")
    return name


def safe_target(dest: Path, name: str) -> Path:
    """``dest / name`` after :func:`check_name`, also refusing symlinks that lead outside."""
    check_name(name)
    root = dest.resolve()
    target = (root / name).resolve()
    if target != root and root not in target.parents:
        raise UnsafePathError(f"refusing to write {name!r}: it resolves outside {root}")
    return root / name


_expected_md5 = expected_md5  # the name download_guard's callers know


def _looks_expired(status: int, body: str) -> bool:
    return status in (400, 401, 403) and ("expire" in body.lower() or "AccessDenied" in body)


class _Restart(Exception):
    pass


@dataclass(kw_only=True, eq=False)  # eq=False: a downloader is equal only to itself
class Downloader:
    """Downloads many files in parallel with resume, renewal and verification.

    Args:
        renew: returns a fresh URL for a file (called when a URL expired or was absent).
        workers: transfers in flight (whole files, and pieces of large files); ``None``
            (default) lets a :class:`~terranb.transfer.concurrency.ConcurrencyTuner`
            find the number by measuring, up to :data:`~terranb.transfer.ranged.MAX_WORKERS`.
        ranged_threshold: files whose listed size is at least this many bytes are fetched
            as parallel HTTP Range pieces (:mod:`terranb.transfer.ranged`); ``None``: one
            stream per file, as before 2026-12.
        piece_size: bytes per piece.
        retries: attempts per file on transient errors (resets, 5xx, truncation).
        on_progress: receives :class:`~terranb.transfer.progress.ProgressEvent`.
        session_factory: makes the ``requests.Session`` of each worker thread.
        sleep: injectable ``time.sleep`` for backoff.
        timeout: ``(connect, read)`` seconds.
    """

    renew: Renew | None = None
    workers: int | None = None
    ranged_threshold: int | None = RANGED_THRESHOLD
    piece_size: int = PIECE_SIZE
    retries: int = 6
    on_progress: ProgressCallback | None = None
    session_factory: Callable[[], Any] | None = field(default=None, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    timeout: tuple[float, float] = (10.0, 60.0)
    # per-thread sessions and the counters of the current download, shared by the workers
    _local: threading.local = field(default_factory=threading.local, init=False, repr=False)
    _renewed: int = field(default=0, init=False, repr=False)
    _received: int = field(default=0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    # the tuner of the last download (None with a fixed ``workers``): what it settled at
    tuner: ConcurrencyTuner | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        check_ranged_options(self.workers, self.ranged_threshold, self.piece_size)

    def _session(self) -> Any:
        sess = getattr(self._local, "session", None)
        if sess is None:
            if self.session_factory is not None:
                sess = self.session_factory()
            else:
                import requests

                sess = requests.Session()
            self._local.session = sess
        return sess

    def download(self, files: Iterable[RemoteFile], dest: str | os.PathLike[str], *,
                 overwrite: bool = False, duplicates: str = "error") -> DownloadResult:
        """Download ``files`` under ``dest``; files already there and identical are skipped.

        Every check below happens for the whole listing before anything is written.

        Args:
            overwrite: replace local files that differ from the service's (else refuse).
            duplicates: ``"error"`` or ``"rename"`` for two different files of one name.

        Raises:
            UnsafePathError: a name would escape ``dest``.
            DuplicateNameError: two different listed files share a name.
            FileConflictError: a different file is already at a target and not ``overwrite``.
            TransferError: a file failed after its retries (finished files stay).
        """
        t0 = time.monotonic()
        root = Path(dest)
        if root.exists() and not root.is_dir():
            raise TransferError(f"cannot download into {root}: it is a file, not a folder; "
                                "choose another destination")
        listed = list(files)
        for f in listed:
            check_name(f.name)
        items = resolve_duplicates(listed, duplicates)
        root.mkdir(parents=True, exist_ok=True)
        targets = [safe_target(root, f.name) for f in items]  # all names first
        journal = DownloadJournal(root)
        same, different = existing_conflicts(items, targets, journal, _expected_md5,
                                             self.workers or 4)
        if different and not overwrite:
            raise conflict_error(root, different)
        for name in different:  # overwrite=True: a folder in the way is still never removed
            t = root / name
            if t.is_dir() and not t.is_symlink():
                raise TransferError(f"cannot write {t}: a folder of that name is in the way; "
                                    "move it away and download again")
        tracker = ProgressTracker(self.on_progress, phase="download",
                                  total_bytes=sum(f.size or 0 for f in items),
                                  files_total=len(items))
        written: list[str] = []
        skipped: list[str] = []
        lock = threading.Lock()
        todo: list[tuple[RemoteFile, Path]] = []
        for f, target in zip(items, targets, strict=True):
            if f.name in same:
                size = target.stat().st_size
                tracker.start_file(f.name, size, size)
                tracker.finish_file(f.name, skipped=True)
                skipped.append(f.name)
            else:
                todo.append((f, target))

        def record(f: RemoteFile, size: int, sha: str) -> None:
            with lock:
                written.append(f.name)
                journal.record(f.name, size, sha, f.checksum)

        def whole(f: RemoteFile, target: Path) -> Task:
            def run() -> int:
                size, sha = self._fetch(f, target, tracker)
                record(f, size, sha)
                return size
            return run

        def tasks() -> Iterator[Task]:
            # Large files first: they are the long pole, and their pieces keep the link
            # full while the small files fill in behind them.
            for f, target in todo:
                if self._ranged(f):
                    yield from self._piece_tasks(f, target, tracker, record)
            for f, target in todo:
                if not self._ranged(f):
                    yield whole(f, target)

        self.tuner = ConcurrencyTuner(start=8, cap=MAX_WORKERS) if self.workers is None else None
        try:
            error = run_pool(tasks(), limit=self.workers or MAX_WORKERS, tuner=self.tuner,
                             name="terranb-download")
        finally:
            if written:
                journal.save()
        if error is not None:
            raise error
        missing = [n for n in written + skipped if not (root / n).is_file()]
        if missing:  # the count reported must be the count on disk
            raise TransferError(f"{len(missing)} downloaded file(s) are not on disk "
                                f"({missing[0]!r}...); something else removed them")
        return DownloadResult(root, sorted(written), sorted(skipped), self._received,
                              self._renewed, time.monotonic() - t0)

    def _fetch(self, f: RemoteFile, target: Path, tracker: ProgressTracker) -> tuple[int, str]:
        """Download one file to ``target``; returns its size and sha256."""
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        url = f.url
        expected_md5 = _expected_md5(f.checksum)
        attempt = renewals = checksum_failures = 0
        while True:
            if url is None:
                url = self._renew(f)
                renewals += 1
            offset = part.stat().st_size if part.exists() else 0
            if f.size is not None and offset > f.size:
                part.unlink()
                offset = 0
            tracker.start_file(f.name, f.size or 0, offset)
            try:
                self._stream(f, url, part, offset, tracker)
            except _Expired:
                if renewals >= 5:
                    raise TransferError(f"{f.name}: the download URL keeps expiring; "
                                        "check the system clock") from None
                url = None
                continue
            except _Restart:
                continue
            except _Transient as exc:
                attempt += 1
                if attempt >= self.retries:
                    raise TransferError(f"{f.name}: download failed {attempt} times "
                                        f"({exc}); run it again to resume") from None
                self.sleep(TRANSFERS.delay(attempt))
                continue
            size = part.stat().st_size
            if f.size is not None and size < f.size:
                attempt += 1  # truncated without an error: resume
                if attempt >= self.retries:
                    raise TransferError(f"{f.name}: got {size} of {f.size} bytes "
                                        f"{attempt} times; run it again to resume")
                continue
            if f.size is not None and size != f.size:
                raise TransferError(f"{f.name}: got {size} bytes, the service said {f.size}")
            md5, sha = digests(part)
            if expected_md5 is not None and md5 != expected_md5:
                part.unlink()
                checksum_failures += 1
                if checksum_failures >= 2:
                    raise TransferError(f"{f.name}: MD5 does not match the service's checksum "
                                        "twice; the file on the service may be damaged")
                continue
            with open(part, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(part, target)
            tracker.finish_file(f.name)
            return size, sha

    def _ranged(self, f: RemoteFile) -> bool:
        return (self.ranged_threshold is not None and f.size is not None
                and f.size >= max(self.ranged_threshold, 1))

    def _piece_tasks(self, f: RemoteFile, target: Path, tracker: ProgressTracker,
                     record: Callable[[RemoteFile, int, str], None]) -> Iterator[Task]:
        """One task per missing piece of ``f``; the last one to end verifies and renames."""
        assert f.size is not None
        target.parent.mkdir(parents=True, exist_ok=True)
        pf = PieceFile(target.with_name(target.name + ".part"), f.size,
                       {"checksum": f.checksum}, self.piece_size)
        missing = pf.prepare()
        tracker.start_file(f.name, f.size, pf.done_bytes())
        st = _Pieces(f, pf, target, f.url, len(missing) or 1, tracker, record)
        if not missing:  # every piece is on disk already: only verify
            yield lambda: self._piece_done(st, 0, None)
        for i in missing:
            yield functools.partial(self._piece, st, i)

    def _piece(self, st: _Pieces, index: int) -> int:
        n, mine = 0, None
        if st.error is None and not st.no_range:
            try:
                n = fetch_piece(st.pf, index, functools.partial(self._range, st),
                                what=st.f.name, retries=self.retries, sleep=self.sleep,
                                on_bytes=functools.partial(self._count, st),
                                on_expired=functools.partial(self._renew_shared, st),
                                on_transient=self.tuner.throttled if self.tuner else None)
            except RangeIgnored:
                st.no_range = True
            except Exception as exc:
                mine = exc
                st.error = st.error or exc  # the other pieces of this file stop
        return self._piece_done(st, n, mine)

    def _piece_done(self, st: _Pieces, n: int, mine: Exception | None) -> int:
        with st.lock:
            st.left -= 1
            last = st.left <= 0
        if last:
            n += self._finish_pieces(st)
        if mine is not None:
            raise mine
        return n

    def _finish_pieces(self, st: _Pieces) -> int:
        """All pieces ended: verify and rename, or fall back to one stream."""
        f, pf = st.f, st.pf
        pf.save()  # a failed file resumes from here next time
        if st.error is not None:
            return 0
        if not st.no_range and not pf.complete():
            raise TransferError(f"{f.name}: {pf.count - len(pf.done)} piece(s) missing; run it "
                                "again to fetch them")
        md5, sha = ("", "") if st.no_range else digests(pf.part)
        want = _expected_md5(f.checksum)
        if st.no_range or (want is not None and md5 != want):
            # No Range support (nothing misplaced was written: the piece stopped before
            # the body), or pieces that do not add up to the service's MD5: one stream,
            # which verifies again and refuses a second mismatch.
            log.info("%s: %s; downloading it in one stream", f.name,
                     "the server ignores Range" if st.no_range else "MD5 mismatch")
            pf.discard()
            size, sha = self._fetch(f, st.target, st.tracker)
            st.record(f, size, sha)
            return size
        with open(pf.part, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(pf.part, st.target)
        pf.forget_sidecar()
        st.tracker.finish_file(f.name)
        st.record(f, pf.size, sha)
        return 0

    def _count(self, st: _Pieces, n: int) -> None:
        st.tracker.advance(st.f.name, n)
        with self._lock:
            self._received += n

    def _renew_shared(self, st: _Pieces, generation: int) -> None:
        """The URL of ``generation`` expired: renew it once for every piece of the file."""
        with st.lock:
            if st.generation == generation:
                st.url = self._renew(st.f)
                st.generation += 1

    def _range(self, st: _Pieces, first: int, last: int) -> Iterator[bytes]:
        """The body of ``bytes=first-last`` of ``st.f`` (see :func:`fetch_piece`)."""
        import requests

        with st.lock:
            if st.url is None:
                st.url = self._renew(st.f)
                st.generation += 1
            url, generation = st.url, st.generation
        name = st.f.name
        try:
            resp = self._session().get(url, headers={"Range": f"bytes={first}-{last}"},
                                       stream=True, timeout=self.timeout)
        except requests.RequestException as exc:
            raise PieceTransient(type(exc).__name__) from None
        with resp:  # leaving it unread closes the connection: a 200 body is never read
            status = resp.status_code
            if status in (400, 401, 403):
                if _looks_expired(status, resp.text[:2000]):
                    raise PieceExpired(generation)
                raise TransferError(f"{name}: download refused (HTTP {status})")
            if status >= 500 or status == 429:
                raise PieceTransient(f"HTTP {status}")
            if status == 404:
                raise TransferError(f"{name}: not found at the service (HTTP 404)")
            if status == 416:
                raise TransferError(f"{name}: the service has fewer bytes than the listing's "
                                    f"{st.pf.size}; list the files again")
            if status == 200:
                raise RangeIgnored(name)
            m = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
            if status != 206 or not m or int(m.group(1)) != first:
                raise RangeIgnored(name)  # not the bytes asked for: one stream is safer
            try:
                for chunk in resp.iter_content(CHUNK):
                    if chunk:
                        yield chunk
            except (requests.RequestException, ConnectionError) as exc:
                raise PieceTransient(type(exc).__name__) from None

    def _renew(self, f: RemoteFile) -> str:
        if self.renew is None:
            raise TransferError(f"{f.name}: the download URL expired (or is missing) and "
                                "there is no way to get a new one; list the files again")
        with self._lock:
            self._renewed += 1
        url = self.renew(f)
        if not url:
            raise TransferError(f"{f.name}: the service gave no download URL")
        return url

    def _stream(self, f: RemoteFile, url: str, part: Path, offset: int,
                tracker: ProgressTracker) -> None:
        import requests

        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            resp = self._session().get(url, headers=headers, stream=True, timeout=self.timeout)
        except requests.RequestException as exc:
            raise _Transient(type(exc).__name__) from None
        with resp:
            status = resp.status_code
            if status == 416 and f.size is not None and offset == f.size:
                return
            if status in (400, 401, 403):
                body = resp.text[:2000]
                if _looks_expired(status, body):
                    raise _Expired()
                raise TransferError(f"{f.name}: download refused (HTTP {status})")
            if status >= 500 or status == 429:
                raise _Transient(f"HTTP {status}")
            if status == 404:
                raise TransferError(f"{f.name}: not found at the service (HTTP 404)")
            if status == 200 and offset:
                offset = 0  # the server ignored Range: start over
                tracker.start_file(f.name, f.size or 0, 0)
            elif status == 206:
                crange = resp.headers.get("Content-Range", "")
                m = re.match(r"bytes (\d+)-", crange)
                if not m or int(m.group(1)) != offset:
                    part.unlink(missing_ok=True)
                    raise _Restart()
            elif status != 200:
                raise TransferError(f"{f.name}: unexpected HTTP {status}")
            mode = "ab" if offset else "wb"
            try:
                with open(part, mode) as fh:
                    for chunk in resp.iter_content(64 * 1024):  # small: a cut loses little
                        if not chunk:
                            continue
                        fh.write(chunk)
                        tracker.advance(f.name, len(chunk))
                        with self._lock:
                            self._received += len(chunk)
            except (requests.RequestException, ConnectionError) as exc:
                raise _Transient(type(exc).__name__) from None
            except OSError as exc:  # the disk, not the network (RequestException is an OSError)
                raise TransferError(f"{f.name}: cannot write {part}: {exc}") from exc


@dataclass(eq=False)
class _Pieces:
    """The shared state of one file downloaded in pieces."""

    f: RemoteFile
    pf: PieceFile
    target: Path
    url: str | None
    left: int  # piece tasks still to end; the one that brings it to 0 finishes the file
    tracker: ProgressTracker
    record: Callable[[RemoteFile, int, str], None]
    generation: int = 0
    no_range: bool = False
    error: Exception | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Expired(Exception):
    pass


class _Transient(Exception):
    pass

"""One object of the credentials' bucket to a local file (FlightHub 2's result zip), with boto3.

FlightHub 2 hands its whole result as one zip (``zip_file_key``), often GBs.
:func:`download_object` heads the object, then

* from :data:`~terranb.transfer.ranged.RANGED_THRESHOLD` bytes on, fetches it as
  parallel ``get_object(Range=...)`` pieces into ``<dest>.part`` (see
  :mod:`terranb.transfer.ranged`: sidecar resume, per-piece retries, the
  concurrency tuner), renewing the STS keys through
  :class:`~terranb.transfer.s3client.CredentialSource` when they expire;
* below it, or when the store ignores ``Range``, or with ``ranged_threshold=None``,
  streams it in one ``get_object`` (resuming a ``.part`` prefix with ``Range``).

Either way the size must match the head's, a plain-MD5 ETag (single-part objects)
is checked by reading the finished ``.part`` once (multipart ``<md5>-<n>`` ETags are
not MD5s of the file and are skipped), and the file is fsynced and renamed into place.
An ETag that changes between the head and a piece means the object was replaced
mid-download: refused, the next run starts over (the sidecar is stale).
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import terranb.transfer.ranged as ranged
from terranb.errors import TransferError
from terranb.retry import TRANSFERS
from terranb.transfer.concurrency import ConcurrencyTuner, run_pool
from terranb.transfer.download_guard import digests
from terranb.transfer.progress import ProgressCallback, ProgressTracker

__all__ = ["download_object"]

log = logging.getLogger(__name__)


def download_object(credentials: Any, key: str, dest: str | os.PathLike[str], *,
                    on_progress: ProgressCallback | None = None, retries: int = 6,
                    sleep: Callable[[float], None] = time.sleep, workers: int | None = None,
                    ranged_threshold: int | None = ranged.RANGED_THRESHOLD,
                    piece_size: int = ranged.PIECE_SIZE) -> Path:
    """Download one object of the credentials' bucket to ``dest`` (resumable, verified, atomic).

    Args:
        credentials: a provider callable, :class:`~terranb.credentials.StorageCredentials`
            or :class:`~terranb.transfer.s3client.CredentialSource`; renewed on expiry.
        key: object key (e.g. FlightHub 2 ``zip_file_key``).
        dest: the local file to write.
        workers: pieces in flight; ``None`` lets the concurrency tuner find it.
        ranged_threshold: objects of at least this many bytes go in parallel pieces;
            ``None``: always one stream.
        piece_size: bytes per piece.
    """
    from terranb.transfer.s3client import CredentialSource

    ranged.check_ranged_options(workers, ranged_threshold, piece_size)
    limit = workers or ranged.MAX_WORKERS
    source = credentials if isinstance(credentials, CredentialSource) else CredentialSource(
        credentials, pool=limit + 2)
    target = Path(dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    tracker = ProgressTracker(on_progress, phase="download", files_total=1)
    head = _call(source, key, retries, sleep, lambda c, b: c.head_object(Bucket=b, Key=key))
    size, etag = int(head["ContentLength"]), str(head.get("ETag") or "")
    tracker.set_totals(size, 1)
    if ranged_threshold is not None and size >= ranged_threshold:
        pf = ranged.PieceFile(part, size, {"etag": etag}, piece_size)
        try:
            _ranged(source, key, pf, etag, tracker, retries, sleep, workers)
        except ranged.RangeIgnored:
            log.info("%s: the store ignores Range; downloading in one stream", key)
            pf.discard()
        else:
            pf.forget_sidecar()
            _finish(part, target, key, size, etag, tracker)
            return target
    _single(source, key, part, size, tracker, retries, sleep)
    _finish(part, target, key, size, etag, tracker)
    return target


def _fail(key: str, bucket: str, exc: Exception) -> TransferError:
    from terranb.transfer.s3client import error_code

    if error_code(exc) in {"404", "NoSuchKey", "NotFound"}:
        return TransferError(f"{key} is not in bucket {bucket}")
    return TransferError(f"downloading {key} failed: {type(exc).__name__}")


def _call(source: Any, key: str, retries: int, sleep: Callable[[float], None],
          fn: Callable[[Any, str], Any]) -> Any:
    """``fn(client, bucket)`` with key renewal and transient retries."""
    from terranb.transfer.s3client import is_expired_error, is_transient_error

    attempt = 0
    while True:
        client, generation = source.client()
        bucket = source.get().bucket
        try:
            return fn(client, bucket)
        except Exception as exc:
            if is_expired_error(exc):
                source.invalidate(generation)
                continue
            attempt += 1
            if not is_transient_error(exc) or attempt >= retries:
                raise _fail(key, bucket, exc) from exc
            sleep(TRANSFERS.delay(attempt))


def _ranged(source: Any, key: str, pf: ranged.PieceFile, etag: str, tracker: ProgressTracker,
            retries: int, sleep: Callable[[float], None], workers: int | None) -> None:
    from terranb.transfer.s3client import error_code, is_expired_error, is_transient_error

    missing = pf.prepare()
    tracker.start_file(key, pf.size, pf.done_bytes())
    tuner = ConcurrencyTuner(start=8, cap=ranged.MAX_WORKERS) if workers is None else None
    ignored: list[ranged.RangeIgnored] = []
    failed: list[TransferError] = []  # one piece failed for good: the rest need not try

    def stream(first: int, last: int) -> Iterator[bytes]:
        client, generation = source.client()
        bucket = source.get().bucket
        try:
            resp = client.get_object(Bucket=bucket, Key=key, Range=f"bytes={first}-{last}")
            if etag and resp.get("ETag") and resp["ETag"] != etag:
                raise TransferError(f"{key} changed on the store during the download; run it "
                                    "again to fetch the new version")
            if not str(resp.get("ContentRange") or "").startswith(f"bytes {first}-"):
                resp["Body"].close()  # the whole object is coming: do not read it
                raise ranged.RangeIgnored(key)
            body = resp["Body"]
            try:
                yield from body.iter_chunks(ranged.CHUNK)
            finally:
                body.close()
        except (TransferError, ranged.RangeIgnored):
            raise
        except Exception as exc:
            if is_expired_error(exc):
                raise ranged.PieceExpired(generation) from None
            if is_transient_error(exc):
                raise ranged.PieceTransient(error_code(exc) or type(exc).__name__) from None
            raise _fail(key, bucket, exc) from exc

    def task(index: int) -> Callable[[], int]:
        def run() -> int:
            if ignored or failed:
                return 0
            try:
                return ranged.fetch_piece(pf, index, stream, what=key, retries=retries, sleep=sleep,
                                   on_bytes=lambda n: tracker.advance(key, n),
                                   on_expired=source.invalidate,
                                   on_transient=tuner.throttled if tuner else None)
            except ranged.RangeIgnored as exc:
                ignored.append(exc)
                return 0
            except TransferError as exc:
                failed.append(exc)
                raise
        return run

    error = run_pool((task(i) for i in missing), limit=workers or ranged.MAX_WORKERS,
                            tuner=tuner, name="terranb-object")
    pf.save()  # what finished stays finished, whatever happened
    if ignored:
        raise ignored[0]
    if error is not None:
        raise error
    if not pf.complete():
        raise TransferError(f"{key}: {pf.count - len(pf.done)} piece(s) missing; run it again "
                            "to fetch them")


def _single(source: Any, key: str, part: Path, size: int, tracker: ProgressTracker,
            retries: int, sleep: Callable[[float], None]) -> None:
    """One stream into ``part``, resuming its prefix; raises when it ends short after retries."""
    attempt = 0
    while True:
        offset = part.stat().st_size if part.exists() else 0
        if offset > size:
            part.unlink()
            offset = 0
        tracker.start_file(key, size, offset)
        if offset == size:
            return
        kwargs: dict[str, Any] = {"Key": key}
        if offset:
            kwargs["Range"] = f"bytes={offset}-"
        try:
            resp = _call(source, key, retries, sleep, functools.partial(_get, kwargs))
            if offset and not str(resp.get("ContentRange") or "").startswith(f"bytes {offset}-"):
                offset = 0  # the store ignored Range: the body is the whole object
                tracker.start_file(key, size, 0)
            with open(part, "ab" if offset else "wb") as fh:
                for chunk in resp["Body"].iter_chunks(ranged.CHUNK):
                    fh.write(chunk)
                    tracker.advance(key, len(chunk))
        except TransferError:
            raise
        except Exception as exc:
            from terranb.transfer.s3client import is_transient_error

            attempt += 1
            if not is_transient_error(exc) or attempt >= retries:
                raise TransferError(f"downloading {key} failed: {type(exc).__name__}") from exc
            sleep(TRANSFERS.delay(attempt))
            continue
        got = part.stat().st_size
        if got == size:
            return
        attempt += 1
        if got > size or attempt >= retries:
            raise TransferError(f"{key}: got {got} of {size} bytes")


def _get(kwargs: dict[str, Any], client: Any, bucket: str) -> Any:
    return client.get_object(Bucket=bucket, **kwargs)


def _finish(part: Path, target: Path, key: str, size: int, etag: str,
            tracker: ProgressTracker) -> None:
    got = part.stat().st_size
    if got != size:
        raise TransferError(f"{key}: got {got} of {size} bytes")
    want = ranged.expected_md5(etag)
    if want is not None:
        md5, _ = digests(part, sha256=False)
        if md5 != want:
            part.unlink()
            raise TransferError(f"{key}: the MD5 of the download does not match the store's "
                                "ETag; the partial file was removed, run it again")
    with open(part, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(part, target)
    tracker.finish_file(key)

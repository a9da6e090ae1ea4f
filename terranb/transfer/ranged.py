"""Large downloads as parallel HTTP Range pieces: the piece file, its sidecar, the pool.

One TCP connection over a long, fat pipe carries a fraction of the link (on 50 ms
RTT, 8 MB/s per connection and 64 MB/s in total: an eighth). A file of at least
:data:`RANGED_THRESHOLD` bytes whose size is known is therefore fetched as
fixed-size pieces (:data:`PIECE_SIZE`), each one ``GET`` with
``Range: bytes=a-b``, many at once:

* **Where the bytes go.** ``<name>.part`` is created at its full size (sparse) and
  every piece is written at its offset as its body arrives (a 256 KiB chunk at a
  time): a piece is never held in memory whole, the file never.
* **Resume.** ``<name>.part.pieces`` (the sidecar, a small JSON object) lists the
  finished pieces and what they belong to: size, service checksum or ETag, piece
  size. It is rewritten atomically (temporary file + rename), after an
  ``fdatasync`` of the ``.part`` so it never names bytes the disk may not have, at
  most once a second and when the download stops. A crash therefore loses the
  pieces in flight and those finished in the last second; a re-run fetches only
  the pieces the sidecar does not list. A sidecar of another size, checksum, ETag
  or piece size is stale: the ``.part`` is discarded and the file starts over. A
  ``.part`` without a sidecar that is shorter than the file is the prefix the
  single-stream path wrote: its whole pieces count as finished.
* **Errors.** Resets, 5xx and bodies that end early retry *the piece*, from the
  byte where it stopped, with :data:`terranb.retry.TRANSFERS`' backoff; an expired
  URL or expired keys are renewed once per generation, whichever piece sees it
  first. A server that ignores ``Range`` (``200`` with the whole body) makes the
  piece stop before reading that body (:class:`RangeIgnored`); the caller then
  discards the ``.part`` and falls back to one stream, so no misplaced byte is kept.
* **How many in flight.** :func:`~terranb.transfer.concurrency.run_pool` drives a
  :class:`~terranb.transfer.concurrency.ConcurrencyTuner` over every piece and
  small file of a download (each task reports its bytes and duration), capped at
  :data:`MAX_WORKERS`; each task holds one chunk, so 32 in flight need ~8 MiB.
  A fixed ``workers=`` bypasses the tuner.

Verification (size, MD5 read once from the finished ``.part``), ``fsync`` and the
atomic rename stay with the callers (:mod:`terranb.transfer.download`,
:mod:`terranb.transfer.object_download`).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from terranb.errors import TransferError, ValidationError
from terranb.retry import TRANSFERS

__all__ = [
    "MAX_WORKERS",
    "PIECE_SIZE",
    "RANGED_THRESHOLD",
    "PieceExpired",
    "PieceFile",
    "PieceTransient",
    "RangeIgnored",
    "check_ranged_options",
    "expected_md5",
    "fetch_piece",
]

log = logging.getLogger(__name__)

MiB = 1024 * 1024
# Files from this size on are fetched in pieces: below it, a file is a few seconds of one
# connection and the many files of a listing already keep the link busy.
RANGED_THRESHOLD = 32 * MiB
# 8 MiB: one second of an 8 MB/s connection, so a piece's request round trip costs ~5 %,
# and a retried piece re-fetches little.
PIECE_SIZE = 8 * MiB
# The most tasks in flight when the tuner decides (the upload's cap too).
MAX_WORKERS = 32
CHUNK = 256 * 1024
SIDECAR_SUFFIX = ".pieces"
_SAVE_EVERY = 1.0  # seconds between sidecar writes
_MAX_RENEWALS = 5


class RangeIgnored(Exception):
    """The server answered a Range request with something else than that range."""


class PieceExpired(Exception):
    """The URL or the keys expired; ``generation`` is the one the request used."""

    def __init__(self, generation: Any) -> None:
        super().__init__("expired")
        self.generation = generation


class PieceTransient(Exception):
    """A failure worth retrying the piece for (reset, 5xx, a body that ended early)."""


def expected_md5(checksum: str | None) -> str | None:
    """The MD5 hex a checksum stands for, or ``None`` when it is not a plain MD5.

    Example:
        >>> expected_md5('"9e107d9d372bb6826bd81d3542a419d6"')
        '9e107d9d372bb6826bd81d3542a419d6'
        >>> expected_md5("9e107d9d372bb6826bd81d3542a419d6-3") is None
        True
    """
    if not checksum:
        return None
    value = checksum.strip().strip('"').strip()
    if re.fullmatch(r"[0-9a-fA-F]{32}", value):
        return value.lower()
    if len(value) == 24 and value.endswith("=="):
        try:
            raw = base64.b64decode(value, validate=True)
        except ValueError:
            return None
        return raw.hex() if len(raw) == 16 else None
    return None  # multipart ETag ("<md5>-<n>"), CRC, SHA: not checkable as MD5


def check_ranged_options(workers: int | None, threshold: int | None, piece_size: int) -> None:
    """Refuse nonsensical settings with a message that names the fix."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                or workers < 1):
        raise ValidationError(f"download workers must be a whole number of at least 1, "
                              f"not {workers!r}; leave it out to let terranb find the number")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int)
                                  or threshold < 1):
        raise ValidationError(f"ranged_threshold must be a positive byte count or None (one "
                              f"stream per file), not {threshold!r}")
    if isinstance(piece_size, bool) or not isinstance(piece_size, int) or piece_size < 64 * 1024:
        raise ValidationError(f"piece_size must be at least 64 KiB, not {piece_size!r}")


class PieceFile:
    """``<name>.part`` of one ranged download and the sidecar of its finished pieces.

    Args:
        part: the ``.part`` path.
        size: the file's size in bytes (known, > 0).
        identity: what the pieces belong to (checksum or ETag); another identity in
            the sidecar means the remote file changed: start over.
        piece_size: bytes per piece (the last one may be shorter).
    """

    def __init__(self, part: Path, size: int, identity: dict[str, Any], piece_size: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.part, self.size, self.piece_size = part, size, piece_size
        self.sidecar = part.with_name(part.name + SIDECAR_SUFFIX)
        self.identity = {"size": size, "piece_size": piece_size, **identity}
        self.count = -(-size // piece_size)
        self.done: set[int] = set()
        self._clock = clock
        self._saved_at = 0.0
        self._dirty = False
        self._lock = threading.Lock()
        self._save_lock = threading.Lock()

    def span(self, index: int) -> tuple[int, int]:
        """``(first byte, end)`` of piece ``index`` (end exclusive)."""
        start = index * self.piece_size
        return start, min(self.size, start + self.piece_size)

    def prepare(self) -> list[int]:
        """Open the ``.part`` for piece writes; returns the pieces still to fetch."""
        self.part.parent.mkdir(parents=True, exist_ok=True)
        have = self.part.stat().st_size if self.part.exists() else -1
        done: set[int] = set()
        try:
            data = json.loads(self.sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        if isinstance(data, dict) and data.get("identity") == self.identity and have == self.size:
            done = {i for i in data.get("done", []) if isinstance(i, int) and 0 <= i < self.count}
        elif data is None and 0 < have < self.size:
            # The single-stream path's prefix (a ranged .part is always full length).
            done = set(range(have // self.piece_size))
            log.info("%s: resuming %d bytes of an earlier single-stream download",
                     self.part.name, have)
        elif have >= 0 or data is not None:
            log.info("%s: the partial download belongs to another version; starting over",
                     self.part.name)
            self.discard()
        with open(self.part, "ab") as fh:
            fh.truncate(self.size)  # sparse: pieces land at their offsets
        self.done = done
        self._dirty = True
        self.save()
        return [i for i in range(self.count) if i not in done]

    def done_bytes(self) -> int:
        return sum(self.span(i)[1] - self.span(i)[0] for i in self.done)

    def mark_done(self, index: int) -> None:
        """Piece ``index`` is on disk; the sidecar says so within a second."""
        with self._lock:
            self.done.add(index)
            self._dirty = True
            due = self._clock() - self._saved_at >= _SAVE_EVERY
        if due:
            self.save()

    def save(self) -> None:
        """Write the sidecar atomically, after the pieces it names reached the disk."""
        with self._save_lock:  # one writer of the temporary file at a time
            with self._lock:
                if not self._dirty:
                    return
                done = sorted(self.done)
                self._dirty = False
                self._saved_at = self._clock()
            try:
                fd = os.open(self.part, os.O_RDWR)  # Windows fsyncs writable handles only
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
                tmp = self.sidecar.with_name(self.sidecar.name + ".tmp")
                tmp.write_text(json.dumps({"identity": self.identity, "done": done}),
                               encoding="utf-8")
                os.replace(tmp, self.sidecar)
            except OSError as exc:  # only resumability is lost, the download goes on
                log.warning("%s: cannot record finished pieces (%s)", self.sidecar, exc)

    def complete(self) -> bool:
        return len(self.done) == self.count

    def discard(self) -> None:
        """Remove the ``.part`` and the sidecar (a stale or unusable partial download)."""
        self.part.unlink(missing_ok=True)
        self.sidecar.unlink(missing_ok=True)
        self.sidecar.with_name(self.sidecar.name + ".tmp").unlink(missing_ok=True)

    def forget_sidecar(self) -> None:
        """After the rename: the pieces are the file now."""
        self.sidecar.unlink(missing_ok=True)


Stream = Callable[[int, int], Iterator[bytes]]


def fetch_piece(pf: PieceFile, index: int, stream: Stream, *, what: str, retries: int,
                sleep: Callable[[float], None], on_bytes: Callable[[int], None],
                on_expired: Callable[[Any], None],
                on_transient: Callable[[], None] | None = None) -> int:
    """Fetch piece ``index`` of ``pf`` with retries; returns the bytes received.

    ``stream(first, last)`` yields the body of ``Range: bytes=first-last`` and raises
    :class:`PieceExpired`, :class:`PieceTransient` or :class:`RangeIgnored` (which
    propagates: the caller falls back to one stream) before or while yielding.
    """
    start, end = pf.span(index)
    want = end - start
    got = attempt = renewals = 0
    with open(pf.part, "rb+") as fh:
        while True:
            chunks = stream(start + got, end - 1)
            try:
                fh.seek(start + got)
                for chunk in chunks:
                    chunk = chunk[:want - got]  # never past the piece, whatever is sent
                    fh.write(chunk)
                    got += len(chunk)
                    on_bytes(len(chunk))
                    if got >= want:
                        break
                if got < want:
                    raise PieceTransient(f"the body ended after {got} of {want} bytes")
                fh.flush()
                pf.mark_done(index)
                return got
            except PieceExpired as exc:
                renewals += 1
                if renewals > _MAX_RENEWALS:
                    raise TransferError(f"{what}: the download URL or keys keep expiring; "
                                        "check the system clock") from None
                on_expired(exc.generation)
            except PieceTransient as exc:
                attempt += 1
                if on_transient is not None:
                    on_transient()
                if attempt >= retries:
                    raise TransferError(f"{what}: bytes {start + got}-{end - 1} failed "
                                        f"{attempt} times ({exc}); run it again to resume "
                                        "(finished pieces are kept)") from None
                fh.flush()
                sleep(TRANSFERS.delay(attempt))
            except OSError as exc:
                raise TransferError(f"{what}: cannot write {pf.part}: {exc}") from exc
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()  # a generator: releases its response (connection) now


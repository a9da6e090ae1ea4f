"""Counted, capped HTTP range reads: the byte layer under every no-download preview.

A :class:`RangeFile` is a seekable, read-only file object over one HTTP(S) URL
(a presigned bucket URL, or any server that honours ``Range``). Every read is a
``GET`` with ``Range: bytes=a-b``; nothing is read that was not asked for apart
from a small read-ahead (``readahead`` bytes, 64 KiB by default) that keeps
header parsers from issuing one request per field. All files of one preview
share a :class:`ByteBudget`, which

* counts the bytes actually received (the honest number a bench compares with
  the file size) and the requests made;
* refuses, *before* sending it, any request that would take the total above
  ``max_bytes`` (:class:`PreviewBudgetError`): never a silent multi-GB fetch.

A server that ignores ``Range`` answers ``200`` with the whole object: the
first read notices, closes the connection after the headers and raises
:class:`RangeNotSupportedError` naming the file and what a download would cost.
An expired presigned URL (S3 answers 403 ``Request has expired`` /
``AccessDenied``) raises :class:`ExpiredUrlError` with the fix.

GDAL reads through the same layer via rasterio's ``opener=`` hook
(:class:`UrlOpener`), so COG previews are counted and capped like COPC and 3D
Tiles. ``/vsicurl/`` paths (:func:`gdal_path`) remain available for callers
that prefer GDAL's own HTTP stack (the deep-zoom tile server uses them).
"""

from __future__ import annotations

import io
import re
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from terranb.errors import ResultFormatError, require

__all__ = [
    "ByteBudget",
    "ExpiredUrlError",
    "PreviewBudgetError",
    "RangeFile",
    "RangeIgnoredWarning",
    "RangeNotSupportedError",
    "UrlOpener",
    "gdal_path",
    "url_label",
]

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_TIMEOUT = (10.0, 60.0)


class RangeIgnoredWarning(UserWarning):
    """The server ignored ``Range``; a whole object was fetched within ``max_bytes``."""


class RangeNotSupportedError(ResultFormatError):
    """The server sent the whole object instead of the requested range."""


class PreviewBudgetError(ResultFormatError):
    """A preview would fetch more than its ``max_bytes`` cap."""


class ExpiredUrlError(ResultFormatError):
    """The presigned URL has expired (or its signature no longer matches)."""


def url_label(url: str) -> str:
    """The URL without its query string (presigned signatures and tokens stay out of messages)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" if parts.scheme else url.split("?")[0]


def gdal_path(url: str) -> str:
    """A ``/vsicurl/`` path for GDAL (``/vsicurl?url=`` form when the URL has a query)."""
    if "?" in url:
        from urllib.parse import quote

        return "/vsicurl?list_dir=no&empty_dir=yes&url=" + quote(url, safe="")
    return "/vsicurl/" + url


@dataclass
class ByteBudget:
    """Bytes fetched by one preview, and the cap on them.

    Attributes:
        max_bytes: refuse requests that would take :attr:`fetched` above this
            (``None`` = no cap).
        fetched: body bytes received so far.
        requests: HTTP requests made.
        per_file: bytes per URL label (query strings removed).
    """

    max_bytes: int | None = None
    fetched: int = 0
    requests: int = 0
    per_file: dict[str, int] = field(default_factory=dict)
    #: the last byte-layer error, kept because GDAL's plugin layer swallows Python exceptions
    error: ResultFormatError | None = field(default=None, repr=False)
    warnings: list[str] = field(default_factory=list)
    #: whole objects from servers that ignore Range, fetched once and shared by all readers
    whole: dict[str, bytes] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def reserve(self, n: int, label: str) -> None:
        """Raise :class:`PreviewBudgetError` when fetching ``n`` more bytes breaks the cap."""
        with self._lock:
            if self.max_bytes is not None and self.fetched + n > self.max_bytes:
                self.error = PreviewBudgetError(
                    f"{label}: reading {n:,} more bytes would take this preview to "
                    f"{self.fetched + n:,} bytes, above max_bytes={self.max_bytes:,}; raise "
                    "max_bytes, lower the preview budget (max_pixels/max_points/max_faces), "
                    "or download the file")
                raise self.error

    def add(self, n: int, label: str) -> None:
        """Count ``n`` received bytes of ``label``."""
        with self._lock:
            self.fetched += n
            self.per_file[label] = self.per_file.get(label, 0) + n

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1


def _session() -> Any:
    requests = require("requests", "geo")
    s = requests.Session()
    # Plain identity transfer: Range offsets are offsets into the stored bytes.
    s.headers["Accept-Encoding"] = "identity"
    return s


def _raise_for(resp: Any, label: str) -> None:
    if resp.status_code in (200, 206):
        return
    body = ""
    try:
        body = resp.content[:2000].decode("utf-8", "replace")
    except Exception:  # the body is only for the message
        body = ""
    if resp.status_code in (400, 403) and re.search(r"expired|ExpiredToken|Request has expired",
                                                    body, re.I):
        raise ExpiredUrlError(f"{label}: the presigned URL has expired (HTTP {resp.status_code}); "
                              "ask for a fresh one (Job.preview() does) and retry")
    if resp.status_code == 416:
        raise ResultFormatError(f"{label}: the server refused the byte range (HTTP 416); the "
                                "object is shorter than its header says (truncated upload?)")
    code = re.search(r"<Code>([^<]+)</Code>", body)
    raise ResultFormatError(
        f"{label}: HTTP {resp.status_code}{' ' + code.group(1) if code else ''} while reading by "
        "range; check that the URL is still valid and the object exists")


class RangeFile(io.RawIOBase):
    """A read-only, seekable file over an HTTP URL, read by ``Range`` requests.

    Args:
        url: the object's URL (presigned query strings are fine; they never appear
            in messages).
        budget: shared byte counter and cap (a fresh uncapped one by default).
        session: a ``requests.Session`` to reuse connections.
        readahead: least bytes per request (small header reads are grouped).
        name: label for messages (default: the URL without its query).
    """

    def __init__(self, url: str, *, budget: ByteBudget | None = None, session: Any = None,
                 readahead: int = 64 * 1024, name: str | None = None) -> None:
        super().__init__()
        self.url = url
        self.budget = budget if budget is not None else ByteBudget()
        self._session = session or _session()
        self.readahead = max(0, int(readahead))
        self.label = name or url_label(url)
        self._pos = 0
        self._size: int | None = None
        self._buf_start = 0
        self._buf = b""

    def __repr__(self) -> str:
        return f"RangeFile({self.label!r}, size={self._size})"

    # -- io protocol ------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    @property
    def size(self) -> int:
        """Object size in bytes (one small ranged request the first time)."""
        if self._size is None:
            self._fill(0, 1)
        assert self._size is not None
        return self._size

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"bad whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def tell(self) -> int:
        return self._pos

    def read(self, n: int | None = -1) -> bytes:
        if n is None or n < 0:
            n = self.size - self._pos
        if n == 0:
            return b""
        if self._size is not None and self._pos >= self._size:
            return b""
        end = self._pos + n
        if not (self._buf_start <= self._pos and end <= self._buf_start + len(self._buf)):
            self._fill(self._pos, n)
        a = self._pos - self._buf_start
        out = self._buf[a:a + n]
        self._pos += len(out)
        return out

    def readinto(self, b: Any) -> int:
        data = self.read(len(b))
        b[:len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self.read(-1)

    # -- fetching ---------------------------------------------------------------
    def _fill(self, start: int, n: int) -> None:
        cached = self.budget.whole.get(self.url)
        if cached is not None:
            self._size = len(cached)
            self._buf_start, self._buf = 0, cached
            return
        ahead = self.readahead
        if self.budget.max_bytes is not None:  # read-ahead is optional: never let it trip the cap
            ahead = min(ahead, max(0, self.budget.max_bytes - self.budget.fetched))
        want = max(n, ahead)
        if self._size is not None:
            want = min(want, self._size - start)
        if want <= 0:
            self._buf_start, self._buf = start, b""
            return
        self.budget.reserve(want, self.label)
        self._buf_start, self._buf = self._get(start, want)

    def _get(self, start: int, length: int) -> tuple[int, bytes]:
        self.budget.count_request()
        resp = self._session.get(self.url, headers={"Range": f"bytes={start}-{start + length - 1}"},
                                 stream=True, timeout=_TIMEOUT)
        try:
            if resp.status_code == 200 and self._whole_allowed(resp):
                # The server ignores Range but the object fits what max_bytes still allows:
                # take it once (warned) and serve every later read from memory.
                data = resp.raw.read(decode_content=False)
                self.budget.add(len(data), self.label)
                self.budget.whole[self.url] = bytes(data)
                self._size = len(data)
                return 0, bytes(data)
            self._check(resp)
            m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
            if m is not None and m.group(3) != "*":
                self._size = int(m.group(3))
            data = resp.raw.read(length + 1, decode_content=False)
        finally:
            resp.close()
        self.budget.add(len(data), self.label)
        return start, bytes(data[:length])

    def _whole_allowed(self, resp: Any) -> bool:
        total = resp.headers.get("Content-Length", "")
        if not total.isdigit() or self.budget.max_bytes is None:
            return False
        if self.budget.fetched + int(total) > self.budget.max_bytes:
            return False
        msg = (f"{self.label}: the server ignores HTTP Range requests; fetching the whole "
               f"object ({int(total):,} bytes, within max_bytes={self.budget.max_bytes:,}) "
               "instead of the parts a preview needs")
        warnings.warn(msg, RangeIgnoredWarning, stacklevel=2)
        self.budget.warnings.append(msg)
        return True

    def _check(self, resp: Any) -> None:
        try:
            _raise_for(resp, self.label)
            if resp.status_code == 200:
                total = resp.headers.get("Content-Length")
                cost = f"{int(total):,} bytes" if total and total.isdigit() else "the whole file"
                cap = self.budget.max_bytes
                raise RangeNotSupportedError(
                    f"{self.label}: the server ignored the HTTP Range header and started sending "
                    f"the whole object ({cost}"
                    + (f", more than max_bytes={cap:,} allows" if cap is not None else
                       "; no max_bytes was set") +
                    "); the preview stopped instead of downloading it. Use a bucket/endpoint "
                    "that supports Range requests, raise max_bytes, or download the file")
            if _CONTENT_RANGE.match(resp.headers.get("Content-Range", "")) is None:
                raise RangeNotSupportedError(
                    f"{self.label}: HTTP 206 without a valid Content-Range header; cannot read "
                    "by range")
        except ResultFormatError as exc:
            self.budget.error = exc
            raise

    def fetch_all(self) -> bytes:
        """The whole object in one ranged request (small files: tileset.json, b3dm tiles)."""
        self.seek(0)
        old, self.readahead = self.readahead, 0
        try:
            first = self.read(1)
            return first + self.read(-1)
        finally:
            self.readahead = old


class _GdalRangeFile(RangeFile):
    """A RangeFile for GDAL's read callback: errors end the read (GDAL sees a short read) and
    stay in ``budget.error`` for the caller, instead of surfacing as unraisable exceptions."""

    def read(self, n: int | None = -1) -> bytes:
        try:
            return super().read(n)
        except ResultFormatError as exc:
            self.budget.error = exc
            return b""


class UrlOpener:
    """rasterio ``opener=`` object serving one URL through :class:`RangeFile`.

    It implements the file-container interface rasterio 1.4 adapts (``open``,
    ``isfile``, ``isdir``, ``ls``, ``mtime``, ``size``), so GDAL sees one file and
    no sidecars (no ``.ovr``/``.aux.xml`` probing requests).
    """

    def __init__(self, url: str, budget: ByteBudget, *, name: str | None = None) -> None:
        self.url = url
        self.budget = budget
        self.name = name or url_label(url)
        self._session = _session()
        self._probe = RangeFile(url, budget=budget, session=self._session, name=self.name,
                                readahead=16 * 1024)

    def _mine(self, path: str) -> bool:
        return path.rstrip("/").endswith(self.path_token)

    @property
    def path_token(self) -> str:
        """The file name rasterio is asked to open (the URL path's last part)."""
        return urlsplit(self.url).path.rsplit("/", 1)[-1] or "object"

    def open(self, path: str, mode: str = "rb", **kwargs: Any) -> RangeFile:
        if "w" in mode or "a" in mode or "+" in mode:
            raise PermissionError("remote previews are read-only")
        if not self._mine(path):
            raise FileNotFoundError(path)
        return _GdalRangeFile(self.url, budget=self.budget, session=self._session,
                              name=self.name, readahead=64 * 1024)

    def isfile(self, path: str) -> bool:
        return self._mine(path)

    def isdir(self, path: str) -> bool:
        return False

    def ls(self, path: str) -> list[str]:
        return []

    def mtime(self, path: str) -> int:
        return 0

    def probe(self) -> int:
        """The object's size, read outside GDAL so byte-layer errors raise in Python."""
        return self._probe.size

    def size(self, path: str) -> int:
        # Called from GDAL's stat callback, where a Python exception aborts the process
        # (rasterio 1.4): report 0 and keep the error for the caller instead.
        if not self._mine(path):
            return 0
        try:
            return self._probe.size
        except ResultFormatError as exc:
            self.budget.error = exc
            return 0

"""Range GETs answered from the storage's on-disk mirror instead of moto's memory.

moto answers ``GET`` with ``Range: bytes=a-b`` by reading the whole object out of its
store and slicing it: every 8 MiB piece of a parallel download of a 256 MB object
copies 256 MB (measured: the emulator served such a download at 48-57 MB/s with no
link at all), and every tile a COG or COPC preview reads copies the whole file. The
storage already keeps each object's bytes on disk (:mod:`.storage_mirror`), written
from moto's own bytes before the writer is answered. So for a single-range GET of an
object the mirror holds, the S3 proxy:

1. opens the mirror file;
2. asks moto for the object's headers with a ``HEAD`` (same keys, query and
   conditional headers, no ``Range``): moto still decides everything but the bytes
   (404, 304/412, ETag, Last-Modified, Content-Type, user metadata);
3. serves the range from the open file only when moto answered 200 with the ETag and
   size the mirror recorded, and the file it opened is still the one the mirror's
   record points at (the mirror replaces the object file, then its record, always
   after moto stored the object; checking the record and the file's identity after
   the HEAD rules out serving one version's bytes under another's headers).

Anything else (several ranges, a range past the end, query overrides such as
``response-content-type``, ``--no-range``, no mirror copy, a mismatch) goes to moto
as before. The answer is moto's, with ``206``, ``Content-Range`` and the range's
``Content-Length``; the bytes go through the proxy's shaping like any other body.
"""

from __future__ import annotations

import http.client
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

__all__ = ["MirrorCopy", "RangeFromFile", "parse_single_range", "served_from_mirror"]

# (file, ETag without quotes, size) of a mirrored object, or None
MirrorCopy = Callable[[str, str], "tuple[Path, str, int] | None"]

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# Query names that do not change the answer (the auth ones are checked before).
_PLAIN_QUERY = {"x-id"}


def parse_single_range(value: str, size: int) -> tuple[int, int] | None:
    """``(first, last)`` byte (inclusive) of one ``bytes=`` range within ``size``, else None.

    None also for what moto should answer itself: several ranges, a range that
    starts past the end (416), an empty object, malformed values.
    """
    m = _RANGE.match(value.strip())
    if not m or size <= 0:
        return None
    first_s, last_s = m.groups()
    if not first_s:  # suffix: the last N bytes
        if not last_s or int(last_s) == 0:
            return None
        return max(0, size - int(last_s)), size - 1
    first = int(first_s)
    last = int(last_s) if last_s else size - 1
    if first >= size or last < first:
        return None
    return first, min(last, size - 1)


class RangeFromFile:
    """moto's HEAD answer turned into a 206 whose body is a window of an open file.

    It has the few members of :class:`http.client.HTTPResponse` that the proxy's
    response relay uses (``status``, ``reason``, ``getheader(s)``, ``read``).
    """

    def __init__(self, head: http.client.HTTPResponse, fh: IO[bytes], first: int, last: int,
                 size: int) -> None:
        self.status, self.reason = 206, "Partial Content"
        self._fh, self._left = fh, last - first + 1
        fh.seek(first)
        skip = {"content-length", "content-range", "accept-ranges"}
        whole = first == 0 and last == size - 1
        # A checksum of the whole object says nothing of a part of it: like moto (and
        # S3), a range that is not the whole object goes without x-amz-checksum-*.
        self._headers = [(k, v) for k, v in head.getheaders() if k.lower() not in skip
                         and (whole or not k.lower().startswith("x-amz-checksum-"))]
        self._headers += [("Accept-Ranges", "bytes"),
                          ("Content-Range", f"bytes {first}-{last}/{size}"),
                          ("Content-Length", str(self._left))]

    def getheaders(self) -> list[tuple[str, str]]:
        return list(self._headers)

    def getheader(self, name: str, default: str | None = None) -> str | None:
        low = name.lower()
        return next((v for k, v in self._headers if k.lower() == low), default)

    def read(self, n: int) -> bytes:
        data = self._fh.read(min(n, self._left)) if self._left > 0 else b""
        self._left -= len(data)
        return data


def served_from_mirror(
    mirror_copy: MirrorCopy,
    bucket: str,
    key: str,
    range_value: str,
    query_names: Iterable[str],
    head: Callable[[], http.client.HTTPResponse],
    relay: Callable[[Any], None],
) -> bool:
    """Answer a Range GET from the mirror (see the module docstring); False: ask moto.

    Args:
        mirror_copy: the storage's lookup of a mirrored object.
        range_value: the request's ``Range`` header.
        query_names: the request's query names, auth parameters left out.
        head: sends the request to moto as a HEAD without ``Range``; the caller closes it.
        relay: sends a response object to the client (the proxy's relay, with shaping).
    """
    if not key or set(query_names) - _PLAIN_QUERY:
        return False
    found = mirror_copy(bucket, key)
    if found is None:
        return False
    path, etag, size = found
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below, after the body went out
    except OSError:
        return False
    with fh:
        window = parse_single_range(range_value, size)
        if window is None:
            return False
        resp = head()
        resp.read()
        moto_etag = (resp.getheader("ETag") or "").strip('"')
        moto_size = resp.getheader("Content-Length")
        if resp.status != 200 or moto_etag != etag or moto_size != str(size):
            return False
        again = mirror_copy(bucket, key)
        try:
            same_file = os.fstat(fh.fileno()).st_ino == os.stat(path).st_ino
        except OSError:
            return False
        if again != found or not same_file or os.fstat(fh.fileno()).st_size != size:
            return False
        relay(RangeFromFile(resp, fh, window[0], window[1], size))
    return True

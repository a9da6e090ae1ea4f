"""Moving bytes between the client and moto: streamed, shaped bodies in both directions.

:class:`RelayMixin` is the part of the S3 proxy's request handler that copies a
request body to moto (``Content-Length`` bodies as they come,
``Transfer-Encoding: chunked`` bodies de-chunked and re-chunked, the
``aws-chunked`` content encoding passed through untouched) and moto's answer
back to the client, every chunk paced by the per-connection and the total
:class:`~.netem.TokenBucket`. A client that stops sending a body raises
:class:`BodyTimeout` (the proxy answers ``RequestTimeout``). Response shaping
(``Range`` passes through, CORS expose headers) lives here too, so a knob that
changes what is sent back (byte counting, ignoring ``Range``) has one place to go.
A request body that promises digests (:class:`~.s3digest.BodyDigests`) is hashed
on the way and checked before its last bytes go to moto: one that does not match
never completes upstream, so moto stores nothing.

Chunks: up to 1 MiB when the link is not shaped (fewer reads, sends and hash
calls per byte; each is a Python-level step under one GIL), else what the token
buckets allow at once.
"""

from __future__ import annotations

import http.client
from typing import TYPE_CHECKING, Any

from terranb.emulator.netem import TokenBucket
from terranb.emulator.s3digest import BodyDigests

__all__ = ["EXPOSE_HEADERS", "HOP_BY_HOP", "SMALL_BODY", "BodyTimeout", "RelayMixin"]

# Headers that describe one hop and must not be forwarded.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "expect",
}
EXPOSE_HEADERS = "ETag, x-amz-request-id, x-amz-version-id, x-amz-checksum-crc32"
# Request bodies up to this size are kept when the proxy needs to read them
# (CreateBucket configuration, DeleteObjects list).
SMALL_BODY = 1 << 20
_UNSHAPED_CHUNK = 1 << 20


class BodyTimeout(Exception):
    """The client stopped sending a request body for ``body_timeout`` seconds."""


class RelayMixin:
    """Body relaying for :class:`~.s3proxy._Handler` (a ``BaseHTTPRequestHandler``)."""

    # Provided by the handler.
    _conn_bucket: TokenBucket | None
    _body_consumed: bool
    server: Any
    rfile: Any
    wfile: Any
    headers: Any
    command: str

    if TYPE_CHECKING:  # BaseHTTPRequestHandler's methods; never defined at run time,
        # where they would shadow the real ones (the mixin comes first in the MRO).
        def send_response_only(self, code: int, message: str | None = None) -> None: ...
        def send_header(self, keyword: str, value: str) -> None: ...
        def end_headers(self) -> None: ...
        def date_time_string(self, timestamp: float | None = None) -> str: ...

    def _shape(self, n: int) -> None:
        if self._conn_bucket is not None:
            self._conn_bucket.consume(n)
        total = self.server.proxy.total_bucket
        if total is not None:
            total.consume(n)

    def _chunk(self) -> int:
        sizes = [_UNSHAPED_CHUNK]
        if self._conn_bucket is not None:
            sizes.append(self._conn_bucket.chunk_size())
        total = self.server.proxy.total_bucket
        if total is not None:
            sizes.append(total.chunk_size())
        return min(sizes)

    def _relay_request_body(
        self,
        upstream: http.client.HTTPConnection,
        chunked: bool,
        keep: bool,
        digests: BodyDigests | None = None,
    ) -> bytes:
        """Copy the request body to moto; raises ``S3Error`` (nothing stored) on a bad digest."""
        try:
            return self._relay_request_body_inner(upstream, chunked, keep, digests)
        except TimeoutError as exc:
            self._body_consumed = True  # what is left of it is never read
            raise BodyTimeout(str(exc)) from exc

    def _pass_on(
        self, upstream: http.client.HTTPConnection, remaining: int, kept: bytearray | None,
        when: str, digests: BodyDigests | None, last: bool = False,
    ) -> None:
        """Send ``remaining`` body bytes on, shaped; keep the first SMALL_BODY in ``kept``.

        With ``last`` (the end of the whole body) the digests are checked before the final
        bytes go upstream, so a body that does not match its checksum is never stored.
        """
        while remaining > 0:
            data = self.rfile.read(min(remaining, self._chunk()))
            if not data:
                raise ConnectionError(f"client closed {when}")
            self._shape(len(data))
            remaining -= len(data)
            if digests is not None:
                digests.update(data)
                if last and not remaining:
                    self._body_consumed = True
                    digests.check()  # before the last bytes go upstream
            upstream.send(data)
            if kept is not None and len(kept) < SMALL_BODY:
                kept += data

    def _relay_request_body_inner(
        self,
        upstream: http.client.HTTPConnection,
        chunked: bool,
        keep: bool,
        digests: BodyDigests | None,
    ) -> bytes:
        kept = bytearray()
        if chunked:
            while True:
                line = self.rfile.readline(65537)
                if not line:
                    raise ConnectionError("client closed during a chunked body")
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    # Trailer section (usually empty) up to the blank line.
                    while True:
                        trailer = self.rfile.readline(65537)
                        if trailer in (b"\r\n", b"\n", b""):
                            break
                    self._body_consumed = True
                    if digests is not None:
                        digests.check()  # before the body ends upstream
                    upstream.send(b"0\r\n\r\n")
                    break
                upstream.send(f"{size:x}\r\n".encode())
                self._pass_on(
                    upstream, size, kept if keep else None, "during a chunked body", digests
                )
                upstream.send(b"\r\n")
                self.rfile.readline(65537)  # CRLF after the chunk data
            return bytes(kept)
        remaining = int(self.headers.get("Content-Length") or 0)
        self._pass_on(
            upstream, remaining, kept if keep else None, "before sending the whole body",
            digests, last=True,
        )
        return bytes(kept)

    def _relay_response(self, resp: http.client.HTTPResponse, body: bytes | None) -> None:
        self.send_response_only(resp.status, resp.reason)
        length = resp.getheader("Content-Length")
        no_body = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
        if body is not None:
            length = str(len(body))
        for name, value in resp.getheaders():
            low = name.lower()
            if low in HOP_BY_HOP or low in ("content-length", "server", "date"):
                continue
            self.send_header(name, value)
        if self.headers.get("Origin") and not resp.getheader("Access-Control-Expose-Headers"):
            self.send_header("Access-Control-Expose-Headers", EXPOSE_HEADERS)
        self.send_header("Server", "AmazonS3")
        self.send_header("Date", self.date_time_string())
        use_chunked = False
        if length is not None:
            self.send_header("Content-Length", length)
        elif not no_body:
            use_chunked = True
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if no_body:
            return
        if body is not None:
            self._write_shaped(body, use_chunked)
        else:
            while True:
                data = resp.read(self._chunk())
                if not data:
                    break
                self._write_shaped(data, use_chunked)
        if use_chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _write_shaped(self, data: bytes, chunked: bool) -> None:
        step = self._chunk()
        for start in range(0, len(data), step):
            piece = data[start : start + step]
            self._shape(len(piece))
            if chunked:
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            else:
                self.wfile.write(piece)

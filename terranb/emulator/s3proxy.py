"""A threaded HTTP proxy in front of moto: STS key checks and network knobs for S3.

moto in server mode is a faithful S3 API but accepts any credentials. The
emulator therefore publishes this proxy as the S3 endpoint and keeps moto on a
private loopback port. For every request the proxy:

1. adds ``latency_ms`` and draws a fault verdict (:class:`~.netem.FaultInjector`):
   S3 XML ``InternalError`` (500), ``SlowDown`` (503), or a dropped connection
   (TCP reset, no response);
2. authenticates the key (:func:`.s3auth.authenticate`: unknown, expired,
   wrong token, wrong signature, skew, presigned expiry, with S3's error codes)
   and authorizes the request against the key's STS policy
   (:func:`.s3policy.authorize`: bucket and storePath prefix, ``..`` keys).
   As on AWS, a URL presigned with temporary keys stops working when the keys
   expire; the emulator's own download URLs are signed with the storage's
   internal key, which never expires and has no policy, so they work until
   their own expiry;
3. streams the request body to moto in chunks (``Content-Length`` bodies as they
   come, ``Transfer-Encoding: chunked`` bodies de-chunked and re-chunked; the
   ``aws-chunked`` content encoding boto3 uses for checksummed uploads is passed
   through untouched for moto to decode), shaped by a per-connection and a
   total :class:`~.netem.TokenBucket`, and checked against the digests its
   headers promise (Content-MD5, ``x-amz-checksum-*``, a signed
   ``x-amz-content-sha256``; :mod:`.s3digest`) before its last bytes reach moto;
4. streams moto's answer back the same way (``Range`` requests and 206 pass
   through), and after a successful write (PutObject, CopyObject,
   CompleteMultipartUpload, DeleteObject(s), CreateBucket, DeleteBucket) calls
   ``on_change`` before answering the client, so the storage layer can mirror
   the object to disk durably.

Timeouts (nothing the proxy does can block forever): a kept-alive client
connection may sit idle for ``idle_timeout`` seconds (120) between requests;
within a request every read and write on the client socket must progress
within ``body_timeout`` seconds (20, about what S3 allows), else the proxy
answers ``RequestTimeout`` (400, the code S3 uses for a body that stops
arriving, which botocore retries after rewinding the body) with
``Connection: close``; the connection to moto has ``upstream_timeout`` (600).
Early answers (authentication errors, injected 500/503) read away a body of up
to 1 MiB so the connection stays usable, and otherwise send ``Connection:
close``; before closing, the proxy drains what the client is still sending
for a moment ("lingering close"), so the client reads the error instead of a
TCP reset.

Addressing: path style (what boto3 uses for an IP endpoint such as
``http://127.0.0.1:PORT``) and virtual-hosted style on ``*.localhost`` (what
boto3 uses for ``http://localhost:PORT`` when the system resolves
``bucket.localhost``). CORS: preflight ``OPTIONS`` requests are answered as if
every bucket allowed every origin, and ``ETag`` is exposed to browsers, so a
web page can upload with presigned URLs. moto itself holds each request body in
memory, so a single multi-GB PutObject costs that much memory in moto; the
proxy does not, and multipart uploads (boto3's default above 8 MiB) keep it to
one part at a time.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import socket
import struct
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote

import terranb.emulator.sigv4 as sigv4
from terranb.emulator.netem import FaultInjector, NetemConfig, TokenBucket
from terranb.emulator.s3auth import KeyEntry, KeyRing, authenticate
from terranb.emulator.s3digest import BodyDigests
from terranb.emulator.s3mirror_read import MirrorCopy, served_from_mirror
from terranb.emulator.s3policy import StsPolicy, authorize
from terranb.emulator.s3relay import (
    EXPOSE_HEADERS,
    HOP_BY_HOP,
    SMALL_BODY,
    BodyTimeout,
    RelayMixin,
)
from terranb.emulator.s3wire import (
    ChangeEvent,
    S3Error,
    bucket_region,
    deleted_keys,
    error_xml,
    is_auth_param,
    split_bucket_key,
    vhost_bucket,
)
from terranb.emulator.sigv4 import SentRequest

__all__ = ["ChangeEvent", "KeyEntry", "KeyRing", "S3Error", "S3Proxy", "StsPolicy"]

log = logging.getLogger(__name__)

# Authentication parts not forwarded to moto.
# (moto needs to see a signed request, else it treats it as anonymous and denies reads.)
_AUTH_HEADERS = {"host", "x-amz-security-token"}
_AUTH_QUERY = {"X-Amz-Security-Token", "x-amz-security-token"}
_REQUEST_TIMEOUT = (
    "Your socket connection to the server was not read from or written to within the "
    "timeout period. Idle connections will be closed."
)
# Lingering close: how long and how much to drain after the answer before closing.
_LINGER_S = 1.0
_LINGER_BYTES = 64 << 20


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # boto3 opens up to 10 connections per transfer

    proxy: S3Proxy

    def shutdown_request(self, request: Any) -> None:
        # Lingering close: half-close, then drain for a moment what the client is still
        # sending (a body the proxy did not read). Closing a socket with unread input
        # makes the kernel send a reset, which can destroy the answer before the client
        # has read it.
        try:
            request.shutdown(socket.SHUT_WR)
        except OSError:  # already closed (dropped on purpose) or reset by the client
            pass
        else:
            _linger(request)
        self.close_request(request)


def _linger(sock: socket.socket) -> None:
    """Read and discard input until EOF, for at most ``_LINGER_S`` seconds."""
    deadline = time.monotonic() + _LINGER_S
    drained = 0
    with contextlib.suppress(OSError):
        while drained < _LINGER_BYTES:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            data = sock.recv(65536)
            if not data:
                break
            drained += len(data)


class _Handler(RelayMixin, BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer
    # Seconds a kept-alive connection may sit idle (set per proxy in setup()).
    timeout = 120

    # -- plumbing -----------------------------------------------------------------
    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.proxy.idle_timeout)
        cfg = self.server.proxy.netem
        self._conn_bucket = (
            TokenBucket(cfg.bandwidth_bps_per_conn) if cfg.bandwidth_bps_per_conn else None
        )
        self.server.proxy._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.proxy._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        # Never log the request line: presigned queries carry session tokens.
        pass

    def handle_expect_100(self) -> bool:
        # Answer "100 Continue" only after authentication (see _handle).
        return True

    def _dispatch(self) -> None:
        self._handle()

    # Every S3 verb goes through the same authentication and relay.
    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _dispatch

    def do_OPTIONS(self) -> None:
        # CORS preflight from a browser carries no credentials; answer like a bucket
        # whose CORS rule allows every origin (the emulator's choice, see module doc).
        self._discard_body()
        self.send_response(200)
        self.send_header("Access-Control-Allow-Origin", self.headers.get("Origin") or "*")
        self.send_header("Access-Control-Allow-Methods", "GET, PUT, POST, DELETE, HEAD")
        self.send_header(
            "Access-Control-Allow-Headers",
            self.headers.get("Access-Control-Request-Headers") or "*",
        )
        self.send_header("Access-Control-Expose-Headers", EXPOSE_HEADERS)
        self.send_header("Access-Control-Max-Age", "3000")
        self.send_header("Content-Length", "0")
        self.end_headers()

    # -- request handling ---------------------------------------------------------
    def _headers_lower(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            out[key] = f"{out[key]},{value}" if key in out else value
        return out

    def _send_error_xml(self, err: S3Error, resource: str) -> None:
        body = b"" if self.command == "HEAD" else error_xml(err.code, err.message, resource)
        self._discard_body()
        self.send_response(err.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amz-request-id", uuid.uuid4().hex[:16].upper())
        if err.status == 503:
            self.send_header("Retry-After", "1")
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _discard_body(self) -> None:
        """Read away a small unread body so the connection stays usable; close otherwise."""
        if getattr(self, "_body_consumed", False):
            return
        self._body_consumed = True
        if self.headers.get("Expect", "").lower() == "100-continue":
            # The client waits for 100 before sending; it never sent the body.
            self.close_connection = True
            return
        te = self.headers.get("Transfer-Encoding", "").lower()
        length = int(self.headers.get("Content-Length") or 0)
        if "chunked" in te or length > SMALL_BODY:
            self.close_connection = True
            return
        if length:
            try:
                got = self.rfile.read(length)
            except OSError:  # timeout or reset: the connection is unusable anyway
                got = b""
            if len(got) < length:
                self.close_connection = True

    def _drop(self) -> None:
        """Reset the connection without answering."""
        self.close_connection = True
        self._body_consumed = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            self.connection.close()

    def _handle(self) -> None:
        # Within a request every read/write must progress within body_timeout; between
        # requests the idle timeout applies again.
        self.connection.settimeout(self.server.proxy.body_timeout)
        try:
            self._handle_request()
        finally:
            if not self.close_connection:
                with contextlib.suppress(OSError):
                    self.connection.settimeout(self.server.proxy.idle_timeout)

    def _handle_request(self) -> None:
        proxy = self.server.proxy
        self._body_consumed = False
        raw_path, _, raw_query = self.path.partition("?")
        query_pairs = sigv4.parse_query(raw_query)
        headers = self._headers_lower()
        # Virtual-hosted style (``bucket.localhost:PORT``, what boto3 picks for a
        # ``localhost`` endpoint) becomes path style for moto; SigV4 signs the path
        # as sent, SigV2 the path-style resource.
        vbucket = vhost_bucket(headers.get("host", ""))
        path_style = f"/{quote(vbucket, safe='')}{raw_path}" if vbucket else raw_path
        if proxy.netem.latency_ms > 0:
            time.sleep(proxy.netem.latency_s)
        verdict = proxy.faults.next() if proxy.netem.fail_rate > 0 else "ok"
        if verdict == "drop":
            self._drop()
            return
        if verdict in ("500", "503"):
            err = (
                S3Error(500, "InternalError", "We encountered an internal error. Please try again.")
                if verdict == "500"
                else S3Error(503, "SlowDown", "Please reduce your request rate.")
            )
            self._send_error_xml(err, raw_path)
            return
        try:
            sent = SentRequest(self.command, raw_path, query_pairs, headers)
            entry = authenticate(proxy.keyring, sent, path_style,
                                 verify_signatures=proxy.verify_signatures)
            bucket, key = split_bucket_key(path_style)
            authorize(entry.policy, proxy.keyring.write_prefixes(entry), self.command, bucket,
                      key, query_pairs, headers)
        except S3Error as err:
            self._send_error_xml(err, raw_path)
            return
        try:
            if self.command == "GET" and self._from_mirror(path_style, raw_query, query_pairs,
                                                           headers):
                return
            self._forward(path_style, raw_query, query_pairs, headers)
        except S3Error as err:  # a body that does not match its digest: moto stored nothing
            with contextlib.suppress(OSError):
                self._send_error_xml(err, raw_path)
        except BodyTimeout:
            # The client promised a body and stopped sending it (for example a retry that
            # did not rewind its file): answer like S3 instead of waiting forever.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._send_error_xml(S3Error(400, "RequestTimeout", _REQUEST_TIMEOUT), raw_path)
        except (ConnectionError, TimeoutError, http.client.HTTPException, OSError) as exc:
            log.debug("s3 proxy: connection problem on %s %s: %s", self.command, raw_path, exc)
            self.close_connection = True

    def _upstream(self, method: str, raw_path: str, raw_query: str,
                  skip_range: bool) -> http.client.HTTPConnection:
        """A connection to moto with this request's line and headers put (not ended)."""
        proxy = self.server.proxy
        upstream = http.client.HTTPConnection(
            proxy.upstream_host, proxy.upstream_port, timeout=proxy.upstream_timeout
        )
        # Session tokens stop here (moto needs the rest to treat the request as signed).
        fwd_query = "&".join(
            part
            for part in raw_query.split("&")
            if part and unquote(part.partition("=")[0]) not in _AUTH_QUERY
        )
        target = raw_path + (f"?{fwd_query}" if fwd_query else "")
        upstream.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        upstream.putheader("Host", f"{proxy.upstream_host}:{proxy.upstream_port}")
        for name, value in self.headers.items():
            low = name.lower()
            if (
                low in HOP_BY_HOP
                or low in _AUTH_HEADERS
                or low in proxy.extra_upstream_headers
                or (low == "range" and skip_range)  # --no-range, or a HEAD for the mirror
            ):
                continue
            upstream.putheader(name, value)
        for name, value in proxy.extra_upstream_headers.items():
            upstream.putheader(name, value)
        return upstream

    def _from_mirror(self, raw_path: str, raw_query: str,
                     query_pairs: list[tuple[str, str]], headers: dict[str, str]) -> bool:
        """A Range GET answered from the storage's disk copy (see :mod:`.s3mirror_read`)."""
        proxy = self.server.proxy
        if proxy.mirror_copy is None or proxy.ignore_range or "range" not in headers:
            return False
        bucket, key = split_bucket_key(raw_path)
        conns: list[http.client.HTTPConnection] = []

        def head() -> http.client.HTTPResponse:
            upstream = self._upstream("HEAD", raw_path, raw_query, skip_range=True)
            conns.append(upstream)
            upstream.endheaders()
            return upstream.getresponse()

        try:
            served = served_from_mirror(
                proxy.mirror_copy, bucket, key, headers["range"],
                [k for k, _ in query_pairs if not is_auth_param(k)], head,
                lambda resp: self._relay_response(resp, None))
        finally:
            for conn in conns:
                conn.close()
        self._body_consumed = served
        return served

    def _forward(
        self,
        raw_path: str,
        raw_query: str,
        query_pairs: list[tuple[str, str]],
        headers: dict[str, str],
    ) -> None:
        proxy = self.server.proxy
        method = self.command
        digests = BodyDigests.from_headers(headers) if method in ("PUT", "POST") else None
        if headers.get("expect", "").lower() == "100-continue":
            self.send_response_only(100)
            self.end_headers()
        upstream = self._upstream(method, raw_path, raw_query, skip_range=proxy.ignore_range)
        try:
            chunked = "chunked" in headers.get("transfer-encoding", "").lower()
            if chunked:
                upstream.putheader("Transfer-Encoding", "chunked")
            elif "content-length" not in headers and method in ("PUT", "POST"):
                upstream.putheader("Content-Length", "0")
            if digests is not None and not chunked and not int(headers.get("content-length") or 0):
                digests.check()  # an empty body: before moto sees the request at all
            upstream.endheaders()
            bucket, key = split_bucket_key(raw_path)
            qnames = {k for k, _ in query_pairs if not is_auth_param(k)}
            keep_body = method in ("PUT", "POST") and (
                (not key and not qnames) or "delete" in qnames
            )
            captured = self._relay_request_body(upstream, chunked, keep_body, digests)
            self._body_consumed = True
            resp = upstream.getresponse()
            capture_response = method == "POST" and "delete" in qnames
            body_prefix = b""
            if capture_response and 200 <= resp.status < 300:
                body_prefix = resp.read()
            if 200 <= resp.status < 300:
                self._notify(method, bucket, key, qnames, headers, captured, body_prefix)
            self._relay_response(resp, body_prefix if capture_response else None)
        finally:
            upstream.close()

    def _notify(
        self,
        method: str,
        bucket: str,
        key: str,
        qnames: set[str],
        headers: dict[str, str],
        request_body: bytes,
        response_body: bytes,
    ) -> None:
        proxy = self.server.proxy
        if proxy.on_change is None or not bucket:
            return
        events: list[ChangeEvent] = []
        if not key:
            if method == "PUT" and not qnames:
                events.append(ChangeEvent("bucket", bucket, region=bucket_region(request_body)))
            elif method == "DELETE" and not qnames:
                events.append(ChangeEvent("delete_bucket", bucket))
            elif method == "POST" and "delete" in qnames:
                events.extend(
                    ChangeEvent("delete", bucket, k) for k in deleted_keys(response_body)
                )
        elif (
            method == "PUT"
            and not ({"partNumber", "uploadId"} & qnames)
            and not (qnames - {"x-id"})
        ) or (method == "POST" and "uploadId" in qnames):
            events.append(ChangeEvent("put", bucket, key))
        elif method == "DELETE" and "uploadId" not in qnames and not (qnames - {"x-id"}):
            events.append(ChangeEvent("delete", bucket, key))
        for event in events:
            try:
                proxy.on_change(event)
            except Exception:  # mirroring must not break the S3 answer
                log.exception("s3 proxy: on_change failed for %s %s/%s", event.kind, bucket, key)


class S3Proxy:
    """The loopback S3 endpoint: authenticates, shapes and forwards to moto.

    Args:
        upstream_host, upstream_port: where moto listens.
        keyring: accepted access keys.
        netem: network knobs.
        host: interface to listen on (loopback by default); port 0 = any free port.
        on_change: called after each successful write, before the client is answered.
        verify_signatures: recompute SigV4 signatures (True) or only check keys.
        extra_upstream_headers: added to every forwarded request (the moto account id).
        idle_timeout: seconds a kept-alive client connection may wait for its next request.
        body_timeout: seconds any read or write on the client connection may stall
            within a request (a body that stops arriving gets ``RequestTimeout``).
        upstream_timeout: socket timeout of the connections to moto.
        mirror_copy: the storage's lookup of an object's disk copy; single-range GETs
            of such objects are served from it (:mod:`.s3mirror_read`).
    """

    def __init__(
        self,
        upstream_host: str,
        upstream_port: int,
        keyring: KeyRing,
        netem: NetemConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        on_change: Callable[[ChangeEvent], None] | None = None,
        verify_signatures: bool = True,
        extra_upstream_headers: dict[str, str] | None = None,
        idle_timeout: float = 120.0,
        body_timeout: float = 20.0,
        upstream_timeout: float = 600.0,
        mirror_copy: MirrorCopy | None = None,
    ) -> None:
        for name, value in (
            ("idle_timeout", idle_timeout),
            ("body_timeout", body_timeout),
            ("upstream_timeout", upstream_timeout),
        ):
            if not value > 0:
                raise ValueError(f"{name} must be > 0 seconds, got {value}")
        self.idle_timeout = float(idle_timeout)
        self.body_timeout = float(body_timeout)
        self.upstream_timeout = float(upstream_timeout)
        self.extra_upstream_headers = dict(extra_upstream_headers or {})
        #: emulate an object store that ignores ``Range`` (answers 200 with the whole object)
        self.ignore_range = False
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.keyring = keyring
        self.netem = netem or NetemConfig()
        self.faults = FaultInjector(self.netem.fail_rate, self.netem.seed)
        self.total_bucket = (
            TokenBucket(self.netem.bandwidth_bps_total) if self.netem.bandwidth_bps_total else None
        )
        self.on_change = on_change
        self.mirror_copy = mirror_copy
        self.verify_signatures = verify_signatures
        self._host = host
        self._port = port
        self._server: _ProxyServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    @property
    def endpoint_url(self) -> str:
        """``http://host:port`` of the proxy."""
        if self._server is None:
            raise RuntimeError("S3 proxy is not started; call start() first")
        host, port = self._server.server_address[:2]
        if isinstance(host, bytes):
            host = host.decode()
        return f"http://{host}:{port}"

    def start(self) -> None:
        """Listen and serve in a daemon thread."""
        server = _ProxyServer((self._host, self._port), _Handler)
        server.proxy = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name="terranb-s3proxy",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and close open connections."""
        server = self._server
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None

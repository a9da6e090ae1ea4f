"""A tiny HTTP server over a folder for remote-preview tests: Range (or not), expiry, counting."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit


@dataclass
class ServerState:
    root: Path
    honour_range: bool = True
    expired: bool = False
    served: int = 0
    requests: list[str] = field(default_factory=list)
    base: str = ""


class _Handler(BaseHTTPRequestHandler):
    state: ServerState

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        st = self.server.state  # type: ignore[attr-defined]
        path = unquote(urlsplit(self.path).path).lstrip("/")
        st.requests.append(path)
        if st.expired:
            body = b"<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
            self.send_response(403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        f = (st.root / path)
        if not f.is_file():
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        size = f.stat().st_size
        m = re.match(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
        with f.open("rb") as fh:
            if m and st.honour_range:
                a = int(m.group(1))
                b = min(int(m.group(2)) if m.group(2) else size - 1, size - 1)
                if a >= size:
                    self.send_response(416)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                fh.seek(a)
                data = fh.read(b - a + 1)
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {a}-{b}/{size}")
            else:
                data = None
                self.send_response(200)
            self.send_header("Content-Length", str(len(data) if data is not None else size))
            self.end_headers()
            try:
                if data is not None:
                    self.wfile.write(data)
                    st.served += len(data)
                else:
                    while chunk := fh.read(1 << 16):
                        self.wfile.write(chunk)
                        st.served += len(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass


@contextmanager
def serve(root: Path, **kw: object) -> Iterator[ServerState]:
    state = ServerState(root=root, **kw)  # type: ignore[arg-type]
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.daemon_threads = True
    srv.state = state  # type: ignore[attr-defined]
    state.base = f"http://127.0.0.1:{srv.server_address[1]}"
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield state
    finally:
        srv.shutdown()
        srv.server_close()

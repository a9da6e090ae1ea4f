"""An independent FlightHub 2 open-modeling stand-in (not the emulator) for terranb's client.

Answers are built here and validated with flighthub2-cli's pydantic models before
they are sent, so they have the shapes a live-verified client expects. Requests are
checked against the rules flighthub2-cli found live (docs/flighthub2-notes.md):
headers ``X-User-Token``, ``X-Project-Uuid``, a fresh uuid ``X-Request-Id``,
``X-Language`` en|zh; ``resource_uuid`` = the batch id of the issued ``store_path``;
at most 100 files per ``upload_callback``; exact body keys. A request that deviates
gets HTTP 200 with code 990400 and a message "terranb's request deviates: <field> ...",
so the failure names the field and the side. Unknown routes get Go's plain
``404 page not found``.
"""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from flighthub2 import models as fm

TOKEN = "standin-org-key"
PROJECT = "0d9a6c0e-3a1f-4b8e-9c57-2b4f5e6a7d81"
ORG = "7f3e2c1a-9b8d-4e6f-a5c4-3b2a1f0e9d8c"
DEVIATION = 990400


class Deviation(Exception):
    """terranb's request broke a rule."""


def _answer(model: type[Any], data: Any) -> Any:
    """``data`` after a round trip through flighthub2-cli's model (shape self-check)."""
    model.model_validate(data)
    return data


class _State:
    def __init__(self) -> None:
        self.batches: dict[str, str] = {}  # callback_param -> batch id
        self.resources: dict[str, list[str]] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.request_ids: list[str] = []
        self.callbacks: list[dict[str, Any]] = []
        self.log: list[tuple[str, str, int]] = []
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        with self.server.state.lock:
            self.server.state.log.append((self.command, self.path, status))

    def _envelope(self, data: Any, code: int = 0, message: str = "") -> None:
        self._send(200, json.dumps({"code": code, "message": message, "data": data}).encode())

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _check_headers(self, body: bytes) -> None:
        h = self.headers
        if h.get("X-User-Token") != TOKEN:
            raise Deviation("header X-User-Token is not the organization key")
        if h.get("X-Project-Uuid") != PROJECT:
            raise Deviation("header X-Project-Uuid is missing or wrong")
        rid = h.get("X-Request-Id", "")
        try:
            uuid.UUID(rid)
        except ValueError:
            raise Deviation(f"header X-Request-Id {rid!r} is not a uuid") from None
        if rid in self.server.state.request_ids:
            raise Deviation(f"header X-Request-Id {rid!r} was reused by another call")
        self.server.state.request_ids.append(rid)
        if h.get("X-Language") not in ("en", "zh"):
            raise Deviation(f"header X-Language {h.get('X-Language')!r} is not en or zh")
        if body and not (h.get("Content-Type") or "").startswith("application/json"):
            raise Deviation("header Content-Type is not application/json for a JSON body")

    def _dispatch(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        path = self.path.split("?")[0]
        prefix = "/openapi/v0.1/open_model"
        if not path.startswith(prefix + "/"):
            return self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
        seg = path[len(prefix) + 1:].split("/")
        route = {
            ("POST", "stores", "obtain_token"): self._obtain_token,
            ("POST", "stores", "upload_callback"): self._upload_callback,
            ("POST", "models", "reconstruction", "start"): self._start,
            ("GET", "models", "running"): self._running,
        }.get((self.command, *seg))
        arg = ""
        if route is None and len(seg) == 2 and seg[0] in ("resource", "models"):
            arg = seg[1]
            route = {("GET", "resource"): self._get_resource,
                     ("DELETE", "resource"): self._delete_resource,
                     ("GET", "models"): self._get_model,
                     ("DELETE", "models"): self._delete_model}.get((self.command, seg[0]))
        if route is None and len(seg) == 4 and seg[0] == "models" and seg[2:] == [
                "reconstruction", "stop"] and self.command == "POST":
            route, arg = self._stop, seg[1]
        if route is None:
            return self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")
        try:
            self._check_headers(raw)
            body = json.loads(raw) if raw else {}
            route(arg, body)
        except Deviation as exc:
            self._envelope({}, DEVIATION, f"terranb's request deviates: {exc}")

    # -- routes ---------------------------------------------------------------------------
    def _obtain_token(self, _: str, body: dict[str, Any]) -> None:
        if body:
            raise Deviation("obtain_token takes no body")
        batch, cb = str(uuid.uuid4()), f"cb-{uuid.uuid4().hex}"
        self.server.state.batches[cb] = batch
        self._envelope(_answer(fm.OpenModelUploadToken, {
            "cloud_name": "ali", "access_key_id": "STS.standin", "secret_access_key": "s",
            "session_token": "t", "region": "oss-cn-hangzhou",
            "cloud_bucket_name": "standin-bucket", "callback_param": cb,
            "store_path": f"fh/organizations/{ORG}/open_reconstruction/tmp/{batch}/{{fileName}}",
            "expire_time": 4102444800, "end_point": "https://oss-cn-hangzhou.aliyuncs.com"}))

    def _upload_callback(self, _: str, body: dict[str, Any]) -> None:
        st = self.server.state
        extra = set(body) - {"resource_uuid", "resource_name", "callback_param", "files"}
        if extra:
            raise Deviation(f"upload_callback body has unknown field(s) {sorted(extra)}")
        batch = st.batches.get(body.get("callback_param", ""))
        if batch is None:
            raise Deviation("field callback_param was not issued by obtain_token")
        if body.get("resource_uuid") != batch:
            raise Deviation(f"field resource_uuid {body.get('resource_uuid')!r} is not the "
                            f"batch id {batch!r} of the store_path")
        files = body.get("files")
        if not isinstance(files, list) or not 1 <= len(files) <= 100:
            raise Deviation(f"field files has {len(files or [])} entries; 1 to 100 allowed")
        for f in files:
            if set(f) != {"name", "etag"} or '"' in f["etag"]:
                raise Deviation(f"field files[] entry {f!r} is not {{name, etag}} unquoted")
        st.callbacks.append(body)
        st.resources.setdefault(batch, []).extend(f["name"] for f in files)
        self._envelope(_answer(fm.UploadCallbackResult, {
            "resource_uuid": batch, "upload_count": len(files),
            "file_name_list": [f["name"] for f in files]}))

    def _get_resource(self, rid: str, _: dict[str, Any]) -> None:
        names = self.server.state.resources.get(rid)
        if names is None:
            return self._envelope({}, 200404, f"resource {rid} not found")
        self._envelope(_answer(fm.OpenModelResource, {
            "resource_uuid": rid, "status": 1, "resource_size": 1000 * len(names),
            "file_names": names or None}))  # FH2 sends null for an empty list

    def _delete_resource(self, rid: str, _: dict[str, Any]) -> None:
        if self.server.state.resources.pop(rid, None) is None:
            return self._envelope({}, 200404, f"resource {rid} not found")
        self._envelope({})

    def _start(self, _: str, body: dict[str, Any]) -> None:
        keys = {"resource_uuid", "parameter_2d", "parameter_3d", "parameter_3dgs",
                "parameter_lidar", "delete_resource_if_finish"}
        if set(body) - keys:
            raise Deviation(f"start body has unknown field(s) {sorted(set(body) - keys)}")
        if body.get("resource_uuid") not in self.server.state.resources:
            raise Deviation("field resource_uuid names no uploaded resource")
        out: dict[str, Any] = {}
        for kind, mtype in (("2d", 1), ("3d", 2), ("3dgs", 3), ("lidar", 4)):
            value = body.get(f"parameter_{kind}", "")
            if not isinstance(value, str):
                raise Deviation(f"field parameter_{kind} must be a JSON string")
            if value:
                if not isinstance(json.loads(value), dict):
                    raise Deviation(f"field parameter_{kind} is not a JSON object string")
                mu = str(uuid.uuid4())
                self.server.state.models[mu] = {
                    "resource_uuid": body["resource_uuid"], "model_uuid": mu, "model_type": mtype,
                    "model_status": 12, "model_size": 0, "reconstruction_progress": 0,
                    "error_code": 0, "zip_status": 0, "zip_progress": 0, "zip_file_key": "",
                    "polls": 0}
                out[f"model_{kind}"] = {"uuid": mu, "status": 12, "sub_error_code": 0}
        if not out:
            raise Deviation("no parameter_* is set")
        self._envelope(_answer(fm.ReconstructionStarted, out))

    def _model(self, mu: str) -> dict[str, Any] | None:
        m = self.server.state.models.get(mu)
        return None if m is None else {k: v for k, v in m.items() if k != "polls"}

    def _get_model(self, mu: str, _: dict[str, Any]) -> None:
        m = self.server.state.models.get(mu)
        if m is None:
            return self._envelope({}, 200404, f"model {mu} not found")
        m["polls"] += 1
        if m["model_status"] in (12, 14):  # 12 -> 14 -> 15 + zip 2
            m["model_status"] = 14 if m["polls"] < 2 else 15
            m["reconstruction_progress"] = 50 if m["polls"] < 2 else 100
            if m["model_status"] == 15:
                m.update(zip_status=2, zip_progress=100, model_size=4096,
                         zip_file_key=f"fh/organizations/{ORG}/models/{mu}.zip")
        self._envelope(_answer(fm.OpenModelDetail, self._model(mu)))

    def _running(self, _: str, __: dict[str, Any]) -> None:
        items = [self._model(mu) for mu, m in self.server.state.models.items()
                 if m["model_status"] in (12, 14)]
        for item in items:
            fm.OpenModelDetail.model_validate(item)
        self._envelope({"list": items or None})

    def _stop(self, mu: str, _: dict[str, Any]) -> None:
        m = self.server.state.models.get(mu)
        if m is None or m["model_status"] not in (12, 14):
            return self._envelope({}, 200409, f"model {mu} is not running")
        m["model_status"] = 16
        self._envelope({})

    def _delete_model(self, mu: str, _: dict[str, Any]) -> None:
        if self.server.state.models.pop(mu, None) is None:
            return self._envelope({}, 200404, f"model {mu} not found")
        self._envelope({})


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = _State()


class FH2Standin:
    """``with FH2Standin() as s:``; ``s.url`` is the origin, ``s.state`` what it saw."""

    def __init__(self) -> None:
        self._server = _Server()
        self.state = self._server.state
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FH2Standin:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

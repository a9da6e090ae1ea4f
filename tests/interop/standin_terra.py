"""A strict TerraAPI server written only from DJI's quick start (seed 001), not the emulator.

It serves exactly the eight calls the quick start shows and nothing else:

    POST /v2/store/obtain_token        POST /v2/resources
    POST /v2/store/upload_callback     POST /v2/jobs
    POST /v2/jobs/{uuid}/start         GET  /v2/jobs/{uuid}
    GET  /v2/resources/{uuid}          GET  /v2/files/{uuid}

Every other route, including the paged ``GET /v2/files?resourceUuid=`` that
third-party SDKs use, a trailing slash or an empty path segment, gets what Go's
``net/http`` mux answers for an unknown path: HTTP 404 with the text ``404 page
not found`` (HTTP 405 ``Method Not Allowed`` when the path is documented for
another method, e.g. ``DELETE /v2/jobs/{uuid}``). What it checks, each from the
quick start's own scripts:

* the HMAC headers exactly as the scripts build them (checked here with
  ``hmac``/``hashlib`` directly, not with terranb's signing code): ``Date`` in
  the scripts' ``%a, %d %b %Y %H:%M:%S GMT`` form and within 300 s of now,
  ``Digest`` over the exact body bytes (the empty string for GET and
  obtain_token), ``headers="date @request-target digest"``;
* ``Content-Type: application/json`` on every request with a body;
* body keys spelled as the scripts spell them (``resourceUUID`` in
  upload_callback; ``resourceUuid`` or, as the 3D example writes it,
  ``resourceUUID`` in start), ``type`` 13/14/15, ``parameters`` a JSON string;
* at least ten images in a 2D/3D job's resource (seed 000, FAQ);
* presigned download URLs fetched without signing (an ``Authorization`` header
  gets S3's 400 "Only one auth mechanism allowed").

A started job finishes on the second status poll; its output resource holds
files computed from the job's inputs (the bound file names and the parameters
string), served at presigned-style URLs with an ``&`` in the query,
JSON-escaped as ``\\u0026`` the way Go does. With ``lean=True`` a file's detail
carries only what the seeds show (``uuid``, ``name``, ``url``): no size, no
checksum. With ``s3=True`` an object store (moto's server, standing in for the
bucket the token names) takes the uploads, and ``upload_callback`` binds a file
only when an object is at ``storePath`` with ``{fileName}`` = its name and its
ETag is the ``etag`` sent (quotes stripped), as the quick start's upload script
records them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

PREFIX = "/terra-rescon-be"
_AUTH = re.compile(r'hmac username="([^"]*)", algorithm="hmac-sha256", '
                   r'headers="date @request-target digest", signature="([^"]*)"')
_DATE = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep"
                   r"|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT")
_CLOCK_SKEW = 300  # Kong hmac-auth's default (protocol.md §1.2)
_MIN_IMAGES = 10  # seed 000: "A minimum of ten images is required" (2D/3D)
# Gateway answers (Kong's texts, protocol.md §1.2).
_BAD_DATE = ("HMAC signature cannot be verified, a valid date or x-date header is required "
             "for HMAC Authentication")


def _ok(data: Any) -> dict[str, Any]:
    return {"result": {"code": 0, "msg": "", "desc": ""}, "data": data}


def _err(code: int, msg: str) -> dict[str, Any]:
    return {"result": {"code": code, "msg": msg, "desc": msg}, "data": None}


@dataclass
class StandinState:
    app_key: str
    secret_key: str
    lean: bool = False
    s3_url: str = ""
    resources: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    blobs: dict[str, bytes] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    log: list[tuple[str, str, int]] = field(default_factory=list)  # method, target, status
    lock: threading.Lock = field(default_factory=threading.Lock)

    def calls(self, method: str, prefix: str) -> list[tuple[str, int]]:
        return [(t, s) for m, t, s in self.log if m == method and t.startswith(prefix)]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    # -- plumbing -----------------------------------------------------------------------
    def _send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        st = self.server.state
        with st.lock:
            st.log.append((self.command, self.path, status))

    def _json(self, status: int, obj: Any) -> None:
        # Go's encoding/json escapes &, < and > (seed 000: the URL shows \u0026).
        text = json.dumps(obj).replace("&", "\\u0026").replace("<", "\\u003c")
        self._send(status, text.replace(">", "\\u003e").encode(), "application/json")

    def _not_found(self) -> None:
        self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")

    def _body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def _gateway_refusal(self, body: bytes) -> str:
        """Kong's 401 text for a request the quick start would not send, else ""."""
        date = self.headers.get("Date", "")
        if not _DATE.fullmatch(date):
            return _BAD_DATE
        if abs(time.time() - parsedate_to_datetime(date).timestamp()) > _CLOCK_SKEW:
            return _BAD_DATE
        if not self.headers.get("Authorization"):
            return "Unauthorized"
        if not self._authorized(body, date):
            return "HMAC signature does not match"
        return ""

    def _authorized(self, body: bytes, date: str) -> bool:
        st = self.server.state
        m = _AUTH.fullmatch(self.headers.get("Authorization", ""))
        digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
        if not m or m.group(1) != st.app_key or self.headers.get("Digest") != digest:
            return False
        text = (f"date: {date}\n@request-target: {self.command.lower()} {self.path}\n"
                f"digest: {digest}")
        want = base64.b64encode(hmac.new(st.secret_key.encode(), text.encode(),
                                         hashlib.sha256).digest()).decode()
        return hmac.compare_digest(want, m.group(2))

    # -- dispatch -----------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        parts = urlsplit(self.path)
        body = self._body()
        if parts.path.startswith("/download/"):
            return self._download(parts.path.rsplit("/", 1)[-1], parse_qs(parts.query))
        if "//" in parts.path or parts.path.endswith("/"):
            return self._not_found()  # Go's mux: exact paths only
        if not parts.path.startswith(PREFIX + "/v2/"):
            return self._not_found()
        route = parts.path[len(PREFIX):]
        handler = self._route(self.command, route)
        if handler is None:
            others = [m for m in ("GET", "POST") if m != self.command
                      and self._route(m, route) is not None]
            if others:  # Go 1.22's ServeMux: the path exists for another method
                return self._send(405, b"Method Not Allowed\n", "text/plain; charset=utf-8")
            return self._not_found()
        refusal = self._gateway_refusal(body)
        if refusal:
            return self._json(401, {"message": refusal})
        if body and not (self.headers.get("Content-Type") or "").startswith("application/json"):
            return self._json(400, _err(102001, "Content-Type must be application/json"))
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return self._json(400, _err(102001, "body is not JSON"))
        if not isinstance(payload, dict):
            return self._json(400, _err(102001, "body must be a JSON object"))
        fn, arg = handler
        fn(arg, payload)

    def _route(self, method: str, route: str) -> tuple[Any, str] | None:
        # By path, as Go's mux routes (a query string plays no part; none is documented).
        seg = route.strip("/").split("/")[1:]  # drop "v2"
        table: dict[tuple[str, ...], Any] = {
            ("POST", "store", "obtain_token"): self._obtain_token,
            ("POST", "store", "upload_callback"): self._upload_callback,
            ("POST", "resources"): self._create_resource,
            ("POST", "jobs"): self._create_job,
        }
        if (method, *seg) in table:
            return table[(method, *seg)], ""
        if method == "GET" and len(seg) == 2 and seg[0] in ("resources", "files", "jobs"):
            return {"resources": self._get_resource, "files": self._get_file,
                    "jobs": self._get_job}[seg[0]], seg[1]
        if method == "POST" and len(seg) == 3 and seg[0] == "jobs" and seg[2] == "start":
            return self._start_job, seg[1]
        return None

    # -- the eight documented calls -----------------------------------------------------
    def _obtain_token(self, _: str, __: dict[str, Any]) -> None:
        cb = base64.b64encode(uuid.uuid4().bytes).decode()
        store = f"standin/tmp/{uuid.uuid4()}/{{fileName}}"
        self.server.state.tokens[cb] = store
        # TerraAPI's token names no endpoint (protocol.md §1.5.1): the client is told the
        # object store's URL separately, as for the real service's default AWS endpoint.
        self._json(200, _ok({"accessKeyID": "STS.standin", "secretAccessKey": "x",
                             "sessionToken": "y", "region": "us-east-1",
                             "cloudBucketName": BUCKET, "cloudName": "aws_s3",
                             "storePath": store, "callbackParam": cb,
                             "expireTime": 4102444800}))

    def _create_resource(self, _: str, body: dict[str, Any]) -> None:
        if not body.get("name") or body.get("type") not in ("map", None):
            return self._json(400, _err(102001, "name is required and type must be map"))
        rid = str(uuid.uuid4())
        self.server.state.resources[rid] = {"uuid": rid, "name": body["name"], "type": "map",
                                            "fileUuids": []}
        self._json(200, _ok(self._resource_summary(rid)))

    def _upload_callback(self, _: str, body: dict[str, Any]) -> None:
        st = self.server.state
        res = st.resources.get(str(body.get("resourceUUID")))
        if res is None or body.get("callbackParam") not in st.tokens:
            return self._json(400, _err(102001, "unknown resourceUUID or callbackParam"))
        files = body.get("files")
        if not isinstance(files, list) or not files:
            return self._json(400, _err(102001, "files must be a non-empty array"))
        out = []
        for item in files:
            if not isinstance(item, dict) or not all(
                    isinstance(item.get(k), str) and item[k] for k in ("name", "etag", "checksum")):
                return self._json(400, _err(102001, "every file needs name, etag, checksum"))
            size = 0
            if st.s3_url:
                key = st.tokens[body["callbackParam"]].replace("{fileName}", item["name"])
                size = _object_size(st.s3_url, key, item["etag"].strip('"'))
                if size is None:
                    return self._json(400, _err(102001, f"no object {key} with etag "
                                                        f"{item['etag']} in the bucket"))
            fid = str(uuid.uuid4())
            st.files[fid] = {"uuid": fid, "name": item["name"], "checksum": item["checksum"],
                             "size": size}
            res["fileUuids"].append(fid)
            out.append(st.files[fid])
        self._json(200, _ok(out))

    def _create_job(self, _: str, body: dict[str, Any]) -> None:
        if not body.get("name"):
            return self._json(400, _err(102001, "name is required"))
        jid = str(uuid.uuid4())
        self.server.state.jobs[jid] = {"uuid": jid, "name": body["name"], "status": 0,
                                       "type": 0, "polls": 0}
        self._json(200, _ok(self._job_json(jid)))

    def _start_job(self, jid: str, body: dict[str, Any]) -> None:
        st = self.server.state
        job = st.jobs.get(jid)
        if job is None:
            return self._json(404, _err(102114, "job does not exist"))
        if job["status"] != 0:
            return self._json(400, _err(102003, "job has been started"))
        # The quick start writes resourceUuid (2D, LiDAR) and resourceUUID (3D).
        res = st.resources.get(str(body.get("resourceUuid") or body.get("resourceUUID")))
        params = body.get("parameters")
        try:
            parsed = json.loads(params) if isinstance(params, str) else None
        except ValueError:
            parsed = None
        if res is None or not isinstance(parsed, dict) or body.get("type") not in (13, 14, 15):
            return self._json(400, _err(102001, "type 13/14/15, resourceUuid and a "
                                                "parameters JSON string needed"))
        if body["type"] in (14, 15) and len(res["fileUuids"]) < _MIN_IMAGES:
            return self._json(400, _err(102001, f"a minimum of {_MIN_IMAGES} images is "
                                                "required"))
        job.update(status=1, type=body["type"], parameters=params,
                   originResourceUuid=res["uuid"])
        self._json(200, _ok(self._job_json(jid)))

    def _get_job(self, jid: str, _: dict[str, Any]) -> None:
        st = self.server.state
        job = st.jobs.get(jid)
        if job is None:
            return self._json(404, _err(102114, "job does not exist"))
        if job["status"] in (1, 3):
            job["polls"] += 1
            if job["polls"] >= 2:
                self._finish(job)
            else:
                job["status"] = 3
        self._json(200, _ok(self._job_json(jid)))

    def _finish(self, job: dict[str, Any]) -> None:
        """Output files computed from the job's inputs."""
        st = self.server.state
        names = [st.files[f]["name"] for f in st.resources[job["originResourceUuid"]]["fileUuids"]]
        outputs = {
            "mission.json": json.dumps({"type": job["type"], "inputs": names,
                                        "parameters": json.loads(job["parameters"])}),
            "images/survey/image_list.json": json.dumps(sorted(names)),
            "AT/count.txt": f"{len(names)} images\n",
        }
        rid = str(uuid.uuid4())
        st.resources[rid] = {"uuid": rid, "name": f"output of job: {job['uuid']}",
                             "type": "job_output", "fileUuids": []}
        for name, text in outputs.items():
            fid = str(uuid.uuid4())
            data = text.encode()
            st.blobs[fid] = data
            st.files[fid] = {"uuid": fid, "name": name, "size": len(data),
                             "checksum": hashlib.md5(data).hexdigest()}
            st.resources[rid]["fileUuids"].append(fid)
        job.update(status=6, outputResourceUuid=rid, percentage=1.0)

    def _get_resource(self, rid: str, _: dict[str, Any]) -> None:
        res = self.server.state.resources.get(rid)
        if res is None:
            return self._json(404, _err(102002, "can not find resource"))
        self._json(200, _ok({"summary": self._resource_summary(rid),
                             "fileUuids": list(res["fileUuids"]),
                             "inputJobUuids": [], "outputJobUuids": []}))

    def _get_file(self, fid: str, _: dict[str, Any]) -> None:
        f = self.server.state.files.get(fid)
        if f is None:
            return self._json(404, _err(102002, "can not find resource"))
        host = f"http://{self.server.server_address[0]}:{self.server.server_address[1]}"
        shown = {k: f[k] for k in ("uuid", "name")} if self.server.state.lean else f
        self._json(200, _ok({**shown,
                             "url": f"{host}/download/{fid}?X-Expires=4102444800&X-Sig=ok"}))

    def _download(self, fid: str, query: dict[str, list[str]]) -> None:
        if self.command != "GET":
            return self._send(405, b"<Error><Code>MethodNotAllowed</Code></Error>",
                              "application/xml")
        if self.headers.get("Authorization"):
            return self._send(400, b"<Error><Code>InvalidArgument</Code><Message>Only one auth "
                                   b"mechanism allowed</Message></Error>", "application/xml")
        data = self.server.state.blobs.get(fid)
        if data is None or query.get("X-Sig") != ["ok"]:
            return self._send(403, b"<Error><Code>AccessDenied</Code></Error>",
                              "application/xml")
        self._send(200, data, "application/octet-stream")

    # -- shapes -------------------------------------------------------------------------
    def _resource_summary(self, rid: str) -> dict[str, Any]:
        res = self.server.state.resources[rid]
        return {"uuid": rid, "name": res["name"], "type": res["type"],
                "fileCount": len(res["fileUuids"]), "revisable": True}

    def _job_json(self, jid: str) -> dict[str, Any]:
        job = self.server.state.jobs[jid]
        return {k: v for k, v in job.items() if k != "polls"}


BUCKET = "standin-bucket"


def _s3(url: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="STS.standin", aws_secret_access_key="x",
                        aws_session_token="y")


def _object_size(url: str, key: str, etag: str) -> int | None:
    """Size of ``key`` in the stand-in's bucket when its ETag is ``etag``, else None."""
    try:
        head = _s3(url).head_object(Bucket=BUCKET, Key=key)
    except Exception:  # botocore's ClientError for a missing key
        return None
    return int(head["ContentLength"]) if head["ETag"].strip('"') == etag else None


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: StandinState) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class StrictTerraStandin:
    """Start with ``with StrictTerraStandin(ak, sk) as s:``; ``s.url`` is the origin."""

    def __init__(self, app_key: str, secret_key: str, *, lean: bool = False,
                 s3: bool = False) -> None:
        self.state = StandinState(app_key, secret_key, lean=lean)
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._moto: Any = None
        if s3:
            from moto.server import ThreadedMotoServer

            self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def s3_url(self) -> str:
        """The object store's origin ("" without ``s3=True``)."""
        return self.state.s3_url

    def __enter__(self) -> StrictTerraStandin:
        if self._moto is not None:
            self._moto.start()
            host, port = self._moto.get_host_and_port()
            self.state.s3_url = f"http://{host}:{port}"
            _s3(self.state.s3_url).create_bucket(Bucket=BUCKET)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._moto is not None:
            self._moto.stop()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

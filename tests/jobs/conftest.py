"""Fixtures for job tests: an in-memory backend over a moto S3 server, ledgers, journals."""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from terranb.credentials import StorageCredentials
from terranb.jobs.states import JobState, JobStatus
from terranb.transfer.download import Downloader, RemoteFile

BUCKET = "jobs-bucket"
SMALL_PART = 64 * 1024


@pytest.fixture(scope="session")
def moto_url() -> Iterator[str]:
    moto_server = pytest.importorskip("moto.server")
    import moto.s3.models as s3models

    s3models.S3_UPLOAD_PART_MIN_SIZE = SMALL_PART
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    import boto3

    boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="x",
                 aws_secret_access_key="y").create_bucket(Bucket=BUCKET)
    yield url
    server.stop()


class FakeBackend:
    """A service in memory: resources, bindings, jobs that advance one state per poll."""

    kind = "terra"
    base_url = "http://fake"
    bind_batch_size = 50

    def __init__(self, endpoint: str, results: dict[str, bytes] | None = None,
                 fail_with: int | None = None) -> None:
        self.endpoint = endpoint
        self.prefix = f"acct/tmp/{random.getrandbits(40):010x}"
        self.tokens = 0
        self.resources: dict[str, list[str]] = {}
        self.bind_calls = 0
        self.jobs: dict[str, dict[str, Any]] = {}
        self.results = results or {"map/result.tif": b"tif" * 100, "mission.json": b"{}"}
        self.fail_with = fail_with
        self.cancelled: list[str] = []
        self._lock = threading.Lock()

    def label(self) -> str:
        return "terra:http://fake:acct"

    def obtain_credentials(self) -> StorageCredentials:
        self.tokens += 1
        return StorageCredentials("aws_s3", f"STS.{self.tokens}", "s", "t", "us-east-1", BUCKET,
                                  store_path=f"{self.prefix}/{self.tokens}/{{fileName}}",
                                  callback_param=f"cb{self.tokens}", expire_time=0,
                                  endpoint_url=self.endpoint)

    def new_resource(self, name: str, store_path: str = "") -> str:
        rid = f"res-{len(self.resources) + 1}"
        self.resources[rid] = []
        return rid

    def bind(self, resource_uuid: str, callback_param: str, files: Any,
             resource_name: str = "") -> None:
        with self._lock:
            self.bind_calls += 1
            self.resources[resource_uuid].extend(f.rel for f in files)

    def bound_names(self, resource_uuid: str) -> set[str]:
        return set(self.resources.get(resource_uuid, []))

    def start(self, resource_uuid: str, job_type: int, parameters: str, name: str,
              kind: str = "") -> str:
        jid = f"job-{len(self.jobs) + 1:04d}-{random.getrandbits(32):08x}"
        self.jobs[jid] = {"resource": resource_uuid, "type": job_type, "parameters": parameters,
                          "polls": 0}
        return jid

    def status(self, job_id: str) -> JobStatus:
        job = self.jobs[job_id]
        job["polls"] += 1
        steps = [(JobState.QUEUED, 1), (JobState.RUNNING, 3), (JobState.RUNNING, 3)]
        if job_id in self.cancelled:
            return JobStatus(job_id, JobState.CANCELLED, 5, 0.5, "stopped")
        if job["polls"] <= len(steps):
            state, code = steps[job["polls"] - 1]
            return JobStatus(job_id, state, code, job["polls"] / 4, "")
        if self.fail_with:
            return JobStatus(job_id, JobState.FAILED, 7, 0.7, "AT failed: too few tie points")
        return JobStatus(job_id, JobState.SUCCEEDED, 6, 1.0, "finished", output_ref="out-1")

    def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)

    def list_remote(self, limit: int | None = None) -> Iterator[JobStatus]:
        for jid in self.jobs:
            yield JobStatus(jid, JobState.RUNNING, 3, 0.5, "")

    def download_results(self, status: JobStatus, dest: Path, on_progress: Any = None,
                         **options: Any) -> list[str]:
        import http.server

        data = self.results

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a: object) -> None:
                pass

            def do_GET(self) -> None:
                body = data[self.path.lstrip("/")]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            port = srv.server_address[1]
            files = [RemoteFile(n, len(b), hashlib.md5(b).hexdigest(),
                                f"http://127.0.0.1:{port}/{n}") for n, b in data.items()]
            return Downloader(on_progress=on_progress).download(files, dest, **options).files
        finally:
            srv.shutdown()
            srv.server_close()


@pytest.fixture()
def backend(moto_url: str) -> FakeBackend:
    return FakeBackend(moto_url)


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    rng = random.Random(5)
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(60):
        (root / f"DJI_{i:04d}.JPG").write_bytes(rng.randbytes(2000 + i))
    return root

"""Fixtures for transfer tests: a moto S3 server on 127.0.0.1, credentials for it, data sets."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from transfer_helpers import BUCKET, SMALL_PART, write_dataset

from terranb.credentials import StorageCredentials


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A moto S3 server (thread in this process) with a 64 KiB minimum part size."""
    moto_server = pytest.importorskip("moto.server")
    import moto.s3.models as s3models

    s3models.S3_UPLOAD_PART_MIN_SIZE = SMALL_PART  # tests use small parts to stay fast
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    import boto3

    s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1",
                      aws_access_key_id="x", aws_secret_access_key="y")
    s3.create_bucket(Bucket=BUCKET)
    yield url
    server.stop()


@pytest.fixture()
def make_creds(moto_endpoint: str) -> Callable[..., StorageCredentials]:
    """Factory of credentials for the moto server, with a fresh key prefix per test."""
    prefix = f"org/tmp/{random.getrandbits(48):012x}"

    def make(expire_in: float = 600.0, key: str = "STS.test", now: float | None = None,
             **kw: object) -> StorageCredentials:
        import time

        base = dict(provider="aws_s3", access_key_id=key, secret_access_key="secret",
                    session_token="token", region="us-east-1", bucket=BUCKET,
                    store_path=f"{prefix}/{{fileName}}", callback_param="cbp",
                    expire_time=(now or time.time()) + expire_in, endpoint_url=moto_endpoint)
        base.update(kw)
        return StorageCredentials(**base)  # type: ignore[arg-type]

    return make


@pytest.fixture()
def s3(moto_endpoint: str):
    """A plain boto3 client on the moto server, for assertions."""
    import boto3

    return boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="y")


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    """A small data set: 12 small files and 2 multipart-sized ones."""
    return write_dataset(tmp_path / "flight", [3000 + 17 * i for i in range(12)]
                         + [5 * 64 * 1024 + 123, 3 * 64 * 1024])


@pytest.fixture()
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "journal" / "upload-journal.sqlite3"


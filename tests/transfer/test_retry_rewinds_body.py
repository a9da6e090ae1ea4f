"""Every attempt of an upload call sends the body from its first byte.

A rejected attempt may already have consumed the body (botocore stops waiting for
``100-continue`` after a second, so a slow ``ExpiredToken`` answer comes after the
bytes went out). Without a rewind the retry announces N bytes and sends none, and the
store waits for a body that never comes.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError as BotoClientError

from terranb.transfer.body import FileWindow
from terranb.transfer.upload import Uploader


class _Source:
    """Just enough of a credential source: one client per generation."""

    def __init__(self) -> None:
        import boto3

        self.generation = 0
        # A real client object (never used on the network here) so progress hooks attach.
        self._client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="test",
                                    aws_secret_access_key="test")

    def client(self) -> tuple[Any, int]:
        return self._client, self.generation

    def invalidate(self, generation: int) -> None:
        self.generation += 1


def test_retry_after_expired_token_resends_the_whole_body(tmp_path: Path) -> None:
    data = bytes(range(256)) * 64
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    uploader = Uploader.__new__(Uploader)  # only _call is exercised here
    uploader.source = _Source()  # type: ignore[assignment]
    uploader.retries = 3
    uploader._sleep = lambda s: None  # type: ignore[method-assign]
    sent: list[bytes] = []

    def put(client: Any, *, Body: Any) -> dict[str, str]:
        sent.append(Body.read())
        if len(sent) == 1:
            raise BotoClientError({"Error": {"Code": "ExpiredToken",
                                             "Message": "The provided token has expired."}},
                                  "PutObject")
        return {"ETag": '"x"'}

    with FileWindow(path, 0, len(data), lambda n: None) as body:
        uploader._call("upload photo.jpg", functools.partial(put, Body=body))
    assert [len(b) for b in sent] == [len(data), len(data)]
    assert sent[1] == data

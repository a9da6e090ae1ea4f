"""Uploads against a moto S3 server: parallel, multipart, journal, renewal, progress, binding."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from transfer_helpers import BUCKET, SMALL_PART, write_dataset

from terranb.errors import ServerError
from terranb.transfer import s3client
from terranb.transfer.journal import Journal
from terranb.transfer.upload import Uploader, dataset_fingerprint, multipart_etag


def _objects(s3: Any, prefix: str) -> dict[str, bytes]:
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for obj in page.get("Contents", []):
            body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
            out[obj["Key"][len(prefix):]] = body
    return out


def _local(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_upload_sends_everything_once_and_rerun_sends_nothing(dataset, make_creds, s3,
                                                              journal_path):
    creds = make_creds()
    events = []
    up = Uploader(lambda: creds, journal=journal_path, workers=4, part_size=SMALL_PART,
                  on_progress=events.append)
    result = up.upload(dataset)
    prefix = creds.store_path.split("{fileName}")[0]
    assert _objects(s3, prefix) == _local(dataset)
    total = sum(len(b) for b in _local(dataset).values())
    assert result.bytes_sent == total and result.bytes_skipped == 0
    assert events[-1].total_done == total and events[-1].total_bytes == total
    assert max(e.total_done for e in events) == total
    assert events[-1].files_done == len(result.files) == 14
    # The big file went multipart: its ETag is the multipart form and the parts are journaled.
    big = next(r for r in result.files if r.size > 5 * SMALL_PART)
    assert big.etag.endswith("-6") and big.upload_id
    parts = result.journal.parts(result.session.id, big.rel, big.upload_id)
    assert sorted(parts) == [1, 2, 3, 4, 5, 6]
    assert multipart_etag([p.etag for _, p in sorted(parts.items())]) == big.etag
    small = next(r for r in result.files if r.size < SMALL_PART)
    assert small.etag == hashlib.md5((dataset / small.rel).read_bytes()).hexdigest()
    # Run again: nothing is sent.
    again = Uploader(lambda: creds, journal=journal_path, workers=4,
                     part_size=SMALL_PART).upload(dataset)
    assert again.bytes_sent == 0 and again.bytes_skipped == total
    assert again.session.id == result.session.id
    assert again.fingerprint == result.fingerprint == dataset_fingerprint(result.files)


def test_changed_file_is_sent_again(dataset, make_creds, s3, journal_path):
    creds = make_creds()
    Uploader(lambda: creds, journal=journal_path, part_size=SMALL_PART).upload(dataset)
    target = dataset / "IMG_0000.JPG"
    target.write_bytes(b"new content")
    result = Uploader(lambda: creds, journal=journal_path, part_size=SMALL_PART).upload(dataset)
    assert result.bytes_sent == len(b"new content")
    key = creds.key_for("IMG_0000.JPG")
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"new content"


def _expired_response() -> Any:
    from botocore.awsrequest import AWSResponse

    class Raw:
        def stream(self, **_: Any):
            yield (b'<?xml version="1.0"?><Error><Code>ExpiredToken</Code>'
                   b"<Message>The provided token has expired.</Message></Error>")

    return AWSResponse("http://x", 400, {}, Raw())


def test_expired_token_renews_without_resending_finished_parts(dataset, make_creds, s3,
                                                               journal_path, monkeypatch):
    """Keys 'STS.old' stop working after 5 requests; the upload continues with new keys."""
    issued = []
    old_calls = {"n": 0}
    real = s3client.make_client

    def make_client(creds, **kw):
        client = real(creds, **kw)

        def before_send(request, **_):
            if creds.access_key_id == "STS.old":
                old_calls["n"] += 1
                if old_calls["n"] > 5:
                    return _expired_response()
            return None

        client.meta.events.register("before-send.s3", before_send)
        return client

    monkeypatch.setattr(s3client, "make_client", make_client)

    def provider():
        issued.append("STS.old" if not issued else "STS.new")
        return make_creds(key=issued[-1], store_path=f"other-{len(issued)}/{{fileName}}")

    first = make_creds(key="STS.old")
    calls = iter([first])
    up = Uploader(lambda: next(calls, None) or provider(), journal=journal_path, workers=2,
                  part_size=SMALL_PART)
    result = up.upload(dataset)
    total = sum(len(b) for b in _local(dataset).values())
    assert result.bytes_sent == total  # nothing sent twice
    assert issued  # renewed at least once
    # Objects stay under the first token's key template (the pinned target).
    prefix = first.store_path.split("{fileName}")[0]
    assert _objects(s3, prefix) == _local(dataset)


def test_credentials_renewed_before_expiry():
    clock = {"t": 1000.0}
    made = []

    def provider():
        from terranb.credentials import StorageCredentials

        made.append(clock["t"])
        return StorageCredentials("aws_s3", "a", "b", "c", "us-east-1", "bk",
                                  expire_time=clock["t"] + 600)

    src = s3client.CredentialSource(provider, margin=60, clock=lambda: clock["t"])
    first = src.get()
    clock["t"] += 500
    assert src.get() is first and len(made) == 1
    clock["t"] += 45  # 55 s left < 60 s margin
    assert src.get() is not first and len(made) == 2
    # A 15-second token is renewed when 3 s (a fifth of it) are left, not on every call.
    short = s3client.CredentialSource(
        lambda: __import__("terranb.credentials").credentials.StorageCredentials(
            "aws_s3", "a", "b", "c", "r", "bk", expire_time=clock["t"] + 15),
        margin=60, clock=lambda: clock["t"])
    one = short.get()
    clock["t"] += 10
    assert short.get() is one
    clock["t"] += 3
    assert short.get() is not one
    # invalidate() renews once even if many workers report the same generation.
    gen = src.generation
    src.invalidate(gen)
    src.invalidate(gen)
    assert src.generation == gen + 1


def test_orphan_multipart_uploads_are_aborted(dataset, make_creds, s3, journal_path):
    creds = make_creds()
    up = Uploader(lambda: creds, journal=journal_path, part_size=SMALL_PART)
    up.upload(dataset)
    orphan = s3.create_multipart_upload(Bucket=BUCKET, Key=creds.key_for("IMG_0000.JPG"))
    outside = s3.create_multipart_upload(Bucket=BUCKET, Key="elsewhere/x.bin")
    result = up.upload(dataset)
    assert result.run.orphans_aborted == 1
    left = {u["UploadId"] for u in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])}
    assert orphan["UploadId"] not in left and outside["UploadId"] in left


def test_orphan_listing_never_aborts_this_runs_own_multipart_uploads(
        dataset, make_creds, s3, journal_path, monkeypatch):
    """The listing runs beside the transfers; a slow one must not catch new uploads."""
    import threading

    creds = make_creds()
    orphan = s3.create_multipart_upload(Bucket=BUCKET, Key=creds.key_for("IMG_0000.JPG"))
    up = Uploader(lambda: creds, journal=journal_path, workers=4, part_size=SMALL_PART)
    call = up._call
    part_started, listed = threading.Event(), threading.Event()

    def racing(what: str, fn: Any) -> Any:
        # Let a part of a new multipart upload start before the listing is taken (only
        # possible if creation does not wait for the listing), and hold it meanwhile.
        if what == "list multipart uploads":
            part_started.wait(1.0)
            try:
                return call(what, fn)
            finally:
                listed.set()
        if " part " in what:
            part_started.set()
            listed.wait(1.0)
        return call(what, fn)

    monkeypatch.setattr(up, "_call", racing)
    result = up.upload(dataset)
    total = sum(p.stat().st_size for p in dataset.rglob("*") if p.is_file())
    assert result.run.orphans_aborted == 1  # the planted one, not this run's own
    assert result.bytes_sent == total  # no part sent twice
    left = {u["UploadId"] for u in s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])}
    assert orphan["UploadId"] not in left


def test_bind_batches_once_per_file_and_reconciles_after_failure(tmp_path, make_creds, s3,
                                                                 journal_path):
    root = write_dataset(tmp_path / "many", [100 + i for i in range(120)])
    creds = make_creds()
    up = Uploader(lambda: creds, journal=journal_path, part_size=SMALL_PART, sleep=lambda s: None)
    result = up.upload(root)
    bound: list[str] = []
    calls = {"n": 0}

    def bind_batch(callback_param, rows):
        assert callback_param == "cbp"
        calls["n"] += 1
        bound.extend(r.rel for r in rows)
        if calls["n"] == 2:  # the service bound the batch but the answer was lost
            raise ServerError("gateway timeout", status_code=504)

    res = up.bind(result, "res-1", bind_batch, batch_size=50, bound_names=lambda: set(bound))
    assert sorted(bound) == sorted(r.rel for r in result.files)  # each exactly once
    assert len(bound) == len(set(bound)) == 120
    assert calls["n"] == 3 and res.missing == []
    # Binding again binds nothing.
    res2 = up.bind(result, "res-1", bind_batch, bound_names=lambda: set(bound))
    assert res2.bound == [] and len(res2.already_bound) == 120 and calls["n"] == 3


def test_bind_only_confirmed_objects(dataset, make_creds, s3, journal_path):
    creds = make_creds()
    up = Uploader(lambda: creds, journal=journal_path, part_size=SMALL_PART)
    result = up.upload(dataset)
    s3.delete_object(Bucket=BUCKET, Key=creds.key_for("IMG_0001.JPG"))
    seen: list[str] = []
    res = up.bind(result, "res-2", lambda cp, rows: seen.extend(r.rel for r in rows))
    assert res.missing == ["IMG_0001.JPG"] and "IMG_0001.JPG" not in seen
    # The journal forgot it: the next upload sends exactly that file.
    again = up.upload(dataset)
    assert again.bytes_sent == (dataset / "IMG_0001.JPG").stat().st_size
    res = up.bind(again, "res-2", lambda cp, rows: seen.extend(r.rel for r in rows))
    assert res.bound == ["IMG_0001.JPG"] and len(seen) == len(set(seen)) == 14


def test_journal_is_private(dataset, make_creds, journal_path):
    Uploader(lambda: make_creds(), journal=journal_path).upload(dataset)
    assert (journal_path.stat().st_mode & 0o077) == 0
    assert b"secret" not in journal_path.read_bytes()
    with Journal(journal_path) as j:
        assert j.runs()[0].bytes_sent > 0


def test_new_token_refused_on_the_old_prefix_starts_a_fresh_session(dataset, make_creds, s3,
                                                                    journal_path, monkeypatch):
    """If the store ties STS keys to their own key prefix, a re-run uploads under the new one."""
    from botocore.awsrequest import AWSResponse

    old = make_creds(key="STS.old", store_path="pfx-old/{fileName}")
    Uploader(lambda: old, journal=journal_path, part_size=SMALL_PART).upload(dataset)
    (dataset / "IMG_0000.JPG").write_bytes(b"changed")
    real = s3client.make_client

    class Raw:
        def stream(self, **_: Any):
            yield b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"

    def make_client(creds, **kw):
        client = real(creds, **kw)

        def deny(request, **_):
            if creds.access_key_id == "STS.new" and "/pfx-old/" in request.url:
                return AWSResponse(request.url, 403, {}, Raw())
            return None

        client.meta.events.register("before-send.s3", deny)
        return client

    monkeypatch.setattr(s3client, "make_client", make_client)
    new = make_creds(key="STS.new", store_path="pfx-new/{fileName}")
    result = Uploader(lambda: new, journal=journal_path, part_size=SMALL_PART,
                      sleep=lambda s: None).upload(dataset)
    assert result.session.store_path == "pfx-new/{fileName}"
    assert _objects(s3, "pfx-new/") == _local(dataset)

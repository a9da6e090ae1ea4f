"""SIGKILL the uploader half way, run it again: only the in-flight parts are sent again."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from transfer_helpers import BUCKET, SMALL_PART, write_dataset

from terranb.transfer.journal import Journal

pytestmark = pytest.mark.slow

WORKERS = 3

RUNNER = textwrap.dedent('''
    """Upload a folder like a notebook would; throttled so the test can kill it mid-way."""
    import sys
    import time

    from terranb.credentials import StorageCredentials
    from terranb.transfer import s3client
    from terranb.transfer.upload import Uploader

    endpoint, journal, root, part, workers, prefix = sys.argv[1:7]
    real = s3client.make_client

    def slow_client(creds, **kw):
        client = real(creds, **kw)
        client.meta.events.register("before-send.s3", lambda **_: time.sleep(0.03))
        return client

    s3client.make_client = slow_client
    creds = StorageCredentials("aws_s3", "AK", "SK", "TOK", "us-east-1", sys.argv[7],
                               store_path=prefix + "/{fileName}", endpoint_url=endpoint)
    Uploader(lambda: creds, journal=journal, workers=int(workers),
             part_size=int(part)).upload(root)
''')


def _progress(journal: Path) -> tuple[int, int]:
    """``(bytes committed, bytes of transfers in flight)`` as the journal says now."""
    try:
        db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
    except sqlite3.OperationalError:
        return 0, 0
    try:
        parts = db.execute("SELECT COALESCE(SUM(size), 0) FROM parts").fetchone()[0]
        singles = db.execute("SELECT COALESCE(SUM(size), 0) FROM files WHERE etag IS NOT NULL "
                             "AND upload_id IS NULL").fetchone()[0]
        inflight = db.execute("SELECT COALESCE(SUM(size), 0) FROM inflight").fetchone()[0]
        return int(parts) + int(singles), int(inflight)
    except sqlite3.OperationalError:
        return 0, 0
    finally:
        db.close()


def test_sigkill_half_way_then_resume_sends_at_most_workers_times_part(moto_endpoint, s3,
                                                                        tmp_path):
    root = write_dataset(tmp_path / "flight", [SMALL_PART * 10 + 99, SMALL_PART * 12,
                                               SMALL_PART * 9 + 1] + [20_000] * 9)
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    journal = tmp_path / "journal.sqlite3"
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    prefix = f"crash/{os.getpid()}-{time.time_ns()}"
    cmd = [sys.executable, str(script), moto_endpoint, str(journal), str(root),
           str(SMALL_PART), str(WORKERS), prefix, BUCKET]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    # Killed half way while transfers are in flight: workers that started equal parts
    # together finish together, and a kill in the instant between their commits and
    # their next parts would leave nothing in flight to test (seen once in CI).
    while (progress := _progress(journal))[0] < total // 2 or not progress[1]:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        assert time.monotonic() < deadline, "the uploader made no progress"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    first_done = _progress(journal)[0]
    assert total * 0.4 <= first_done < total

    done = subprocess.run(cmd, env=env, capture_output=True, timeout=180)
    assert done.returncode == 0, done.stderr.decode()[-2000:]

    with Journal(journal) as j:
        run1, run2 = j.runs()
    assert run1.finished_at is None and run2.finished_at is not None
    # Nothing the first run finished was sent again ...
    assert run1.bytes_sent + run2.bytes_sent <= total
    assert run2.bytes_sent + run2.bytes_skipped >= total - first_done - 1
    # ... and what the kill cut off (in flight, sent again) is at most workers x part size.
    resent = run1.inflight_bytes
    assert 0 < resent <= WORKERS * SMALL_PART
    print(f"\ntotal {total}, first run {run1.bytes_sent}, second run {run2.bytes_sent}, "
          f"sent again {resent} <= {WORKERS} x {SMALL_PART}")
    # The bucket holds exactly the data set, and no multipart upload is left open.
    for path in root.rglob("*"):
        if path.is_file():
            key = f"{prefix}/{path.relative_to(root).as_posix()}"
            assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == path.read_bytes()
    open_uploads = s3.list_multipart_uploads(Bucket=BUCKET, Prefix=prefix).get("Uploads", [])
    assert open_uploads == []

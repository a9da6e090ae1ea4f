"""Throughput of the emulator's S3 endpoint (proxy + moto) with boto3.

Run: python bench/s3proxy_throughput.py [MiB]   (default 200)

Uploads one file with boto3's managed transfer (multipart, 10 threads) through
the authenticating proxy, downloads it again, and prints MiB/s for both plus
the time the storage needs to restart with the object on disk.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import boto3

from terranb.emulator.storage import EmbeddedStorage


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        src = root / "big.bin"
        with open(src, "wb") as fh:
            for _ in range(mib):
                fh.write(os.urandom(1 << 20))
        with EmbeddedStorage(root / "data") as st:
            st.ensure_bucket("bench-bucket")
            c = st.issue_credentials(3600)
            s3 = boto3.client(
                "s3",
                endpoint_url=st.endpoint_url,
                aws_access_key_id=c.access_key_id,
                aws_secret_access_key=c.secret_access_key,
                aws_session_token=c.session_token,
                region_name="us-east-1",
            )
            t0 = time.perf_counter()
            s3.upload_file(str(src), "bench-bucket", "big.bin")
            up = time.perf_counter() - t0
            t0 = time.perf_counter()
            s3.download_file("bench-bucket", "big.bin", str(root / "back.bin"))
            down = time.perf_counter() - t0
        t0 = time.perf_counter()
        with EmbeddedStorage(root / "data") as st:
            restart = time.perf_counter() - t0
            assert st.head_object("bench-bucket", "big.bin") is not None
        print(
            f"{mib} MiB: upload {mib / up:.1f} MiB/s (incl. mirroring to disk), "
            f"download {mib / down:.1f} MiB/s, restart with the object {restart:.2f} s"
        )


if __name__ == "__main__":
    main()

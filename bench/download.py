"""Download benchmark: one stream per file (the old way) against parallel Range pieces, over a WAN.

Starts the emulator unshaped, uploads the fixtures to its bucket once (straight, not
through the link), then downloads them through bench/wanlink.py (default profile
'wan': 50 ms RTT, 8 MB/s per TCP connection, 64 MB/s in total), a fresh link per case:

a. FlightHub 2's result zip: 1 x 256 MB object with ``download_object`` (boto3);
b. a TerraAPI result listing: 1 x 128 MB + 40 x 4 MB with ``Downloader`` and presigned
   URLs (with their MD5s, so verification is timed too).

Each one the old way (``workers=4``, ``ranged_threshold=None``: one stream per file)
and with the defaults (pieces of 8 MiB from 32 MiB on, concurrency tuner); for (a) also
a bare reference (16 threads of ranged ``get_object``, bytes dropped). Printed:
seconds, MB/s, share of the link's total, the most connections the link saw open at
once (wanlink's ``--stats``) and old/new. ``--direct`` adds the defaults straight into
the emulator (no link): what the far end itself serves on this machine.

Usage::

    python bench/download.py                # both cases, profile 'wan'
    python bench/download.py --only object --link thin
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upload import MB, PROFILES, make_files, start_link


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def _opened(stats: Path) -> int:
    time.sleep(0.3)  # let the link write its last count
    for _ in range(20):  # the link rewrites the file in place: a read may catch it empty
        try:
            return int(json.loads(stats.read_text())["max_connections"])
        except ValueError:
            time.sleep(0.05)
    raise SystemExit(f"cannot read the link's connection count from {stats}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--link", default="wan", choices=sorted(PROFILES))
    p.add_argument("--only", default="object,listing", help="object, listing or both")
    p.add_argument("--object-mb", type=int, default=256)
    p.add_argument("--big-mb", type=int, default=128)
    p.add_argument("--small", type=int, default=40)
    p.add_argument("--small-mb", type=int, default=4)
    p.add_argument("--direct", action="store_true",
                   help="also the defaults without the link: what the far end serves")
    args = p.parse_args(argv)
    only = args.only.split(",")

    import boto3  # noqa: F401 - imported before any timing

    from terranb.api.terra import TerraClient
    from terranb.transfer import s3client
    from terranb.transfer.download import Downloader, RemoteFile, download_object

    rtt, per_conn, total_mb = PROFILES[args.link][:3]
    work = Path(tempfile.mkdtemp(prefix="terranb-dlbench-"))
    proc = subprocess.Popen([sys.executable, "-m", "terranb", "emulator", "--job-seconds", "1"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        target = info["s3_endpoint_url"].split("//", 1)[1].rstrip("/")
        client = TerraClient(app_key=info["app_key"], secret_key=info["secret_key"],
                             base_url=info["base_url"], s3_endpoint_url=info["s3_endpoint_url"])
        creds = client.store.obtain_token()
        prefix = creds.store_path[:creds.store_path.rfind("/{fileName}")]
        s3 = s3client.make_client(creds, max_pool_connections=16)
        src = work / "src"
        make_files(src / "object", 1, args.object_mb * MB, seed=1)
        make_files(src / "big", 1, args.big_mb * MB, seed=2)
        make_files(src / "small", args.small, args.small_mb * MB, seed=3)
        obj_key = f"{prefix}/bench/result.zip"
        # One PUT, not upload_file's multipart: moto assembles a multipart object from its
        # parts for every ranged GET (the whole object each time), a cost of the emulator
        # that a real store does not have. The ETag is then the MD5, so it is verified too.
        with open(src / "object/DJI_00000.JPG", "rb") as fh:
            s3.put_object(Bucket=creds.bucket, Key=obj_key, Body=fh)
        listing: list[tuple[str, str, int, str]] = []  # name, key, size, md5
        for folder in ("big", "small"):
            for f in sorted((src / folder).iterdir()):
                key = f"{prefix}/bench/{folder}/{f.name}"
                # put_object: a single-part object whose ETag is its MD5, as TerraAPI's
                with open(f, "rb") as fh:
                    s3.put_object(Bucket=creds.bucket, Key=key, Body=fh)
                listing.append((f"{folder}/{f.name}", key, f.stat().st_size, _md5(f)))
        shutil.rmtree(src)
        print(f"link '{args.link}': {rtt:g} ms RTT, {per_conn:g} MB/s per connection, "
              f"{total_mb:g} MB/s total (bench/wanlink.py); {os.cpu_count()} cores, load "
              f"average {os.getloadavg()[0]:.2f}")

        def run(label: str, nbytes: int, fn: Any, linked: bool = True) -> float:
            stats = work / "stats.json"
            dest = work / "dest"
            link = None
            endpoint = info["s3_endpoint_url"].rstrip("/")
            if linked:
                link, port = start_link(target, rtt, per_conn, total_mb, stats)
                endpoint = f"http://127.0.0.1:{port}"
            try:
                s3client._SESSION = None  # every case pays for its own boto3 start
                t0 = time.perf_counter()
                extra = fn(endpoint, dest)
                secs = time.perf_counter() - t0
                opened = f"; {_opened(stats):2d} connections open at most" if linked else ""
            finally:
                if link is not None:
                    link.terminate()
                    link.wait(timeout=10)
                shutil.rmtree(dest, ignore_errors=True)
            rate = nbytes / secs / MB
            print(f"  {label:44s} {secs:6.2f} s {rate:6.1f} MB/s = {100 * rate / total_mb:5.1f} "
                  f"% of the link{opened}{extra}")
            return secs

        def tuned(tuner: Any) -> str:
            return "" if tuner is None else (f"; tuner ended at {tuner.limit} (best judged "
                                             f"{tuner.settled_limit}, peak {tuner.peak_limit})")

        if "object" in only:
            nbytes = args.object_mb * MB
            print(f"a. download_object: 1 x {args.object_mb} MB object (FlightHub 2 result zip)")

            def obj(ranged: bool) -> Any:
                def fn(endpoint: str, dest: Path) -> str:
                    c = dataclasses.replace(creds, endpoint_url=endpoint)
                    kw: dict[str, Any] = {} if ranged else {"ranged_threshold": None}
                    out = download_object(c, obj_key, dest / "result.zip", **kw)
                    assert out.stat().st_size == nbytes
                    return ""
                return fn

            def bare(endpoint: str, dest: Path) -> str:
                # What the link and the far end allow: 8 MiB ranges, 16 threads, bytes
                # counted and dropped (no file, no head, no verification, no tuner).
                from concurrent.futures import ThreadPoolExecutor

                c = s3client.make_client(dataclasses.replace(creds, endpoint_url=endpoint),
                                         max_pool_connections=16)
                piece = 8 * 1024 * 1024

                def get(i: int) -> int:
                    last = min(nbytes, (i + 1) * piece) - 1
                    body = c.get_object(Bucket=creds.bucket, Key=obj_key,
                                        Range=f"bytes={i * piece}-{last}")["Body"]
                    return sum(len(b) for b in body.iter_chunks(256 * 1024))

                with ThreadPoolExecutor(16) as pool:
                    got = sum(pool.map(get, range(-(-nbytes // piece))))
                assert got == nbytes
                return ""

            old = run("old: one stream", nbytes, obj(False))
            new = run("defaults: 8 MiB pieces, tuner", nbytes, obj(True))
            print(f"  old / defaults: {old / new:.2f}x")
            run("reference: bare ranged get_object x16", nbytes, bare)
            if args.direct:
                run("no link: defaults, straight to the emulator", nbytes, obj(True), False)
        if "listing" in only:
            nbytes = sum(size for _, _, size, _ in listing)
            print(f"b. Downloader: 1 x {args.big_mb} MB + {args.small} x {args.small_mb} MB, "
                  "presigned URLs, MD5 verified")

            def files(endpoint: str) -> list[RemoteFile]:
                signer = s3client.make_client(dataclasses.replace(creds, endpoint_url=endpoint))
                return [RemoteFile(name, size, md5, signer.generate_presigned_url(
                    "get_object", Params={"Bucket": creds.bucket, "Key": key},
                    ExpiresIn=3600)) for name, key, size, md5 in listing]

            def lst(**kw: Any) -> Any:
                def fn(endpoint: str, dest: Path) -> str:
                    dl = Downloader(**kw)
                    res = dl.download(files(endpoint), dest)
                    assert res.bytes_received == nbytes, (res.bytes_received, nbytes)
                    return tuned(dl.tuner)
                return fn

            old = run("old: workers=4, one stream per file", nbytes,
                      lst(workers=4, ranged_threshold=None))
            new = run("defaults: pieces from 32 MiB, tuner", nbytes, lst())
            print(f"  old / defaults: {old / new:.2f}x")
            if args.direct:
                run("no link: defaults, straight to the emulator", nbytes, lst(), False)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

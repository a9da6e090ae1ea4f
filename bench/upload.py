"""Upload benchmark: terranb's Uploader against DJI's quick-start loop, over a WAN-like link.

Runs the emulator in its own process (``terranb emulator``) with a WAN profile
(default: 50 ms per request, 8 MB/s per connection, 64 MB/s in total), then in
this process, on the same files:

1. the quick start's upload: one ``put_object`` after another (boto3, default
   client, exactly the loop of DJI's example);
2. :class:`terranb.transfer.upload.Uploader` (parallel, multipart, journaled).

It prints both times, the ratio (target >= 4x), terranb's throughput as a
share of the total-bandwidth ceiling (target >= 80 %), and the peak memory
(RSS above the baseline) of terranb uploading 100 and 1,000 files, which must
not grow with the file count.

``--link wan,thin`` runs only the independent-link cases instead. The emulator is
unshaped and bench/wanlink.py sits between it and the uploader. For each profile it prints
the link alone (16 bare TCP streams, no HTTP: the ceiling), the Uploader at its defaults (its
share of the link, the level the tuner ended at, the best it judged and its peak), ``workers=8``,
``workers=16``, ``workers=32`` and bare parallel ``put_object`` x16 and x32 (the references)
in the same run, each with the CPU milliseconds per MB that the client, the emulator and the
link spent. Last come
the defaults and the x16 reference straight into the emulator, which show what the far end
absorbs without the link.

Usage::

    python bench/upload.py                 # defaults below
    python bench/upload.py --files 48 --size-mb 4 --workers 16
    python bench/upload.py --link wan,thin
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

MB = 1_000_000


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRSS:
    """Samples this process's RSS every 20 ms; ``peak`` is the most seen above the start."""

    def __init__(self) -> None:
        self.base = _rss()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss() - self.base)
            time.sleep(0.02)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss() - self.base)


def make_files(root: Path, count: int, size: int, seed: int = 0) -> Path:
    """``count`` files of ``size`` random bytes (photos do not compress either)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    block = rng.randbytes(min(size, 1 << 20))
    for i in range(count):
        with open(root / f"DJI_{i:05d}.JPG", "wb") as fh:
            left = size
            fh.write(i.to_bytes(8, "big"))  # every file differs
            left -= 8
            while left > 0:
                fh.write(block[:left])
                left -= len(block[:left])
    return root


def start_emulator(args: argparse.Namespace) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    cmd = [sys.executable, "-m", "terranb", "emulator", "--latency-ms", str(args.latency_ms),
           "--bandwidth", str(int(args.bandwidth_mb * MB)),
           "--bandwidth-total", str(int(args.total_mb * MB)), "--job-seconds", "1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit("the emulator did not start; run `terranb emulator` to see why")
    return proc, json.loads(line)


def quickstart_loop(provider: Callable[[], Any], root: Path) -> float:
    """DJI's quick-start upload, verbatim in spirit: sequential put_object, default boto3."""
    import boto3

    t0 = time.perf_counter()  # like terranb's time: includes obtain_token and the client
    creds = provider()
    s3 = boto3.client("s3", aws_access_key_id=creds.access_key_id,
                      aws_secret_access_key=creds.secret_access_key,
                      aws_session_token=creds.session_token, region_name=creds.region,
                      endpoint_url=creds.endpoint_url)
    store_root = creds.store_path[:creds.store_path.rfind("/{fileName}")]
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            local = os.path.join(dirpath, name)
            rel = os.path.relpath(local, root)
            with open(local, "rb") as data:
                s3.put_object(Bucket=creds.bucket, Key=f"{store_root}/{rel}".replace("\\", "/"),
                              Body=data)
    return time.perf_counter() - t0


def raw_parallel(provider: Callable[[], Any], root: Path, workers: int) -> float:
    """Reference: bare parallel put_object (no journal, hashing or checks) on one client."""
    from concurrent.futures import ThreadPoolExecutor

    from terranb.transfer.s3client import make_client

    t0 = time.perf_counter()  # like terranb's time: includes obtain_token and the client
    creds = provider()
    s3 = make_client(creds, max_pool_connections=workers + 2)
    paths = sorted(p for p in root.rglob("*") if p.is_file())

    def put(path: Path) -> None:
        with open(path, "rb") as data:
            s3.put_object(Bucket=creds.bucket, Key=creds.key_for("ref/" + path.name), Body=data)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(put, paths))
    return time.perf_counter() - t0


def terranb_upload(provider: Callable[[], Any], root: Path, journal: Path,
                   workers: int) -> tuple[float, int, int]:
    from terranb.transfer.upload import Uploader

    with PeakRSS() as mem:
        t0 = time.perf_counter()
        result = Uploader(provider, journal=journal, workers=workers).upload(root)
        seconds = time.perf_counter() - t0
    return seconds, result.bytes_sent, mem.peak


def child(folder: str, workers: int) -> int:
    """One memory run in its own process: prints ``[seconds, rss delta, max rss]``."""
    import resource

    import boto3  # noqa: F401 - loaded before measuring, in both runs alike

    from terranb.api.terra import TerraClient

    info = json.loads(os.environ["TERRANB_BENCH_EMULATOR"])
    client = TerraClient(app_key=info["app_key"], secret_key=info["secret_key"],
                         base_url=info["base_url"], s3_endpoint_url=info["s3_endpoint_url"])
    secs, _, peak = terranb_upload(client.store.obtain_token, Path(folder),
                                   Path(folder).with_suffix(".sqlite3"), workers)
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps([secs, peak, maxrss]))
    return 0


PROFILES = {
    # name: (RTT ms, MB/s per connection, MB/s total, files, MB each)
    "wan": (50.0, 8.0, 64.0, 60, 4.0),
    "thin": (50.0, 2.0, 8.0, 24, 4.0),
}


def cpu_seconds(pid: int | None = None) -> float:
    """User + system CPU seconds of a process (this one when ``pid`` is None), all threads."""
    if pid is None:
        t = os.times()
        return t.user + t.system
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU milliseconds per MB moved, per named process, over a ``with`` block."""

    def __init__(self, pids: dict[str, int | None]) -> None:
        self.pids = pids
        self.used: dict[str, float] = {}

    def __enter__(self) -> CpuMeter:
        self._start = {n: cpu_seconds(p) for n, p in self.pids.items()}
        return self

    def __exit__(self, *exc: object) -> None:
        self.used = {n: cpu_seconds(p) - self._start[n] for n, p in self.pids.items()}

    def per_mb(self, nbytes: int) -> str:
        return ", ".join(f"{n} {1000 * s / (nbytes / MB):.1f}" for n, s in self.used.items())


def start_link(target: str, rtt_ms: float, per_conn: float, total: float,
               stats: Path) -> tuple[subprocess.Popen[str], int]:
    cmd = [sys.executable, str(Path(__file__).with_name("wanlink.py")), "--target", target,
           "--rtt-ms", str(rtt_ms), "--per-conn-mb", str(per_conn), "--total-mb", str(total),
           "--stats", str(stats)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, int(json.loads(proc.stdout.readline())["port"])


def bare_link(work: Path, rtt: float, per_conn: float, total_mb: float, nbytes: int,
              connections: int = 16) -> tuple[float, float]:
    """``(seconds, wanlink CPU seconds)`` to push ``nbytes`` over plain TCP through a link.

    ``connections`` streams from this process to a sink in this process that reads
    and discards, through a fresh bench/wanlink.py: no HTTP, no hashing, no
    emulator. What the link itself delivers, the ceiling every S3 client through it
    stays under.
    """
    import socket

    sink = socket.create_server(("127.0.0.1", 0))
    link, port = start_link(f"127.0.0.1:{sink.getsockname()[1]}", rtt, per_conn, total_mb,
                            work / "stats-bare.json")
    finished = threading.Barrier(connections + 1)

    def drain(conn: socket.socket) -> None:
        with conn:
            while conn.recv(1 << 20):
                pass
        finished.wait()

    def accept() -> None:
        for _ in range(connections):
            conn, _ = sink.accept()
            threading.Thread(target=drain, args=(conn,), daemon=True).start()

    block = os.urandom(1 << 20)
    each = nbytes // connections

    def send() -> None:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            left = each
            while left > 0:
                n = min(left, len(block))
                sock.sendall(block[:n])
                left -= n
            sock.shutdown(socket.SHUT_WR)
            sock.recv(1)  # returns when the link closes: everything went through

    try:
        threading.Thread(target=accept, daemon=True).start()
        cpu0 = cpu_seconds(link.pid)
        t0 = time.perf_counter()
        senders = [threading.Thread(target=send, daemon=True) for _ in range(connections)]
        for t in senders:
            t.start()
        finished.wait(timeout=300)
        secs = time.perf_counter() - t0
        cpu = cpu_seconds(link.pid) - cpu0
        for t in senders:
            t.join(timeout=10)
    finally:
        link.terminate()
        link.wait(timeout=10)
        sink.close()
    return secs, cpu


def independent_link(work: Path, only: list[str]) -> None:
    """Uploader at its defaults through bench/wanlink.py (the emulator itself unshaped)."""
    # Imported before any timing, as in the comparison mode: otherwise the first case
    # (the defaults) alone pays boto3's import, 0.1-0.2 s of a 4 s run.
    import boto3  # noqa: F401

    from terranb.api.terra import TerraClient
    from terranb.transfer import s3client
    from terranb.transfer.upload import Uploader

    proc = subprocess.Popen([sys.executable, "-m", "terranb", "emulator", "--job-seconds", "1"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    target = info["s3_endpoint_url"].split("//", 1)[1].rstrip("/")
    print(f"CPU: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} before the runs; "
          "'CPU ms/MB' = CPU milliseconds per MB uploaded, per process")

    def client_for(endpoint: str) -> TerraClient:
        return TerraClient(app_key=info["app_key"], secret_key=info["secret_key"],
                           base_url=info["base_url"], s3_endpoint_url=endpoint)

    def run(label: str, endpoint: str, data: Path, total: int, workers: int | None,
            link_mb: float, link_pid: int | None, stats: Path | None,
            journal: Path) -> None:
        client = client_for(endpoint)
        s3client._SESSION = None  # every run pays for its own boto3 start
        pids: dict[str, int | None] = {"client": None, "emulator": proc.pid}
        if link_pid is not None:
            pids["wanlink"] = link_pid
        up = None
        with CpuMeter(pids) as cpu:
            if workers is not None and workers < 0:  # what link + machine allow
                secs = raw_parallel(client.store.obtain_token, data, -workers)
            else:
                up = Uploader(client.store.obtain_token, journal=journal, workers=workers)
                t0 = time.perf_counter()
                result = up.upload(data)
                secs = time.perf_counter() - t0
                assert result.bytes_sent == total, (result.bytes_sent, total)
        opened = ""
        if stats is not None:
            time.sleep(0.3)  # let the link write its last count
            opened = f"; {json.loads(stats.read_text())['max_connections']} connections opened"
        tuned = ""
        if up is not None and up.tuner is not None:
            # The level it ended at may not have been judged yet in a short run (its
            # transfers were the last ones): state both.
            tuned = (f", ended at {up.tuner.limit} in flight (best judged "
                     f"{up.tuner.settled_limit}, peak {up.tuner.peak_limit})")
        rate = total / secs / MB
        print(f"  {label:34s} {secs:6.2f} s {rate:6.1f} MB/s = {100 * rate / link_mb:5.1f} % "
              f"of the link{opened}{tuned}; CPU ms/MB: {cpu.per_mb(total)}")

    try:
        for name in only:
            rtt, per_conn, total_mb, files, size_mb = PROFILES[name]
            data = make_files(work / f"link-{name}", files, int(size_mb * MB), seed=len(name))
            total = files * int(size_mb * MB)
            print(f"independent link '{name}': {rtt:g} ms RTT, {per_conn:g} MB/s per "
                  f"connection, {total_mb:g} MB/s total (bench/wanlink.py); {files} x "
                  f"{size_mb:g} MB")
            bare, link_cpu = bare_link(work, rtt, per_conn, total_mb, total)
            print(f"  {'the link alone: 16 bare TCP streams':34s} {bare:6.2f} s "
                  f"{total / bare / MB:6.1f} MB/s = {100 * total / bare / MB / total_mb:5.1f} "
                  f"% of the link; CPU ms/MB: wanlink {1000 * link_cpu / (total / MB):.1f}")
            cases: list[tuple[str, int | None]] = [
                ("defaults (no workers=)", None),
                ("workers=8 (the old default)", 8),
                ("workers=16", 16),
                ("workers=32 (the adaptive cap)", 32),
                ("reference: bare put_object x16", -16),
                ("reference: bare put_object x32", -32)]
            for label, workers in cases:
                stats = work / f"stats-{name}-{workers}.json"
                link, port = start_link(target, rtt, per_conn, total_mb, stats)
                try:
                    run(label, f"http://127.0.0.1:{port}", data, total, workers, total_mb,
                        link.pid, stats, work / f"j-{name}-{workers}.sqlite3")
                finally:
                    link.terminate()
                    link.wait(timeout=10)
        # The same uploads straight into the emulator: what the far end absorbs.
        rtt, per_conn, total_mb, files, size_mb = PROFILES[only[0]]
        data = work / f"link-{only[0]}"
        total = files * int(size_mb * MB)
        print(f"no link: straight into the emulator (its S3 endpoint, unshaped), the "
              f"'{only[0]}' files; % of the '{only[0]}' link's {total_mb:g} MB/s")
        for label, workers in [("defaults (no workers=)", None),
                               ("reference: bare put_object x16", -16)]:
            run(label, info["s3_endpoint_url"], data, total, workers, total_mb, None, None,
                work / f"j-direct-{workers}.sqlite3")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[1], int(argv[2]))
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--files", type=int, default=48, help="files for the comparison")
    p.add_argument("--size-mb", type=float, default=4.0, help="size of each file, MB")
    p.add_argument("--workers", type=int, default=16, help="terranb parallel uploads")
    p.add_argument("--latency-ms", type=float, default=50.0)
    p.add_argument("--bandwidth-mb", type=float, default=8.0, help="MB/s per connection")
    p.add_argument("--total-mb", type=float, default=64.0, help="MB/s over all connections")
    p.add_argument("--mem-size-kb", type=int, default=256, help="file size for the memory runs")
    p.add_argument("--skip-baseline", action="store_true")
    p.add_argument("--link", default="", help="only the independent-link cases: "
                   "comma-separated profiles (wan, thin) through bench/wanlink.py")
    args = p.parse_args(argv)
    if args.link:
        work = Path(tempfile.mkdtemp(prefix="terranb-bench-"))
        independent_link(work, [n.strip() for n in args.link.split(",") if n.strip()])
        return 0

    import boto3  # noqa: F401 - imported up front, as the quick start does, for every contender

    from terranb.api.terra import TerraClient
    from terranb.transfer import s3client

    work = Path(tempfile.mkdtemp(prefix="terranb-bench-"))
    proc, info = start_emulator(args)
    try:
        client = TerraClient(app_key=info["app_key"], secret_key=info["secret_key"],
                             base_url=info["base_url"], s3_endpoint_url=info["s3_endpoint_url"])
        provider = client.store.obtain_token
        size = int(args.size_mb * MB)
        data = make_files(work / "photos", args.files, size)
        total = args.files * size
        print(f"profile: {args.latency_ms:.0f} ms/request, {args.bandwidth_mb:g} MB/s per "
              f"connection, {args.total_mb:g} MB/s total; data: {args.files} x "
              f"{args.size_mb:g} MB = {total / MB:.0f} MB")
        ours, sent, peak = terranb_upload(provider, data, work / "j1.sqlite3", args.workers)
        assert sent == total, (sent, total)
        rate = total / ours / MB
        print(f"terranb ({args.workers} workers): {ours:7.2f} s  {rate:6.1f} MB/s  "
              f"= {100 * rate / args.total_mb:5.1f} % of the {args.total_mb:g} MB/s ceiling "
              f"(target >= 80 %)  peak memory +{peak / MB:.0f} MB")
        # Cold like terranb's run: make_client keeps one boto3 session (parsed service
        # model) per process, which terranb's run has just warmed.
        s3client._SESSION = None
        ref = raw_parallel(provider, data, args.workers)
        print(f"reference, bare parallel put_object ({args.workers} threads): {ref:7.2f} s  "
              f"{total / ref / MB:6.1f} MB/s = {100 * total / ref / MB / args.total_mb:5.1f} % "
              "(what this machine and emulator deliver at best)")
        if not args.skip_baseline:
            base = quickstart_loop(provider, data)
            print(f"quick start loop:        {base:7.2f} s  {total / base / MB:6.1f} MB/s")
            print(f"ratio: terranb is {base / ours:.1f}x faster (target >= 4x)")
        for count in (100, 1000):
            # A fresh process per run, so imports and warm caches are the same for both.
            folder = make_files(work / f"mem{count}", count, args.mem_size_kb * 1024, seed=count)
            proc_child = subprocess.run(
                [sys.executable, __file__, "--child", str(folder), str(args.workers)],
                env={**os.environ, "TERRANB_BENCH_EMULATOR": json.dumps(info)},
                capture_output=True, text=True, check=True)
            secs, peak, maxrss = json.loads(proc_child.stdout.strip().splitlines()[-1])
            print(f"memory: {count:5d} files x {args.mem_size_kb} KiB: {secs:6.2f} s, "
                  f"peak RSS {maxrss / MB:.0f} MB (+{peak / MB:.1f} MB during the upload)")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())

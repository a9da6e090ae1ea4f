"""Benchmark the quick mosaic and preflight on big synthetic flights.

1. Generates (in a child process, so its memory does not count) a synthetic
   flight of N photos (default 200) at 12 MP (4240 x 2832, FC6310 geometry).
   The ground truth is painted at 4x the photo GSD to keep generation small.
2. Runs ``quick_mosaic`` on them (default settings: twice the native GSD, capped
   at 64 Mpixel) and prints photos per second, tracemalloc's peak of Python
   allocations and the process's peak RSS (ru_maxrss), which must stay under 1.5 GB.
3. Hard-links the photos under distinct names until there are 2,000 files and
   times ``preflight`` on them (headers only).

Usage::

    python bench/mosaic.py [--photos 200] [--preflight-photos 2000] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

LIMIT_BYTES = 1.5 * 1024 ** 3


def _generate(out: str, n: int) -> None:
    from terranb.dataset.synthetic import make_sample_flight

    make_sample_flight(out, seed=42, photos=n, image_size=(4240, 2832), gsd=0.03,
                       truth_gsd=0.12, lidar=False, jpeg_quality=88)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; returns 0 if peak memory stayed under 1.5 GB."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--photos", type=int, default=200)
    ap.add_argument("--preflight-photos", type=int, default=2000)
    ap.add_argument("--workdir", type=Path, help="reuse/keep the generated flight here")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)

    work = args.workdir or Path(tempfile.mkdtemp(prefix="terranb-bench-"))
    flight_dir = work / "flight"
    images = flight_dir / "images"
    try:
        have = sorted(images.glob("*.JPG")) if images.is_dir() else []
        if len(have) != args.photos:
            shutil.rmtree(flight_dir, ignore_errors=True)
            t0 = time.perf_counter()
            proc = mp.get_context("spawn").Process(
                target=_generate, args=(str(flight_dir), args.photos))
            proc.start()
            proc.join()
            if proc.exitcode != 0:
                print("generation failed", file=sys.stderr)
                return 2
            print(f"generated {args.photos} photos of 12 MP in {time.perf_counter() - t0:.1f} s")
        photos = sorted(images.glob("*.JPG"))
        size = sum(p.stat().st_size for p in photos)
        print(f"input: {len(photos)} photos, {size / 1e9:.2f} GB")

        from terranb.dataset.mosaic import quick_mosaic

        tracemalloc.start()
        t0 = time.perf_counter()
        res = quick_mosaic(photos, work / "mosaic.tif")
        dt = time.perf_counter() - t0
        _cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux
        print(f"quick_mosaic: {len(photos)} photos in {dt:.1f} s = {len(photos) / dt:.2f} photos/s;"
              f" output {res.width}x{res.height} px at {res.gsd:g} m, coverage {res.coverage:.0%}")
        print(f"peak memory: tracemalloc {peak / 2**20:.0f} MiB, ru_maxrss {rss / 2**20:.0f} MiB "
              f"(limit {LIMIT_BYTES / 2**20:.0f} MiB)")

        pf_dir = work / "preflight"
        shutil.rmtree(pf_dir, ignore_errors=True)
        pf_dir.mkdir()
        k = 0
        while k < args.preflight_photos:
            for p in photos:
                if k >= args.preflight_photos:
                    break
                dst = pf_dir / f"c{k // len(photos):03d}_{p.name}"
                try:
                    os.link(p, dst)
                except OSError:
                    shutil.copyfile(p, dst)
                k += 1
        from terranb.dataset.preflight import preflight

        t0 = time.perf_counter()
        rep = preflight(pf_dir, backend="terra", job_type="3d")
        dt = time.perf_counter() - t0
        print(f"preflight: {len(rep.photos)} photos in {dt:.2f} s = {len(rep.photos) / dt:.0f} "
              f"photos/s (headers only); {rep.headline()}")
        return 0 if rss < LIMIT_BYTES else 1
    finally:
        if not (args.keep or args.workdir):
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

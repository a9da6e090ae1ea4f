"""Benchmark deep zoom: native-GSD tiles of a 16k x 16k ortho, local and from a URL.

1. Writes (in a child process, so its memory does not count) a synthetic RGB ortho
   of SIZE x SIZE pixels (default 16384, 805 MB of pixels) as a JPEG-compressed
   Cloud Optimized GeoTIFF in UTM.
2. Starts :class:`terranb.viz.tile_server.TileServer` on the file and fetches TILES
   tiles over HTTP (default 64) at the native zoom, spread over the raster, plus
   a few at the minimum zoom; then the same through a Range-honouring HTTP server
   (the byte layer of a presigned bucket URL).
3. Prints, as ratios in this one run: bytes fetched for the remote tiles against the
   file size, remote against local time per tile, and the process's RSS growth
   against the raster's pixel bytes (bounded memory: tile reads only; what grows is
   GDAL's block cache, capped by ``GDAL_CACHEMAX``, 5 % of RAM by default).

Usage::

    python bench/deep_zoom.py [--size 16384] [--tiles 64] [--workdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing as mp
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _write(path: str, size: int) -> None:
    import numpy as np
    import rasterio
    import rasterio.shutil
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    tmp = path + ".tiled.tif"
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 3, "dtype": "uint8",
               "crs": "EPSG:32615", "transform": from_origin(576000, 5190000, 0.02, 0.02),
               "tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "DEFLATE"}
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 40, (3, 512, size), dtype=np.uint8)  # photo-like grain
    with rasterio.open(tmp, "w", **profile) as ds:
        cols = np.arange(size)
        for r0 in range(0, size, 512):
            rows = np.arange(r0, min(size, r0 + 512))[:, None]
            base = ((np.sin(cols / 700.0) + np.cos(rows / 900.0)) * 60 + 120).astype(np.uint8)
            block = np.stack([base, base // 2 + 40, 200 - base // 2]) + texture[:, :len(rows)]
            ds.write(block, window=Window(0, r0, size, len(rows)))
    with rasterio.open(tmp) as src:
        rasterio.shutil.copy(src, path, driver="COG", compress="JPEG", quality=85,
                             overview_resampling="average", blocksize=512)
    Path(tmp).unlink()


def _rss() -> int:
    """Current resident set size in bytes (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4096


def _fetch_all(server: Any, tiles: list[tuple[int, int, int]]) -> list[float]:
    times = []
    for z, x, y in tiles:
        t0 = time.perf_counter()
        with urllib.request.urlopen(server.tile_url(z, x, y), timeout=120) as resp:
            body = resp.read()
        times.append(time.perf_counter() - t0)
        if resp.status != 200 or body[:4] != b"\x89PNG":
            raise SystemExit(f"tile {z}/{x}/{y}: HTTP {resp.status}")
    return times


def _tiles(server: Any, n: int) -> list[tuple[int, int, int]]:
    z, cx, cy = server.center_tile()
    w, _s, e, _n = server.bounds_wgs84
    span = max(1, int((e - w) / 360.0 * 2**z) // 2 - 1)
    side = max(1, int(n ** 0.5))
    step = max(1, (2 * span) // side)
    out = [(z, cx - span + i * step, cy - span + j * step) for i in range(side)
           for j in range(side)][:n]
    zmin, mx, my = server.center_tile(server.minzoom)
    return [*out, (zmin, mx, my), (zmin, mx + 1, my), (zmin, mx, my + 1)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=16384)
    ap.add_argument("--tiles", type=int, default=64)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from terranb.viz.tile_server import TileServer

    spec = importlib.util.spec_from_file_location(
        "_bench_rangeserver", ROOT / "tests" / "results" / "_rangeserver.py")
    assert spec is not None and spec.loader is not None
    rangeserver = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = rangeserver
    spec.loader.exec_module(rangeserver)

    work = Path(args.workdir or tempfile.mkdtemp(prefix="terranb-bench-dz-"))
    work.mkdir(parents=True, exist_ok=True)
    cog = work / "result.tif"
    try:
        t0 = time.perf_counter()
        if not cog.exists():
            p = mp.get_context("spawn").Process(target=_write, args=(str(cog), args.size))
            p.start()
            p.join()
            if p.exitcode != 0:
                raise SystemExit("writing the COG failed")
        size = cog.stat().st_size
        pixels = args.size * args.size * 3
        print(f"ortho: {args.size} x {args.size} px RGB ({pixels:,} pixel bytes), COG "
              f"{size:,} B on disk, written in {time.perf_counter() - t0:.1f} s")
        with TileServer(cog) as warm:  # imports and GDAL's drivers are not the tiles' memory
            _fetch_all(warm, [warm.center_tile()])
        rss0 = _rss()
        with TileServer(cog) as local:
            tiles = _tiles(local, args.tiles)
            print(f"zoom {local.minzoom}..{local.maxzoom} (native {local.maxzoom}); "
                  f"{len(tiles)} tiles")
            t_local = _fetch_all(local, tiles)
        rss_local = _rss() - rss0
        with rangeserver.serve(work) as st, \
                TileServer(f"{st.base}/result.tif?X-Amz-Signature=bench") as remote:
            opened = remote.bytes_fetched
            t_remote = _fetch_all(remote, tiles)
            fetched, served = remote.bytes_fetched, st.served
        rss_all = _rss() - rss0
        ml, mr = statistics.median(t_local), statistics.median(t_remote)
        print(f"local  tile: median {ml * 1000:.1f} ms, max {max(t_local) * 1000:.1f} ms")
        print(f"remote tile: median {mr * 1000:.1f} ms, max {max(t_remote) * 1000:.1f} ms; "
              f"header {opened:,} B, total {fetched:,} B (server counted {served:,} B)")
        print(f"ratio remote/local time per tile: {mr / ml:.2f}")
        print(f"ratio bytes fetched / file size ({len(tiles)} tiles): {fetched / size:.4f}")
        print(f"ratio bytes per tile / file size: {(fetched - opened) / len(tiles) / size:.5f}")
        print(f"ratio RSS growth / pixel bytes: local {rss_local / pixels:.4f}, "
              f"after remote {rss_all / pixels:.4f} ({rss_all / 2**20:.0f} MiB)")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

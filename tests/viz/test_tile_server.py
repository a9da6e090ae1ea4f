"""Deep zoom: the kernel-side tile server serves the raster's own pixels at the native zoom.

Every pixel check compares a served PNG tile with an independent read of the same
ground: a rasterio windowed read where the raster is on the Web Mercator grid, and
a nearest-pixel sample through pyproj where it is not (UTM, real files).
"""

from __future__ import annotations

import gc
import io
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
pytest.importorskip("rio_tiler")
pytest.importorskip("folium")

from PIL import Image  # noqa: E402
from pyproj import Transformer  # noqa: E402
from rasterio.transform import from_origin  # noqa: E402

from terranb.viz.maps import map_html, result_map  # noqa: E402
from terranb.viz.tile_server import TileServer, tile_servers, tile_url_base  # noqa: E402


def _load_rangeserver() -> object:
    """tests/results/_rangeserver.py (a Range-honouring HTTP server over a folder), by path."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "results" / "_rangeserver.py"
    spec = importlib.util.spec_from_file_location("_terranb_test_rangeserver", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up while building
    spec.loader.exec_module(mod)
    return mod


serve = _load_rangeserver().serve  # type: ignore[attr-defined]

HALF = 20037508.342789244  # Web Mercator half-width (m)
Z = 18
RES = 2 * HALF / (256 * 2**Z)  # metres per pixel of zoom 18 tiles
TX, TY = 140_000, 95_000  # the raster's top-left tile at zoom 18


def _get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers.get("Content-Type", "")


def _tile(server: TileServer, z: int, x: int, y: int) -> np.ndarray:
    code, body, ctype = _get(server.tile_url(z, x, y))
    assert code == 200 and ctype == "image/png", body[:200]
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGBA"))


def _mercator_cog(path: Path, tiles: int = 4, blocksize: int = 256) -> Path:
    """RGB noise on the zoom-18 grid: each tile is exactly one 256 x 256 window."""
    rng = np.random.default_rng(7)
    n = 256 * tiles
    data = rng.integers(0, 256, (3, n, n), dtype=np.uint8)
    left = -HALF + TX * 256 * RES
    top = HALF - TY * 256 * RES
    with rasterio.open(path, "w", driver="COG", width=n, height=n, count=3, dtype="uint8",
                       crs="EPSG:3857", transform=from_origin(left, top, RES, RES),
                       blocksize=blocksize, compress="DEFLATE", overviews="AUTO") as ds:
        ds.write(data)
    return path


def _utm_cog(path: Path, size: int = 1024) -> Path:
    """A COG in UTM 33N east of the central meridian (grid rotated against Mercator)."""
    rng = np.random.default_rng(3)
    base = rng.integers(0, 256, (3, size // 16, size // 16), dtype=np.uint8)
    data = np.repeat(np.repeat(base, 16, axis=1), 16, axis=2)  # 16-px blocks: sampling is robust
    with rasterio.open(path, "w", driver="COG", width=size, height=size, count=3, dtype="uint8",
                       crs="EPSG:32633", transform=from_origin(700_000, 5_000_000, 0.05, 0.05),
                       compress="DEFLATE", overviews="AUTO") as ds:
        ds.write(data)
    return path


def _sampled(path: Path, z: int, x: int, y: int) -> tuple[np.ndarray, np.ndarray]:
    """Nearest source pixel under each tile pixel centre (pyproj + the affine), and validity."""
    with rasterio.open(path) as ds:
        size = 2 * HALF / 2**z
        px = size / 256
        cols = -HALF + x * size + (np.arange(256) + 0.5) * px
        rows = HALF - y * size - (np.arange(256) + 0.5) * px
        mx, my = np.meshgrid(cols, rows)
        sx, sy = Transformer.from_crs(3857, ds.crs, always_xy=True).transform(mx, my)
        inv = ~ds.transform
        c, r = inv * (sx, sy)
        c, r = np.floor(c).astype(int), np.floor(r).astype(int)
        ok = (c >= 0) & (r >= 0) & (c < ds.width) & (r < ds.height)
        data = ds.read()
        out = np.zeros((256, 256, data.shape[0]), dtype=data.dtype)
        out[ok] = data[:, r[ok], c[ok]].T
        if ds.nodata is not None:
            ok &= ~np.all(out == ds.nodata, axis=-1)
        if any(ci.name == "alpha" for ci in ds.colorinterp):
            ok &= out[..., -1] > 0
    return out, ok


def test_native_tile_is_the_windowed_read(tmp_path: Path) -> None:
    cog = _mercator_cog(tmp_path / "merc.tif")
    with TileServer(cog) as server:
        assert server.maxzoom == Z  # the native zoom is the raster's own resolution
        for dx, dy in ((0, 0), (1, 2), (3, 3)):
            got = _tile(server, Z, TX + dx, TY + dy)
            with rasterio.open(cog) as ds:
                win = rasterio.windows.Window(dx * 256, dy * 256, 256, 256)
                ref = np.moveaxis(ds.read(window=win), 0, -1)
            assert np.array_equal(got[..., :3], ref)
            assert (got[..., 3] == 255).all()
        # a coarser zoom reads an overview, not the full image, and still has data
        half = _tile(server, Z - 1, TX // 2, TY // 2)
        assert (half[..., 3] > 0).mean() > 0.2
        assert server.stats["tiles"] == 4 and not server.stats["errors"]


def test_utm_tile_matches_nearest_source_pixels(tmp_path: Path) -> None:
    cog = _utm_cog(tmp_path / "utm.tif")
    with TileServer(cog) as server:
        z, x, y = server.center_tile()
        got = _tile(server, z, x, y)
    ref, ok = _sampled(cog, z, x, y)
    valid = ok & (got[..., 3] == 255)
    assert valid.mean() > 0.5
    same = np.all(got[..., :3] == ref, axis=-1)[valid].mean()
    assert same > 0.99, same


@pytest.mark.parametrize("name", ["webodm/orthophoto.tif", "rasterio/RGB.byte.tif"])
def test_real_orthos_at_native_zoom(real_data: Path, name: str) -> None:
    path = real_data / "geotiff" / name
    if not path.is_file():
        pytest.skip(f"{path} not present")
    with TileServer(path) as server:
        z, x, y = server.center_tile()
        got = _tile(server, z, x, y)
    ref, ok = _sampled(path, z, x, y)
    valid = ok & (got[..., 3] == 255)
    assert valid.mean() > 0.3
    same = np.all(got[..., :3] == ref[..., :3], axis=-1)[valid].mean()
    assert same > 0.97, same
    # transparent exactly where the source has no data (alpha / nodata)
    assert (got[..., 3][~ok] == 0).mean() > 0.97


def test_float_dsm_is_stretched_consistently(real_data: Path) -> None:
    path = real_data / "geotiff" / "geotiff_test_data" / "dom1_32_356_5699_1_nw_2020.tif"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    with TileServer(path) as server:
        z, x, y = server.center_tile()
        got = _tile(server, z, x, y)
    ref, ok = _sampled(path, z, x, y)
    grey = got[..., 0].astype(float)
    assert np.array_equal(got[..., 0], got[..., 1])
    valid = ok & (got[..., 3] == 255)
    # a monotone stretch of the heights: strongly correlated with them
    assert np.corrcoef(grey[valid], ref[..., 0][valid])[0, 1] > 0.95


def test_outside_bounds_and_bad_requests(tmp_path: Path) -> None:
    cog = _mercator_cog(tmp_path / "merc.tif", tiles=2)
    with TileServer(cog) as server:
        empty = _tile(server, Z, TX + 10, TY + 10)  # on the grid, off the raster
        assert empty.shape == (256, 256, 4) and (empty[..., 3] == 0).all()
        assert server.stats["empty"] == 1
        bad_token = server.tile_url(Z, TX, TY).replace("/terranb-tiles/", "/terranb-tiles/x")
        assert _get(bad_token)[0] == 404
        assert _get(server.tile_url(2, 0, 0))[0] == 404  # far below the min zoom
        assert _get(server.tile_url(Z, 2**Z, 0))[0] == 404  # not on the grid
        assert _get(server.tile_url(Z + 9, 0, 0))[0] == 404  # beyond native + overzoom


def test_remote_cog_tiles_are_ranged_counted_and_capped(tmp_path: Path) -> None:
    cog = _mercator_cog(tmp_path / "result.tif", tiles=8)  # 2048 px, 12 MB of noise
    size = cog.stat().st_size
    with TileServer(cog) as local:
        want = _tile(local, Z, TX + 5, TY + 3)
    with serve(tmp_path) as st:
        url = f"{st.base}/result.tif?X-Amz-Signature=topsecret"
        with TileServer(url) as server:
            assert "topsecret" not in repr(server) and "topsecret" not in server.url_template
            before = server.bytes_fetched
            got = _tile(server, Z, TX + 5, TY + 3)
            assert np.array_equal(got, want)
            one_tile = server.bytes_fetched - before
            assert server.bytes_fetched == st.served  # the client's count is the server's
            assert server.bytes_fetched < 0.05 * size, (server.bytes_fetched, size)
            assert one_tile < 0.03 * size
            st.expired = True
            code, body, _ = _get(server.tile_url(Z, TX + 1, TY + 1))
            assert code == 502 and b"expired" in body and b"topsecret" not in body
        st.expired = False
        with TileServer(url, max_bytes=150_000) as capped:  # header yes, a tile no
            code, body, _ = _get(capped.tile_url(Z, TX + 6, TY + 6))
            assert code == 502 and b"max_bytes" in body


def _live_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith("terranb-tiles")}


def test_map_owns_the_server_and_saved_html_keeps_the_overlay(tmp_path: Path) -> None:
    cog = _mercator_cog(tmp_path / "merc.tif", tiles=2)
    before = _live_threads()
    m = result_map(ortho=cog, deep_zoom=True, furniture=False)
    live = m._repr_html_()
    assert "terranb-tiles/" in live and "127.0.0.1" in live
    saved = map_html(m)
    assert "terranb-tiles/" not in saved and "127.0.0.1" not in saved
    assert "data:image/png;base64" in saved  # the bounded overlay stays
    assert "terranb-tiles/" in m._repr_html_()  # rendering for a file did not drop it
    (server,) = tile_servers(m)
    port = server.port
    assert _live_threads() - before
    del m, server
    gc.collect()
    deadline = time.monotonic() + 10
    while _live_threads() - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (_live_threads() - before), "tile server threads outlived the map"
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)


def test_auto_is_off_without_a_kernel(tmp_path: Path) -> None:
    cog = _mercator_cog(tmp_path / "merc.tif", tiles=2)
    m = result_map(ortho=cog, furniture=False)  # pytest is no Jupyter kernel
    assert "terranb-tiles/" not in m._repr_html_()


@pytest.mark.slow
def test_interpreter_exit_stops_the_server(tmp_path: Path) -> None:
    cog = _mercator_cog(tmp_path / "merc.tif", tiles=2)
    code = ("import sys; from terranb.viz.tile_server import TileServer; "
            f"s = TileServer({str(cog)!r}); print(s.port); sys.stdout.flush()")
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().isdigit() and time.monotonic() - t0 < 60


def test_url_base_on_jupyterhub_and_override(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tile_url_base(8123) == "http://127.0.0.1:8123"
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    assert tile_url_base(8123) == "/user/alice/proxy/8123"
    monkeypatch.setenv("TERRANB_TILE_URL_BASE", "https://hub.example/user/a/proxy/{port}/")
    assert tile_url_base(8123) == "https://hub.example/user/a/proxy/8123"


def test_world_file_and_prj_georeference_the_tiles(tmp_path: Path) -> None:
    """A .tif without GeoTIFF tags, placed by .tfw + .prj (terranb.results resolves them)."""
    from pyproj import CRS

    from terranb.errors import ValidationError
    from terranb.results.ortho import Orthomosaic

    geo = _utm_cog(tmp_path / "geo.tif", size=512)
    with rasterio.open(geo) as ds:
        data, t = ds.read(), ds.transform
    bare = tmp_path / "bare.tif"
    with rasterio.open(bare, "w", driver="GTiff", width=512, height=512, count=3,
                       dtype="uint8") as ds:
        ds.write(data)
    # world file: pixel-centre origin
    bare.with_suffix(".tfw").write_text(
        f"{t.a}\n0\n0\n{t.e}\n{t.c + t.a / 2}\n{t.f + t.e / 2}\n")
    bare.with_suffix(".prj").write_text(CRS.from_epsg(32633).to_wkt("WKT1_ESRI"))
    ortho = Orthomosaic.open(bare)
    assert ortho.crs_source == "prj"  # GDAL does not read a .prj: the server must be told
    with TileServer(geo) as ref, TileServer(ortho) as placed:
        z, x, y = ref.center_tile()
        assert placed.maxzoom == ref.maxzoom
        assert np.array_equal(_tile(placed, z, x, y), _tile(ref, z, x, y))
    with pytest.raises(ValidationError, match="no CRS"):
        plain = tmp_path / "plain.tif"
        with rasterio.open(plain, "w", driver="GTiff", width=8, height=8, count=1,
                           dtype="uint8") as ds:
            ds.write(np.zeros((1, 8, 8), dtype="uint8"))
        TileServer(plain)

"""Deep zoom: full-resolution XYZ tiles of an orthomosaic, served from inside the kernel.

A map's PNG overlay (:func:`terranb.viz.maps.ortho_overlay`) is bounded: a 16k x 16k
ortho is shown at a few percent of its pixels. Where a kernel is live, a
:class:`TileServer` serves the raster itself as Web Mercator ``{z}/{x}/{y}.png``
tiles (rio-tiler's ``Reader.tile``), so Leaflet can zoom to the native GSD. Each
tile reads only the blocks under it (an overview for low zooms), so memory stays at
one tile plus GDAL's block cache whatever the raster's size.

Why rio-tiler and the standard library's HTTP server rather than localtileserver:
localtileserver 1.0 brings FastAPI, uvicorn, anywidget and ipywidgets into the
kernel for the same ``Reader.tile`` call, and reads remote files through GDAL's
own HTTP stack, where the bytes are neither counted nor capped. Here a remote COG
(a presigned bucket URL) is read through :class:`terranb.transfer.rangeio.UrlOpener`:
every byte is a counted ``Range`` request (:attr:`TileServer.bytes_fetched`),
``max_bytes`` caps a session, and an expired URL gives the same clear error as
``Job.preview()``.

Network: the server listens on 127.0.0.1 on a free port, and tile paths carry a
random token (other local users cannot read the raster by guessing the port; the
presigned URL never leaves the kernel). On JupyterHub/Binder the browser is not on
the kernel's machine, so tile URLs go through jupyter-server-proxy
(``$JUPYTERHUB_SERVICE_PREFIX/proxy/PORT/...``); ``TERRANB_TILE_URL_BASE``
(e.g. ``https://host/user/me/proxy/{port}``) overrides the base anywhere else.

Lifetime: the server stops when its :class:`TileServer` is garbage-collected (the
map that holds it is gone), when :meth:`TileServer.stop` is called, or when the
interpreter (the kernel) exits. Saved maps (:func:`terranb.viz.maps.map_html`) leave
the live layer out and keep the bounded overlay: a file has no kernel to ask.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import secrets
import sys
import threading
import warnings
import weakref
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import terranb.viz._png as _png
from terranb.errors import ResultFormatError, ValidationError, require

__all__ = ["TileServer", "add_deep_zoom", "kernel_is_live", "live_layers_removed",
           "tile_servers", "tile_url_base"]

TILE_SIZE = 256
#: zoom levels a tile may lie below the native zoom when the raster has no overviews:
#: a tile then reads at most (256 * 2**3)**2 = 4 Mpx of full-resolution blocks.
NO_OVERVIEW_LEVELS = 3
#: zoom levels Leaflet may magnify beyond the native one (to see single pixels)
OVERZOOM = 2
_PATH = re.compile(r"^/terranb-tiles/([A-Za-z0-9_-]+)/(\d{1,2})/(\d{1,9})/(\d{1,9})\.png$")


def kernel_is_live() -> bool:
    """True inside a running Jupyter kernel (IPython with a kernel attached)."""
    ipython = sys.modules.get("IPython")  # never import IPython just to ask
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def tile_url_base(port: int, base: str | None = None) -> str:
    """Where the browser reaches a kernel-side server on ``port``.

    ``base`` (or ``$TERRANB_TILE_URL_BASE``; ``{port}`` is filled in) wins; on
    JupyterHub/Binder (``$JUPYTERHUB_SERVICE_PREFIX``) the jupyter-server-proxy path
    ``<prefix>proxy/<port>`` (relative to the page's origin); else ``http://127.0.0.1:<port>``.
    """
    base = base or os.environ.get("TERRANB_TILE_URL_BASE")
    if base:
        return base.replace("{port}", str(port)).rstrip("/")
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if prefix:
        return f"/{prefix.strip('/')}/proxy/{port}"
    return f"http://127.0.0.1:{port}"


# --------------------------------------------------------------------------- source


@dataclass
class _Source:
    """What to open: a local path or a URL, with georeferencing overrides."""

    label: str
    path: Path | None = None
    url: str | None = field(default=None, repr=False)  # presigned: never shown
    crs: Any = None
    transform: Any = None


def _source(ortho: Any, crs: Any) -> _Source:
    from terranb.transfer.rangeio import url_label

    if isinstance(ortho, str) and ortho.startswith(("http://", "https://")):
        return _Source(url_label(ortho), url=ortho, crs=crs)
    url = getattr(ortho, "source_url", None)  # results.remote_ortho.RemoteOrtho
    if isinstance(url, str) and url:
        return _Source(url_label(url), url=url, crs=crs or getattr(ortho, "crs", None))
    if isinstance(ortho, (str, os.PathLike)):
        return _Source(str(ortho), path=Path(ortho), crs=crs)
    path = getattr(ortho, "path", None) or getattr(ortho, "name", None)
    if isinstance(path, (str, os.PathLike)) and Path(path).is_file():
        src = _Source(str(path), path=Path(path), crs=crs)
        # results.Orthomosaic resolves georeferencing GDAL misses (.prj, map_report, .tfw)
        if getattr(ortho, "crs_source", "geotiff") not in (None, "geotiff") and crs is None:
            src.crs = ortho.crs
        if getattr(ortho, "transform_source", "geotiff") == "world_file":
            src.transform = ortho.transform
            src.crs = src.crs or getattr(ortho, "crs", None)
        return src
    raise ValidationError(
        f"cannot serve tiles of {type(ortho).__name__}: pass a GeoTIFF path, an https URL "
        "of a COG, a terranb.results Orthomosaic or a Job.preview() ortho")


# --------------------------------------------------------------------------- reader


class _TileReader:
    """Owns the dataset in one worker thread.

    rasterio registers a Python ``opener=`` in a context variable of the thread that
    opened the dataset, and GDAL datasets are not thread-safe: every open, read and
    close happens in one single-thread executor, which also serialises tile reads.
    """

    def __init__(self, source: _Source, *, max_bytes: int | None, resampling: str) -> None:
        self.source = source
        self.resampling = resampling
        self.budget: Any = None
        self._stack = contextlib.ExitStack()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="terranb-tiles-read")
        try:
            self._pool.submit(self._open, max_bytes).result()
        except BaseException:
            self.close()
            raise

    def _open(self, max_bytes: int | None) -> None:
        rasterio = require("rasterio", "geo")
        rio_tiler = require("rio_tiler.io", "deepzoom")
        from rasterio.crs import CRS
        from rasterio.enums import ColorInterp
        from rasterio.vrt import WarpedVRT

        src = self.source
        if src.url is not None:
            from terranb.transfer.rangeio import ByteBudget, UrlOpener

            self.budget = ByteBudget(max_bytes=max_bytes)
            opener = UrlOpener(src.url, self.budget, name=src.label)
            opener.probe()  # expired URL / no Range: raise here, with the fix
            try:
                ds = rasterio.open(f"remote/{opener.path_token}", opener=opener)
            except rasterio.errors.RasterioIOError as exc:
                raise self.budget.error or ResultFormatError(
                    f"{src.label}: not a raster GDAL can read by range ({exc})") from None
        else:
            assert src.path is not None
            ds = rasterio.open(src.path)
        self._stack.enter_context(ds)
        crs = CRS.from_user_input(src.crs) if src.crs is not None else ds.crs
        if crs is None:
            raise ValidationError(
                f"{src.label} has no CRS, so its tiles cannot be placed on a map; pass "
                "crs='EPSG:xxxx' or add the .prj next to the image")
        if src.crs is not None or src.transform is not None:
            ds = self._stack.enter_context(WarpedVRT(
                ds, src_crs=crs, crs=crs, src_transform=src.transform or ds.transform,
                transform=src.transform or ds.transform, width=ds.width, height=ds.height))
        with warnings.catch_warnings():
            # rio-tiler warns about missing overviews; the zoom floor below handles them
            warnings.simplefilter("ignore")
            self.reader = self._stack.enter_context(rio_tiler.Reader(None, dataset=ds))
        interp = list(ds.colorinterp)
        colour = [i + 1 for i in range(ds.count) if interp[i] != ColorInterp.alpha]
        self.indexes = tuple(colour[:3] if len(colour) >= 3 else colour[:1])
        self.minzoom, self.maxzoom = int(self.reader.minzoom), int(self.reader.maxzoom)
        if not ds.overviews(1):
            self.minzoom = max(self.minzoom, self.maxzoom - NO_OVERVIEW_LEVELS)
        tms = self.reader.tms
        self.bounds_wgs84 = tuple(self.reader.get_geographic_bounds(tms.rasterio_geographic_crs))
        self.size = (ds.width, ds.height)
        self.rescale: list[tuple[float, float]] | None = None
        if ds.dtypes[0] != "uint8":
            # One coarse read for a 2-98 % stretch shared by every tile (tiles stretched
            # one by one would not match at their edges).
            stats = self.reader.statistics(indexes=self.indexes, max_size=512)
            self.rescale = [(float(s.percentile_2), float(s.percentile_98) if
                             s.percentile_98 > s.percentile_2 else float(s.percentile_2) + 1)
                            for s in stats.values()]

    def tile(self, z: int, x: int, y: int) -> Any:
        """uint8 RGBA (256, 256, 4) of one tile, or None when it lies outside the raster."""
        return self._pool.submit(self._tile, z, x, y).result(timeout=120)

    def _tile(self, z: int, x: int, y: int) -> Any:
        np = require("numpy", "geo")
        if not self.reader.tile_exists(x, y, z):
            return None
        try:
            img = self.reader.tile(x, y, z, tilesize=TILE_SIZE, indexes=self.indexes,
                                   resampling_method=self.resampling)
        except Exception:
            # GDAL turns the byte layer's errors (cap, expired URL) into a bare I/O error
            err = getattr(self.budget, "error", None)
            if err is not None:
                self.budget.error = None
                raise err from None
            raise
        data = img.data
        if self.rescale is not None:
            lo = np.array([r[0] for r in self.rescale], dtype="float64")[:, None, None]
            hi = np.array([r[1] for r in self.rescale], dtype="float64")[:, None, None]
            data = np.clip((data.astype("float64") - lo) * (255.0 / (hi - lo)), 0, 255)
        rgba = np.zeros((TILE_SIZE, TILE_SIZE, 4), dtype="uint8")
        for i in range(3):
            rgba[..., i] = data[min(i, data.shape[0] - 1)]
        rgba[..., 3] = np.where(np.asarray(img.mask) > 0, 255, 0)
        return rgba

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._pool.submit(self._stack.close).result(timeout=30)
        self._pool.shutdown(wait=True)


# --------------------------------------------------------------------------- server


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the kernel's stderr is a notebook cell: no access log there

    def _send(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        # the token changes with every server, so a cached tile can never be stale
        self.send_header("Cache-Control", "private, max-age=3600" if code == 200 else "no-store")
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def do_GET(self) -> None:
        app = self.server.app
        m = _PATH.match(self.path.split("?", 1)[0])
        if m is None or not secrets.compare_digest(m.group(1), app.token):
            self._send(404, b"no such tile\n", "text/plain")
            return
        z, x, y = (int(g) for g in m.groups()[1:])
        if z < app.reader.minzoom or z > app.reader.maxzoom + OVERZOOM or max(x, y) >= 2 ** z:
            self._send(404, f"zoom {z} is outside {app.reader.minzoom}.."
                       f"{app.reader.maxzoom + OVERZOOM} or the tile is not on the grid\n"
                       .encode(), "text/plain")
            return
        try:
            rgba = app.reader.tile(z, x, y)
        except Exception as exc:  # one bad tile must not stop the server; say why
            app.errors.append(f"{z}/{x}/{y}: {exc}")
            self._send(502, f"{type(exc).__name__}: {exc}\n".encode(), "text/plain")
            return
        if rgba is None:
            app.empty += 1
            self._send(200, app.empty_png, "image/png")
            return
        app.served += 1
        self._send(200, _png.encode_png(rgba), "image/png")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    app: _App


@dataclass
class _App:
    reader: _TileReader
    token: str
    empty_png: bytes
    served: int = 0
    empty: int = 0
    errors: list[str] = field(default_factory=list)


def _shutdown(httpd: _HTTPServer, thread: threading.Thread, reader: _TileReader) -> None:
    """Stop serving, close the socket and the dataset (idempotent; any thread)."""
    if threading.current_thread() is thread:  # shutdown() from the loop itself would hang
        threading.Thread(target=_shutdown, args=(httpd, thread, reader), daemon=True).start()
        return
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=10)
    reader.close()


class TileServer:
    """XYZ PNG tiles of one raster on 127.0.0.1 (see module doc).

    Args:
        ortho: GeoTIFF path, https URL of a (presigned) COG, a ``terranb.results``
            ``Orthomosaic`` or the ``RemoteOrtho`` of ``Job.preview()``.
        crs: CRS to assume when the raster carries none.
        max_bytes: cap on the bytes a remote raster may cost over the server's life
            (``None``: counted, not capped).
        resampling: rio-tiler resampling for tiles (``"nearest"`` keeps pixels exact
            at the native zoom).
        url_base: where the browser reaches the server (default :func:`tile_url_base`).

    Use it as a context manager, or let the map that shows it own it.
    """

    def __init__(self, ortho: Any, *, crs: Any = None, max_bytes: int | None = None,
                 resampling: str = "nearest", url_base: str | None = None) -> None:
        np = require("numpy", "geo")
        self.source = _source(ortho, crs)
        reader = _TileReader(self.source, max_bytes=max_bytes, resampling=resampling)
        empty = _png.encode_png(np.zeros((TILE_SIZE, TILE_SIZE, 4), dtype="uint8"))
        self._app = _App(reader=reader, token=secrets.token_urlsafe(12), empty_png=empty)
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.app = self._app
        self.port = int(httpd.server_address[1])
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                  name=f"terranb-tiles-{self.port}", daemon=True)
        thread.start()
        self.thread = thread
        self._url_base = tile_url_base(self.port, url_base)
        # Refers to the HTTP server, thread and reader, not to self: the server stops when
        # this object (or the map holding it) is collected, or at interpreter exit.
        self._finalizer = weakref.finalize(self, _shutdown, httpd, thread, reader)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"TileServer({self.source.label!r}, port={self.port}, {state})"

    def __enter__(self) -> TileServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving and close the raster (safe to call twice)."""
        self._finalizer()

    @property
    def running(self) -> bool:
        return self._finalizer.alive and self.thread.is_alive()

    @property
    def url_template(self) -> str:
        """Leaflet's ``{z}/{x}/{y}`` URL of the tiles."""
        return f"{self._url_base}/terranb-tiles/{self._app.token}/{{z}}/{{x}}/{{y}}.png"

    def tile_url(self, z: int, x: int, y: int) -> str:
        """The URL of one tile, on 127.0.0.1 (for tests and scripts in the kernel)."""
        return f"http://127.0.0.1:{self.port}/terranb-tiles/{self._app.token}/{z}/{x}/{y}.png"

    @property
    def minzoom(self) -> int:
        return self._app.reader.minzoom

    @property
    def maxzoom(self) -> int:
        """The native zoom: the coarsest Web Mercator zoom as fine as the raster's pixels."""
        return self._app.reader.maxzoom

    @property
    def bounds_wgs84(self) -> tuple[float, float, float, float]:
        return self._app.reader.bounds_wgs84  # type: ignore[return-value]

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the raster in pixels."""
        return self._app.reader.size

    @property
    def bytes_fetched(self) -> int:
        """Bytes read from a remote raster so far (0 for local files)."""
        budget = self._app.reader.budget
        return int(budget.fetched) if budget is not None else 0

    @property
    def stats(self) -> dict[str, Any]:
        """Tiles served, empty tiles, errors and remote bytes, for captions and tests."""
        budget = self._app.reader.budget
        return {"tiles": self._app.served, "empty": self._app.empty,
                "errors": list(self._app.errors), "bytes_fetched": self.bytes_fetched,
                "requests": int(budget.requests) if budget is not None else 0}

    def center_tile(self, z: int | None = None) -> tuple[int, int, int]:
        """(z, x, y) of the tile under the raster's centre (default: native zoom)."""
        z = self.maxzoom if z is None else z
        w, s, e, n = self.bounds_wgs84
        lon, lat = (w + e) / 2, (s + n) / 2
        scale = 2 ** z
        x = int((lon + 180.0) / 360.0 * scale)
        rad = math.radians(lat)
        y = int((1.0 - math.asinh(math.tan(rad)) / math.pi) / 2.0 * scale)
        return z, x, y


# ------------------------------------------------------------------------------ map


def add_deep_zoom(m: Any, ortho: Any, *, crs: Any = None, max_bytes: int | None = None,
                  name: str = "orthomosaic (full resolution)",
                  url_base: str | None = None) -> TileServer:
    """Start a :class:`TileServer` for ``ortho`` and add its tiles to folium map ``m``.

    The map owns the server (it stops when the map is collected); the layer is live
    only: :func:`terranb.viz.maps.map_html` leaves it out of saved pages.
    """
    folium = require("folium", "viz")
    server = TileServer(ortho, crs=crs, max_bytes=max_bytes, url_base=url_base)
    _stack_panes(m, folium)
    w, s, e, n = server.bounds_wgs84
    layer = folium.TileLayer(
        tiles=server.url_template, attr="terranb tile server (live kernel)", name=name,
        overlay=True, control=True, min_zoom=server.minzoom,
        max_native_zoom=server.maxzoom, max_zoom=server.maxzoom + OVERZOOM,
        bounds=[[s, w], [n, e]], no_wrap=True, tile_size=TILE_SIZE, pane=_TILES_PANE)
    layer.terranb_live = server  # marks the layer as live and keeps the server alive
    layer.add_to(m)
    # Leaflet's map takes its zoom range from its tile layers when it has none of its own:
    # the layer's min zoom (no tiles read below it) would stop the user zooming out.
    m.options.setdefault("min_zoom", 0)
    return server


_ORTHO_PANE, _TILES_PANE = "terranb-ortho", "terranb-deepzoom"


def _stack_panes(m: Any, folium: Any) -> None:
    """Panes so that the tiles draw over the ortho overlay and under the vectors.

    Leaflet puts tile layers in ``tilePane`` (z 200), below every image overlay
    (``overlayPane``, z 400), so the coarse PNG would hide the sharp tiles. The
    overlay moves to a pane at z 390, the tiles to one at z 395; footprints, boxes and
    the density layer stay in ``overlayPane`` above both, base maps below. The panes
    go first in the map's script (the overlay, created earlier, names its pane).
    """
    overlays = [c for c in m._children.values()
                if isinstance(c, folium.raster_layers.ImageOverlay)]
    if overlays:
        overlays[-1].options["pane"] = _ORTHO_PANE
    for pane, z in ((_TILES_PANE, 395), (_ORTHO_PANE, 390)):
        if any(getattr(c, "name", None) == pane for c in m._children.values()):
            continue
        element = folium.map.CustomPane(pane, z_index=z, pointer_events=False)
        element.add_to(m)
        m._children.move_to_end(element.get_name(), last=False)


def maybe_add_deep_zoom(m: Any, ortho: Any, mode: bool | str, *, crs: Any = None) -> Any:
    """:func:`add_deep_zoom` for ``result_map(deep_zoom=...)``.

    ``True`` adds it (errors raise); ``"auto"`` adds it in a live kernel when
    rio-tiler is installed and the raster is a file or URL, and otherwise (or on
    error) leaves the map with its overlay; ``False`` never.
    """
    if mode is False or mode is None:
        return None
    if mode not in (True, "auto"):
        raise ValidationError(f"deep_zoom must be True, False or 'auto', not {mode!r}")
    if mode == "auto":
        if not kernel_is_live():
            return None
        try:
            require("rio_tiler.io", "deepzoom")
            _source(ortho, crs)
        except Exception:
            return None
        try:
            return add_deep_zoom(m, ortho, crs=crs)
        except Exception as exc:  # the overlay is still there; say why tiles are not
            warnings.warn(f"deep zoom is off: {exc}", stacklevel=3)
            return None
    return add_deep_zoom(m, ortho, crs=crs)


def tile_servers(m: Any) -> list[TileServer]:
    """The tile servers a map's live layers use (empty for a map without deep zoom)."""
    return [c.terranb_live for c in m._children.values()
            if isinstance(getattr(c, "terranb_live", None), TileServer)]


def _live_children(m: Any) -> list[str]:
    return [k for k, child in m._children.items() if getattr(child, "terranb_live", None)]


@contextlib.contextmanager
def live_layers_removed(m: Any) -> Iterator[Any]:
    """Render ``m`` without its live tile layers (their servers keep running).

    A layer that was rendered once (the notebook display) also left its script in the
    root figure's header/html/script, keyed by its name: those go too, and everything
    is put back in its place afterwards (script order is definition order).
    """
    keys = set(_live_children(m))
    if not keys:
        yield m
        return
    names = {m._children[k].get_name() for k in keys}
    root = m.get_root()
    parts = [m, *(getattr(root, a) for a in ("header", "html", "script") if hasattr(root, a))]
    saved = [(part, list(part._children.items())) for part in parts]
    for part in parts:
        for k in [k for k in part._children if k in keys or k in names]:
            del part._children[k]
    try:
        yield m
    finally:
        for part, items in saved:
            part._children.clear()
            part._children.update(items)

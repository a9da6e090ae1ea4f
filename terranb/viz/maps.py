"""Folium maps of survey results that stay small and work offline.

:func:`result_map` puts an orthomosaic, photo footprints, bounding boxes and a
point-density heat map on one Leaflet map. Every layer is embedded in the HTML
(images as PNG data URIs within byte budgets, vectors as rounded GeoJSON), and
Leaflet itself is inlined from the vendored copy, so the map needs no tile
server, no proxy and no widget state: it survives ``Map.save``, nbconvert HTML
export, Binder and VS Code. Base tiles are opt-in (``tiles="OpenStreetMap"``)
because they are the only part that would need the network.

The orthomosaic is decimated on read (overviews / ``out_shape``, never the full
raster), warped to Web Mercator -- the projection Leaflet draws in, so an
``ImageOverlay`` stretched between its lat/lon corners lines up pixel for
pixel -- and then shrunk until its PNG fits ``max_png_bytes``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import terranb.viz._assets as _assets
import terranb.viz._png as _png
from terranb.errors import ValidationError, require
from terranb.viz._vectors import _bbox_items, _geojson_bounds, footprint_collection

if TYPE_CHECKING:
    import folium
    import numpy as np

__all__ = [
    "Overlay",
    "auto_density_bins",
    "density_overlay",
    "map_html",
    "offline_map",
    "ortho_overlay",
    "result_map",
    "save_map",
    "tree_map",
]

Bounds = tuple[float, float, float, float]  # west, south, east, north (degrees)


@dataclass(frozen=True)
class Overlay:
    """An image ready to drape on a Leaflet map.

    Attributes:
        png: PNG bytes (RGBA; transparent outside the data).
        bounds: ``(west, south, east, north)`` in WGS84 degrees of the image edges.
            The image is in Web Mercator, i.e. rows are linear in Mercator y.
        size: ``(height, width)`` in pixels of the encoded image.
        note: what was done to fit the budget, for captions.
    """

    png: bytes
    bounds: Bounds
    size: tuple[int, int]
    note: str = ""
    #: density layers: the fullest cell's count and the cell's ground size (m), for legends
    max_count: int = 0
    cell_m: float = 0.0

    @property
    def data_uri(self) -> str:
        """The PNG as a ``data:image/png;base64`` URI."""
        return _png.data_uri(self.png, "image/png")

    @property
    def latlon_bounds(self) -> list[list[float]]:
        """Bounds in Leaflet's ``[[south, west], [north, east]]`` order."""
        w, s, e, n = self.bounds
        return [[s, w], [n, e]]


# --------------------------------------------------------------------------- ortho


def _open_raster(ortho: Any) -> tuple[Any, bool]:
    """Return an open rasterio dataset for ``ortho`` and whether we opened it."""
    rasterio = require("rasterio", "geo")
    if isinstance(ortho, (str, os.PathLike)):
        return rasterio.open(Path(ortho)), True
    if hasattr(ortho, "read") and hasattr(ortho, "transform") and hasattr(ortho, "crs"):
        return ortho, False  # already an open rasterio dataset
    for attr in ("path", "tif", "tif_path", "source"):
        value = getattr(ortho, attr, None)
        if isinstance(value, (str, os.PathLike)):
            return rasterio.open(Path(value)), True
    raise ValidationError(
        f"cannot read an orthomosaic from {type(ortho).__name__}; pass a GeoTIFF path, "
        "an open rasterio dataset or a terranb.results Orthomosaic"
    )


def _rgba_preview(src: Any, max_pixels: int) -> tuple[np.ndarray, Any]:
    """Decimated RGBA uint8 of ``src`` within ``max_pixels`` and its affine transform."""
    np = require("numpy", "geo")
    rasterio = require("rasterio", "geo")
    from rasterio.enums import ColorInterp, Resampling

    scale = min(1.0, math.sqrt(max_pixels / float(src.width * src.height)))
    h = max(1, int(src.height * scale))
    w = max(1, int(src.width * scale))
    interp = list(src.colorinterp)
    alpha_idx = [i + 1 for i, c in enumerate(interp) if c == ColorInterp.alpha]
    colour_idx = [i + 1 for i in range(src.count) if (i + 1) not in alpha_idx]
    colour_idx = colour_idx[:3] if len(colour_idx) >= 3 else colour_idx[:1]
    # GDAL picks the best overview for out_shape itself, so a COG is read cheaply and
    # a stripped TIFF is streamed; memory stays at the output size plus block cache.
    data = src.read(colour_idx, out_shape=(len(colour_idx), h, w), resampling=Resampling.average)
    mask = src.dataset_mask(out_shape=(h, w), resampling=Resampling.nearest) > 0
    rgba = np.zeros((h, w, 4), dtype="uint8")
    for i in range(len(colour_idx)):
        rgba[..., i] = _png.to_uint8(data[i], valid=mask if mask.any() else None)
    if len(colour_idx) == 1:
        rgba[..., 1] = rgba[..., 0]
        rgba[..., 2] = rgba[..., 0]
    rgba[..., 3] = np.where(mask, 255, 0).astype("uint8")
    t = src.transform
    sx, sy = src.width / w, src.height / h
    # Scale the pixel size, keep the origin (composition written out: affine 3 deprecates `*`).
    transform = rasterio.Affine(t.a * sx, t.b * sy, t.c, t.d * sx, t.e * sy, t.f)
    return rgba, transform


def _preview_from_results(ortho: Any, max_pixels: int) -> tuple[np.ndarray, Any, Any] | None:
    """Use ``Orthomosaic.read_preview_rgba`` (terranb.results) when the object has it.

    That reader also resolves georeferencing from world files, .prj and the map
    report, which a plain rasterio open would miss.
    """
    reader = getattr(ortho, "read_preview_rgba", None)
    if not callable(reader):
        return None
    rgba, transform = reader(max_pixels)
    return rgba, transform, getattr(ortho, "crs", None)


def _xy(t: Any, col: float, row: float) -> tuple[float, float]:
    """Apply an affine transform to a (col, row) pixel corner."""
    return (t.a * col + t.b * row + t.c, t.d * col + t.e * row + t.f)


def ortho_overlay(ortho: Any, *, max_png_bytes: int = 2_000_000,
                  max_pixels: int = 4_000_000, crs: Any = None) -> Overlay:
    """Decimate, warp to Web Mercator and PNG-encode an orthomosaic within a byte budget.

    Args:
        ortho: GeoTIFF path, open rasterio dataset, or a ``terranb.results``
            ``Orthomosaic`` (its ``read_preview`` is used when it has one).
        max_png_bytes: upper bound on the PNG size (default 2 MB).
        max_pixels: pixel budget for the decimated read (bounds memory and time).
        crs: CRS to assume when the raster has none (e.g. a .tif + .tfw without .prj).

    Returns:
        An :class:`Overlay` whose ``bounds`` are the WGS84 edges of the image.

    Raises:
        ValidationError: the raster has no CRS and none was given.
    """
    np = require("numpy", "geo")
    require("rasterio", "geo")
    from rasterio.crs import CRS
    from rasterio.enums import Resampling
    from rasterio.warp import calculate_default_transform, reproject, transform_bounds

    from_results = _preview_from_results(ortho, max_pixels)
    if from_results is not None:
        rgba, transform, src_crs = from_results
        if src_crs is None and crs is None:
            raise ValidationError(
                f"{getattr(ortho, 'path', 'the orthomosaic')} has no CRS (a world file alone "
                "does not say which system its coordinates are in), so it cannot be placed "
                "on a map; pass crs='EPSG:xxxx' or add the .prj next to the image"
            )
        src_crs = CRS.from_user_input(crs if crs is not None else src_crs)
    else:
        src, opened = _open_raster(ortho)
        try:
            if src.crs is None and crs is None:
                raise ValidationError(
                    f"{getattr(src, 'name', 'the orthomosaic')} has no CRS (a world file alone "
                    "does not say which system its coordinates are in), so it cannot be placed "
                    "on a map; pass crs='EPSG:xxxx' or add the .prj next to the image"
                )
            src_crs = CRS.from_user_input(crs) if crs is not None else src.crs
            rgba, transform = _rgba_preview(src, max_pixels)
        finally:
            if opened:
                src.close()
    h, w = rgba.shape[:2]
    corners = [_xy(transform, c, r) for c, r in ((0, 0), (w, 0), (w, h), (0, h))]
    xs, ys = [c[0] for c in corners], [c[1] for c in corners]
    src_bounds = (min(xs), min(ys), max(xs), max(ys))
    dst_crs = CRS.from_epsg(3857)
    dst_transform, dw, dh = calculate_default_transform(src_crs, dst_crs, w, h, *src_bounds)
    # Keep the warped grid within the same pixel budget (skewed CRSs can grow it).
    grow = math.sqrt(max(1.0, (dw * dh) / float(max(1, max_pixels))))
    if grow > 1.0:
        dw, dh = max(1, int(dw / grow)), max(1, int(dh / grow))
        t = dst_transform
        dst_transform = type(t)(t.a * grow, t.b * grow, t.c, t.d * grow, t.e * grow, t.f)
    warped = np.zeros((4, dh, dw), dtype="uint8")
    for band in range(4):
        reproject(
            source=np.ascontiguousarray(rgba[..., band]),
            destination=warped[band],
            src_transform=transform,
            src_crs=src_crs,
            dst_transform=dst_transform,
            dst_crs=dst_crs,
            # Alpha must stay binary at the edges; colours can be smooth.
            resampling=Resampling.nearest if band == 3 else Resampling.bilinear,
            src_nodata=None,
            dst_nodata=0,
        )
    image = np.moveaxis(warped, 0, -1)
    png, size = _png.fit_png(image, max_png_bytes)
    mx0, my1 = _xy(dst_transform, 0, 0)
    mx1, my0 = _xy(dst_transform, dw, dh)
    west, south, east, north = transform_bounds(dst_crs, "EPSG:4326", mx0, my0, mx1, my1)
    note = f"{w}x{h} px preview warped to {dw}x{dh}, encoded {size[1]}x{size[0]} ({len(png)} B)"
    return Overlay(png=png, bounds=(west, south, east, north), size=size, note=note)


# ------------------------------------------------------------------------ density


def _points_array(points: Any, max_points: int) -> tuple[np.ndarray, Any]:
    """(N, 2+) float array of point coordinates and their CRS (or None)."""
    np = require("numpy", "geo")
    crs = getattr(points, "crs", None)
    arr: Any = None
    for attr in ("xyz", "points", "vertices"):
        if hasattr(points, attr) and not callable(getattr(points, attr)):
            arr = getattr(points, attr)
            break
    if arr is None:
        for method in ("read_preview", "decimate"):
            fn = getattr(points, method, None)
            if callable(fn):
                res = fn(max_points)
                arr = getattr(res, "xyz", res)
                crs = getattr(res, "crs", crs)
                break
    if arr is None:
        arr = points
    a = np.asarray(arr, dtype="float64")
    if a.ndim != 2 or a.shape[1] < 2:
        raise ValidationError(f"points must be an (N, 2) or (N, 3) array, got shape {a.shape}")
    if len(a) > max_points:
        # A fixed stride keeps the spatial distribution and is deterministic.
        a = a[:: math.ceil(len(a) / max_points)]
    return a, crs


def auto_density_bins(n_points: int, per_cell: int = 25, lo: int = 16, hi: int = 512) -> int:
    """Cells along the longer side so that a cell holds about ``per_cell`` points.

    With a few points a cell the map shows sampling noise (4 points a cell vary by
    +-50 %) or, for sparse clouds, scattered single pixels instead of a density.
    """
    return max(lo, min(hi, round(math.sqrt(max(n_points, 1) / per_cell))))


def density_overlay(points: Any, *, crs: Any = None, bins: int | None = None,
                    max_png_bytes: int = 500_000, max_points: int = 1_000_000) -> Overlay:
    """A heat-map PNG of point density, binned in Web Mercator.

    Args:
        points: (N, 2|3) array of x, y[, z], or an object with ``xyz`` and ``crs``
            (``terranb.results`` ``PointCloud`` previews).
        crs: CRS of the coordinates; required for arrays unless they are WGS84 lon/lat.
        bins: cells along the longer side (default: :func:`auto_density_bins`, about
            25 points a cell, 16 to 512 cells).
        max_png_bytes: PNG byte budget.
        max_points: points binned at most (evenly strided), which bounds memory.
    """
    np = require("numpy", "geo")
    pyproj = require("pyproj", "geo")
    xy, own_crs = _points_array(points, max_points)
    src_crs = crs if crs is not None else own_crs
    if src_crs is None:
        lon_ok = np.all(np.abs(xy[:, 0]) <= 180) and np.all(np.abs(xy[:, 1]) <= 90)
        if not lon_ok:
            raise ValidationError(
                "point coordinates are not longitude/latitude and no CRS was given; "
                "pass crs='EPSG:xxxx' (the point cloud's projected CRS)"
            )
        src_crs = "EPSG:4326"
    to_merc = pyproj.Transformer.from_crs(src_crs, 3857, always_xy=True)
    mx, my = to_merc.transform(xy[:, 0], xy[:, 1])
    ok = np.isfinite(mx) & np.isfinite(my)
    mx, my = mx[ok], my[ok]
    if mx.size == 0:
        raise ValidationError("no finite point coordinates to bin")
    x0, x1, y0, y1 = mx.min(), mx.max(), my.min(), my.max()
    span = max(x1 - x0, y1 - y0, 1e-6)
    if bins is None:
        bins = auto_density_bins(int(mx.size))
    cell = span / bins
    nx = max(1, math.ceil((x1 - x0) / cell))
    ny = max(1, math.ceil((y1 - y0) / cell))
    x1, y1 = x0 + nx * cell, y0 + ny * cell
    counts, _, _ = np.histogram2d(my, mx, bins=(ny, nx), range=((y0, y1), (x0, x1)))
    counts = counts[::-1]  # row 0 is north
    occupied = counts > 0
    rgb = _png.ramp(np.log1p(counts), "inferno", vmin=0.0, vmax=float(np.log1p(counts.max())))
    # Binary alpha (empty cells transparent); the layer's opacity does the blending.
    rgba = np.dstack([rgb, np.where(occupied, 255, 0).astype("uint8")])
    png, size = _png.fit_png(rgba, max_png_bytes)
    to_ll = pyproj.Transformer.from_crs(3857, 4326, always_xy=True)
    west, south = to_ll.transform(x0, y0)
    east, north = to_ll.transform(x1, y1)
    note = (f"{mx.size} points, {nx}x{ny} cells of {cell:.2f} m (Mercator), "
            f"max {int(counts.max())}/cell")
    ground_cell = cell * math.cos(math.radians((south + north) / 2))  # Mercator scale
    return Overlay(png=png, bounds=(west, south, east, north), size=size, note=note,
                   max_count=int(counts.max()), cell_m=ground_cell)


# ---------------------------------------------------------------------------- map


def offline_map(m: folium.Map) -> folium.Map:
    """Make a folium map self-contained: inline Leaflet, drop folium's CDN links.

    folium links Leaflet, jQuery, Bootstrap and Font Awesome from CDNs by default;
    the layers terranb draws need only Leaflet, which is inlined from the vendored
    copy. Tile layers, if any, still load from their servers.
    """
    branca = require("branca.element", "viz")
    m.default_js = []
    m.default_css = []
    inline = (
        f"<style>{_assets.leaflet_css()}</style>\n"
        f"<script>{_assets.leaflet_js()}</script>"
    )
    root: Any = m.get_root()  # a branca Figure (typed as Element)
    root.header.add_child(branca.Element(inline), name="terranb_leaflet_inline", index=0)
    return m


def result_map(
    ortho: Any = None,
    footprints: Any = None,
    bboxes: Any = None,
    points: Any = None,
    *,
    max_png_bytes: int = 2_000_000,
    max_pixels: int = 4_000_000,
    ortho_crs: Any = None,
    points_crs: Any = None,
    density_bins: int | None = None,
    density_png_bytes: int = 500_000,
    max_vector_bytes: int = 2_000_000,
    tiles: str | None = None,
    tiles_attr: str | None = None,
    offline: bool = True,
    width: int | str = "100%",
    height: int | str = 500,
    furniture: bool = True,
    density_per_point: float = 1.0,
    deep_zoom: bool | str = "auto",
) -> folium.Map:
    """One Leaflet map of a survey result, bounded in size and network-free by default.

    The HTML is at most about ``max_png_bytes * 4/3 + density_png_bytes * 4/3 +
    max_vector_bytes + 200 kB`` (base64 images, GeoJSON, inlined Leaflet).

    Args:
        ortho: orthomosaic (GeoTIFF path, rasterio dataset or results ``Orthomosaic``).
        footprints: GeoJSON-like photo footprints in WGS84 (dicts, features, objects
            with ``__geo_interface__``, a .geojson path, or a list of those).
        bboxes: ``(west, south, east, north)`` tuples in degrees, a ``{label: bbox}``
            mapping, or objects with ``bounds_wgs84``.
        points: (N, 2|3) array (with ``points_crs``) or point-cloud preview with
            ``xyz``/``crs``; shown as a density heat map.
        max_png_bytes: byte budget of the orthomosaic PNG (default 2 MB).
        max_pixels: pixel budget of the decimated orthomosaic read.
        ortho_crs, points_crs: CRS overrides when the data carries none.
        density_bins, density_png_bytes: density grid size (cells along the longer
            side; default about 25 points a cell) and PNG budget.
        max_vector_bytes: budget for footprint GeoJSON (extra features are dropped).
        tiles: ``None`` (default: no base layer, no requests) or a folium tiles name
            such as ``"OpenStreetMap"`` when online use is wanted.
        tiles_attr: attribution for custom tile URLs.
        offline: inline Leaflet instead of loading folium's CDN scripts.
        width, height: map size.
        furniture: add a legend, a labelled graticule and a north arrow
            (:mod:`terranb.viz.map_furniture`).
        density_per_point: points of the whole cloud each sample point stands for
            (the legend's points/m² are of the whole cloud).
        deep_zoom: also serve the ortho's full-resolution tiles from the kernel
            (:mod:`terranb.viz.tile_server`): ``"auto"`` (default) in a live kernel,
            ``True`` always (errors raise), ``False`` never. Saved HTML keeps the overlay only.

    Returns:
        A ``folium.Map``; display it in a notebook or :func:`save_map` it.

    Raises:
        ValidationError: nothing to show, or data without a usable CRS.
    """
    folium = require("folium", "viz")
    if ortho is None and footprints is None and bboxes is None and points is None:
        raise ValidationError("result_map needs at least one of ortho, footprints, bboxes, points")
    m = folium.Map(location=[0, 0], zoom_start=2, tiles=tiles, attr=tiles_attr,
                   width=width, height=height, control_scale=True)
    # A map without a Figure is shown in a box 60 % as tall as it is wide, so a 500 px
    # map in a wide notebook leaves a white gap under it: the iframe gets the map's height.
    _fitted_figure(width, height).add_child(m)
    if offline:
        offline_map(m)
    extents: list[Bounds] = []
    if ortho is not None:
        ov = ortho_overlay(ortho, max_png_bytes=max_png_bytes, max_pixels=max_pixels, crs=ortho_crs)
        extents.append(_add_image(m, ov, "orthomosaic", pixelated=False, opacity=1.0))
        if deep_zoom:
            from terranb.viz.tile_server import maybe_add_deep_zoom

            maybe_add_deep_zoom(m, ortho, deep_zoom, crs=ortho_crs)
    if points is not None:
        dv = density_overlay(points, crs=points_crs, bins=density_bins,
                             max_png_bytes=density_png_bytes)
        extents.append(_add_image(m, dv, "point density", pixelated=True, opacity=0.85))
    if footprints is not None:
        fc = footprint_collection(footprints, max_bytes=max_vector_bytes)
        if fc["features"]:
            names = all("name" in f["properties"] for f in fc["features"])
            folium.GeoJson(
                fc, name="photo footprints",
                style_function=lambda _f: {"color": "#1f78b4", "weight": 1, "fillOpacity": 0.08},
                tooltip=folium.GeoJsonTooltip(fields=["name"]) if names else None,
            ).add_to(m)
            extents.extend(_geojson_bounds(fc))
    if bboxes is not None:
        for label, (w, s, e, n) in _bbox_items(bboxes):
            # one named layer per extent: switchable and labelled in the layer control
            group = folium.FeatureGroup(name=f"extent: {label}", show=True)
            folium.Rectangle(bounds=[[s, w], [n, e]], tooltip=label, color="#e31a1c",
                             weight=2, fill=False).add_to(group)
            group.add_to(m)
            extents.append((w, s, e, n))
    if extents:
        w = min(b[0] for b in extents)
        s = min(b[1] for b in extents)
        e = max(b[2] for b in extents)
        n = max(b[3] for b in extents)
        m.fit_bounds([[s, w], [n, e]])
        from terranb.viz.map_furniture import refit_when_sized

        refit_when_sized(m, [[s, w], [n, e]])
        if furniture:
            from terranb.viz.map_furniture import furnish

            furnish(m, (w, s, e, n), ortho is not None, dv if points is not None else None,
                    footprints is not None, bboxes is not None, density_per_point)
    folium.LayerControl(collapsed=False).add_to(m)
    return m


def _add_image(m: Any, overlay: Any, name: str, *, pixelated: bool, opacity: float) -> Any:
    """Put a PNG overlay (``data_uri``, ``latlon_bounds``) on ``m``; return its ``bounds``."""
    import folium

    folium.raster_layers.ImageOverlay(image=overlay.data_uri, bounds=overlay.latlon_bounds,
                                      name=name, pixelated=pixelated, opacity=opacity).add_to(m)
    return overlay.bounds


def _fitted_figure(width: int | str, height: int | str) -> Any:
    """A branca Figure whose notebook iframe is exactly ``height`` tall (px for a number)."""
    import branca

    tall = f"{height}px" if isinstance(height, int | float) else str(height)
    wide = f"{width}px" if isinstance(width, int | float) else str(width)
    return branca.element.Figure(width=wide, height=tall)


def tree_map(tree: Any, *, footprints: Any = None, **kwargs: Any) -> folium.Map:
    """:func:`result_map` of a ``terranb.results.layout.ResultTree`` (``open_results``).

    Shows the orthomosaic (else the DSM), the first point cloud as a density layer,
    and the WGS84 extent of every point cloud and mesh as boxes. ``kwargs`` go to
    :func:`result_map`.
    """
    ortho = getattr(tree, "ortho", None) or getattr(tree, "dsm", None)
    clouds = list(getattr(tree, "point_clouds", []) or [])
    meshes = list(getattr(tree, "meshes", []) or [])
    boxes: dict[str, Bounds] = {}
    for item in clouds + meshes:
        b = getattr(item, "bounds_wgs84", None)
        if b is not None:
            boxes[Path(str(getattr(item, "path", "extent"))).name] = tuple(b)  # type: ignore[assignment]
    points = next((c for c in clouds if getattr(c, "crs", None) is not None), None)
    if ortho is not None and getattr(ortho, "crs", None) is None and "ortho_crs" not in kwargs:
        ortho = None  # cannot be placed; its findings already say why
    if ortho is None and points is None and not boxes and footprints is None:
        raise ValidationError(
            f"nothing in {getattr(tree, 'root', 'this result')} can be placed on a map "
            "(no georeferenced orthomosaic, point cloud or mesh)"
        )
    return result_map(ortho, footprints, boxes or None, points, **kwargs)


def map_html(m: folium.Map) -> str:
    """The map as one standalone HTML document (what ``Map.save`` writes).

    Live deep-zoom tile layers are left out: a saved page has no kernel to serve them.
    """
    from terranb.viz.tile_server import live_layers_removed

    with live_layers_removed(m):
        return str(m.get_root().render())


def save_map(m: folium.Map, path: str | os.PathLike[str], *, fill_page: bool = True) -> Path:
    """Write the map's HTML atomically (``.part`` then rename) and return the path.

    With ``fill_page`` (default) the saved page is all map: the notebook height (500 px)
    would leave the rest of a browser window blank. The map object keeps its own size.
    """
    out = Path(path)
    part = out.with_name(out.name + ".part")
    size = (m.width, m.height)
    try:
        if fill_page:
            m.width, m.height = (100.0, "%"), (100.0, "%")
        part.write_text(map_html(m), encoding="utf-8")
        os.replace(part, out)
    finally:
        m.width, m.height = size
        part.unlink(missing_ok=True)
    return out

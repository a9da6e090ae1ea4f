"""An orthomosaic / DSM previewed from its URL: the overview that fits the pixel budget only.

GDAL reads the Cloud Optimized GeoTIFF through :class:`~terranb.results.rangeio.UrlOpener`
(rasterio's ``opener=`` hook), so every byte is a counted, capped ``Range`` request: the
header and IFDs, then the tiles of one overview. The overview is the finest whose
pixel count fits ``max_pixels``; reading it with ``out_shape`` equal to its own size
makes GDAL use exactly that level.

A GeoTIFF without overviews cannot be previewed cheaply by range (the only level is
full resolution): :func:`open_remote_ortho` refuses it with the bytes a download would
cost unless the whole image already fits the pixel budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from terranb.errors import ResultFormatError, require
from terranb.results.findings import Finding

if TYPE_CHECKING:
    import numpy as np

__all__ = ["RemoteOrtho", "read_remote_ortho"]

DEFAULT_MAX_PIXELS = 1_000_000


@dataclass
class RemoteOrtho:
    """The preview of a remote raster, in the shape :func:`terranb.viz.maps.ortho_overlay` takes.

    Attributes:
        path: the URL without its query string (for captions).
        crs: rasterio CRS of the raster.
        width, height: full-resolution size in pixels.
        overview_factors: the file's internal overview factors.
        factor: the decimation factor read (1 = full resolution).
        rgba: uint8 (rows, cols, 4).
        transform: affine transform of ``rgba``.
        size_bytes: the object's size.
    """

    path: str
    crs: Any
    width: int
    height: int
    overview_factors: list[int]
    factor: int
    rgba: np.ndarray
    transform: Any
    size_bytes: int
    findings: list[Finding] = field(default_factory=list)
    #: the presigned URL read (never in repr/to_dict): deep zoom serves tiles from it
    source_url: str | None = field(default=None, repr=False)

    def read_preview_rgba(self, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[Any, Any]:
        """The already-fetched preview (``max_pixels`` was applied when reading)."""
        return self.rgba, self.transform

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "ortho", "path": self.path, "width": self.width, "height": self.height,
                "overview_factors": self.overview_factors, "factor": self.factor,
                "preview_shape": list(self.rgba.shape[:2]), "size_bytes": self.size_bytes,
                "crs": None if self.crs is None else self.crs.to_string()}


def _pick_factor(width: int, height: int, factors: list[int], max_pixels: int) -> int | None:
    """Smallest available factor (full res = 1) whose level fits ``max_pixels``; None if none."""
    for f in [1, *sorted(factors)]:
        if math.ceil(width / f) * math.ceil(height / f) <= max_pixels:
            return f
    return None


def read_remote_ortho(opener: Any, label: str, *, max_pixels: int = DEFAULT_MAX_PIXELS,
                      errors: Any = None) -> RemoteOrtho:
    """Read a remote GeoTIFF's best-fitting overview through a rasterio ``opener``.

    Args:
        opener: a rasterio file-container opener for one file with ``path_token``
            (its file name) -- :class:`terranb.transfer.rangeio.UrlOpener`.
        label: the file's name for messages (no query string).
        max_pixels: pixel budget of the preview.
        errors: an object whose ``error`` attribute holds the byte layer's last
            exception (GDAL's plugin layer turns Python exceptions into I/O errors).

    Raises:
        ResultFormatError: not a raster, no overviews while the image exceeds the
            budget, or the byte layer's errors (no Range, cap, expired URL).
    """
    np_ = require("numpy", "geo")
    rasterio = require("rasterio", "geo")

    findings: list[Finding] = []

    def byte_error(exc: Exception) -> Exception:
        err = getattr(errors, "error", None)
        if isinstance(err, ResultFormatError):
            return err
        return ResultFormatError(f"{label}: not a raster GDAL can read by range ({exc})")

    if callable(getattr(opener, "probe", None)):
        opener.probe()  # expired URL, no Range, cap: raise here, not inside GDAL
    try:
        ds = rasterio.open(f"remote/{opener.path_token}", opener=opener)
    except rasterio.errors.RasterioIOError as exc:
        raise byte_error(exc) from None
    level_ds = None
    try:
        factors = list(ds.overviews(1)) if ds.count else []
        factor = _pick_factor(ds.width, ds.height, factors, max_pixels)
        if factor is not None and factor > 1:
            # The overview's real size (GDAL rounds it its own way): opening the level
            # itself reads exactly its blocks, where an out_shape one pixel too large
            # would make GDAL read the next finer level (4x the bytes).
            level_ds = rasterio.open(f"remote/{opener.path_token}", opener=opener,
                                     overview_level=factors.index(factor))
        return _read(ds, level_ds, opener, label, max_pixels, findings, np_, rasterio)
    except rasterio.errors.RasterioError as exc:
        raise byte_error(exc) from None
    finally:
        if level_ds is not None:
            level_ds.close()
        ds.close()


def _read(ds: Any, level_ds: Any, opener: Any, label: str, max_pixels: int, findings: list[Finding],
          np_: Any, rasterio: Any) -> RemoteOrtho:
    from rasterio.enums import ColorInterp, Resampling

    factors = list(ds.overviews(1)) if ds.count else []
    size = opener.size("remote/" + opener.path_token)
    factor = _pick_factor(ds.width, ds.height, factors, max_pixels)
    if factor is None:
        if not factors:
            raise ResultFormatError(
                f"{label} has no overviews ({ds.width}x{ds.height} px): a remote preview "
                f"would read the whole image ({size:,} bytes). Download it, or rewrite it "
                "as a Cloud Optimized GeoTIFF (Orthomosaic.to_cog)")
        factor = max(factors)
        findings.append(Finding.make(
            "info", "preview.coarsest_overview",
            f"the coarsest overview (1/{factor}) is larger than max_pixels={max_pixels:,}; "
            "it is read and shrunk", None))
    src = level_ds if level_ds is not None else ds
    if level_ds is not None:
        h, w = level_ds.height, level_ds.width
    else:
        h, w = math.ceil(ds.height / factor), math.ceil(ds.width / factor)
    interp = list(ds.colorinterp)
    alpha_idx = [i + 1 for i, c in enumerate(interp) if c == ColorInterp.alpha]
    colour_idx = [i + 1 for i in range(ds.count) if (i + 1) not in alpha_idx]
    colour_idx = colour_idx[:3] if len(colour_idx) >= 3 else colour_idx[:1]
    data = src.read(colour_idx, out_shape=(len(colour_idx), h, w),
                    resampling=Resampling.nearest)
    mask = src.dataset_mask(out_shape=(h, w), resampling=Resampling.nearest) > 0
    rgba = np_.zeros((h, w, 4), dtype=np_.uint8)
    for i in range(len(colour_idx)):
        band = data[i]
        if band.dtype != np_.uint8:
            vals = band[mask & np_.isfinite(band)] if mask.any() else band.ravel()
            lo, hi = (np_.percentile(vals, [2, 98]) if vals.size else (0.0, 1.0))
            span = hi - lo if hi > lo else 1.0
            band = np_.clip((np_.nan_to_num(band, nan=lo) - lo) / span * 255, 0, 255)
        rgba[..., i] = band.astype(np_.uint8)
    if len(colour_idx) == 1:
        rgba[..., 1] = rgba[..., 0]
        rgba[..., 2] = rgba[..., 0]
    rgba[..., 3] = np_.where(mask, 255, 0).astype(np_.uint8)
    if max(h * w, 1) > max_pixels:
        step = math.ceil(math.sqrt(h * w / max_pixels))
        rgba = np_.ascontiguousarray(rgba[::step, ::step])
    sx, sy = ds.width / rgba.shape[1], ds.height / rgba.shape[0]
    t = ds.transform
    transform = rasterio.Affine(t.a * sx, t.b * sy, t.c, t.d * sx, t.e * sy, t.f)
    return RemoteOrtho(path=label, crs=ds.crs, width=ds.width, height=ds.height,
                       overview_factors=factors, factor=factor, rgba=rgba,
                       transform=transform, size_bytes=size, findings=findings,
                       source_url=getattr(opener, "url", None))
